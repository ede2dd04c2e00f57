//! [`run`]: forks a child that enters the view and execs the command, and
//! waits for it (SIGINT and SIGQUIT ignored meanwhile, as system(3) does,
//! so that the command's own status is what comes back).
#![allow(unsafe_code)] // fork(2) of a single-threaded process, signal dispositions around the wait, and _exit in the child

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

use super::{apply, plan, HostRoot, ViewError, ViewRequest};
use crate::sys::Linux;

/// Runs the request's command in the view and returns its exit code, or
/// 128 + the signal that ended it. Must be called from a single-threaded
/// process (the CLI's `forge run` is one).
pub fn run(req: &ViewRequest) -> Result<i32, ViewError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(ViewError::Threaded { threads });
    }
    let steps = plan(&HostRoot::read()?, &req.store_dir)?;
    let program = cstring(&req.program)?;
    let mut argv = vec![program.clone()];
    for a in &req.args {
        argv.push(cstring(a)?);
    }
    let root = nix::unistd::geteuid().is_root();
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    let (err_read, err_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| ViewError::Process {
            what: "making a pipe",
            source,
        })?;
    // Ignored from before the fork, so that no Ctrl-C can end forge and
    // leave the command behind; the child puts the defaults back.
    let old = ignore_interrupts();
    // SAFETY: this process is single-threaded (checked above), so the child
    // may run arbitrary code before it execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(err_read);
            restore(old);
            let failure = child_main(req, &steps, &argv, root, uid, gid);
            let _ = nix::unistd::write(&err_write, failure.as_bytes());
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers or flushing its copied buffers.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(source) => {
            restore(old);
            return Err(ViewError::Process {
                what: "fork",
                source,
            });
        }
    };
    drop(err_write);
    let failure = read_all(err_read);
    let status = loop {
        match waitpid(child, None) {
            Err(nix::Error::EINTR) => continue,
            other => break other,
        }
    };
    restore(old);
    if let Some(f) = failure.filter(|f| !f.is_empty()) {
        return Err(decode(f, &req.program));
    }
    match status.map_err(|source| ViewError::Process {
        what: "waiting for the command",
        source,
    })? {
        WaitStatus::Exited(_, code) => Ok(code),
        WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
        other => Err(ViewError::Setup(format!(
            "unexpected wait status {other:?}"
        ))),
    }
}

/// In the child: the namespaces, the view, the working directory, exec.
/// Returns only on failure, with the message for the parent: a kind byte
/// (`N` namespaces, `S` setup, `E` exec with the errno) and the text.
fn child_main(
    req: &ViewRequest,
    steps: &[super::ViewStep],
    argv: &[CString],
    root: bool,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
) -> String {
    let flags = if root {
        // Root keeps its own identity (a user namespace would make every
        // file it does not own unmapped); a mount namespace is enough.
        CloneFlags::CLONE_NEWNS
    } else {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS
    };
    if let Err(e) = unshare(flags) {
        return format!("N{e}");
    }
    if !root {
        // The caller's own ids, mapped to themselves.
        let own = (uid.as_raw(), gid.as_raw());
        if let Err((file, e)) = crate::sys::map_ids(own, own) {
            return format!("Nwriting {file}: {e}");
        }
    }
    if let Err(e) = apply(&mut Linux, steps) {
        return format!("S{e}");
    }
    if let Err(e) = nix::unistd::chdir(&req.cwd) {
        return format!("Sentering the working directory {}: {e}", req.cwd.display());
    }
    let e = nix::unistd::execvp(&argv[0], argv).unwrap_err();
    format!("E{}", e as i32)
}

/// The parent's error for a child's failure message.
fn decode(f: Vec<u8>, program: &OsStr) -> ViewError {
    let text = String::from_utf8_lossy(&f[1..]).into_owned();
    match f[0] {
        b'N' => ViewError::Namespaces(text),
        b'E' => ViewError::Exec {
            program: program.to_owned(),
            source: std::io::Error::from_raw_os_error(text.parse().unwrap_or(libc::EIO)),
        },
        _ => ViewError::Setup(text),
    }
}

fn read_all(fd: OwnedFd) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::from(fd).read_to_end(&mut buf).ok()?;
    Some(buf)
}

fn cstring(s: &OsString) -> Result<CString, ViewError> {
    CString::new(s.as_bytes()).map_err(|_| ViewError::Nul(s.clone()))
}

/// The number of threads of this process (1 if it cannot be read).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

type Saved = [(Signal, SigHandler); 2];

fn ignore_interrupts() -> Saved {
    [Signal::SIGINT, Signal::SIGQUIT].map(|s| {
        // SAFETY: SIG_IGN installs no handler code.
        let old = unsafe { signal(s, SigHandler::SigIgn) }.unwrap_or(SigHandler::SigDfl);
        (s, old)
    })
}

fn restore(saved: Saved) {
    for (s, h) in saved {
        // SAFETY: puts back the disposition that was there before.
        let _ = unsafe { signal(s, h) };
    }
}
