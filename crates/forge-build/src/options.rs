//! How a run of the engine behaves: [`BuildOptions`], filled in by the CLI.

use std::path::PathBuf;

use forge_sandbox::Enforcement;

use crate::inputs::HostAccess;
use crate::log;

/// How to build (shared by [`Engine::build`](crate::Engine::build),
/// [`Engine::lock`](crate::Engine::lock) and [`Engine::shell`](crate::Engine::shell)).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Builds at once.
    pub jobs: usize,
    /// Go on with independent recipes after a failure.
    pub keep_going: bool,
    /// Re-pin seeds whose contents changed too, instead of failing (a
    /// `path` input's pin in `recipe.lock` follows its contents anyway,
    /// unless `locked`).
    pub update_locks: bool,
    /// Any change to a lock file is an error: a `path` input or seed whose
    /// contents differ from its pin, or one with no pin yet (`--locked`,
    /// `FORGE_LOCKED=1`, for CI).
    pub locked: bool,
    /// Rebuild the requested recipe even if realised, and compare.
    pub check: bool,
    /// With `check`: every recipe in the graph, not only the requested one.
    pub rebuild_all: bool,
    /// The `forge` executable (the sandbox monitor and fetcher re-execute it).
    pub forge_exe: PathBuf,
    /// The system builds are for.
    pub system: String,
    /// Hard or best-effort sandbox.
    pub enforcement: Enforcement,
    /// Cores each build is told it may use (`FORGE_BUILD_CORES`).
    pub cores: usize,
    /// Hand each line of the build logs, as it comes, to this (`-L`).
    pub print_logs: Option<log::Echo>,
    /// The cap of each stored build log, in bytes (0: none).
    pub max_log_size: u64,
    /// Create this symlink (and `<link>-<output>` for the other outputs) to
    /// the result, registered as an indirect GC root.
    pub out_link: Option<PathBuf>,
    /// What host files `path` inputs and seeds may reach beyond the
    /// defaults (`--allow-path`, `--allow-private`; see [`crate::inputs`]).
    pub host_access: HostAccess,
    /// The largest apparent size (file and symlink sizes added up, about
    /// the NAR size) one output may have; `None`: no limit. Checked while
    /// the builder runs (about every second; the build is stopped) and
    /// exactly once it is done, before anything is hashed or registered.
    pub max_output_size: Option<u64>,
}

impl BuildOptions {
    /// Defaults for this machine, re-executing `forge_exe`.
    pub fn new(forge_exe: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        BuildOptions {
            jobs: cores,
            keep_going: false,
            update_locks: false,
            locked: false,
            check: false,
            rebuild_all: false,
            forge_exe,
            system: default_system(),
            enforcement: Enforcement::Hard,
            cores,
            print_logs: None,
            max_log_size: log::DEFAULT_MAX_LOG_SIZE,
            out_link: None,
            host_access: HostAccess::default(),
            max_output_size: Some(crate::limits::DEFAULT_MAX_OUTPUT_SIZE),
        }
    }
}

/// `<arch>-linux` for this build of forge.
pub fn default_system() -> String {
    format!("{}-linux", std::env::consts::ARCH)
}
