//! The sandbox's standard streams, on the caller's side.
//!
//! A build never gets one of the caller's file descriptors (builds share
//! nothing with the invoker; docs/sandbox.md, layer 6): a terminal handed to
//! a builder lets it type into the invoker's shell (`TIOCSTI`), read
//! keystrokes and write escape sequences; a file lets it read or append to
//! what the invoker opened. So the
//! sandbox's stdin, stdout and stderr are always forge's own: pipes that
//! forge copies to and from its own streams (the output in the thread that
//! waits for the monitor, see `run`; stdin with `relay_stdin`), or, for
//! an interactive `forge shell`, a pseudo-terminal forge opens (`Pty`)
//! and relays (`PtyRelay`) while its own terminal is in raw mode
//! (`RawMode`).
//!
//! No relay waits for an end of file that a leftover process could
//! withhold: the output relay ends when the monitor has exited (then the
//! sandbox is dead) and drains what is buffered without blocking; the
//! threads here watch a `Stop` pipe that the caller closes at that point.
#![allow(unsafe_code)] // poll, termios, the pty calls and a SIGWINCH handler: libc calls nix does not wrap for us

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The caller's side of the stop signal: dropping (or [`Stop::stop`]ping)
/// it tells every relay watching [`Stop::watch`] to drain and end.
pub(crate) struct Stop {
    read: Arc<OwnedFd>,
    write: Option<OwnedFd>,
}

impl Stop {
    pub(crate) fn new() -> std::io::Result<Self> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        Ok(Stop {
            read: Arc::new(r),
            write: Some(w),
        })
    }
    /// What a relay polls.
    pub(crate) fn watch(&self) -> Arc<OwnedFd> {
        self.read.clone()
    }
    pub(crate) fn stop(&mut self) {
        self.write = None;
    }
}

/// Polls `fds` for input for at most `timeout_ms` (-1: no limit); returns
/// which are readable (or hung up).
pub(crate) fn poll_in(fds: &[RawFd], timeout_ms: i32) -> Vec<bool> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is a valid array of `p.len()` pollfds for the call.
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // Nothing sensible to wait on: report everything ready so the
            // caller's read decides.
            return vec![true; fds.len()];
        }
    }
    p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0)
        .collect()
}

pub(crate) fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd we own; flags only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Copies each pipe to its writer, all in one thread, until every pipe
/// ends, or until `stop` fires (then what is already buffered is copied
/// without blocking). Records when output last arrived in `last` (ms since
/// `start`), if given.
pub(crate) fn relay(
    pipes: Vec<(OwnedFd, Box<dyn Write + Send>)>,
    stop: Arc<OwnedFd>,
    last: Option<(Instant, Arc<AtomicU64>)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut open: Vec<(RawFd, File, Box<dyn Write + Send>)> = pipes
            .into_iter()
            .map(|(fd, w)| (fd.as_raw_fd(), File::from(fd), w))
            .collect();
        let mut buf = [0u8; 8192];
        let mut draining = false;
        while !open.is_empty() {
            let ready = if draining {
                vec![true; open.len()]
            } else {
                let mut fds: Vec<RawFd> = open.iter().map(|p| p.0).collect();
                fds.push(stop.as_raw_fd());
                let ready = poll_in(&fds, -1);
                if !ready[..open.len()].iter().any(|r| *r) {
                    // Only the stop: drain without blocking.
                    for p in &open {
                        set_nonblocking(p.0);
                    }
                    draining = true;
                    vec![true; open.len()]
                } else {
                    ready[..open.len()].to_vec()
                }
            };
            let mut done = vec![false; open.len()];
            for (i, (_, from, out)) in open.iter_mut().enumerate() {
                if !ready[i] {
                    continue;
                }
                match from.read(&mut buf) {
                    Ok(0) => done[i] = true,
                    Ok(n) => {
                        if let Some((start, last)) = &last {
                            last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                        }
                        if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                            done[i] = true;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // EAGAIN while draining, EIO from a pty master whose
                    // slave is gone, anything else: done with this one.
                    Err(_) => done[i] = true,
                }
            }
            let mut i = 0;
            open.retain(|_| {
                i += 1;
                !done[i - 1]
            });
        }
    })
}

/// Copies the caller's stdin (fd 0) into `to` until stdin ends (then `to`
/// is closed, the sandbox sees an end of file) or `stop` fires. A write
/// the sandbox never reads ends when the sandbox dies (EPIPE).
pub(crate) fn relay_stdin(to: OwnedFd, stop: Arc<OwnedFd>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut to = File::from(to);
        let mut buf = [0u8; 8192];
        loop {
            let ready = poll_in(&[0, stop.as_raw_fd()], -1);
            if ready[1] {
                return;
            }
            // SAFETY: reading fd 0 into a buffer we own, of its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                return;
            }
            if to.write_all(&buf[..n as usize]).is_err() {
                return;
            }
        }
    })
}

/// Whether `fd` is a terminal.
pub(crate) fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// Whether `fd` is /dev/null (then the sandbox opens its own: nothing to
/// relay).
pub(crate) fn is_dev_null(fd: RawFd) -> bool {
    let (Ok(st), Ok(null)) = (nix::sys::stat::fstat(fd), nix::sys::stat::stat("/dev/null")) else {
        return false;
    };
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == null.st_rdev
}

/// A pseudo-terminal pair of forge's own: the sandbox gets the slave (as
/// its controlling terminal), forge keeps the master.
pub(crate) struct Pty {
    pub(crate) master: OwnedFd,
    pub(crate) slave: OwnedFd,
}

fn check(ret: libc::c_int, what: &str) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        let e = std::io::Error::last_os_error();
        Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(ret)
    }
}

impl Pty {
    /// Opens a pair, the slave sized like the terminal on fd `like`.
    pub(crate) fn open(like: RawFd) -> std::io::Result<Pty> {
        // SAFETY: posix_openpt returns a new fd or -1; we own it at once.
        let master = check(
            unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) },
            "posix_openpt",
        )?;
        // SAFETY: `master` is a fresh fd nobody else owns.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        // SAFETY: grantpt/unlockpt take the master fd only.
        check(unsafe { libc::grantpt(master.as_raw_fd()) }, "grantpt")?;
        check(unsafe { libc::unlockpt(master.as_raw_fd()) }, "unlockpt")?;
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: ptsname_r writes at most `name.len()` bytes into `name`.
        let r = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        // SAFETY: ptsname_r NUL-terminated `name`; open returns a new fd.
        let slave = check(
            unsafe {
                libc::open(
                    name.as_ptr(),
                    libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                )
            },
            "opening the pty slave",
        )?;
        // SAFETY: a fresh fd nobody else owns.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        copy_window_size(like, master.as_raw_fd());
        Ok(Pty { master, slave })
    }
}

/// Gives the terminal `to` the window size of the terminal `from`.
fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data; both ioctls read or write only `ws`.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The caller's terminal in raw mode (keys go to the pty unprocessed: ^C
/// reaches the sandbox's shell, not forge); restored on drop.
pub(crate) struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub(crate) fn enter(fd: RawFd) -> std::io::Result<RawMode> {
        // SAFETY: termios is plain data, filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        check(unsafe { libc::tcgetattr(fd, &mut saved) }, "tcgetattr")?;
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct we own; tcsetattr reads it.
        unsafe { libc::cfmakeraw(&mut raw) };
        check(
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) },
            "tcsetattr",
        )?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}

/// Where the SIGWINCH handler writes (a pipe's write end), or -1.
static WINCH_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; one byte from a static.
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

/// Relays a [`Pty`] for as long as it is alive: the caller's stdin to the
/// master, the master to the caller's stdout, and window size changes of
/// the caller's terminal (SIGWINCH) to the master.
pub(crate) struct PtyRelay {
    threads: Vec<std::thread::JoinHandle<()>>,
    winch: Option<(OwnedFd, libc::sigaction)>,
}

impl PtyRelay {
    pub(crate) fn start(
        master: OwnedFd,
        stop: Arc<OwnedFd>,
        start: Instant,
        last: Arc<AtomicU64>,
    ) -> std::io::Result<PtyRelay> {
        let master_in = master.try_clone()?;
        let resize = master.try_clone()?;
        let mut threads = vec![relay(
            vec![(master, Box::new(std::io::stdout()))],
            stop.clone(),
            Some((start, last)),
        )];
        let (wr, ww) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        WINCH_FD.store(ww.as_raw_fd(), Ordering::Relaxed);
        // SAFETY: a handler that only writes one byte to a pipe; the
        // previous action is kept and restored in `finish`.
        let old = unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_winch as *const () as usize;
            new.sa_flags = libc::SA_RESTART;
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGWINCH, &new, &mut old);
            old
        };
        let stop2 = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut to = File::from(master_in);
            let mut buf = [0u8; 8192];
            loop {
                let ready = poll_in(&[0, stop2.as_raw_fd(), wr.as_raw_fd()], -1);
                if ready[1] {
                    return;
                }
                if ready[2] {
                    let mut b = [0u8; 64];
                    // SAFETY: reading the pipe into a buffer we own.
                    unsafe { libc::read(wr.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
                    copy_window_size(0, resize.as_raw_fd());
                    continue;
                }
                // SAFETY: reading fd 0 into a buffer we own, of its length.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                if n <= 0 || to.write_all(&buf[..n as usize]).is_err() {
                    return;
                }
            }
        }));
        Ok(PtyRelay {
            threads,
            winch: Some((ww, old)),
        })
    }

    /// Waits for the relays (after the stop) and restores SIGWINCH.
    pub(crate) fn finish(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some((ww, old)) = self.winch.take() {
            WINCH_FD.store(-1, Ordering::Relaxed);
            // SAFETY: puts back the action saved in `start`.
            unsafe { libc::sigaction(libc::SIGWINCH, &old, std::ptr::null_mut()) };
            drop(ww);
        }
    }
}
