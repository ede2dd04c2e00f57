//! Landlock: what the builder's files may be touched at all, and scoping of abstract unix
//! sockets and signals to the sandbox. [`apply_landlock`] says what it enforced on this kernel
//! ([`LandlockStatus`] follows rust-landlock's `FullyEnforced | PartiallyEnforced |
//! NotEnforced`); see docs/sandbox.md.
// The landlock ABI query (`landlock_abi`) has no safe wrapper.
#![allow(unsafe_code)]

use std::path::PathBuf;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Serialize;

use super::error::HardenError;

/// What the process may touch, as paths *inside* the sandbox (after `pivot_root`).
///
/// Every path must exist when [`apply_landlock`] runs. Anything not listed is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandlockRules {
    /// Read files, list directories, execute: inputs, the FHS root, `/proc`, `/etc`.
    pub read_exec: Vec<PathBuf>,
    /// Everything, including create/remove/rename of files, dirs, symlinks, fifos and sockets,
    /// truncate and execute: `/build`, `/tmp`, outputs, `/dev/shm`.
    pub read_write: Vec<PathBuf>,
    /// Device files or directories of them (`/dev/null`, `/dev/pts`, ...): read, write, truncate
    /// and ioctl, but no creation or removal.
    pub devices: Vec<PathBuf>,
    /// Fixed-output fetches keep TCP; otherwise (ABI >= 4) every TCP bind and connect is denied.
    pub allow_network: bool,
}

/// What landlock enforced on this kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LandlockStatus {
    /// Every restriction forge asks for is enforced.
    FullyEnforced { abi: i32 },
    /// Enforced, but this kernel's ABI lacks the features named in `missing`.
    PartiallyEnforced { abi: i32, missing: Vec<String> },
    /// Nothing enforced.
    NotEnforced { reason: String },
}

/// The landlock ABI whose features forge uses: filesystem rights up to ioctl on devices (v5),
/// TCP bind/connect (v4), abstract unix socket and signal scoping (v6). Later ABIs add logging
/// controls (v7) and pathname unix socket connects (v9, not used yet).
const TARGET_ABI: ABI = ABI::V6;

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The landlock ABI version of the running kernel, `None` if landlock is missing or disabled.
pub fn landlock_abi() -> Option<i32> {
    // SAFETY: with a null attribute pointer, size 0 and only the VERSION flag, the kernel reads
    // no memory and creates no file descriptor; it returns the ABI number or -1 with errno.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if version > 0 {
        i32::try_from(version).ok()
    } else {
        None
    }
}

/// What forge would miss on a kernel with landlock ABI `abi` (pure).
pub fn landlock_missing(abi: i32, allow_network: bool) -> Vec<String> {
    let mut missing = Vec::new();
    if abi < 3 {
        missing.push("truncate control (abi 3)".to_owned());
    }
    if abi < 4 && !allow_network {
        missing.push("tcp bind/connect control (abi 4)".to_owned());
    }
    if abi < 5 {
        missing.push("device ioctl control (abi 5)".to_owned());
    }
    if abi < 6 {
        missing.push("abstract unix socket scoping (abi 6)".to_owned());
        missing.push("signal scoping (abi 6)".to_owned());
    }
    missing
}

/// What [`apply_landlock`] would report on a kernel with ABI `abi`, without applying anything.
pub(super) fn landlock_expected(abi: Option<i32>, allow_network: bool) -> LandlockStatus {
    match abi {
        None => LandlockStatus::NotEnforced {
            reason: "landlock is not built into this kernel or not enabled at boot".to_owned(),
        },
        Some(abi) => {
            let missing = landlock_missing(abi, allow_network);
            if missing.is_empty() {
                LandlockStatus::FullyEnforced { abi }
            } else {
                LandlockStatus::PartiallyEnforced { abi, missing }
            }
        }
    }
}

/// Restrict the filesystem (and, without `allow_network`, TCP) to `rules`, and scope abstract
/// unix sockets and signals to the sandbox. Best effort: features the kernel lacks are reported
/// in the returned status, never silently assumed; a hard mode refuses anything but
/// [`LandlockStatus::FullyEnforced`].
pub fn apply_landlock(rules: &LandlockRules) -> Result<LandlockStatus, HardenError> {
    let abi = TARGET_ABI;
    let mut ruleset = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?;
    if !rules.allow_network {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    ruleset = ruleset.scope(Scope::from_all(abi))?;
    let mut created = ruleset.create()?;

    let device_access = AccessFs::ReadFile
        | AccessFs::WriteFile
        | AccessFs::ReadDir
        | AccessFs::Truncate
        | AccessFs::IoctlDev;
    let groups = [
        (&rules.read_exec, AccessFs::from_read(abi)),
        (&rules.read_write, AccessFs::from_all(abi)),
        (&rules.devices, device_access),
    ];
    for (paths, access) in groups {
        for path in paths {
            let fd = PathFd::new(path).map_err(|source| HardenError::LandlockPath {
                path: path.clone(),
                source,
            })?;
            // Directory-only rights (read-dir, make-*, remove-*) on a file
            // would be dropped by the crate and reported as partial
            // enforcement; a file gets the file subset of its rights.
            // fstat of the fd just opened: one path walk per rule, not two.
            let is_file = {
                use std::os::fd::{AsFd, AsRawFd};
                nix::sys::stat::fstat(fd.as_fd().as_raw_fd()).is_ok_and(|st| {
                    nix::sys::stat::SFlag::from_bits_truncate(st.st_mode)
                        & nix::sys::stat::SFlag::S_IFMT
                        != nix::sys::stat::SFlag::S_IFDIR
                })
            };
            let access = if is_file {
                access & AccessFs::from_file(abi)
            } else {
                access
            };
            created = created.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    let status = created.restrict_self()?;

    let kernel_abi = landlock_abi();
    Ok(match (status.ruleset, kernel_abi) {
        (RulesetStatus::NotEnforced, _) | (_, None) => LandlockStatus::NotEnforced {
            reason: "landlock is not built into this kernel or not enabled at boot".to_owned(),
        },
        (RulesetStatus::FullyEnforced, Some(abi)) => LandlockStatus::FullyEnforced { abi },
        (RulesetStatus::PartiallyEnforced, Some(abi)) => {
            let mut missing = landlock_missing(abi, rules.allow_network);
            if missing.is_empty() {
                missing.push("a feature the landlock crate could not enforce".to_owned());
            }
            LandlockStatus::PartiallyEnforced { abi, missing }
        }
    })
}
