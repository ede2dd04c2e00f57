//! The one error type of the in-process layers.

use std::path::PathBuf;

/// Errors from applying a restriction; each names what could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    #[error("cannot set resource limit {resource} to {value}")]
    Rlimit {
        resource: &'static str,
        value: u64,
        #[source]
        source: nix::Error,
    },
    #[error("cannot clear the {set} capability set")]
    Capabilities {
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error("cannot set no_new_privs")]
    NoNewPrivs(#[source] nix::Error),
    /// A rule path that is not there: the sandbox creates every rule path
    /// before it applies landlock, so this is a bug of forge's, not
    /// something a user can act on.
    #[error("cannot open {path} for a landlock rule (the sandbox creates every rule path before applying landlock)")]
    LandlockPath {
        path: PathBuf,
        #[source]
        source: landlock::PathFdError,
    },
    #[error("cannot build or enforce the landlock ruleset")]
    Landlock(#[from] landlock::RulesetError),
    #[error("no seccomp filter for this architecture ({0})")]
    UnsupportedArch(&'static str),
    #[error("cannot compile the seccomp filter")]
    SeccompCompile(#[source] seccompiler::BackendError),
    #[error("the seccomp program has {len} instructions, more than the kernel's limit of {max}")]
    SeccompTooLong { len: usize, max: usize },
    #[error("cannot install the seccomp filter")]
    SeccompApply(#[source] seccompiler::Error),
    #[error("cannot restrict the build to its cpus")]
    Affinity(#[source] nix::Error),
}
