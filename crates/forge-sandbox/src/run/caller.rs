//! The caller's side of a sandbox run: [`Sandbox::run`] starts the monitor
//! (a fresh process of forge's own, see [`super::monitor`]), hands it the
//! spec through a pipe, relays the sandbox's streams, enforces the
//! timeouts and cancellation (a process that has unshared a pid namespace
//! cannot start the thread a timer would need) by sending the monitor
//! SIGTERM, and reads the outcome back. See docs/sandbox.md.
#![allow(unsafe_code)] // a pre_exec that places the two pipes, sets the parent-death signal and closes the rest

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::fds::close_from;
use super::outcome::{io_err, Outcome, SandboxError};
use super::wire::{PidsCgroupRef, Request, RunnerState, OUTCOME_FD, SPEC_FD};
use crate::spec::SandboxSpec;
use crate::stdio::{self, Pty, PtyRelay, RawMode, Stop};

/// How sandboxes are started: which program is the monitor. Made once
/// (see [`Sandbox::new`]) and used for every run.
#[derive(Debug, Clone)]
pub struct Sandbox {
    program: PathBuf,
    args: Vec<String>,
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

/// How [`Sandbox::run`] runs a spec.
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

impl Sandbox {
    /// The sandbox of a `forge` executable: its monitor is the small
    /// [`MONITOR_BINARY`] next to it when there is one (a fraction of the
    /// start-up cost), else `forge sandbox __exec`.
    pub fn new(forge_exe: &Path) -> Self {
        let small = forge_exe.with_file_name(MONITOR_BINARY);
        if small.is_file() {
            Sandbox::with_monitor(small, &[])
        } else {
            Sandbox::with_monitor(forge_exe, &["sandbox", "__exec"])
        }
    }

    /// A sandbox whose monitor is `program` started with `args` followed by
    /// two file paths (the request to read, the outcome to write); that
    /// process must pass them to [`monitor::main`](super::monitor::main).
    pub fn with_monitor(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Sandbox {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Runs `spec` in a fresh monitor and returns how its command ended.
    /// Its input and output go where `opts` says; the timeouts of
    /// `spec.limits` and `opts.cancel` kill its whole process tree.
    pub fn run(&self, spec: &SandboxSpec, opts: RunOptions) -> Result<Outcome, SandboxError> {
        run_monitor(&self.program, &self.args, spec, opts)
    }
}

/// [`Sandbox::run`]: spawns the monitor, hands it the request, relays the
/// streams, enforces the timeouts and reads the outcome.
fn run_monitor(
    program: &Path,
    args: &[String],
    spec: &SandboxSpec,
    opts: RunOptions,
) -> Result<Outcome, SandboxError> {
    // As root, the memory limit goes into a memory cgroup; otherwise (or
    // without one) one warning says it is not enforced, and the run goes on.
    let memory = spec.limits.memory.and_then(|m| {
        let why = if nix::unistd::geteuid().is_root() {
            let name = format!("{}-{}", crate::cgroup::owner(), unique());
            match crate::cgroup::MemoryCgroup::create(&name, m) {
                Ok(cg) => return Some(cg),
                Err(e) => e,
            }
        } else {
            "the memory cgroup needs forge to run as root".to_owned()
        };
        tracing::warn!(
            "the memory limit of {} is not enforced: {why}",
            forge_core::recipe::size::format(m)
        );
        None
    });
    // As root, RLIMIT_NPROC does not hold (see `cgroup`): use a pids cgroup.
    let cgroup = if nix::unistd::geteuid().is_root() {
        let name = format!("{}-{}", crate::cgroup::owner(), unique());
        let cg = crate::cgroup::PidsCgroup::create(&name, spec.limits.max_processes);
        if cg.is_none() {
            tracing::warn!("no pids cgroup available as root: the process limit is not enforced");
        }
        cg
    } else {
        None
    };
    let runner = RunnerState {
        pids_cgroup: cgroup.as_ref().and_then(|c| {
            Some(PidsCgroupRef {
                name: c.path().file_name()?.to_string_lossy().into_owned(),
                dir: c.path().to_owned(),
            })
        }),
        memory_cgroup: memory.as_ref().map(|m| m.path().to_owned()),
    };
    let request = Request {
        spec: spec.clone(),
        runner,
    };
    let json = serde_json::to_vec(&request).map_err(|e| SandboxError::Monitor(e.to_string()))?;
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
            out_of_memory: memory.as_ref().is_some_and(|m| m.oom_killed()),
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
    let mut outcome = serde_json::from_slice::<Result<Outcome, super::wire::Failure>>(&bytes)
        .map_err(|e| SandboxError::Monitor(format!("bad outcome: {e}")))?
        .map_err(SandboxError::Reported)?;
    outcome.out_of_memory = memory.as_ref().is_some_and(|m| m.oom_killed());
    Ok(outcome)
}

/// What an empty pipe takes without blocking (Linux's default: 16 pages).
const PIPE_CAPACITY: usize = 65536;

/// How long a monitor asked to stop may take before it is killed outright.
const MONITOR_GRACE: Duration = Duration::from_secs(10);

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
