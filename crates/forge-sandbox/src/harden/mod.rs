//! In-process restrictions, applied last in the sandboxed child just before `execve`.
//!
//! The sandbox calls these after `pivot_root`, while the child is still single-threaded, in this
//! order: [`apply_rlimits`], [`drop_capabilities`], [`set_no_new_privs`], [`apply_landlock`],
//! [`apply_seccomp`]. The order matters: lowering limits needs no privilege but is done while we
//! still hold every capability; the bounding set can only be emptied while `CAP_SETPCAP` is
//! still effective; landlock and seccomp both require `no_new_privs` when unprivileged; seccomp
//! comes last so nothing we do ourselves runs under the filter.
//!
//! Every function says what it enforced on this kernel rather than failing silently:
//! [`LandlockStatus`] follows rust-landlock's `FullyEnforced | PartiallyEnforced | NotEnforced`,
//! and [`probe`] tells `forge sandbox check` what the kernel can do without restricting the caller.
//!
//! One module per layer: `rlimit`, `capabilities` (with `no_new_privs`), `landlock`, `seccomp`
//! (which says why forge uses `seccompiler` and not libseccomp), and `cpus` (not a restriction:
//! the build's share of the CPUs); their errors are one [`HardenError`].

mod capabilities;
mod cpus;
mod error;
mod landlock;
mod rlimit;
mod seccomp;

use serde::Serialize;

pub use capabilities::{drop_capabilities, set_no_new_privs, CapabilityStatus};
pub use cpus::{build_cores, first_cpus, restrict_cpus};
pub use error::HardenError;
pub use landlock::{apply_landlock, landlock_abi, landlock_missing, LandlockRules, LandlockStatus};
pub use rlimit::{apply_rlimits, Rlimits};
pub use seccomp::{
    apply_seccomp, seccomp_denylist, seccomp_program, sock_filter, ArgCondition, SeccompDeny,
    SeccompPolicy, SECCOMP_MAX_INSTRUCTIONS,
};

/// What the in-process layer enforced (or, from [`probe`], can enforce on this kernel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HardenReport {
    pub landlock: LandlockStatus,
    pub seccomp: bool,
    pub capabilities_dropped: bool,
    pub no_new_privs: bool,
}

/// Probe what this kernel supports, without restricting the caller: only queries.
///
/// - landlock: the ABI version, and what forge's rules would miss on it (network rules are
///   assumed wanted);
/// - seccomp: the kernel has seccomp filters and can return errno and kill the process;
/// - capabilities: the bounding set can be read, so it can be emptied by a holder of
///   `CAP_SETPCAP` (the sandbox's root in its user namespace);
/// - no_new_privs: `PR_GET_NO_NEW_PRIVS` answers.
pub fn probe() -> HardenReport {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let actions =
        std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let has_action = |a: &str| actions.split_whitespace().any(|x| x == a);
    HardenReport {
        landlock: landlock::landlock_expected(landlock_abi(), false),
        seccomp: status.lines().any(|l| l.starts_with("Seccomp:"))
            && has_action("errno")
            && has_action("kill_process"),
        capabilities_dropped: caps::has_cap(
            None,
            caps::CapSet::Bounding,
            caps::Capability::CAP_CHOWN,
        )
        .is_ok(),
        no_new_privs: nix::sys::prctl::get_no_new_privs().is_ok(),
    }
}

#[cfg(test)]
mod tests;
