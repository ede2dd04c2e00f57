//! What a caller asks of a sandbox.
//!
//! A [`SandboxSpec`] names everything the sandboxed command may see and do:
//! host paths to expose (read-only or writable, at which path inside), the
//! working directory, the exact environment, network or not, the identity
//! inside, and limits. It is plain data (serialisable) that a caller fills
//! in; what the runner sets up around a run (a pids cgroup) travels beside
//! it, not in it (see [`crate::run`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The path on the host: a file or directory, bound; a symlink, made
    /// again as the same symlink inside (never followed, so a store path
    /// that points out of the store shows nothing of the host). Symlinks in
    /// its parent directories are the host's own and are followed.
    pub host: PathBuf,
    /// Where it appears inside (absolute).
    pub inside: PathBuf,
    /// Whether the sandbox may write to it.
    pub writable: bool,
}

/// Limits on the sandboxed process tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Kill everything after this long.
    pub wall_timeout: Option<Duration>,
    /// Kill everything after this long without output on stdout or stderr
    /// (output is then relayed through forge instead of passed directly).
    #[serde(default)]
    pub silence_timeout: Option<Duration>,
    /// Most processes (threads count) the build user may have.
    pub max_processes: u64,
    /// Most open files per process.
    pub max_open_files: u64,
    /// Size of the `/tmp` tmpfs in bytes.
    pub tmp_size: u64,
}

impl Default for Limits {
    /// The hermetic profile's limits (`sandbox/profiles/hermetic.toml`).
    fn default() -> Self {
        crate::profile::Profile::hermetic().limits.clone()
    }
}

/// What to do when the kernel cannot enforce every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// Refuse to run (the default: a build that is not isolated is not a build).
    #[default]
    Hard,
    /// Run with what is available and report what was missing.
    BestEffort,
}

/// Everything about one sandboxed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The program and its arguments; the program is a path inside.
    pub command: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: BTreeMap<String, String>,
    /// Host paths to expose.
    pub binds: Vec<Bind>,
    /// Host directories (in practice store paths) that together form the
    /// read-only root filesystem (`bin`, `usr`, `lib`…); earlier layers win
    /// where they overlap. See `plan` for how they are merged.
    #[serde(default)]
    pub root_layers: Vec<PathBuf>,
    /// A host directory mounted writable at `/build`; a fresh tmpfs if none.
    pub build_dir: Option<PathBuf>,
    /// The working directory inside.
    pub cwd: PathBuf,
    /// Whether the network namespace is the host's (fixed-output fetches
    /// only); otherwise an empty one with only loopback.
    pub network: bool,
    /// The hostname inside.
    pub hostname: String,
    /// User and group id inside.
    pub uid: u32,
    /// Group id inside.
    pub gid: u32,
    /// Limits.
    pub limits: Limits,
    /// Hard or best-effort.
    pub enforcement: Enforcement,
}

/// The fixed identity of builds: outputs never depend on who ran them.
pub const BUILD_UID: u32 = 1000;
/// The fixed group of builds.
pub const BUILD_GID: u32 = 100;

impl SandboxSpec {
    /// A spec running `command` with forge's fixed environment and defaults:
    /// the hermetic profile (`sandbox/profiles/hermetic.toml`).
    pub fn new(command: Vec<String>) -> Self {
        crate::profile::Profile::hermetic().spec(command)
    }
}

/// Host files a sandbox with network access needs to use it: name
/// resolution and the CA bundle, read-only at the same paths (the
/// fixed-output profile's `host-files`). Only those that exist on this host
/// are returned.
pub fn network_binds() -> Vec<Bind> {
    crate::profile::Profile::fixed_output().host_binds()
}

/// forge's fixed build environment (the environment is cleared and set to
/// fixed values, docs/sandbox.md layer 5): the hermetic profile's `[env]`.
pub fn default_env() -> BTreeMap<String, String> {
    crate::profile::Profile::hermetic().env.clone()
}
