//! Resource limits for the builder (processes, open files, file size, core dumps); as root,
//! where `RLIMIT_NPROC` does not hold, the runner adds a pids cgroup ([`crate::cgroup`]).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use super::error::HardenError;

/// Resource limits for the builder; soft and hard are set alike so it cannot raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// RLIMIT_NPROC. Counted per real uid, so the sandbox maps the builder to its own uid.
    pub max_processes: u64,
    /// RLIMIT_NOFILE.
    pub max_open_files: u64,
    /// RLIMIT_FSIZE; `None` leaves it as inherited.
    pub max_file_size: Option<u64>,
    /// `false` sets RLIMIT_CORE to 0.
    pub core_dumps: bool,
}

/// Apply `limits`. A value above the current hard limit is lowered to it (the limits are caps,
/// and raising a hard limit would need `CAP_SYS_RESOURCE`).
pub fn apply_rlimits(limits: &Rlimits) -> Result<(), HardenError> {
    let mut wanted = vec![
        (
            Resource::RLIMIT_NPROC,
            "RLIMIT_NPROC",
            Some(limits.max_processes),
        ),
        (
            Resource::RLIMIT_NOFILE,
            "RLIMIT_NOFILE",
            Some(limits.max_open_files),
        ),
        (Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE", limits.max_file_size),
    ];
    if !limits.core_dumps {
        wanted.push((Resource::RLIMIT_CORE, "RLIMIT_CORE", Some(0)));
    }
    for (resource, name, value) in wanted {
        let Some(value) = value else { continue };
        let err = |source| HardenError::Rlimit {
            resource: name,
            value,
            source,
        };
        let (_, hard) = getrlimit(resource).map_err(err)?;
        let value = value.min(hard);
        setrlimit(resource, value, value).map_err(err)?;
    }
    Ok(())
}
