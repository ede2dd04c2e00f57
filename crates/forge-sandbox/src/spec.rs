//! What a caller asks of a sandbox.
//!
//! A [`SandboxSpec`] names everything the sandboxed command may see and do:
//! host paths to expose (read-only or writable, at which path inside), the
//! working directory, the exact environment, network or not, the identity
//! inside, and limits. It is plain data (serialisable) that a caller fills
//! in; what the runner sets up around a run (a pids cgroup) travels beside
//! it, not in it (see [`crate::run`]).
//!
//! The defaults ([`SandboxSpec::new`], [`Limits::default`], [`default_env`],
//! [`network_binds`]) are plain values here. The built-in profiles in
//! `sandbox/profiles/` (the `profile` module, docs/sandbox.md) write
//! the same values down for people and for `--profile`; a test keeps the two
//! equal. This module knows nothing of profiles: a profile is turned into a
//! spec by `Profile::spec`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Size of the `/build` tmpfs in bytes; `None`: `tmp_size`.
    #[serde(default)]
    pub build_size: Option<u64>,
    /// Memory limit in bytes, through the cgroup (as root only).
    #[serde(default)]
    pub memory: Option<u64>,
}

impl Default for Limits {
    /// The limits of every build (those of `sandbox/profiles/hermetic.toml`):
    /// no timeouts, 1024 processes, 4096 open files, a 1 GiB `/tmp`.
    fn default() -> Self {
        Limits {
            wall_timeout: None,
            silence_timeout: None,
            max_processes: 1024,
            max_open_files: 4096,
            tmp_size: 1 << 30,
            build_size: None,
            memory: None,
        }
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

/// The hostname inside every sandbox.
pub const HOSTNAME: &str = "localhost";

/// forge's fixed build environment, complete (nothing is inherited from the
/// caller): builds must not depend on who runs them, where, or when.
pub const DEFAULT_ENV: [(&str, &str); 11] = [
    ("HOME", "/homeless-shelter"),
    ("TMPDIR", "/tmp"),
    ("TEMPDIR", "/tmp"),
    ("TMP", "/tmp"),
    ("TZ", "UTC"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("SOURCE_DATE_EPOCH", "1"),
    ("PATH", "/bin:/usr/bin"),
    ("FORGE_BUILD_CORES", "1"),
    ("TERM", "dumb"),
];

/// Host files a sandbox with network access needs to use it: name
/// resolution and the CA bundle (the fixed-output profile's `host-files`).
pub const NETWORK_HOST_FILES: [&str; 3] =
    ["/etc/resolv.conf", "/etc/ssl/certs", "/etc/pki/tls/certs"];

impl SandboxSpec {
    /// A spec running `command` with forge's defaults (those of
    /// `sandbox/profiles/hermetic.toml`): [`default_env`], no network, no
    /// host paths, [`HOSTNAME`], the build identity, [`Limits::default`],
    /// hard enforcement, working directory `/build`.
    pub fn new(command: Vec<String>) -> Self {
        SandboxSpec {
            command,
            env: default_env(),
            binds: Vec::new(),
            root_layers: Vec::new(),
            build_dir: None,
            cwd: PathBuf::from("/build"),
            network: false,
            hostname: HOSTNAME.to_owned(),
            uid: BUILD_UID,
            gid: BUILD_GID,
            limits: Limits::default(),
            enforcement: Enforcement::Hard,
        }
    }
}

/// The [`NETWORK_HOST_FILES`] that exist on this host, as read-only binds
/// at the same paths.
pub fn network_binds() -> Vec<Bind> {
    host_binds(NETWORK_HOST_FILES.iter().map(Path::new))
}

/// Read-only binds at the same path for those of `paths` that exist on this
/// host. Symlinks on the host (`/etc/resolv.conf` ->
/// `../run/systemd/resolve/stub-resolv.conf`) are resolved here, as the
/// host's own configuration: the sandbox never binds through a symlink (it
/// recreates one as a symlink inside, which would dangle).
pub fn host_binds<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<Bind> {
    paths
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| Bind {
            host: std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()),
            inside: p.to_owned(),
            writable: false,
        })
        .collect()
}

/// forge's fixed build environment, [`DEFAULT_ENV`], as a map.
pub fn default_env() -> BTreeMap<String, String> {
    DEFAULT_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
