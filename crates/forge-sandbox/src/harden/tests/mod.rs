//! Tests of the in-process layers, one module per layer. Pure tests run the seccomp program in
//! a small BPF interpreter; real-kernel tests run in a forked child (the helpers here) so no
//! restriction ever reaches the test process.
// ioctl requests are c_ulong on glibc, c_int on musl
#![allow(clippy::unnecessary_cast)]
// fork, _exit, raw writes to stderr, and the syscalls the filter must block (clone, clone3,
// io_uring_setup, ioctls…), which have no safe wrapper.
#![allow(unsafe_code)]

mod capabilities;
mod cpus;
mod landlock;
mod rlimit;
mod seccomp;
mod tty_setid_vsock;

use super::landlock::landlock_expected;
use super::*;

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
