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
//! # Seccomp: why `seccompiler` and not libseccomp
//!
//! `seccompiler` (from the Firecracker project) is pure Rust: no C library to build, link or ship,
//! so forge stays one static binary, cross-compiles, and builds under Nix without extra inputs.
//! It emits a plain BPF program, a `Vec` of instructions, which unit tests inspect and even run
//! (see the small BPF interpreter in the tests) without touching the kernel. What it lacks we add
//! here: it has one "match" action per filter, so we compile one filter per errno and chain them
//! into one program ([`seccomp_program`]); it checks only the native audit arch, which is exactly
//! what we want (every other ABI kills the process), and on x86_64 we add the x32 check
//! ourselves. libseccomp's multi-arch filters and its resolver for 32-bit argument layouts solve
//! a problem we avoid by refusing non-native ABIs outright.
//!
//! The filter is "default allow, deny a list": builders run arbitrary toolchains, and an
//! allow-list would break them on the next kernel or libc. Denied calls return an errno (EPERM
//! unless said otherwise) so builds see an ordinary failure, never a surprise kill; only a
//! foreign ABI is killed, since a native process never uses one.

// Two raw syscalls have no safe wrapper: the landlock ABI query (`landlock_abi`) and, in the
// tests, `fork`, `_exit` and a few syscalls the filter must block.
#![allow(unsafe_code)]

use std::path::PathBuf;

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::Serialize;

pub use seccompiler::sock_filter;

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
    #[error("cannot open {path} for a landlock rule\nhint: the sandbox must create every rule path before applying landlock")]
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

// ---------------------------------------------------------------------------------------------
// Landlock
// ---------------------------------------------------------------------------------------------

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
fn landlock_expected(abi: Option<i32>, allow_network: bool) -> LandlockStatus {
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

// ---------------------------------------------------------------------------------------------
// Seccomp
// ---------------------------------------------------------------------------------------------

/// Which seccomp profile to build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompPolicy {
    /// Fixed-output fetches keep `socket(AF_INET/AF_INET6/AF_PACKET)`.
    pub allow_network: bool,
}

/// When a listed syscall is denied, judged on one argument (compared on its low 32 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgCondition {
    /// Every call.
    Always,
    /// When argument `arg` has any of `bits` set.
    AnyBitSet { arg: u8, bits: &'static [u64] },
    /// When argument `arg` is none of `allowed`.
    NotIn { arg: u8, allowed: &'static [u64] },
    /// When argument `arg` is one of `values`.
    In { arg: u8, values: &'static [u64] },
}

/// One line of the deny list: pure data, so tests and `forge sandbox check` can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompDeny {
    pub syscall: &'static str,
    pub nr: i64,
    pub when: ArgCondition,
    /// The errno the call fails with.
    pub errno: i32,
}

const SET_ID_BITS: &[u64] = &[libc::S_ISUID as u64, libc::S_ISGID as u64];
const CLONE_NEW_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    // CLONE_NEWTIME (0x80) overlaps the exit-signal byte of clone(2); it only works with
    // clone3 (ENOSYS here) and unshare (denied), so it needs no rule.
];
/// personality(2) values a builder may use: the default, the query, and ADDR_NO_RANDOMIZE
/// (`setarch -R`, which some reproducible builds use; it only weakens the builder itself).
const PERSONALITY_ALLOWED: &[u64] = &[0, 0x0004_0000, 0xffff_ffff];
const NET_FAMILIES: &[u64] = &[
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_PACKET as u64,
    libc::AF_VSOCK as u64,
];
/// vsock reaches the hypervisor or host whatever the network namespace: refused in every
/// profile (the last entry of [`NET_FAMILIES`]).
const VSOCK_ONLY: &[u64] = &[libc::AF_VSOCK as u64];
/// Terminal ioctls that push input into a terminal (TIOCSTI) or reach the console's
/// selection and keyboard (TIOCLINUX): refused on every fd, whatever terminal a build reaches.
#[allow(clippy::unnecessary_cast)] // the request type is c_ulong on glibc, c_int on musl
const TTY_INJECT: &[u64] = &[libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

// Syscalls newer than some libc releases; the numbers are shared by x86_64 and aarch64.
const SYS_FCHMODAT2: i64 = 452;
const SYS_SETXATTRAT: i64 = 463;
const SYS_REMOVEXATTRAT: i64 = 466;

/// The deny list for `policy` on the native architecture (pure).
pub fn seccomp_denylist(policy: &SeccompPolicy) -> Vec<SeccompDeny> {
    use ArgCondition::{AnyBitSet, In, NotIn};
    let always = ArgCondition::Always;
    let mut list: Vec<(&'static str, i64, ArgCondition, i32)> = Vec::new();
    let eperm = libc::EPERM;

    // No setuid/setgid files. The mode is argument 1 of chmod/fchmod, 2 of fchmodat(2).
    #[cfg(target_arch = "x86_64")]
    list.push((
        "chmod",
        libc::SYS_chmod,
        AnyBitSet {
            arg: 1,
            bits: SET_ID_BITS,
        },
        eperm,
    ));
    list.push((
        "fchmod",
        libc::SYS_fchmod,
        AnyBitSet {
            arg: 1,
            bits: SET_ID_BITS,
        },
        eperm,
    ));
    list.push((
        "fchmodat",
        libc::SYS_fchmodat,
        AnyBitSet {
            arg: 2,
            bits: SET_ID_BITS,
        },
        eperm,
    ));
    list.push((
        "fchmodat2",
        SYS_FCHMODAT2,
        AnyBitSet {
            arg: 2,
            bits: SET_ID_BITS,
        },
        eperm,
    ));
    // Nor set-id bits at creation: the umask does not strip them. The mode is argument 1 of
    // creat/mkdir/mknod, 2 of open/mkdirat/mknodat, 3 of openat. open and openat use it only
    // with O_CREAT or O_TMPFILE, and libc passes 0 otherwise, so the rule costs nothing there.
    let set_id = |arg| AnyBitSet {
        arg,
        bits: SET_ID_BITS,
    };
    #[cfg(target_arch = "x86_64")]
    for (name, nr, arg) in [
        ("open", libc::SYS_open, 2),
        ("creat", libc::SYS_creat, 1),
        ("mkdir", libc::SYS_mkdir, 1),
        ("mknod", libc::SYS_mknod, 1),
    ] {
        list.push((name, nr, set_id(arg), eperm));
    }
    for (name, nr, arg) in [
        ("openat", libc::SYS_openat, 3),
        ("mkdirat", libc::SYS_mkdirat, 2),
        ("mknodat", libc::SYS_mknodat, 2),
    ] {
        list.push((name, nr, set_id(arg), eperm));
    }
    // openat2 passes its mode in a struct, out of the filter's reach: ENOSYS makes libc (and
    // Go, Rust's std) fall back to openat, which is checked; the same trick as clone3 below.
    list.push(("openat2", libc::SYS_openat2, always.clone(), libc::ENOSYS));
    // No input pushed into a terminal, on any fd (the sandbox has no host terminal; this is
    // the second line). The request is compared on 32 bits, as the kernel reads it.
    list.push((
        "ioctl",
        libc::SYS_ioctl,
        In {
            arg: 1,
            values: TTY_INJECT,
        },
        eperm,
    ));

    // No extended attributes (file capabilities, ACLs, security labels): they are not part of
    // a NAR. ENOTSUP, as Nix does, because tools like `cp -a` and `tar` treat it as "this
    // filesystem has none" and carry on, where EPERM would fail the build.
    let xattr_calls: &[(&'static str, i64)] = &[
        ("setxattr", libc::SYS_setxattr),
        ("lsetxattr", libc::SYS_lsetxattr),
        ("fsetxattr", libc::SYS_fsetxattr),
        ("removexattr", libc::SYS_removexattr),
        ("lremovexattr", libc::SYS_lremovexattr),
        ("fremovexattr", libc::SYS_fremovexattr),
        ("setxattrat", SYS_SETXATTRAT),
        ("removexattrat", SYS_REMOVEXATTRAT),
    ];
    for &(name, nr) in xattr_calls {
        list.push((name, nr, always.clone(), libc::ENOTSUP));
    }

    // No new namespaces, no mounts.
    let ns_calls: &[(&'static str, i64)] = &[
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
    ];
    for &(name, nr) in ns_calls {
        list.push((name, nr, always.clone(), eperm));
    }
    // clone's flags are argument 0 on x86_64 and aarch64 alike.
    list.push((
        "clone",
        libc::SYS_clone,
        AnyBitSet {
            arg: 0,
            bits: CLONE_NEW_FLAGS,
        },
        eperm,
    ));
    // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc fall back
    // to clone, which is checked (Nix and Docker do the same).
    list.push(("clone3", libc::SYS_clone3, always.clone(), libc::ENOSYS));

    // Debugging other processes, kernel modules and images, kernel-wide state.
    let kernel_calls: &[(&'static str, i64)] = &[
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("acct", libc::SYS_acct),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("quotactl", libc::SYS_quotactl),
        ("quotactl_fd", libc::SYS_quotactl_fd),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("syslog", libc::SYS_syslog),
        ("vhangup", libc::SYS_vhangup),
        #[cfg(target_arch = "x86_64")]
        ("iopl", libc::SYS_iopl),
        #[cfg(target_arch = "x86_64")]
        ("ioperm", libc::SYS_ioperm),
    ];
    for &(name, nr) in kernel_calls {
        list.push((name, nr, always.clone(), eperm));
    }
    // Another process's resource limits: the builder shares its uid with forge's init
    // (pid 1), and no capability check guards them. libc's getrlimit/setrlimit pass pid 0.
    list.push((
        "prlimit64",
        libc::SYS_prlimit64,
        NotIn {
            arg: 0,
            allowed: &[0],
        },
        eperm,
    ));
    list.push((
        "personality",
        libc::SYS_personality,
        NotIn {
            arg: 0,
            allowed: PERSONALITY_ALLOWED,
        },
        eperm,
    ));

    // AF_UNIX stays: the empty network namespace and landlock's scoping isolate it. vsock is
    // refused even with network: no namespace isolates it.
    let families = if policy.allow_network {
        VSOCK_ONLY
    } else {
        NET_FAMILIES
    };
    list.push((
        "socket",
        libc::SYS_socket,
        In {
            arg: 0,
            values: families,
        },
        libc::EAFNOSUPPORT,
    ));
    list.push((
        "socketpair",
        libc::SYS_socketpair,
        In {
            arg: 0,
            values: VSOCK_ONLY,
        },
        libc::EAFNOSUPPORT,
    ));

    list.into_iter()
        .map(|(syscall, nr, when, errno)| SeccompDeny {
            syscall,
            nr,
            when,
            errno,
        })
        .collect()
}

fn native_arch() -> Result<TargetArch, HardenError> {
    if cfg!(target_arch = "x86_64") {
        Ok(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Ok(TargetArch::aarch64)
    } else {
        Err(HardenError::UnsupportedArch(std::env::consts::ARCH))
    }
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, HardenError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(HardenError::SeccompCompile)
}

fn seccomp_rules(when: &ArgCondition) -> Result<Vec<SeccompRule>, HardenError> {
    let rule = |conds| SeccompRule::new(conds).map_err(HardenError::SeccompCompile);
    Ok(match when {
        // An empty chain matches every call.
        ArgCondition::Always => Vec::new(),
        ArgCondition::AnyBitSet { arg, bits } => bits
            .iter()
            .map(|&bit| rule(vec![condition(*arg, SeccompCmpOp::MaskedEq(bit), bit)?]))
            .collect::<Result<_, _>>()?,
        ArgCondition::NotIn { arg, allowed } => vec![rule(
            allowed
                .iter()
                .map(|&v| condition(*arg, SeccompCmpOp::Ne, v))
                .collect::<Result<_, _>>()?,
        )?],
        ArgCondition::In { arg, values } => values
            .iter()
            .map(|&v| rule(vec![condition(*arg, SeccompCmpOp::Eq, v)?]))
            .collect::<Result<_, _>>()?,
    })
}

// Classic BPF opcodes and seccomp return values (linux/bpf_common.h, linux/seccomp.h).
/// BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// x86_64's x32 ABI: native arch, syscall numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const SECCOMP_MAX_INSTRUCTIONS: usize = 4096;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn audit_arch(arch: TargetArch) -> u32 {
    const LE64: u32 = 0x8000_0000 | 0x4000_0000;
    match arch {
        TargetArch::x86_64 => 62 | LE64,
        TargetArch::aarch64 => 183 | LE64,
        TargetArch::riscv64 => 243 | LE64,
    }
}

/// Build the seccomp program for `policy` on the native architecture (pure: no syscall).
///
/// Layout: a header that kills the process for any foreign ABI (i386 and, on x86_64, x32
/// syscall numbers), then one `seccompiler` filter per errno. Each filter's "allow" returns are
/// rewritten into jumps to the next filter, so a call is allowed only if no filter denies it.
pub fn seccomp_program(policy: &SeccompPolicy) -> Result<BpfProgram, HardenError> {
    let arch = native_arch()?;
    let mut program = vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
        jump(BPF_JMP_JEQ_K, audit_arch(arch), 1, 0),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ];
    if matches!(arch, TargetArch::x86_64) {
        program.extend([
            stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
            jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        ]);
    }

    // One filter per errno, in a fixed order so the program is deterministic.
    let denylist = seccomp_denylist(policy);
    let mut errnos: Vec<i32> = denylist.iter().map(|d| d.errno).collect();
    errnos.sort_unstable();
    errnos.dedup();
    let mut stages = Vec::new();
    for errno in errnos {
        let mut rules = std::collections::BTreeMap::new();
        for deny in denylist.iter().filter(|d| d.errno == errno) {
            rules.insert(deny.nr, seccomp_rules(&deny.when)?);
        }
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno.unsigned_abs()),
            arch,
        )
        .map_err(HardenError::SeccompCompile)?;
        stages.push(BpfProgram::try_from(filter).map_err(HardenError::SeccompCompile)?);
    }

    let last = stages.len().saturating_sub(1);
    for (i, mut stage) in stages.into_iter().enumerate() {
        if i != last {
            let len = stage.len();
            for (j, insn) in stage.iter_mut().enumerate() {
                if insn.code == BPF_RET_K && insn.k == SECCOMP_RET_ALLOW {
                    // Land on the first instruction of the next stage (jumps count from j + 1).
                    let skip = u32::try_from(len - j - 1).unwrap_or(u32::MAX);
                    *insn = stmt(BPF_JMP_JA, skip);
                }
            }
        }
        program.extend(stage);
    }
    if program.len() > SECCOMP_MAX_INSTRUCTIONS {
        return Err(HardenError::SeccompTooLong {
            len: program.len(),
            max: SECCOMP_MAX_INSTRUCTIONS,
        });
    }
    Ok(program)
}

/// Install `program` on the calling thread (sets `no_new_privs` first, as the kernel requires
/// without `CAP_SYS_ADMIN`). Irreversible; inherited across fork and exec.
pub fn apply_seccomp(program: &[sock_filter]) -> Result<(), HardenError> {
    seccompiler::apply_filter(program).map_err(HardenError::SeccompApply)
}

// ---------------------------------------------------------------------------------------------
// Capabilities, no_new_privs
// ---------------------------------------------------------------------------------------------

/// What [`drop_capabilities`] cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CapabilityStatus {
    /// Effective, permitted, inheritable and ambient are empty.
    pub process_sets_cleared: bool,
    /// The bounding set is empty too (needs `CAP_SETPCAP`, which the sandbox's uid 0 in its own
    /// user namespace has; an unprivileged caller outside one cannot empty it).
    pub bounding_cleared: bool,
}

impl CapabilityStatus {
    /// Every set is empty.
    pub fn all_dropped(&self) -> bool {
        self.process_sets_cleared && self.bounding_cleared
    }
}

/// Drop every capability: bounding set (while `CAP_SETPCAP` is still effective, else skipped
/// and reported), ambient, inheritable, effective and permitted.
pub fn drop_capabilities() -> Result<CapabilityStatus, HardenError> {
    use caps::CapSet;
    let clear = |set: CapSet, name: &'static str| {
        caps::clear(None, set).map_err(|source| HardenError::Capabilities { set: name, source })
    };
    let can_drop_bounding =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if can_drop_bounding {
        clear(CapSet::Bounding, "bounding")?;
    }
    clear(CapSet::Ambient, "ambient")?;
    clear(CapSet::Inheritable, "inheritable")?;
    clear(CapSet::Effective, "effective")?;
    clear(CapSet::Permitted, "permitted")?;
    let empty = |set| caps::read(None, set).map(|s| s.is_empty()).unwrap_or(false);
    Ok(CapabilityStatus {
        process_sets_cleared: empty(CapSet::Effective)
            && empty(CapSet::Permitted)
            && empty(CapSet::Inheritable)
            && empty(CapSet::Ambient),
        bounding_cleared: empty(CapSet::Bounding),
    })
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: exec can never grant privileges again (setuid bits, file
/// capabilities). Irreversible.
pub fn set_no_new_privs() -> Result<(), HardenError> {
    nix::sys::prctl::set_no_new_privs().map_err(HardenError::NoNewPrivs)
}

// ---------------------------------------------------------------------------------------------
// Resource limits
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// CPUs
// ---------------------------------------------------------------------------------------------

/// The number of CPUs a build is given: `FORGE_BUILD_CORES` of its environment, if it is a
/// positive integer.
pub fn build_cores(env: &std::collections::BTreeMap<String, String>) -> Option<usize> {
    env.get("FORGE_BUILD_CORES")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The first `n` CPUs of `allowed` (ascending), or all of them if there are fewer (pure).
pub fn first_cpus(allowed: &[usize], n: usize) -> Vec<usize> {
    let mut cpus = allowed.to_vec();
    cpus.sort_unstable();
    cpus.truncate(n);
    cpus
}

/// Restricts the calling thread, and so what it executes, to the first `n` CPUs of its allowed
/// set, so that `nproc`, `sched_getaffinity` and the tools that size their parallelism by them
/// see the build's share rather than the host's CPU count. Returns how many it has now.
pub fn restrict_cpus(n: usize) -> Result<usize, HardenError> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let me = Pid::from_raw(0);
    let current = sched_getaffinity(me).map_err(HardenError::Affinity)?;
    let allowed: Vec<usize> = (0..CpuSet::count())
        .filter(|&i| current.is_set(i).unwrap_or(false))
        .collect();
    let mut set = CpuSet::new();
    let chosen = first_cpus(&allowed, n);
    for &cpu in &chosen {
        set.set(cpu).map_err(HardenError::Affinity)?;
    }
    sched_setaffinity(me, &set).map_err(HardenError::Affinity)?;
    Ok(chosen.len())
}

// ---------------------------------------------------------------------------------------------
// Report and probe
// ---------------------------------------------------------------------------------------------

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
        landlock: landlock_expected(landlock_abi(), false),
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
