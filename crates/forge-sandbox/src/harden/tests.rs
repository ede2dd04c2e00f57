//! Pure tests run the seccomp program in a small BPF interpreter; real-kernel tests run in a
//! forked child so no restriction ever reaches the test process.
#![allow(clippy::unnecessary_cast)]
// ioctl requests are c_ulong on glibc, c_int on musl
// fork, _exit, raw writes to stderr, and the syscalls the filter must block (clone, clone3,
// io_uring_setup, ioctls…), which have no safe wrapper.
#![allow(unsafe_code)]

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use super::landlock::landlock_expected;
use super::seccomp::{
    audit_arch, native_arch, CLONE_NEW_FLAGS, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS,
    VSOCK_ONLY, X32_SYSCALL_BIT,
};
use super::*;
use std::os::unix::fs::PermissionsExt;

// ------------------------------------------------------------------ BPF interpreter (pure)

const ERRNO: u32 = 0x0005_0000;

/// Run a classic BPF seccomp program on `(arch, nr, args)`; returns the seccomp action.
fn run_bpf(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let load = |off: u32| -> u32 {
        match off {
            0 => nr,
            4 => arch,
            o if (16..64).contains(&o) => {
                let a = args[((o - 16) / 8) as usize];
                if (o - 16) % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            o => panic!("load from unexpected offset {o}"),
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = &prog[pc];
        pc += 1;
        match i.code {
            0x20 => acc = load(i.k),
            0x54 => acc &= i.k,
            0x05 => pc += i.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let t = match i.code {
                    0x15 => acc == i.k,
                    0x25 => acc > i.k,
                    0x35 => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += usize::from(if t { i.jt } else { i.jf });
            }
            0x06 => return i.k,
            c => panic!("unexpected BPF opcode {c:#x} at {}", pc - 1),
        }
    }
}

fn native() -> u32 {
    audit_arch(native_arch().unwrap())
}

fn eval(policy: SeccompPolicy, nr: i64, args: [u64; 6]) -> u32 {
    run_bpf(
        &seccomp_program(&policy).unwrap(),
        native(),
        nr as u32,
        args,
    )
}

fn errno(e: i32) -> u32 {
    ERRNO | e as u32
}

#[test]
fn seccomp_program_builds_and_fits() {
    for allow_network in [false, true] {
        let prog = seccomp_program(&SeccompPolicy { allow_network }).unwrap();
        assert!(prog.len() > 10, "program too short: {}", prog.len());
        assert!(prog.len() <= SECCOMP_MAX_INSTRUCTIONS);
    }
}

#[test]
fn denylist_names_every_required_syscall() {
    let list = seccomp_denylist(&SeccompPolicy {
        allow_network: false,
    });
    let names: Vec<&str> = list.iter().map(|d| d.syscall).collect();
    let required = [
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "setxattrat",
        "removexattrat",
        "unshare",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "clone",
        "clone3",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "kexec_load",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "keyctl",
        "add_key",
        "request_key",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "personality",
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "settimeofday",
        "clock_settime",
        "adjtimex",
        "quotactl",
        "open_by_handle_at",
        "name_to_handle_at",
        "lookup_dcookie",
        "syslog",
        "socket",
        "socketpair",
        "openat",
        "openat2",
        "mkdirat",
        "mknodat",
        "ioctl",
    ];
    for name in required {
        assert!(
            names.contains(&name),
            "{name} missing from the seccomp deny list"
        );
    }
    #[cfg(target_arch = "x86_64")]
    for name in ["chmod", "iopl", "ioperm", "open", "creat", "mkdir", "mknod"] {
        assert!(
            names.contains(&name),
            "{name} missing from the seccomp deny list"
        );
    }
    let mut nrs: Vec<i64> = list.iter().map(|d| d.nr).collect();
    nrs.sort_unstable();
    nrs.dedup();
    assert_eq!(nrs.len(), list.len(), "a syscall number is listed twice");
    let net = seccomp_denylist(&SeccompPolicy {
        allow_network: true,
    });
    // With network only vsock is refused.
    let socket = net.iter().find(|d| d.syscall == "socket").unwrap();
    assert_eq!(
        socket.when,
        ArgCondition::In {
            arg: 0,
            values: VSOCK_ONLY
        }
    );
}

#[test]
fn bpf_every_listed_syscall_is_denied_with_its_errno() {
    let policy = SeccompPolicy {
        allow_network: false,
    };
    for d in seccomp_denylist(&policy) {
        // Arguments that trigger each condition.
        let args = match &d.when {
            ArgCondition::Always => [0; 6],
            ArgCondition::AnyBitSet { arg, bits } => {
                let mut a = [0; 6];
                a[usize::from(*arg)] = bits[0];
                a
            }
            ArgCondition::NotIn { arg, .. } => {
                let mut a = [0; 6];
                a[usize::from(*arg)] = 0x0040_0000; // READ_IMPLIES_EXEC
                a
            }
            ArgCondition::In { arg, values } => {
                let mut a = [0; 6];
                a[usize::from(*arg)] = values[0];
                a
            }
        };
        assert_eq!(
            eval(policy, d.nr, args),
            errno(d.errno),
            "{} not denied",
            d.syscall
        );
    }
}

#[test]
fn bpf_argument_checks() {
    let p = SeccompPolicy {
        allow_network: false,
    };
    let allow = SECCOMP_RET_ALLOW;
    let eperm = errno(libc::EPERM);
    let at = |i: usize, v: u64| {
        let mut a = [0; 6];
        a[i] = v;
        a
    };
    // setuid/setgid bits: mode is argument 2 of fchmodat, argument 1 of fchmod.
    assert_eq!(eval(p, libc::SYS_fchmodat, at(2, 0o4755)), eperm);
    assert_eq!(eval(p, libc::SYS_fchmodat, at(2, 0o2755)), eperm);
    assert_eq!(eval(p, libc::SYS_fchmodat, at(2, 0o755)), allow);
    assert_eq!(
        eval(p, libc::SYS_fchmodat, at(1, 0o4755)),
        allow,
        "wrong argument checked"
    );
    assert_eq!(eval(p, libc::SYS_fchmod, at(1, 0o6755)), eperm);
    assert_eq!(eval(p, libc::SYS_fchmod, at(1, 0o644)), allow);
    // clone: a plain fork is fine, any new namespace is not.
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    assert_eq!(eval(p, libc::SYS_clone, at(0, fork_flags)), allow);
    for f in CLONE_NEW_FLAGS {
        assert_eq!(
            eval(p, libc::SYS_clone, at(0, fork_flags | f)),
            eperm,
            "flag {f:#x}"
        );
    }
    assert_eq!(eval(p, libc::SYS_clone3, [0; 6]), errno(libc::ENOSYS));
    // personality: query and default allowed, anything else not.
    assert_eq!(eval(p, libc::SYS_personality, at(0, 0xffff_ffff)), allow);
    assert_eq!(eval(p, libc::SYS_personality, at(0, 0)), allow);
    assert_eq!(eval(p, libc::SYS_personality, at(0, 0x0040_0000)), eperm);
    // sockets
    let af = |f: i32| at(0, f as u64);
    let no_af = errno(libc::EAFNOSUPPORT);
    assert_eq!(eval(p, libc::SYS_socket, af(libc::AF_INET)), no_af);
    assert_eq!(eval(p, libc::SYS_socket, af(libc::AF_INET6)), no_af);
    assert_eq!(eval(p, libc::SYS_socket, af(libc::AF_PACKET)), no_af);
    assert_eq!(eval(p, libc::SYS_socket, af(libc::AF_UNIX)), allow);
    let net = SeccompPolicy {
        allow_network: true,
    };
    assert_eq!(eval(net, libc::SYS_socket, af(libc::AF_INET)), allow);
    for policy in [p, net] {
        assert_eq!(eval(policy, libc::SYS_socket, af(libc::AF_VSOCK)), no_af);
        assert_eq!(
            eval(policy, libc::SYS_socketpair, af(libc::AF_VSOCK)),
            no_af
        );
        assert_eq!(eval(policy, libc::SYS_socketpair, af(libc::AF_UNIX)), allow);
    }
    // Set-id modes at creation; the mode is argument 3 of openat.
    assert_eq!(eval(p, libc::SYS_openat, at(3, 0o4755)), eperm);
    assert_eq!(eval(p, libc::SYS_openat, at(3, 0o2644)), eperm);
    assert_eq!(eval(p, libc::SYS_openat, at(3, 0o644)), allow);
    assert_eq!(
        eval(p, libc::SYS_openat, at(2, 0o4000)),
        allow,
        "flags are not a mode"
    );
    assert_eq!(eval(p, libc::SYS_mkdirat, at(2, 0o2755)), eperm);
    assert_eq!(eval(p, libc::SYS_mknodat, at(2, 0o104755)), eperm);
    assert_eq!(eval(p, libc::SYS_mknodat, at(2, 0o010644)), allow);
    assert_eq!(eval(p, libc::SYS_openat2, [0; 6]), errno(libc::ENOSYS));
    // Terminal injection, with any fd; the request's upper 32 bits do not matter.
    assert_eq!(eval(p, libc::SYS_ioctl, at(1, libc::TIOCSTI as u64)), eperm);
    assert_eq!(
        eval(p, libc::SYS_ioctl, at(1, (1 << 32) | libc::TIOCSTI as u64)),
        eperm
    );
    assert_eq!(
        eval(p, libc::SYS_ioctl, at(1, libc::TIOCLINUX as u64)),
        eperm
    );
    assert_eq!(
        eval(p, libc::SYS_ioctl, at(1, libc::TIOCGWINSZ as u64)),
        allow
    );
    // Ordinary calls pass through every stage.
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_openat,
        libc::SYS_execve,
    ] {
        assert_eq!(eval(p, nr, [0; 6]), allow);
    }
}

#[test]
fn bpf_foreign_abis_are_killed() {
    let prog = seccomp_program(&SeccompPolicy::default()).unwrap();
    const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
    assert_eq!(
        run_bpf(&prog, AUDIT_ARCH_I386, 1, [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        run_bpf(&prog, native(), X32_SYSCALL_BIT, [0; 6]),
        SECCOMP_RET_KILL_PROCESS,
        "x32 syscall allowed"
    );
}

#[test]
fn landlock_missing_by_abi() {
    assert!(landlock_missing(7, false).is_empty());
    assert!(landlock_missing(6, false).is_empty());
    assert_eq!(landlock_missing(5, false).len(), 2);
    assert!(landlock_missing(3, false).iter().any(|m| m.contains("tcp")));
    assert!(!landlock_missing(3, true).iter().any(|m| m.contains("tcp")));
    assert!(matches!(
        landlock_expected(None, false),
        LandlockStatus::NotEnforced { .. }
    ));
}

// ------------------------------------------------------------------ real kernel, in a child

/// Write to stderr without Rust's stderr lock, which another test thread may have held at the
/// moment of fork (the child would then wait on it forever).
fn child_say(msg: &str) {
    let line = format!("{msg}\n");
    // SAFETY: writes `line.len()` bytes from a live buffer to fd 2.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Fork, run `f` in the child, `_exit` with its code, and return that code (or 128 + signal).
///
/// The child must not panic: the panic hook takes locks that another test thread may have held
/// at fork. A child still running after 60 s is killed, so a deadlock fails the test instead of
/// hanging it.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    // SAFETY: the test harness is multi-threaded, and after fork only this thread exists in the
    // child. The child only makes syscalls, allocates (glibc resets its malloc locks in the child
    // of a fork), writes with `child_say`, and then `_exit`s without running the parent's
    // destructors or atexit handlers.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: ends the forked child at once, as it must not return into the test harness.
        unsafe { libc::_exit(code) };
    }
    let pid = nix::unistd::Pid::from_raw(pid);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            WaitStatus::StillAlive => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
                let _ = waitpid(pid, None);
                panic!("the child did not finish within 60 s and was killed");
            }
            WaitStatus::Exited(_, code) => return code,
            WaitStatus::Signaled(_, sig, _) => return 128 + sig as i32,
            _ => {}
        }
    }
}

/// Run `f` in a child; a failed check there prints its message and fails the test here.
fn check_in_child(f: impl FnOnce() -> Result<(), String>) {
    let code = in_child(|| match f() {
        Ok(()) => 0,
        Err(msg) => {
            child_say(&format!("child check failed: {msg}"));
            1
        }
    });
    assert_eq!(code, 0, "the check in the child failed (see stderr)");
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>, what: &str) -> Result<i32, String> {
    match r {
        Ok(v) => Err(format!("{what} succeeded ({v:?}), it should have failed")),
        Err(e) => Ok(e.raw_os_error().unwrap_or(0)),
    }
}

fn expect_errno<T: std::fmt::Debug>(
    r: std::io::Result<T>,
    what: &str,
    want: i32,
) -> Result<(), String> {
    let got = errno_of(r, what)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: errno {got}, expected {want}"))
    }
}

fn ok<T>(r: std::io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

fn raw(ret: libc::c_long) -> std::io::Result<libc::c_long> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn seccomp_child_checks(allow_network: bool) -> Result<(), String> {
    let dir = ok(tempfile::tempdir(), "tempdir")?;
    let file = dir.path().join("f");
    ok(std::fs::write(&file, b"x"), "write")?;
    let xattr_before = xattr::set(&file, "user.forge", b"1").is_ok();

    let prog = seccomp_program(&SeccompPolicy { allow_network }).map_err(|e| e.to_string())?;
    apply_seccomp(&prog).map_err(|e| e.to_string())?;

    let mode = |m| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m));
    expect_errno(mode(0o4755), "chmod 4755", libc::EPERM)?;
    expect_errno(mode(0o2755), "chmod 2755", libc::EPERM)?;
    ok(mode(0o755), "chmod 755")?;
    let fd = ok(std::fs::File::open(&file), "open")?;
    let fchmod = |m| {
        nix::sys::stat::fchmod(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            nix::sys::stat::Mode::from_bits_truncate(m),
        )
    };
    expect_errno(
        fchmod(0o4755).map_err(std::io::Error::from),
        "fchmod 4755",
        libc::EPERM,
    )?;
    ok(fchmod(0o700).map_err(std::io::Error::from), "fchmod 700")?;

    let unshare = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
    expect_errno(
        unshare.map_err(std::io::Error::from),
        "unshare(CLONE_NEWUSER)",
        libc::EPERM,
    )?;
    // SAFETY: raw clone with only flags: if the filter failed to stop it, the child process
    // leaves at once with `_exit`.
    let clone = raw(unsafe {
        let r = libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUSER | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        );
        if r == 0 {
            libc::_exit(0);
        }
        r
    });
    expect_errno(clone, "clone(CLONE_NEWUSER)", libc::EPERM)?;
    // SAFETY: clone3 with a null argument only reports an error (EINVAL, or ENOSYS from us).
    let clone3 = raw(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) });
    expect_errno(clone3, "clone3", libc::ENOSYS)?;
    // Ordinary process creation still works: libc falls back from clone3 to clone.
    let status = ok(
        std::process::Command::new("/bin/true").status(),
        "spawn /bin/true",
    )?;
    if !status.success() {
        return Err(format!("/bin/true under the filter: {status}"));
    }

    let xattr_after = xattr::set(&file, "user.forge", b"2");
    expect_errno(xattr_after, "setxattr", libc::ENOTSUP)?;
    if !xattr_before {
        child_say("note: setxattr failed before the filter too; its check here is weak");
    }
    expect_errno(
        nix::sys::ptrace::traceme().map_err(std::io::Error::from),
        "ptrace(PTRACE_TRACEME)",
        libc::EPERM,
    )?;
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup reads and writes at most sizeof(struct io_uring_params) = 120 bytes
    // at the pointer, which `params` provides.
    let uring = raw(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) });
    expect_errno(uring, "io_uring_setup", libc::EPERM)?;

    let tcp = std::net::TcpListener::bind("127.0.0.1:0");
    if allow_network {
        ok(tcp, "tcp socket with network allowed")?;
    } else {
        expect_errno(tcp, "tcp socket", libc::EAFNOSUPPORT)?;
        expect_errno(
            std::net::UdpSocket::bind("127.0.0.1:0"),
            "udp socket",
            libc::EAFNOSUPPORT,
        )?;
    }
    ok(std::os::unix::net::UnixDatagram::unbound(), "unix socket")?;
    Ok(())
}

#[test]
fn seccomp_in_kernel_without_network() {
    check_in_child(|| seccomp_child_checks(false));
}

#[test]
fn seccomp_in_kernel_with_network() {
    check_in_child(|| seccomp_child_checks(true));
}

#[test]
fn landlock_in_kernel() {
    let Some(abi) = landlock_abi() else {
        eprintln!("skipped: landlock not available on this kernel");
        return;
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("input"), b"hello").unwrap();
    let secret = ["/etc/hostname", "/etc/passwd"]
        .into_iter()
        .find(|p| std::fs::read(p).is_ok())
        .unwrap();
    check_in_child(|| {
        let rules = LandlockRules {
            read_exec: vec![a.path().to_path_buf()],
            read_write: vec![b.path().to_path_buf()],
            devices: vec![],
            allow_network: false,
        };
        set_no_new_privs().map_err(|e| e.to_string())?;
        let status = apply_landlock(&rules).map_err(|e| e.to_string())?;
        let want = if abi >= 6 {
            LandlockStatus::FullyEnforced { abi }
        } else {
            LandlockStatus::PartiallyEnforced {
                abi,
                missing: landlock_missing(abi, false),
            }
        };
        if status != want {
            return Err(format!("status {status:?}, expected {want:?}"));
        }
        let text = ok(std::fs::read(a.path().join("input")), "read in A")?;
        if text != b"hello" {
            return Err("wrong content read from A".to_owned());
        }
        expect_errno(
            std::fs::write(a.path().join("new"), b"x"),
            "write in A",
            libc::EACCES,
        )?;
        expect_errno(
            std::fs::OpenOptions::new()
                .append(true)
                .open(a.path().join("input")),
            "open A/input for writing",
            libc::EACCES,
        )?;
        ok(std::fs::write(b.path().join("out"), b"x"), "write in B")?;
        ok(std::fs::create_dir(b.path().join("sub")), "mkdir in B")?;
        ok(
            std::os::unix::fs::symlink("out", b.path().join("link")),
            "symlink in B",
        )?;
        ok(std::fs::remove_file(b.path().join("link")), "unlink in B")?;
        expect_errno(std::fs::read(secret), secret, libc::EACCES)?;
        if abi >= 4 {
            expect_errno(
                std::net::TcpListener::bind("127.0.0.1:0"),
                "tcp bind",
                libc::EACCES,
            )?;
        }
        if abi >= 6 {
            // SAFETY: kill with signal 0 only checks permission; the parent is the test process,
            // outside the landlock domain.
            let r = raw(unsafe { libc::kill(libc::getppid(), 0) }.into());
            expect_errno(r, "signal to a process outside the domain", libc::EPERM)?;
        }
        Ok(())
    });
}

fn cap_field(name: &str) -> Result<u64, String> {
    let status = ok(std::fs::read_to_string("/proc/self/status"), "read status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .ok_or(format!("{name} missing from /proc/self/status"))?;
    u64::from_str_radix(line.trim(), 16).map_err(|e| format!("{name}: {e}"))
}

fn check_caps_cleared(report: CapabilityStatus) -> Result<(), String> {
    for f in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let v = cap_field(f)?;
        if v != 0 {
            return Err(format!("{f} is {v:#x} after drop_capabilities"));
        }
    }
    if !report.process_sets_cleared {
        return Err("report says process sets not cleared".to_owned());
    }
    let bnd = cap_field("CapBnd")?;
    if report.bounding_cleared != (bnd == 0) {
        return Err(format!("report {report:?} disagrees with CapBnd {bnd:#x}"));
    }
    Ok(())
}

#[test]
fn capabilities_dropped_in_current_context() {
    let root = nix::unistd::geteuid().is_root();
    check_in_child(|| {
        let report = drop_capabilities().map_err(|e| e.to_string())?;
        check_caps_cleared(report)?;
        if root && !report.all_dropped() {
            return Err(format!("as root every set must be empty: {report:?}"));
        }
        Ok(())
    });
}

#[test]
fn capabilities_dropped_in_user_namespace() {
    // The real sandbox case: uid 0 in a fresh user namespace holds every capability there,
    // so all five sets, bounding included, must end empty.
    check_in_child(|| {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            child_say(&format!(
                "skipped: cannot create a user namespace here ({e})"
            ));
            return Ok(());
        }
        if cap_field("CapBnd")? == 0 || cap_field("CapEff")? == 0 {
            return Err("no capabilities in the new user namespace to begin with".to_owned());
        }
        let report = drop_capabilities().map_err(|e| e.to_string())?;
        check_caps_cleared(report)?;
        if !report.all_dropped() || cap_field("CapBnd")? != 0 {
            return Err(format!("bounding set not emptied: {report:?}"));
        }
        Ok(())
    });
}

#[test]
fn no_new_privs_in_kernel() {
    check_in_child(|| {
        set_no_new_privs().map_err(|e| e.to_string())?;
        let status = ok(std::fs::read_to_string("/proc/self/status"), "read status")?;
        if status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NoNewPrivs:", "1"])
        {
            Ok(())
        } else {
            Err("NoNewPrivs is not 1".to_owned())
        }
    });
}

#[test]
fn rlimits_in_kernel() {
    let dir = tempfile::tempdir().unwrap();
    check_in_child(|| {
        let (nproc, _) = ok(
            getrlimit(Resource::RLIMIT_NPROC).map_err(Into::into),
            "getrlimit",
        )?;
        let limits = Rlimits {
            max_processes: nproc,
            max_open_files: 16,
            max_file_size: Some(4096),
            core_dumps: false,
        };
        apply_rlimits(&limits).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        let mut failure = None;
        for i in 0..32 {
            match std::fs::File::create(dir.path().join(format!("f{i}"))) {
                Ok(f) => files.push(f),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match failure {
            Some(e) if e.raw_os_error() == Some(libc::EMFILE) => {}
            other => return Err(format!("opening 32 files with a limit of 16: {other:?}")),
        }
        drop(files);
        let core = ok(
            getrlimit(Resource::RLIMIT_CORE).map_err(Into::into),
            "getrlimit core",
        )?;
        if core != (0, 0) {
            return Err(format!("RLIMIT_CORE is {core:?}"));
        }
        // The hard limit is lowered too: the builder cannot raise it back.
        let raised = setrlimit(Resource::RLIMIT_NOFILE, 64, 64).map_err(Into::into);
        expect_errno(raised, "raising RLIMIT_NOFILE", libc::EPERM)?;
        // A write past RLIMIT_FSIZE fails with EFBIG once SIGXFSZ is ignored.
        // SAFETY: setting SIGXFSZ to SIG_IGN installs no handler code.
        unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::SIGXFSZ,
                nix::sys::signal::SigHandler::SigIgn,
            )
        }
        .map_err(|e| e.to_string())?;
        expect_errno(
            std::fs::write(dir.path().join("big"), vec![0u8; 8192]),
            "write 8 KiB",
            libc::EFBIG,
        )?;
        Ok(())
    });
}

#[test]
fn in_child_reports_failure() {
    // The helpers themselves must be able to fail, or every test above proves nothing.
    assert_eq!(in_child(|| 3), 3);
    // SAFETY: the child kills itself; 128 + SIGKILL comes back.
    assert_eq!(in_child(|| unsafe { libc::raise(libc::SIGKILL) }), 128 + 9);
    let failed = std::panic::catch_unwind(|| check_in_child(|| Err("expected failure".into())));
    assert!(failed.is_err());
}

#[test]
fn probe_does_not_restrict_the_caller() {
    let before = std::fs::read_to_string("/proc/self/status").unwrap();
    let report = probe();
    let after = std::fs::read_to_string("/proc/self/status").unwrap();
    let pick = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| {
                l.starts_with("Seccomp") || l.starts_with("NoNewPrivs") || l.starts_with("Cap")
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(pick(&before), pick(&after));
    assert_eq!(report.landlock, landlock_expected(landlock_abi(), false));
    assert!(serde_json::to_string(&report)
        .unwrap()
        .contains("\"landlock\""));
}

// ------------------------------------------------------------------ issue 8: terminals, set-id
// modes, vsock (each checked with and without the filter, so the test is seen to need it)

/// A new session whose controlling terminal is a fresh pty: returns (master, slave) fds.
fn pty_as_controlling_terminal() -> Result<(libc::c_int, libc::c_int), String> {
    // SAFETY: setsid takes no arguments; the forked child is not a group leader.
    if unsafe { libc::setsid() } < 0 {
        return Err(format!("setsid: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the fd just opened; the name buffer
    // is large enough and NUL-terminated by ptsname_r.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 || libc::grantpt(master) != 0 || libc::unlockpt(master) != 0 {
            return Err(format!(
                "opening a pty: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
            return Err("ptsname_r failed".into());
        }
        // Without O_NOCTTY: a session leader without a terminal gets this one.
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if slave < 0 {
            return Err(format!(
                "opening the pty slave: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok((master, slave))
    }
}

fn tiocsti(fd: libc::c_int) -> std::io::Result<libc::c_long> {
    let byte: libc::c_char = b'x' as libc::c_char;
    // SAFETY: TIOCSTI reads one byte at the pointer, which is live for the call.
    raw(unsafe { libc::ioctl(fd, libc::TIOCSTI, &byte) }.into())
}

fn tioclinux(fd: libc::c_int) -> std::io::Result<libc::c_long> {
    let mut sub: libc::c_char = 0; // TIOCL_GETSHIFTSTATE would be 6; 0 is enough for the check
                                   // SAFETY: TIOCLINUX reads (and may write) one byte at the pointer, which is live.
    raw(unsafe { libc::ioctl(fd, libc::TIOCLINUX, &mut sub) }.into())
}

#[test]
fn tiocsti_works_on_a_controlling_pty_without_the_filter() {
    // The baseline: without it the test below would prove nothing.
    check_in_child(|| {
        let (master, slave) = pty_as_controlling_terminal()?;
        ok(tiocsti(slave), "TIOCSTI on the slave without the filter")?;
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `buf`.
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 1 || buf[0] != b'x' {
            return Err(format!("the pushed byte did not arrive (read {n})"));
        }
        Ok(())
    });
}

#[test]
fn seccomp_refuses_tiocsti_and_tioclinux_on_any_fd() {
    check_in_child(|| {
        let (master, slave) = pty_as_controlling_terminal()?;
        let prog = seccomp_program(&SeccompPolicy {
            allow_network: true,
        })
        .map_err(|e| e.to_string())?;
        apply_seccomp(&prog).map_err(|e| e.to_string())?;
        for (fd, what) in [(slave, "slave"), (master, "master")] {
            expect_errno(tiocsti(fd), &format!("TIOCSTI on the {what}"), libc::EPERM)?;
            expect_errno(
                tioclinux(fd),
                &format!("TIOCLINUX on the {what}"),
                libc::EPERM,
            )?;
        }
        // Other terminal ioctls still work.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
        ok(
            raw(unsafe { libc::ioctl(slave, libc::TIOCGWINSZ, &mut ws) }.into()),
            "TIOCGWINSZ",
        )?;
        Ok(())
    });
}

/// Creates `name` in `dir` with `mode` by open(O_CREAT), mkdir and mknod(S_IFREG).
fn create_with_mode(dir: &std::path::Path, name: &str, mode: u32) -> [std::io::Result<()>; 3] {
    let c = |suffix: &str| {
        std::ffi::CString::new(format!("{}/{name}{suffix}", dir.display())).expect("no NUL")
    };
    let (f, d, n) = (c(".file"), c(".dir"), c(".node"));
    // SAFETY: each call gets a valid C string; the opened fd is closed at once.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            mode,
        );
        if fd >= 0 {
            libc::close(fd as libc::c_int);
        }
        [
            raw(fd).map(drop),
            raw(libc::syscall(
                libc::SYS_mkdirat,
                libc::AT_FDCWD,
                d.as_ptr(),
                mode,
            ))
            .map(drop),
            raw(libc::syscall(
                libc::SYS_mknodat,
                libc::AT_FDCWD,
                n.as_ptr(),
                libc::S_IFREG | mode,
                0,
            ))
            .map(drop),
        ]
    }
}

#[test]
fn set_id_modes_survive_creation_without_the_filter() {
    // The baseline: umask does not strip set-id bits, so only the filter does.
    check_in_child(|| {
        use std::os::unix::fs::MetadataExt;
        let dir = ok(tempfile::tempdir(), "tempdir")?;
        // SAFETY: umask only sets the process's file mode mask.
        unsafe { libc::umask(0o022) };
        for r in create_with_mode(dir.path(), "suid", 0o6755) {
            ok(r, "creating with mode 6755")?;
        }
        // (mkdir itself drops S_ISUID on this kernel; the filter refuses it anyway.)
        for s in [".file", ".node"] {
            let m = ok(
                std::fs::metadata(dir.path().join(format!("suid{s}"))),
                "stat",
            )?;
            if m.mode() & 0o4000 == 0 {
                return Err(format!("suid{s} lost S_ISUID without the filter"));
            }
        }
        Ok(())
    });
}

#[test]
fn seccomp_refuses_set_id_modes_at_creation_openat2_and_vsock() {
    check_in_child(|| {
        let dir = ok(tempfile::tempdir(), "tempdir")?;
        let prog = seccomp_program(&SeccompPolicy {
            allow_network: true,
        })
        .map_err(|e| e.to_string())?;
        apply_seccomp(&prog).map_err(|e| e.to_string())?;
        for (mode, name) in [(0o4755, "u"), (0o2755, "g"), (0o6700, "ug")] {
            for (r, how) in create_with_mode(dir.path(), name, mode).into_iter().zip([
                "open(O_CREAT)",
                "mkdir",
                "mknod",
            ]) {
                expect_errno(r, &format!("{how} with mode {mode:o}"), libc::EPERM)?;
            }
        }
        for r in create_with_mode(dir.path(), "plain", 0o755) {
            ok(r, "creating with mode 755")?;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let p = std::ffi::CString::new(format!("{}/creat", dir.path().display())).unwrap();
            // SAFETY: creat and mkdir with a valid C string.
            let r = raw(unsafe { libc::syscall(libc::SYS_creat, p.as_ptr(), 0o4755) });
            expect_errno(r, "creat 4755", libc::EPERM)?;
            // SAFETY: as above.
            let r = raw(unsafe { libc::syscall(libc::SYS_mkdir, p.as_ptr(), 0o2755) });
            expect_errno(r, "mkdir 2755", libc::EPERM)?;
        }
        // openat2 hides its mode in a struct: refused with ENOSYS so libc falls back.
        let how = [0u64; 3];
        let p = std::ffi::CString::new(format!("{}/o2", dir.path().display())).unwrap();
        // SAFETY: openat2 reads `size_of_val(&how)` bytes of `how`, a valid open_how.
        let r = raw(unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                p.as_ptr(),
                how.as_ptr(),
                size_of_val(&how),
            )
        });
        expect_errno(r, "openat2", libc::ENOSYS)?;
        ok(
            std::fs::write(dir.path().join("ordinary"), b"x"),
            "an ordinary create",
        )?;
        // SAFETY: socket with constant arguments.
        let r =
            raw(unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) });
        expect_errno(r, "socket(AF_VSOCK)", libc::EAFNOSUPPORT)?;
        Ok(())
    });
}

#[test]
fn vsock_sockets_exist_without_the_filter() {
    // The baseline for the vsock check above (skipped where the kernel has no vsock).
    let code = in_child(|| {
        // SAFETY: socket with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
        if fd >= 0 {
            0
        } else {
            3
        }
    });
    if code == 3 {
        eprintln!("note: this kernel has no vsock; the vsock check proves less here");
    } else {
        assert_eq!(code, 0);
    }
}

#[test]
fn build_cores_come_from_the_environment_and_take_the_first_allowed_cpus() {
    let env = |v: &str| {
        [("FORGE_BUILD_CORES".to_owned(), v.to_owned())]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(build_cores(&env("3")), Some(3));
    assert_eq!(build_cores(&env("0")), None);
    assert_eq!(build_cores(&env("many")), None);
    assert_eq!(build_cores(&Default::default()), None);
    assert_eq!(first_cpus(&[5, 2, 7, 3], 2), [2, 3]);
    assert_eq!(first_cpus(&[1], 4), [1]);
}

#[test]
fn restrict_cpus_in_kernel_leaves_one_cpu() {
    check_in_child(|| {
        let n = restrict_cpus(1).map_err(|e| e.to_string())?;
        let seen = std::thread::available_parallelism().map_or(0, |n| n.get());
        if n != 1 || seen != 1 {
            return Err(format!("restricted to {n}, the process sees {seen} cpus"));
        }
        Ok(())
    });
}
