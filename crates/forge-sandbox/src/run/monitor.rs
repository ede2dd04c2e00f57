//! The monitor: the process the caller starts for one sandbox
//! ([`main`]). Single-threaded and fresh, because `unshare(CLONE_NEWUSER)`
//! refuses threaded callers and because code after `fork` in a threaded
//! program may not allocate. It plans the root from the spec (a pure
//! function, [`crate::plan`]), joins the runner's pids cgroup (root only),
//! unshares a new user, pid, uts, ipc, cgroup and (unless networking is
//! allowed) network namespace, maps the fixed build uid/gid to the invoking
//! user (`setgroups` denied), and forks the sandbox's pid 1
//! (`init`). It then waits for that init, which ends only once
//! every process of the sandbox is gone, and reports how the builder
//! ended. SIGTERM, SIGINT or SIGHUP (the caller's timeouts, a ^C) make it
//! kill the init first. See docs/sandbox.md.
#![allow(unsafe_code)] // fork(2) of the init (this process is single-threaded), closing the spec pipe, and the stop signal handlers

use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::init::{init, InitReport};
use super::outcome::{io_err, Outcome, SandboxError};
use super::wire::{Failure, PidsCgroupRef, Request, RunnerState};
use crate::plan::{plan_with_layers, LayerListing, Node};
use crate::spec::SandboxSpec;
use crate::sys;
use forge_core::diag::Hint;
use std::borrow::Cow;

/// The monitor's entry point, for the process [`Sandbox`](super::Sandbox)
/// starts: `spec_file` and `outcome_file` are the two paths after its own
/// arguments. Reads the request, runs it, writes the outcome (`Ok(Outcome)`
/// or `Err(message)` as JSON) and returns the exit code the monitor
/// process should exit with. The process must be single-threaded and
/// dedicated to this (its namespaces change).
pub fn main(spec_file: &Path, outcome_file: &Path) -> i32 {
    install_stop_handlers();
    let spec = fs::read(spec_file).map_err(|e| format!("reading {}: {e}", spec_file.display()));
    // Done with the spec pipe; nothing else of the caller's may reach the
    // sandbox (the init closes the rest too).
    if let Some(fd) = spec_file
        .strip_prefix("/proc/self/fd")
        .ok()
        .and_then(|n| n.to_str()?.parse::<i32>().ok())
    {
        // SAFETY: closing the spec pipe, which nothing here uses any more.
        unsafe { libc::close(fd) };
    }
    let result = spec
        .and_then(|b| serde_json::from_slice::<Request>(&b).map_err(|e| format!("bad spec: {e}")))
        .map_err(|message| Failure {
            message,
            hint: None,
        })
        .and_then(|req| {
            run(&req.spec, &req.runner).map_err(|e| Failure {
                message: e.to_string(),
                hint: e.hint().map(Cow::into_owned),
            })
        });
    let code = match &result {
        Ok(o) => o.exit_code(),
        Err(_) => 126,
    };
    let json = serde_json::to_vec(&result).unwrap_or_default();
    let _ = fs::write(outcome_file, json);
    code
}

/// Runs `spec` from this process, which must be single-threaded and
/// dedicated to it (its namespaces change), in what the runner set up.
fn run(spec: &SandboxSpec, runner: &RunnerState) -> Result<Outcome, SandboxError> {
    let mut nodes = Vec::with_capacity(spec.binds.len());
    for b in &spec.binds {
        let node = sys::lstat_node(&b.host).map_err(|source| SandboxError::MissingBind {
            path: b.host.clone(),
            source,
        })?;
        nodes.push(node);
    }
    let mut layers = Vec::with_capacity(spec.root_layers.len());
    for l in &spec.root_layers {
        layers.push(list_layer(l).map_err(|source| SandboxError::BadLayer {
            path: l.clone(),
            source,
        })?);
    }
    let plan = plan_with_layers(spec, &nodes, &layers)?;
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Some(dir) = &runner.memory_cgroup {
        fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).map_err(io_err(
            format!("moving into the memory cgroup {}", dir.display()),
        ))?;
    }
    if let Some(PidsCgroupRef { name, dir }) = &runner.pids_cgroup {
        // Move ourselves in (we are root, like the caller); failing that,
        // wait for the caller, which moves us right after starting us. The
        // sandbox must not be forked before, or it escapes the limit.
        let _ = fs::write(dir.join("cgroup.procs"), std::process::id().to_string());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string("/proc/self/cgroup").is_ok_and(|c| c.contains(name.as_str())) {
            if Instant::now() > deadline {
                return Err(SandboxError::Monitor(format!(
                    "never moved into the pids cgroup {name}"
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let mut device_warning = None;
    if uid.is_root() {
        // What a build sees must not depend on who runs it: root's
        // supplementary groups and device owners as an ordinary user's
        // (see sys::same_groups, sys::private_devices_as_root).
        sys::same_groups(gid);
        if let Err(e) = sys::private_devices_as_root() {
            device_warning = Some(format!(
                "no private device nodes as root ({e}): the build sees the host's, owned by the build user"
            ));
        }
    }
    // The mount namespace is the init's alone (it unshares it after the
    // fork): pivot_root changes the root of every process in a namespace,
    // and the monitor must keep the host's view to report back.
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if !spec.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    unshare(flags).map_err(SandboxError::Namespaces)?;
    sys::map_ids((spec.uid, spec.gid), (uid.as_raw(), gid.as_raw()))
        .map_err(|(file, e)| io_err(format!("writing {file}"))(e))?;

    let (err_read, err_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SandboxError::Monitor(e.to_string()))?;
    if STOP_REQUESTED.load(Ordering::SeqCst) {
        return Err(SandboxError::Monitor(
            "stopped before the sandbox started".into(),
        ));
    }
    // The init cannot see its parent (getppid is 0 in the new pid
    // namespace): it learns that the monitor is alive from this pipe, whose
    // write end only the monitor keeps.
    let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SandboxError::Monitor(e.to_string()))?;
    // SAFETY: this process is single-threaded (a fresh monitor process that
    // has started no threads), so the child may run arbitrary code.
    match unsafe { fork() }.map_err(|e| SandboxError::Monitor(format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(err_read);
            drop(alive_w);
            let err = init(spec, &plan, &err_write, alive_r);
            let mut w = fs::File::from(err_write);
            let _ = w.write_all(err.as_bytes());
            // SAFETY: _exit is always safe; skip atexit handlers and buffered
            // output that belong to the parent.
            unsafe { libc::_exit(126) }
        }
        ForkResult::Parent { child } => {
            drop(err_write);
            drop(alive_r);
            let _keep = alive_w;
            INIT_PID.store(child.as_raw(), Ordering::SeqCst);
            if STOP_REQUESTED.load(Ordering::SeqCst) {
                let _ = kill(child, Signal::SIGKILL);
            }
            let outcome = wait_for_init(child, err_read).map(|mut o| {
                o.warnings.extend(device_warning);
                o
            });
            sys::remove_workdirs(spec);
            outcome
        }
    }
}

/// The sandbox's pid 1, as the monitor sees it (0 before the fork).
static INIT_PID: AtomicI32 = AtomicI32::new(0);
/// Whether the monitor was asked to stop the sandbox.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// SIGTERM, SIGINT or SIGHUP of the monitor: kill the sandbox's pid 1 (the
/// kernel then kills every process of its pid namespace); the monitor goes
/// on to reap it and report, so that when it has exited, nothing of the
/// sandbox is left.
extern "C" fn on_stop(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    let pid = INIT_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

fn install_stop_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only touches atomics and calls kill(2); no
        // SA_RESTART, so a blocking read or wait sees EINTR (and retries).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_stop as *const () as usize;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// Lists a root layer's top level and its `etc/` (without following
/// symlinks), for the plan.
fn list_layer(layer: &Path) -> std::io::Result<LayerListing> {
    fn list(dir: &Path) -> std::io::Result<std::collections::BTreeMap<std::ffi::OsString, Node>> {
        let mut out = std::collections::BTreeMap::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let node = if kind.is_dir() {
                Node::Dir
            } else if kind.is_file() {
                Node::File
            } else if kind.is_symlink() {
                Node::Symlink(fs::read_link(entry.path())?)
            } else {
                Node::Other
            };
            out.insert(entry.file_name(), node);
        }
        Ok(out)
    }
    sys::check_layer(layer)?;
    let top = list(layer)?;
    let etc = match top.get(std::ffi::OsStr::new("etc")) {
        Some(Node::Dir) => list(&layer.join("etc"))?,
        _ => Default::default(),
    };
    Ok(LayerListing { top, etc })
}

/// The monitor after the fork: wait for pid 1 (which ends only once every
/// process of the sandbox is gone), report setup errors or how the builder
/// ended.
fn wait_for_init(child: Pid, err_read: OwnedFd) -> Result<Outcome, SandboxError> {
    let mut bytes = Vec::new();
    let _ = fs::File::from(err_read).read_to_end(&mut bytes);
    // Seen to end but left a zombie (WNOWAIT), so its pid cannot be reused
    // while the stop handler may still signal it; then forgotten, then
    // reaped.
    loop {
        use nix::sys::wait::{waitid, Id, WaitPidFlag};
        match waitid(Id::Pid(child), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(SandboxError::Monitor(format!("waitid: {e}"))),
        }
    }
    INIT_PID.store(0, Ordering::SeqCst);
    let status = loop {
        match waitpid(child, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break s,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(SandboxError::Monitor(format!("waitpid: {e}"))),
        }
    };
    let msg = String::from_utf8_lossy(&bytes);
    let (msg, end) = match msg.rsplit_once('\0') {
        Some((m, end)) => (m, Some(end)),
        None => (&*msg, None),
    };
    let mut enforced = None;
    let mut error = String::new();
    for (i, part) in msg.split_inclusive('\n').enumerate() {
        match part.strip_prefix('R') {
            Some(json) if i == 0 => {
                enforced = serde_json::from_str::<InitReport>(json.trim_end()).ok();
            }
            _ => error.push_str(part),
        }
    }
    let report = match enforced {
        Some(r) if error.is_empty() => r,
        _ => {
            if error.is_empty() {
                error = "the sandbox init ended without reporting".into();
            }
            return Err(SandboxError::Setup(error));
        }
    };
    let (code, signal) = match (end.and_then(|e| e.split_once(' ')), status) {
        (Some(("exit", n)), _) => (n.parse().ok(), None),
        (Some(("signal", n)), _) => (None, n.parse().ok()),
        (Some((_, e)), _) => return Err(SandboxError::Monitor(format!("the sandbox init: {e}"))),
        // Killed (the caller's timeout, a stop): the builder died with it.
        (None, WaitStatus::Signaled(_, sig, _)) => (None, Some(sig as i32)),
        (None, _) => (None, Some(Signal::SIGKILL as i32)),
    };
    Ok(Outcome {
        code,
        signal,
        timed_out: false,
        silent_too_long: false,
        cancelled: false,
        out_of_memory: false,
        enforced: Some(report.enforced),
        warnings: report.warnings,
    })
}
