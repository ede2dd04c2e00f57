//! Seccomp: a "default allow, deny a list" filter, built as a plain BPF program by a pure
//! function ([`seccomp_program`]) and installed last before `execve` ([`apply_seccomp`]).
//!
//! # Why `seccompiler` and not libseccomp
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

pub use seccompiler::sock_filter;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::error::HardenError;

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
pub(super) const CLONE_NEW_FLAGS: &[u64] = &[
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
pub(super) const VSOCK_ONLY: &[u64] = &[libc::AF_VSOCK as u64];
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

pub(super) fn native_arch() -> Result<TargetArch, HardenError> {
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
pub(super) const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(super) const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// x86_64's x32 ABI: native arch, syscall numbers with this bit set.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
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

pub(super) fn audit_arch(arch: TargetArch) -> u32 {
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
