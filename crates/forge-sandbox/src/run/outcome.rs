//! What a sandbox run ends with: the [`Outcome`] of the command, or the
//! [`SandboxError`] that kept it from running. Both cross from the monitor
//! to the caller (see [`super`]), so the outcome is serialisable and a
//! monitor's error arrives as its message.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::harden::HardenReport;
use crate::plan::PlanError;

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
    /// Whether forge killed it at the wall-clock timeout.
    pub timed_out: bool,
    /// Whether forge killed it for staying silent too long.
    #[serde(default)]
    pub silent_too_long: bool,
    /// Whether the caller cancelled it.
    #[serde(default)]
    pub cancelled: bool,
    /// Whether the kernel killed a process of it for exceeding the memory
    /// limit (root only: the memory cgroup).
    #[serde(default)]
    pub out_of_memory: bool,
    /// What the in-process layers enforced (absent if killed before exec).
    #[serde(default)]
    pub enforced: Option<HardenReport>,
    /// What the sandbox did differently from its plan (an overlay the
    /// kernel refused); for the caller to show.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Outcome {
    /// The shell convention: the code, or 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// Why a sandbox could not run the command.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The spec is not valid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A host path to bind does not exist.
    #[error("cannot expose {path}: {source}")]
    MissingBind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A root layer cannot be listed.
    #[error("cannot use root layer {path}: {source}")]
    BadLayer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Creating the namespaces failed.
    #[error("cannot create the sandbox namespaces ({0}); are unprivileged user namespaces enabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces)?")]
    Namespaces(nix::Error),
    /// Setting up inside failed; the message says which step.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The monitor process reported a failure (already a full message).
    #[error("{0}")]
    Reported(super::wire::Failure),
    /// Talking to the monitor process failed.
    #[error("sandbox monitor: {0}")]
    Monitor(String),
    /// I/O on a named file.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl forge_core::diag::Hint for SandboxError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            SandboxError::Plan(e) => e.hint(),
            SandboxError::Reported(f) => f.hint.as_deref().map(std::borrow::Cow::Borrowed),
            _ => None,
        }
    }
}

/// `map_err` for I/O on something the message names.
pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::diag::Hint;

    #[test]
    fn hints_cross_from_the_monitor_and_the_plan() {
        let reported = SandboxError::Reported(super::super::wire::Failure {
            message: "cannot bind".into(),
            hint: Some("put the file into a layer".into()),
        });
        assert_eq!(reported.to_string(), "cannot bind");
        assert_eq!(
            reported.hint().as_deref(),
            Some("put the file into a layer")
        );
        let planned = SandboxError::Plan(PlanError::BindInLayer {
            bind: "/usr/x".into(),
            entry: "/usr".into(),
        });
        assert!(!planned.to_string().contains("hint"), "{planned}");
        assert!(planned.hint().is_some());
        // The wire form keeps both.
        let json = serde_json::to_string(&Err::<Outcome, _>(super::super::wire::Failure {
            message: "m".into(),
            hint: Some("h".into()),
        }))
        .unwrap();
        let back: Result<Outcome, super::super::wire::Failure> =
            serde_json::from_str(&json).unwrap();
        assert_eq!(back.unwrap_err().hint.as_deref(), Some("h"));
    }
}
