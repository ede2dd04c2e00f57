//! The sandbox's pid 1 and the builder it forks.
//!
//! The **init** is forge's own code, not the builder. It unshares its own
//! mount namespace (so the monitor keeps the host's view), builds the root
//! from the [`Plan`](crate::plan::Plan), sets the hostname, brings up
//! loopback, enters the root for good, then forks the **builder**, reaps
//! orphans, and exits as soon as the builder does: the kernel then kills
//! every process left in the namespace, so no daemon outlives the build
//! whatever it did to its parent-death signal or session.
//!
//! The **builder** (pid 2) applies the in-process layers
//! ([`crate::harden`]), starts a session of its own and `execve`s the
//! command with exactly the spec's environment and only fds 0-2. See
//! docs/sandbox.md (layers 5 and 6).
#![allow(unsafe_code)] // fork(2) of the builder (the init is single-threaded), prctl, poll, ioctl(TIOCSCTTY), _exit and rt_sigaction

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};

use super::fds::{close_fds, close_from};
use crate::harden::{self, HardenReport, LandlockRules, LandlockStatus, Rlimits, SeccompPolicy};
use crate::spec::{Enforcement, SandboxSpec};
use crate::stdio;
use crate::sys::{self, Linux};

/// What the builder reports to the monitor just before `exec`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct InitReport {
    pub enforced: HardenReport,
    pub warnings: Vec<String>,
}

/// The sandbox's pid 1, forge's own code: it sets up the root, forks the
/// builder, reaps every orphan, and ends as soon as the builder does, which
/// makes the kernel kill everything left in the pid namespace. A builder
/// cannot signal it (the kernel delivers to a namespace's init only the
/// signals it has handlers for, and it has none), trace it or read its
/// memory (seccomp refuses ptrace; it is not dumpable), or outlive it: its
/// parent-death signal is SIGKILL, so a dead monitor means a dead
/// namespace. Returns only on failure before the fork, with the message.
///
/// What the monitor reads on the report pipe: the builder's `R<json>` line
/// (or an error text) before it execs, then the init's last record, a NUL
/// and `exit N` or `signal N` for how the builder ended.
pub(super) fn init(
    spec: &SandboxSpec,
    plan: &crate::plan::Plan,
    err: &OwnedFd,
    alive: OwnedFd,
) -> String {
    // SAFETY: prctl and signal(2) with plain integers; the handlers the
    // monitor installed must not stay (a handler would make this init
    // signalable from inside its namespace).
    unsafe {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let mut p = libc::pollfd {
        fd: alive.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own, no wait. A hang-up means the monitor died
    // before our parent-death signal was set: nobody would kill us.
    if unsafe { libc::poll(&mut p, 1, 0) } != 0 {
        // SAFETY: _exit is always safe.
        unsafe { libc::_exit(126) }
    }
    drop(alive);
    // Only 0-2 (forge's pipes) and the report pipe stay: not the
    // monitor's spec and outcome pipes, nothing of the caller's.
    let efd = err.as_raw_fd();
    close_fds(3, efd - 1, false);
    close_fds(efd + 1, i32::MAX, false);
    let mut sys = Linux;
    let mut warnings = Vec::new();
    let mut setup = || -> std::io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNS).map_err(std::io::Error::from)?;
        sys::enter_setup_root(&mut sys, Path::new("/tmp"))?;
        warnings = sys::apply_steps(&mut sys, &plan.steps)?;
        nix::unistd::sethostname(&plan.hostname).map_err(std::io::Error::from)?;
        if !spec.network {
            sys::loopback_up()
                .map_err(|e| std::io::Error::new(e.kind(), format!("bringing up lo: {e}")))?;
        }
        sys::enter_new_root(&mut sys, &plan.cwd)?;
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        Ok(())
    };
    if let Err(e) = setup() {
        return e.to_string();
    }
    // SAFETY: this process is single-threaded, so the child may run
    // arbitrary code.
    let builder = match unsafe { fork() } {
        Err(e) => return format!("fork of the builder: {e}"),
        Ok(ForkResult::Child) => {
            let e = builder(spec, plan, err, warnings);
            let mut w = fs::File::from(match err.try_clone() {
                Ok(fd) => fd,
                // SAFETY: _exit is always safe.
                Err(_) => unsafe { libc::_exit(126) },
            });
            let _ = w.write_all(e.as_bytes());
            // SAFETY: as above.
            unsafe { libc::_exit(126) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    // Reap every orphan until the builder ends; then end, taking the rest.
    let end = loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(p, code)) if p == builder => break format!("exit {code}"),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == builder => {
                break format!("signal {}", sig as i32)
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => break format!("error waitpid: {e}"),
        }
    };
    let mut w = fs::File::from(match err.try_clone() {
        Ok(fd) => fd,
        // SAFETY: _exit is always safe.
        Err(_) => unsafe { libc::_exit(126) },
    });
    let _ = w.write_all(format!("\0{end}").as_bytes());
    // SAFETY: _exit is always safe; the kernel now kills every process
    // left in the namespace, and our parent reaps us only after that.
    unsafe { libc::_exit(0) }
}

/// The builder, pid 2: the in-process layers, its own session (with forge's
/// pty as its controlling terminal when it has one), the report, then the
/// command with exactly the spec's environment and only fds 0-2. Returns
/// only on failure, with the message.
fn builder(
    spec: &SandboxSpec,
    plan: &crate::plan::Plan,
    err: &OwnedFd,
    warnings: Vec<String>,
) -> String {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    default_signals();
    let report = match harden_here(spec, plan) {
        Ok(r) => r,
        Err(e) => return e,
    };
    // A session of its own: the invoker's terminal is not the build's
    // controlling terminal, so /dev/tty and TIOCSTI cannot reach it. Last
    // thing before exec on purpose: with autogroup scheduling a new session
    // is a new task group, which the scheduler starts at almost no weight
    // (its load average has no history), so the less work done in it
    // before exec, the less a loaded machine slows a sandbox's start.
    if let Err(e) = nix::unistd::setsid() {
        return format!("setsid: {e}");
    }
    if stdio::is_terminal(0) {
        // Only ever forge's own pty (the caller never hands over a
        // terminal): the shell's controlling terminal, for job control.
        // SAFETY: TIOCSCTTY takes an integer argument.
        unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
    }
    // The report goes to the monitor on the same close-on-exec pipe as
    // errors: one line starting with 'R'; errors are unprefixed text.
    let mut w = fs::File::from(match err.try_clone() {
        Ok(fd) => fd,
        Err(e) => return format!("duplicating the report pipe: {e}"),
    });
    let report = InitReport {
        enforced: report,
        warnings,
    };
    let line = format!("R{}\n", serde_json::to_string(&report).unwrap_or_default());
    if let Err(e) = w.write_all(line.as_bytes()) {
        return format!("reporting to the monitor: {e}");
    }
    drop(w);
    let cstr =
        |s: &str| std::ffi::CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Result<Vec<_>, _> = spec.command.iter().map(|a| cstr(a)).collect();
    let envp: Result<Vec<_>, _> = spec
        .env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // Nothing but 0-2 survives the exec (the report pipe stays usable
    // for an exec failure).
    close_from(3, true);
    match nix::unistd::execve(&argv[0], &argv, &envp) {
        Err(e) => format!("cannot run {}: {e}", spec.command[0]),
        Ok(never) => match never {},
    }
}

/// Applies the in-process layers, last thing before exec: rlimits,
/// capabilities, no_new_privs, landlock, seccomp. In hard mode anything
/// less than full enforcement is an error.
fn harden_here(spec: &SandboxSpec, plan: &crate::plan::Plan) -> Result<HardenReport, String> {
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: harden::HardenError| format!("{what}: {err}")
    };
    // Sockets of every family stay available: the network boundary is the
    // empty network namespace (only loopback), which builds' test suites
    // use, as in Nix's sandbox. Landlock's TCP rules and seccomp's socket
    // rule would take loopback away too.
    let sockets_allowed = true;
    // Compiled before anything is restricted (it allocates).
    let program = harden::seccomp_program(&SeccompPolicy {
        allow_network: sockets_allowed,
    })
    .map_err(e("building the seccomp filter"))?;
    if let Some(n) = harden::build_cores(&spec.env) {
        harden::restrict_cpus(n).map_err(e("restricting the cpus"))?;
    }
    harden::apply_rlimits(&Rlimits {
        max_processes: spec.limits.max_processes,
        max_open_files: spec.limits.max_open_files,
        max_file_size: None,
        core_dumps: false,
    })
    .map_err(e("setting resource limits"))?;
    let caps = harden::drop_capabilities().map_err(e("dropping capabilities"))?;
    harden::set_no_new_privs().map_err(e("setting no_new_privs"))?;
    let landlock = harden::apply_landlock(&LandlockRules {
        read_exec: plan.access.read_exec.clone(),
        read_write: plan.access.read_write.clone(),
        devices: plan.access.devices.clone(),
        allow_network: sockets_allowed,
    })
    .map_err(e("applying landlock"))?;
    let report = HardenReport {
        landlock,
        seccomp: true,
        capabilities_dropped: caps.all_dropped(),
        no_new_privs: true,
    };
    if spec.enforcement == Enforcement::Hard {
        if let LandlockStatus::PartiallyEnforced { .. } | LandlockStatus::NotEnforced { .. } =
            &report.landlock
        {
            return Err(format!(
                "hard mode: landlock is not fully enforced on this kernel ({:?}); run in best-effort mode to build anyway",
                report.landlock
            ));
        }
        if !report.capabilities_dropped {
            return Err("hard mode: not every capability could be dropped".into());
        }
    }
    harden::apply_seccomp(&program).map_err(e("applying seccomp"))?;
    Ok(report)
}

/// Every signal back to its default action and none blocked: ignored
/// dispositions and the mask survive `execve`, so the builder would inherit
/// the SIGPIPE that Rust's runtime ignores in forge and whatever the
/// invoker ignored or blocked (`nohup`, `trap '' INT`).
fn default_signals() {
    /// The kernel's `struct sigaction` (glibc's wrapper refuses the two
    /// real-time signals it keeps for itself, which are inherited too).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction(2) reads `default`, which outlives the
            // call, and writes nothing (null old action); the size is the
            // kernel's 8-byte signal set.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig as libc::c_long,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8 as libc::c_long,
                )
            };
        }
    }
    let none: u64 = 0;
    // SAFETY: rt_sigprocmask(2) reads an empty 8-byte set that outlives
    // the call.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as libc::c_long,
            &none as *const u64,
            std::ptr::null_mut::<u64>(),
            8 as libc::c_long,
        )
    };
}
