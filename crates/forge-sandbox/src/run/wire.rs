//! What the caller and the monitor say to each other, and where.
//!
//! The caller writes one [`Request`] as JSON to the monitor's fd
//! [`SPEC_FD`] and reads back, from fd [`OUTCOME_FD`], `Ok(Outcome)` or
//! `Err(Failure)` as JSON. The monitor finds them as the two paths
//! `/proc/self/fd/3` and `/proc/self/fd/4` after its own arguments (see
//! [`super::Sandbox`] and [`super::monitor::main`]). Both sides are the
//! same build of forge, so the format is not versioned.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::spec::SandboxSpec;

/// Where the monitor finds its request (read to the end).
pub(super) const SPEC_FD: i32 = 3;
/// Where the monitor writes its outcome.
pub(super) const OUTCOME_FD: i32 = 4;

/// What the caller hands the monitor: the caller's spec as it was given,
/// and what the runner set up around it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Request {
    pub spec: SandboxSpec,
    pub runner: RunnerState,
}

/// Why the monitor could not run the sandbox: the error as the user should
/// read it, and its hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error and its causes.
    pub message: String,
    /// What to do about it, if anything.
    pub hint: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the runner (not the caller) set up for one run.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct RunnerState {
    /// The pids cgroup the monitor must be in before it forks the sandbox
    /// (root only; see [`crate::cgroup`]).
    pub pids_cgroup: Option<PidsCgroupRef>,
    /// The memory cgroup the monitor moves itself into before it forks the
    /// sandbox (root only).
    #[serde(default)]
    pub memory_cgroup: Option<PathBuf>,
}

/// A pids cgroup the caller created, as the monitor needs it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PidsCgroupRef {
    /// Its name, as `/proc/self/cgroup` shows it once the monitor is in.
    pub name: String,
    /// Its directory, so that the monitor (root, like its caller) can move
    /// itself in at once instead of waiting for the caller to do it.
    pub dir: PathBuf,
}
