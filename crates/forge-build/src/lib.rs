//! forge's build engine: from a recipe to realised store paths.
//!
//! This crate sits above `forge-store` and `forge-sandbox` and below the
//! CLI. It turns recipes into derivations, realises their inputs (fetches,
//! local paths, seeds, other recipes), runs each derivation in the sandbox
//! and registers its content-addressed outputs.

pub mod check;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod graph;
pub mod inputs;
pub mod limits;
pub mod lockfile;
pub mod log;
pub mod schedule;
pub mod seed;
mod util;

pub use engine::{build, BuildOptions, BuildReport, Event, Realised, Reporter, Silent};
pub use error::BuildError;
