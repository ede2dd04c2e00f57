//! forge's build engine: from a recipe to realised store paths.
//!
//! This crate sits above `forge-store` and `forge-sandbox` and below the
//! CLI (docs/architecture.md). Its modules follow NixOS/nix's line between
//! *goals*, what to do, and *builders*, how a build runs:
//!
//! - entry points: [`engine`] ([`Engine::build`], [`Engine::lock`],
//!   [`Engine::shell`], configured by [`options`]) over a `session` (one
//!   run over a recipe [`graph`], jobs run by the [`schedule`]r);
//! - goals: [`goal`] (lookup -> substitute -> lock -> build, described in
//!   docs/build.md), its [`inputs`] (`path`, `seed`, `fetch`, pins in
//!   `recipe.lock`), [`substitute`] (over the [`substituter`] seam),
//!   [`check`] (`--check`), [`links`], [`shell`] (`forge shell`), and what
//!   comes back: [`report`];
//! - builders: a pure [`request`] made from a derivation, run by an
//!   [`executor`] ([`local`]: forge's sandbox on this host), its outputs
//!   checked and registered by [`builder`];
//! - supporting pieces: [`fetch`] (the downloader `forge __fetch` runs in
//!   the fixed-output sandbox), [`seed`] (host snapshots), [`lockfile`],
//!   [`log`], [`limits`], [`event`]s for progress, [`error`];
//! - [`preflight`]: `forge recipe check`, everything short of building.

pub mod builder;
pub mod check;
pub mod debian;
pub mod engine;
pub mod error;
pub mod event;
pub mod executor;
pub mod fetch;
pub mod goal;
pub mod graph;
pub mod inputs;
pub mod limits;
pub mod links;
pub mod local;
pub mod lockfile;
pub mod log;
pub mod options;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod request;
pub mod schedule;
pub mod seed;
pub(crate) mod session;
pub mod shell;
pub mod substitute;
pub mod substituter;
mod util;

pub use engine::Engine;
pub use error::BuildError;
pub use event::{Event, Reporter, Silent};
pub use executor::{BuilderStatus, ExecContext, Executor};
pub use local::LocalSandbox;
pub use options::{default_system, BuildOptions};
pub use plan::{Planned, Step};
pub use report::{BuildReport, Realised};
pub use request::BuildRequest;
pub use substituter::{SubstituteError, Substituter};
