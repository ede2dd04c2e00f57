//! Running a command in the sandbox.
//!
//! Two processes do the work, both fresh and single-threaded, because
//! `unshare(CLONE_NEWUSER)` refuses threaded callers and because code after
//! `fork` in a threaded program may not allocate:
//!
//! 1. The **monitor** (the caller re-executes its own binary, e.g. the hidden
//!    `forge sandbox __exec`, which calls [`monitor_main`]) unshares a new
//!    user, pid, uts, ipc, cgroup and (unless networking is allowed)
//!    network namespace, maps the fixed build uid/gid to the invoking user
//!    (`setgroups` denied), and forks.
//! 2. The **init** is pid 1 of the new pid namespace, and it is forge's own
//!    code, not the builder. It unshares its own mount namespace (so the
//!    monitor keeps the host's view), builds the root from the
//!    [`Plan`](crate::plan::Plan), sets the hostname, brings up loopback,
//!    enters the root for good, then forks the **builder**, reaps orphans,
//!    and exits as soon as the builder does: the kernel then kills every
//!    process left in the namespace, so no daemon outlives the build
//!    whatever it did to its parent-death signal or session.
//! 3. The **builder** (pid 2) applies the in-process layers, starts a
//!    session of its own and `execve`s the command with exactly the spec's
//!    environment and only fds 0-2.
//!
//! The monitor waits for the init and reports how the builder ended. The
//! monitor and the init have a parent-death signal of SIGKILL, so forge
//! dying kills the whole sandbox. The caller ([`run_via`]) enforces the
//! timeouts (a process that has unshared a pid namespace cannot start the
//! thread a timer would need) by sending the monitor SIGTERM: it kills the
//! init and exits once the init is reaped, which the kernel does only after
//! every process of the namespace is gone.
//!
//! The caller hands the monitor its spec and gets the outcome back through
//! two pipes, fds 3 and 4 of the monitor; the sandbox's streams are forge's
//! own pipes or pty ([`crate::stdio`]), never the caller's descriptors.
#![allow(unsafe_code)] // fork(2) (the monitor and the init are single-threaded when they fork), a pre_exec that places the two pipes, prctl, close_range and signal handlers

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::harden::{self, HardenReport, LandlockRules, LandlockStatus, Rlimits, SeccompPolicy};
use crate::plan::{plan_with_layers, LayerListing, Node, PlanError};
use crate::spec::Enforcement;
use crate::spec::SandboxSpec;
use crate::stdio::{self, Pty, PtyRelay, RawMode, Stop};
use crate::sys::{self, Linux};

/// How a sandboxed command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
    /// Whether forge killed it at the wall-clock timeout.
    pub timed_out: bool,
    /// Whether forge killed it for staying silent too long.
    #[serde(default)]
    pub silent_too_long: bool,
    /// Whether the caller cancelled it.
    #[serde(default)]
    pub cancelled: bool,
    /// What the in-process layers enforced (absent if killed before exec).
    #[serde(default)]
    pub enforced: Option<HardenReport>,
    /// What the sandbox did differently from its plan (an overlay the
    /// kernel refused); for the caller to show.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What the init reports to the monitor just before `exec`.
#[derive(Debug, Serialize, Deserialize)]
struct InitReport {
    enforced: HardenReport,
    warnings: Vec<String>,
}

impl Outcome {
    /// The shell convention: the code, or 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// Why a sandbox could not run the command.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The spec is not valid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A host path to bind does not exist.
    #[error("cannot expose {path}: {source}")]
    MissingBind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A root layer cannot be listed.
    #[error("cannot use root layer {path}: {source}")]
    BadLayer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Creating the namespaces failed.
    #[error("cannot create the sandbox namespaces ({0}); are unprivileged user namespaces enabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces)?")]
    Namespaces(nix::Error),
    /// Setting up inside failed; the message says which step.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// The monitor process reported a failure (already a full message).
    #[error("{0}")]
    Reported(String),
    /// Talking to the monitor process failed.
    #[error("sandbox monitor: {0}")]
    Monitor(String),
    /// I/O on a named file.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Runs `spec` by re-executing `program` with `args` followed by two file
/// paths (the spec to read, the outcome to write); that process must call
/// [`monitor_main`] with them. Standard input, output and error are relayed
/// to and from the caller's ([`Output::Inherit`]).
pub fn run_via(program: &Path, args: &[&str], spec: &SandboxSpec) -> Result<Outcome, SandboxError> {
    run_via_with(program, args, spec, RunOptions::default())
}

/// Where a sandboxed command's input and output come from and go. The
/// sandbox never gets one of the caller's file descriptors: forge relays
/// them (see [`crate::stdio`]).
#[derive(Default)]
pub enum Output {
    /// Relayed through pipes to the caller's stdout and stderr; the
    /// caller's stdin is relayed too unless it is a terminal (then the
    /// sandbox reads an empty stdin: a build never reads the invoker's
    /// terminal).
    #[default]
    Inherit,
    /// Both streams, interleaved as they arrive, into one writer (a build
    /// log); stdin is empty.
    Capture(Box<dyn Write + Send>),
    /// For an interactive session (`forge shell`): when the caller's stdin
    /// is a terminal, a pseudo-terminal of forge's own is the sandbox's
    /// controlling terminal and its stdin, stdout and stderr; forge relays
    /// it with its own terminal in raw mode and passes on window size
    /// changes. Otherwise as [`Output::Inherit`].
    Terminal,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Inherit => "Inherit",
            Output::Capture(_) => "Capture",
            Output::Terminal => "Terminal",
        })
    }
}

/// How [`run_via_with`] runs a spec.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Where output goes.
    pub output: Output,
    /// Set from another thread to kill the sandbox (its whole process tree)
    /// as soon as possible; the outcome then says `cancelled`.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// The name of the dedicated monitor binary, installed next to `forge`.
pub const MONITOR_BINARY: &str = "forge-sandbox-exec";

/// How to start a monitor for a `forge` executable: the small
/// `forge-sandbox-exec` next to it when there is one (a fraction of the
/// start-up cost), else `forge sandbox __exec`. Pass the result to
/// [`run_via`]/[`run_via_with`].
pub fn monitor_program(forge_exe: &Path) -> (PathBuf, Vec<&'static str>) {
    let small = forge_exe.with_file_name(MONITOR_BINARY);
    if small.is_file() {
        (small, Vec::new())
    } else {
        (forge_exe.to_owned(), vec!["sandbox", "__exec"])
    }
}

/// [`run_via`] with output capture and cancellation.
pub fn run_via_with(
    program: &Path,
    args: &[&str],
    spec: &SandboxSpec,
    opts: RunOptions,
) -> Result<Outcome, SandboxError> {
    // As root, RLIMIT_NPROC does not hold (see `cgroup`): use a pids cgroup.
    let cgroup = if nix::unistd::geteuid().is_root() {
        let name = format!("{}-{}", std::process::id(), unique());
        let cg = crate::cgroup::PidsCgroup::create(&name, spec.limits.max_processes);
        if cg.is_none() {
            tracing::warn!("no pids cgroup available as root: the process limit is not enforced");
        }
        cg
    } else {
        None
    };
    let mut spec = spec.clone();
    spec.pids_cgroup = cgroup
        .as_ref()
        .and_then(|c| c.path().file_name())
        .map(|n| n.to_string_lossy().into_owned());
    spec.pids_cgroup_dir = cgroup.as_ref().map(|c| c.path().to_owned());
    let spec = &spec;
    let json = serde_json::to_vec(spec).map_err(|e| SandboxError::Monitor(e.to_string()))?;
    // The spec goes to the monitor, and its outcome comes back, through two
    // pipes it finds as fds 3 and 4: no temporary files (creating and
    // deleting inodes is a measurable part of a small build's cost).
    let (spec_r, spec_w) = cloexec_pipe("the spec pipe")?;
    let (outcome_r, outcome_w) = cloexec_pipe("the outcome pipe")?;
    let mut command = std::process::Command::new(program);
    // Its command line is visible inside (/proc/1's parent is not, but
    // keep the host path of forge out of reach anyway).
    std::os::unix::process::CommandExt::arg0(
        &mut command,
        program.file_name().unwrap_or(program.as_os_str()),
    );
    command
        .args(args)
        .arg(format!("/proc/self/fd/{SPEC_FD}"))
        .arg(format!("/proc/self/fd/{OUTCOME_FD}"))
        // The monitor is the sandbox's pid 1's parent: nothing of the
        // invoker's environment may be there for a builder to find.
        .env_clear();
    let (sr, ow) = (spec_r.as_raw_fd(), outcome_w.as_raw_fd());
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe syscalls (fcntl, dup2, prctl, getppid,
    // close_range); it touches no memory of the parent's other threads.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            // Above 4 first, so that neither dup2 overwrites the other's
            // source; the copies are close-on-exec, the dup2 targets not.
            let a = libc::fcntl(sr, libc::F_DUPFD_CLOEXEC, 10);
            let b = libc::fcntl(ow, libc::F_DUPFD_CLOEXEC, 10);
            if a < 0 || b < 0 || libc::dup2(a, SPEC_FD) < 0 || libc::dup2(b, OUTCOME_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The invoker's other descriptors (`7<secret`) stop here.
            close_from(OUTCOME_FD + 1, true);
            // Dies with us, whatever kills us; set here, before exec, so
            // that there is no moment where forge is gone and it is not.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let last_output = Arc::new(AtomicU64::new(0)); // ms since start
    let mut stop = Stop::new().map_err(io_err("creating the relay stop pipe"))?;
    let mut stdin_relay = None;
    let mut pty_relay = None;
    let mut raw_mode = None;
    let pipe_pair = |what: &str| -> Result<(OwnedFd, OwnedFd), SandboxError> { cloexec_pipe(what) };
    // The sandbox's streams are always forge's own: pipes or a pty of its
    // own, never a descriptor of the caller (a terminal would let a build
    // type into the invoker's shell).
    let terminal =
        matches!(opts.output, Output::Terminal) && stdio::is_terminal(0) && stdio::is_terminal(1);
    let mut out_pipes: Vec<(OwnedFd, Box<dyn Write + Send>)> = Vec::new();
    let mut stdin_pipe = None;
    match opts.output {
        Output::Capture(w) => {
            // One pipe for both streams, so the log keeps the order in
            // which the builder wrote.
            let (r, w1) = pipe_pair("the output pipe")?;
            let w2 = w1
                .try_clone()
                .map_err(io_err("duplicating the output pipe"))?;
            command
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::from(w1))
                .stderr(std::process::Stdio::from(w2));
            out_pipes.push((r, w));
        }
        Output::Terminal if terminal => {
            let pty = Pty::open(0).map_err(io_err("opening a pseudo-terminal"))?;
            let dup = |fd: &OwnedFd| fd.try_clone().map_err(io_err("duplicating the pty"));
            command
                .stdin(std::process::Stdio::from(dup(&pty.slave)?))
                .stdout(std::process::Stdio::from(dup(&pty.slave)?))
                .stderr(std::process::Stdio::from(pty.slave));
            raw_mode = Some(RawMode::enter(0).map_err(io_err("setting the terminal to raw mode"))?);
            pty_relay = Some(pty.master);
        }
        Output::Inherit | Output::Terminal => {
            let (or, ow) = pipe_pair("the stdout pipe")?;
            let (er, ew) = pipe_pair("the stderr pipe")?;
            command
                .stdout(std::process::Stdio::from(ow))
                .stderr(std::process::Stdio::from(ew));
            out_pipes.push((or, Box::new(std::io::stdout())));
            out_pipes.push((er, Box::new(std::io::stderr())));
            if stdio::is_terminal(0) || stdio::is_dev_null(0) {
                command.stdin(std::process::Stdio::null());
            } else {
                let (ir, iw) = pipe_pair("the stdin pipe")?;
                command.stdin(std::process::Stdio::from(ir));
                stdin_pipe = Some(iw);
            }
        }
    }
    let spawned = command.spawn();
    // Our copies of the child's ends must go, or the readers never see an
    // end.
    drop(command);
    drop(spec_r);
    drop(outcome_w);
    let mut child = spawned.map_err(io_err(format!("starting {}", program.display())))?;
    if let Some(cg) = &cgroup {
        // The monitor forks the sandbox only after reading its spec and
        // creating namespaces; it is in the cgroup long before that.
        if let Err(e) = cg.add(child.id()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SandboxError::Io {
                what: format!("moving the sandbox into {}", cg.path().display()),
                source: e,
            });
        }
    }
    if let Some(w) = stdin_pipe {
        stdin_relay = Some(stdio::relay_stdin(w, stop.watch()));
    }
    let pty_relay = match pty_relay {
        Some(master) => match PtyRelay::start(master, stop.watch(), start, last_output.clone()) {
            Ok(relay) => Some(relay),
            Err(e) => {
                // Nobody would read its terminal: the sandbox goes (killing
                // the monitor kills its namespace) before the error does.
                let _ = child.kill();
                let _ = child.wait();
                return Err(io_err("relaying the pseudo-terminal")(e));
            }
        },
        None => None,
    };
    // A spec larger than a pipe's buffer (hundreds of inputs) needs a
    // writer that runs while the monitor reads; a small one fits the empty
    // pipe and is written at once.
    let spec_writer = if json.len() <= PIPE_CAPACITY {
        let _ = fs::File::from(spec_w).write_all(&json);
        None
    } else {
        Some(std::thread::spawn(move || {
            let mut w = fs::File::from(spec_w);
            let _ = w.write_all(&json);
        }))
    };
    // This thread relays the output and reads the outcome until the
    // monitor exits (its outcome pipe ends), and enforces the timeouts
    // (a process that has unshared a pid namespace cannot start threads,
    // so they live here): the monitor, asked with SIGTERM, kills the
    // sandbox's pid 1 (and so the whole pid namespace) and exits only once
    // that pid 1 is reaped, which the kernel does only once every process
    // of the sandbox is gone.
    let pid = Pid::from_raw(child.id() as i32);
    let wall = spec.limits.wall_timeout;
    let silence = spec.limits.silence_timeout;
    let watch = wall.is_some() || silence.is_some() || opts.cancel.is_some();
    let mut outcome_r = Some(fs::File::from(outcome_r));
    let mut bytes = Vec::new();
    let mut outputs: Vec<(fs::File, Box<dyn Write + Send>)> = out_pipes
        .into_iter()
        .map(|(fd, w)| (fs::File::from(fd), w))
        .collect();
    let mut killed: Option<(Kill, Instant)> = None;
    let mut buf = vec![0u8; 65536];
    while let Some(outcome) = &mut outcome_r {
        let mut fds = vec![outcome.as_raw_fd()];
        fds.extend(outputs.iter().map(|o| o.0.as_raw_fd()));
        let ready = stdio::poll_in(&fds, if watch { 50 } else { -1 });
        if ready[0] {
            match outcome.read(&mut buf) {
                Ok(0) => outcome_r = None,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => outcome_r = None,
            }
        }
        let mut i = 0;
        outputs.retain_mut(|(from, out)| {
            i += 1;
            if !ready[i] {
                return true;
            }
            match from.read(&mut buf) {
                Ok(0) => false,
                Ok(n) => {
                    last_output.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                    out.write_all(&buf[..n]).and_then(|()| out.flush()).is_ok()
                }
                Err(e) => e.kind() == std::io::ErrorKind::Interrupted,
            }
        });
        if !watch {
            continue;
        }
        if let Some((_, at)) = killed {
            // A monitor that does not end (it never should) is killed
            // outright; its pid 1 then dies by its parent-death signal.
            if at.elapsed() > MONITOR_GRACE {
                let _ = kill(pid, Signal::SIGKILL);
            }
            continue;
        }
        let now = start.elapsed();
        let why = if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            Some(Kill::Cancel)
        } else if wall.is_some_and(|w| now >= w) {
            Some(Kill::Wall)
        } else {
            let quiet =
                now.saturating_sub(Duration::from_millis(last_output.load(Ordering::Relaxed)));
            silence.filter(|s| quiet >= *s).map(|_| Kill::Silence)
        };
        if let Some(why) = why {
            let _ = kill(pid, Signal::SIGTERM);
            killed = Some((why, Instant::now()));
        }
    }
    // A ^C reaches the monitor too (it stops the sandbox itself): still a
    // cancel when the caller asked for one meanwhile.
    if killed.is_none()
        && opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    {
        killed = Some((Kill::Cancel, Instant::now()));
    }
    let status = child
        .wait()
        .map_err(io_err(format!("waiting for {}", program.display())));
    // The sandbox is dead (its monitor waited for its pid 1): whatever is
    // still buffered is copied without blocking, then the relays end.
    for (from, out) in &mut outputs {
        stdio::set_nonblocking(from.as_raw_fd());
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    }
    stop.stop();
    if let Some(r) = stdin_relay {
        let _ = r.join();
    }
    if let Some(p) = pty_relay {
        p.finish();
    }
    drop(raw_mode);
    let status = status?;
    if let Some((why, _)) = killed {
        return Ok(Outcome {
            code: None,
            signal: Some(Signal::SIGKILL as i32),
            timed_out: why == Kill::Wall,
            silent_too_long: why == Kill::Silence,
            cancelled: why == Kill::Cancel,
            enforced: None,
            warnings: Vec::new(),
        });
    }
    if let Some(w) = spec_writer {
        let _ = w.join();
    }
    if bytes.is_empty() {
        return Err(SandboxError::Monitor(format!(
            "the monitor ended ({status}) without reporting"
        )));
    }
    serde_json::from_slice::<Result<Outcome, String>>(&bytes)
        .map_err(|e| SandboxError::Monitor(format!("bad outcome: {e}")))?
        .map_err(SandboxError::Reported)
}

/// What an empty pipe takes without blocking (Linux's default: 16 pages).
const PIPE_CAPACITY: usize = 65536;

/// How long a monitor asked to stop may take before it is killed outright.
const MONITOR_GRACE: Duration = Duration::from_secs(10);

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

/// Closes (or, with `cloexec`, marks close-on-exec) every fd from `first`
/// up. Async-signal-safe: raw syscalls only.
fn close_from(first: i32, cloexec: bool) {
    close_fds(first, i32::MAX, cloexec);
}

/// Closes (or marks close-on-exec) the fds `first..=last`: `close_range`,
/// or on kernels before 5.11 (5.9 without the close-on-exec flag) one fd at
/// a time up to the fd limit. Async-signal-safe: raw syscalls only.
fn close_fds(first: i32, last: i32, cloexec: bool) {
    if first > last {
        return;
    }
    let flags = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC as libc::c_long
    } else {
        0
    };
    // SAFETY: close_range(2) takes plain integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            flags,
        )
    };
    if r == 0 {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as i32
    } else {
        4096
    };
    for fd in first..max.min(last.saturating_add(1)) {
        // SAFETY: fcntl/close on an fd number; harmless if it is not open.
        unsafe {
            if cloexec {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            } else {
                libc::close(fd);
            }
        }
    }
}

/// Where the monitor finds its spec (read to the end).
const SPEC_FD: i32 = 3;
/// Where the monitor writes its outcome.
const OUTCOME_FD: i32 = 4;

/// A pipe whose ends are closed on exec, so that children other threads
/// start meanwhile never inherit them (a stray copy of a write end would
/// keep its reader waiting for that child).
fn cloexec_pipe(what: &str) -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SandboxError::Io {
        what: format!("creating {what}"),
        source: e.into(),
    })
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    Wall,
    Silence,
    Cancel,
}

/// The monitor's entry point: reads the spec, runs it, writes the outcome
/// (`Ok(Outcome)` or `Err(message)` as JSON) and returns the exit code the
/// monitor process should exit with.
pub fn monitor_main(spec_file: &Path, outcome_file: &Path) -> i32 {
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
        .and_then(|b| {
            serde_json::from_slice::<SandboxSpec>(&b).map_err(|e| format!("bad spec: {e}"))
        })
        .and_then(|spec| run_here(&spec).map_err(|e| e.to_string()));
    let code = match &result {
        Ok(o) => o.exit_code(),
        Err(_) => 126,
    };
    let json = serde_json::to_vec(&result).unwrap_or_default();
    let _ = fs::write(outcome_file, json);
    code
}

/// Runs `spec` from this process, which must be single-threaded and
/// dedicated to it (its namespaces change).
pub fn run_here(spec: &SandboxSpec) -> Result<Outcome, SandboxError> {
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
    if let Some(name) = &spec.pids_cgroup {
        // Move ourselves in (we are root, like the caller); failing that,
        // wait for the caller, which moves us right after starting us. The
        // sandbox must not be forked before, or it escapes the limit.
        if let Some(dir) = &spec.pids_cgroup_dir {
            let _ = fs::write(dir.join("cgroup.procs"), std::process::id().to_string());
        }
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
    fs::write("/proc/self/setgroups", "deny").map_err(io_err("denying setgroups"))?;
    fs::write("/proc/self/uid_map", format!("{} {uid} 1\n", spec.uid))
        .map_err(io_err("writing uid_map"))?;
    fs::write("/proc/self/gid_map", format!("{} {gid} 1\n", spec.gid))
        .map_err(io_err("writing gid_map"))?;

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
            let outcome = monitor(child, err_read).map(|mut o| {
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
fn init(spec: &SandboxSpec, plan: &crate::plan::Plan, err: &OwnedFd, alive: OwnedFd) -> String {
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

/// The monitor after the fork: wait for pid 1 (which ends only once every
/// process of the sandbox is gone), report setup errors or how the builder
/// ended.
fn monitor(child: Pid, err_read: OwnedFd) -> Result<Outcome, SandboxError> {
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
        enforced: Some(report.enforced),
        warnings: report.warnings,
    })
}
