//! The seam between deciding to build and running a build: the
//! [`Executor`] trait.
//!
//! The engine ([`crate::goal`]) decides *what* to do (look up, substitute,
//! lock, build) and an executor does *how* one build runs, as NixOS/nix
//! separates its derivation goal from its derivation builder. An executor
//! gets a [`BuildRequest`] and leaves the outputs in a staging directory;
//! the engine then checks them (size limit, fixed-output hash) and hands
//! them to the store, which registers them ([`crate::builder`]).
//!
//! Implementations: [`LocalSandbox`](crate::local::LocalSandbox), forge's
//! own sandbox on this host (the default); a remote REAPI executor is the
//! next one (docs/remote.md); the engine's unit tests use a fake that runs
//! nothing.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use forge_store::Layout;

use crate::error::BuildError;
use crate::log::LogWriter;
use crate::request::BuildRequest;

/// Runs builds.
pub trait Executor: Send + Sync {
    /// Runs `request`. On success each output is left at
    /// `ctx.staging/<base name of its placeholder path>`; the builder's
    /// output goes to `ctx.log`. Returns how the builder ended; a run
    /// stopped because `ctx.cancel` was set is [`BuildError::Interrupted`].
    fn execute(
        &self,
        request: &BuildRequest,
        ctx: &ExecContext<'_>,
    ) -> Result<BuilderStatus, BuildError>;
}

/// Where an execution leaves its results, and what it watches.
#[derive(Debug)]
pub struct ExecContext<'a> {
    /// The directory that stands for `/forge/store` in the build: outputs
    /// are left here under their placeholders' base names. It exists and
    /// is empty.
    pub staging: &'a Path,
    /// Where the input store paths are on this host.
    pub layout: &'a Layout,
    /// Receives everything the builder prints.
    pub log: &'a LogWriter,
    /// Set to stop the build (a signal, the output size limit).
    pub cancel: &'a Arc<AtomicBool>,
}

/// How a builder ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderStatus {
    /// Exit code 0.
    Success,
    /// Another exit code.
    Failed(i32),
    /// Killed by this signal.
    Killed(i32),
    /// Stopped at its wall-clock limit.
    TimedOut,
    /// Stopped for printing nothing too long.
    SilentTooLong,
    /// Killed by the kernel for exceeding its memory limit.
    OutOfMemory,
}

impl BuilderStatus {
    /// What happened, as in "builder {status}".
    pub fn describe(&self) -> String {
        match self {
            BuilderStatus::Success => "succeeded".to_owned(),
            BuilderStatus::Failed(c) => format!("failed with exit code {c}"),
            BuilderStatus::Killed(s) => format!("was killed by signal {s}"),
            BuilderStatus::TimedOut => "timed out".to_owned(),
            BuilderStatus::SilentTooLong => "was silent too long and was killed".to_owned(),
            BuilderStatus::OutOfMemory => {
                "was killed for exceeding its memory limit (`memory` in [sandbox])".to_owned()
            }
        }
    }
}
