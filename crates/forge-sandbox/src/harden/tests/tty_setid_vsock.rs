//! Issue 8: terminal injection, set-id modes and vsock, each checked with and without the filter
//! (so the test is seen to need it).
use super::*;

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
