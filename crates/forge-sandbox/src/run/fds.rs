//! Closing inherited file descriptors, in the caller's `pre_exec` of the
//! monitor, in the init and in the builder: only fds 0-2 (forge's own
//! pipes or pty) may reach the command.
#![allow(unsafe_code)] // close_range, getrlimit, fcntl and close: raw syscalls that must stay async-signal-safe (they run after fork)

/// Closes (or, with `cloexec`, marks close-on-exec) every fd from `first`
/// up. Async-signal-safe: raw syscalls only.
pub(super) fn close_from(first: i32, cloexec: bool) {
    close_fds(first, i32::MAX, cloexec);
}

/// Closes (or marks close-on-exec) the fds `first..=last`: `close_range`,
/// or on kernels before 5.11 (5.9 without the close-on-exec flag) one fd at
/// a time up to the fd limit. Async-signal-safe: raw syscalls only.
pub(super) fn close_fds(first: i32, last: i32, cloexec: bool) {
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
