//! `forge-hostile`: a hostile builder for forge's sandbox tests.
//!
//! Each subcommand attempts one escape from the sandbox and prints
//! `ESCAPED <what>` and exits 0 if it worked, or `blocked: <errno>` and
//! exits 1 if the kernel refused. Usage errors exit 2. The end-to-end tests
//! (tests/e2e/sandbox.rs) run it inside `forge sandbox run` and fail on
//! `ESCAPED`; docs/sandbox.md lists what each attempt is stopped by.
//!
//! `handle-of FILE` is not an attack: the tests run it on the host to get a
//! file handle that `open-by-handle` then tries from inside.
#![allow(unsafe_code)] // attack code: raw syscalls the sandbox must refuse, each block says which
#![allow(clippy::unwrap_used)]

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::exit;

const USAGE: &str = "usage: forge-hostile ATTACK [ARGS]
attacks:
  open-by-handle PATH [TYPE:HEX]  name_to_handle_at + open_by_handle_at (with a
                                  host handle: open it relative to PATH's mount)
  ptrace PID                      PTRACE_ATTACH, then PTRACE_SEIZE
  abstract-connect NAME           connect to the abstract unix socket @NAME
  unix-connect PATH               connect to a unix socket by path
  setxattr PATH                   set user.forge and security.capability
  setcap PATH                     write a security.capability granting setuid
  unshare-user                    unshare(CLONE_NEWUSER)
  setns NSFILE                    setns into /proc/1/ns/mnt or the like
  mount-tmpfs [DIR]               mount a tmpfs (default /tmp)
  pivot-root                      pivot_root(/tmp, /tmp/old)
  chroot-out                      chroot into a subdirectory, climb out with ..
  keyctl                          add_key to the session keyring
  io-uring-setup                  io_uring_setup
  personality                     personality(READ_IMPLIES_EXEC)
  int80                           a 32-bit syscall (getpid) via int 0x80
  prlimit-init                    prlimit64 on pid 1 (an open-file limit of 0)
  setuid-chmod FILE               chmod 4755 / 2755
  setuid-create FILE              create FILE, FILE.d and FILE.node with set-id
                                  modes (open O_CREAT 06755, mkdir 06755, mknod
                                  S_IFREG|06755) and stat them
  vsock                           socket(AF_VSOCK, SOCK_STREAM)
  tiocsti TEXT                    push TEXT into the terminal's input queue with
                                  ioctl(TIOCSTI) on fds 0-2 and /dev/tty
  no-pdeathsig MARKER [PORT]      clear the parent-death signal, start a daemon
                                  (new session, double fork, stdout kept open,
                                  listening on 127.0.0.1:PORT if given), say
                                  `daemon started`, then spin forever; the tests
                                  look for MARKER on the host afterwards
  fds                             list /proc/self/fd, read and write fds 3-20
  handle-of FILE                  (host helper) print FILE's handle as TYPE:HEX";

/// Why an attempt did not work.
struct Blocked(String);

impl From<io::Error> for Blocked {
    fn from(e: io::Error) -> Self {
        Blocked(errno_text(&e))
    }
}

type Attempt = Result<String, Blocked>;

fn errno_text(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ESRCH) => "ESRCH",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EBADF) => "EBADF",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENOSYS) => "ENOSYS",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::EBUSY) => "EBUSY",
        Some(libc::ESTALE) => "ESTALE",
        Some(libc::EAFNOSUPPORT) => "EAFNOSUPPORT",
        Some(libc::ENOTTY) => "ENOTTY",
        Some(libc::ENXIO) => "ENXIO",
        Some(libc::EIO) => "EIO",
        _ => "",
    };
    if name.is_empty() {
        e.to_string()
    } else {
        format!("{name} ({e})")
    }
}

/// -1 means failure with errno, as the raw syscalls return.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstr(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).expect("no NUL in a path argument")
}

/// Creates a small file to work on if it is not there.
fn ensure_file(p: &str) -> io::Result<()> {
    if !Path::new(p).exists() {
        std::fs::write(p, "#!/bin/sh\n")?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

const MAX_HANDLE_SZ: usize = 128;

/// `struct file_handle` with room for the largest handle.
#[repr(C)]
struct FileHandle {
    bytes: u32,
    kind: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

fn name_to_handle(path: &str) -> io::Result<FileHandle> {
    let mut h = FileHandle {
        bytes: MAX_HANDLE_SZ as u32,
        kind: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id: libc::c_int = 0;
    let p = cstr(path);
    // SAFETY: `p` is a valid C string, `h` is a writable file_handle whose
    // `bytes` says how much room follows, `mount_id` is a writable int.
    check(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            p.as_ptr(),
            &mut h as *mut FileHandle,
            &mut mount_id as *mut libc::c_int,
            0,
        )
    })?;
    Ok(h)
}

fn handle_of(path: &str) -> Attempt {
    let h = name_to_handle(path)?;
    let hex: String = h.f_handle[..h.bytes as usize]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("{}:{hex}", h.kind);
    exit(0)
}

fn open_by_handle(path: &str, handle: Option<&str>) -> Attempt {
    let h = match handle {
        None => name_to_handle(path)?,
        Some(text) => {
            let (kind, hex) = text
                .split_once(':')
                .ok_or_else(|| Blocked("bad handle, want TYPE:HEX".into()))?;
            let mut h = FileHandle {
                bytes: (hex.len() / 2) as u32,
                kind: kind
                    .parse()
                    .map_err(|_| Blocked("bad handle type".into()))?,
                f_handle: [0; MAX_HANDLE_SZ],
            };
            for (i, b) in h.f_handle.iter_mut().take(hex.len() / 2).enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| Blocked("bad handle hex".into()))?;
            }
            h
        }
    };
    let mount = std::fs::File::open(path)?;
    use std::os::fd::AsRawFd;
    // SAFETY: `h` is a valid file_handle; the mount fd is open for the call.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            &h as *const FileHandle,
            libc::O_RDONLY,
        )
    })?;
    // SAFETY: the kernel just returned this fd to us; we own it.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let mut text = String::new();
    let _ = Read::by_ref(&mut f).take(200).read_to_string(&mut text);
    Ok(format!("opened a file by handle: {text:?}"))
}

fn ptrace(pid: &str) -> Attempt {
    let pid: libc::pid_t = pid.parse().map_err(|_| Blocked("bad pid".into()))?;
    // SAFETY: ptrace with integer arguments only; no memory is passed.
    let attach = check(unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    });
    if attach.is_ok() {
        return Ok(format!("PTRACE_ATTACH to pid {pid}"));
    }
    // SAFETY: as above.
    let seize = check(unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    });
    match (attach, seize) {
        (_, Ok(_)) => Ok(format!("PTRACE_SEIZE of pid {pid}")),
        (Err(e), Err(_)) => Err(e.into()),
        (Ok(_), _) => unreachable!("returned above"),
    }
}

fn connected(mut s: std::os::unix::net::UnixStream, what: String) -> Attempt {
    let _ = s.write_all(b"hello from inside the sandbox\n");
    Ok(what)
}

fn abstract_connect(name: &str) -> Attempt {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    connected(s, format!("connected to abstract socket @{name}"))
}

fn unix_connect(path: &str) -> Attempt {
    let s = std::os::unix::net::UnixStream::connect(path)?;
    connected(s, format!("connected to unix socket {path}"))
}

fn set_xattr(path: &str, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (cstr(path), CString::new(name).expect("no NUL"));
    // SAFETY: valid C strings and a value buffer of the given length.
    check(unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    } as libc::c_long)
    .map(drop)
}

/// A `security.capability` v2 value: effective, permitted CAP_SETUID and
/// CAP_SYS_ADMIN.
fn cap_value() -> Vec<u8> {
    let magic: u32 = 0x0200_0000 | 1; // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    let permitted: u32 = (1 << 7) | (1 << 21); // CAP_SETUID, CAP_SYS_ADMIN
    let _ = ();
    [magic, permitted, 0, 0, 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect()
}

fn setxattr(path: &str) -> Attempt {
    ensure_file(path)?;
    let user = set_xattr(path, "user.forge", b"hostile");
    let cap = set_xattr(path, "security.capability", &cap_value());
    match (user, cap) {
        (Ok(()), _) => Ok(format!("set user.forge on {path}")),
        (_, Ok(())) => Ok(format!("set security.capability on {path}")),
        (Err(e), Err(_)) => Err(e.into()),
    }
}

fn setcap(path: &str) -> Attempt {
    ensure_file(path)?;
    set_xattr(path, "security.capability", &cap_value())?;
    Ok(format!(
        "{path} has file capabilities (cap_setuid,cap_sys_admin+ep)"
    ))
}

fn unshare_user() -> Attempt {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as libc::c_long)?;
    Ok("a new user namespace (full capabilities in it)".into())
}

fn setns(ns: &str) -> Attempt {
    let f = std::fs::File::open(ns)?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an fd we hold open.
    check(unsafe { libc::setns(f.as_raw_fd(), 0) } as libc::c_long)?;
    Ok(format!("joined {ns}"))
}

fn mount_tmpfs(dir: &str) -> Attempt {
    let (src, target, fstype) = (cstr("none"), cstr(dir), cstr("tmpfs"));
    // SAFETY: valid C strings; no data argument.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    } as libc::c_long)?;
    Ok(format!("mounted a tmpfs on {dir}"))
}

fn pivot_root() -> Attempt {
    let _ = std::fs::create_dir_all("/tmp/old");
    let (new, old) = (cstr("/tmp"), cstr("/tmp/old"));
    // SAFETY: valid C strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new.as_ptr(), old.as_ptr()) })?;
    Ok("pivot_root succeeded".into())
}

fn chroot_out() -> Attempt {
    let _ = std::fs::create_dir_all("/tmp/jail");
    let jail = cstr("/tmp/jail");
    // SAFETY: a valid C string.
    check(unsafe { libc::chroot(jail.as_ptr()) } as libc::c_long)?;
    // The classic escape: the cwd is outside the new root; climb and re-root.
    for _ in 0..64 {
        let _ = std::env::set_current_dir("..");
    }
    let dot = cstr(".");
    // SAFETY: a valid C string.
    check(unsafe { libc::chroot(dot.as_ptr()) } as libc::c_long)?;
    let seen: Vec<String> = std::fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    Ok(format!("chroot works; / now has {seen:?}"))
}

fn keyctl() -> Attempt {
    let (ty, desc, payload) = (cstr("user"), cstr("forge-hostile"), b"secret");
    // SAFETY: valid C strings and a payload buffer of the given length.
    let key = check(unsafe {
        libc::syscall(
            libc::SYS_add_key,
            ty.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            libc::KEY_SPEC_SESSION_KEYRING,
        )
    })?;
    Ok(format!("added key {key} to the session keyring"))
}

fn io_uring_setup() -> Attempt {
    let mut params = [0u8; 120]; // struct io_uring_params
                                 // SAFETY: `params` is a zeroed io_uring_params, writable, large enough.
    let fd = check(unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()) })?;
    // SAFETY: closing the fd the kernel returned.
    unsafe { libc::close(fd as i32) };
    Ok("an io_uring instance".into())
}

fn personality() -> Attempt {
    const READ_IMPLIES_EXEC: libc::c_ulong = 0x0400000;
    // SAFETY: personality takes a flag word only.
    check(unsafe { libc::personality(READ_IMPLIES_EXEC) } as libc::c_long)?;
    Ok("personality(READ_IMPLIES_EXEC)".into())
}

#[cfg(target_arch = "x86_64")]
fn int80() -> Attempt {
    let mut ret: i64 = 20; // __NR_getpid on i386
                           // SAFETY: a 32-bit getpid takes no arguments and touches no memory; the
                           // registers int 0x80 may change are declared.
    unsafe {
        std::arch::asm!("int 0x80", inout("rax") ret, out("r8") _, out("r9") _, out("r10") _, out("r11") _);
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32).into());
    }
    Ok(format!("a 32-bit syscall returned {ret}"))
}

#[cfg(not(target_arch = "x86_64"))]
fn int80() -> Attempt {
    Err(Blocked("int 0x80 exists only on x86_64".into()))
}

fn setuid_chmod(file: &str) -> Attempt {
    ensure_file(file)?;
    let mut first_err = None;
    for mode in [0o4755, 0o2755] {
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => {
                let now = std::fs::metadata(file)?.permissions().mode();
                if now & 0o6000 != 0 {
                    return Ok(format!("{file} is now {:o}", now & 0o7777));
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.map_or_else(|| Blocked("the bits were dropped".into()), Blocked::from))
}

// ---------------------------------------------------------------------------
// Set-id bits without chmod, and vsock (issue 8, items 14).

/// Creates `file` (open O_CREAT), `file.d` (mkdir) and `file.node` (mknod)
/// with set-id modes: umask 022 does not strip S_ISUID/S_ISGID, so only the
/// sandbox can. Escaped if any of them exists with a set-id bit.
fn setuid_create(file: &str) -> Attempt {
    use std::os::unix::fs::MetadataExt;
    let mut first_err: Option<io::Error> = None;
    let mut note = |r: libc::c_long| {
        if r < 0 {
            first_err.get_or_insert(io::Error::last_os_error());
        }
        r
    };
    let f = cstr(file);
    // SAFETY: `f` is a valid C string; a successful open returns an fd we close.
    let fd = note(unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o6755,
        )
    });
    if fd >= 0 {
        // SAFETY: closes the fd the open above returned.
        unsafe { libc::close(fd as libc::c_int) };
    }
    let d = cstr(format!("{file}.d"));
    // SAFETY: `d` is a valid C string.
    note(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, d.as_ptr(), 0o6755) });
    let n = cstr(format!("{file}.node"));
    // SAFETY: `n` is a valid C string; a regular-file node needs no device number.
    note(unsafe {
        libc::syscall(
            libc::SYS_mknodat,
            libc::AT_FDCWD,
            n.as_ptr(),
            libc::S_IFREG | 0o6755,
            0,
        )
    });
    for p in [file.to_owned(), format!("{file}.d"), format!("{file}.node")] {
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.mode() & 0o6000 != 0 {
                return Ok(format!("{p} was created {:o}", m.mode() & 0o7777));
            }
        }
    }
    Err(first_err.map_or_else(|| Blocked("the bits were dropped".into()), Blocked::from))
}

/// A vsock socket reaches the hypervisor or host across every network
/// namespace.
fn vsock() -> Attempt {
    // SAFETY: socket(2) with constant arguments; a returned fd is closed.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_socket,
            libc::AF_VSOCK,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: closes the fd socket returned.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(format!("socket(AF_VSOCK) gave fd {fd}"))
}

/// prlimit64 on pid 1, forge's init: an open-file limit of 0 there made it
/// unable to report, and forge said the build was killed.
fn prlimit_init() -> Attempt {
    let zero = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64(2) reads `zero`, which outlives the call; no old
    // limit is written.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            1 as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &zero as *const libc::rlimit64,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    })?;
    Ok("prlimit64 set pid 1's open-file limit to 0".into())
}

/// ioctl(TIOCSTI) of every byte of `text` into `fd`.
fn sti(fd: libc::c_int, text: &str) -> io::Result<()> {
    for b in text.bytes() {
        // SAFETY: TIOCSTI reads one byte from the pointer, which is valid.
        if unsafe { libc::ioctl(fd, libc::TIOCSTI, &b as *const u8) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Types `text` into whatever terminal fds 0-2 or /dev/tty reach: a shell
/// reading that terminal after the build would run it.
fn tiocsti(text: &str) -> Attempt {
    let mut got = Vec::new();
    let mut blocked = Vec::new();
    for fd in 0..=2 {
        match sti(fd, text) {
            Ok(()) => got.push(format!("fd {fd}")),
            Err(e) => blocked.push(format!("fd {fd}: {}", errno_text(&e))),
        }
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        Ok(tty) => {
            use std::os::fd::AsRawFd;
            match sti(tty.as_raw_fd(), text) {
                Ok(()) => got.push("/dev/tty".into()),
                Err(e) => blocked.push(format!("/dev/tty: {}", errno_text(&e))),
            }
        }
        Err(e) => blocked.push(format!("open /dev/tty: {}", errno_text(&e))),
    }
    if got.is_empty() {
        Err(Blocked(blocked.join("; ")))
    } else {
        Ok(got.join(", "))
    }
}

fn clear_pdeathsig() {
    // SAFETY: prctl(PR_SET_PDEATHSIG, 0) takes no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
}

/// Clears the parent-death signal and leaves a daemon behind (new session,
/// double fork, stdout open), then spins: none of it may outlive the build.
fn no_pdeathsig(marker: &str, port: Option<&str>) -> ! {
    clear_pdeathsig();
    // SAFETY: single-threaded; the children only call async-signal-safe
    // functions (setsid, fork, execv, _exit) before exec.
    match unsafe { libc::fork() } {
        0 => unsafe {
            libc::setsid();
            if libc::fork() == 0 {
                let exe = CString::new("/proc/self/exe").unwrap();
                let argv0 = CString::new("forge-hostile").unwrap();
                let daemon = CString::new("daemon").unwrap();
                let m = CString::new(marker).unwrap();
                let p = CString::new(port.unwrap_or("")).unwrap();
                let argv = [
                    argv0.as_ptr(),
                    daemon.as_ptr(),
                    m.as_ptr(),
                    p.as_ptr(),
                    std::ptr::null(),
                ];
                libc::execv(exe.as_ptr(), argv.as_ptr());
            }
            libc::_exit(0)
        },
        -1 => {
            println!("blocked: fork failed");
            exit(1)
        }
        child => {
            // SAFETY: waiting for our own child; status is a valid pointer.
            unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        }
    }
    // Let the daemon listen before saying so.
    std::thread::sleep(std::time::Duration::from_millis(300));
    println!("daemon started");
    let _ = io::stdout().flush();
    loop {
        std::hint::spin_loop();
    }
}

/// The daemon of `no-pdeathsig`: no parent-death signal, stdout kept open,
/// a TCP port held if asked; sleeps forever.
fn daemon(port: &str) -> ! {
    clear_pdeathsig();
    let _listener = if port.is_empty() {
        None
    } else {
        Some(std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap())
    };
    loop {
        let _ = io::stdout().write_all(b"");
        std::thread::sleep(std::time::Duration::from_secs(1000));
    }
}

/// Lists the open fds and tries to read and write every fd from 3 to 20:
/// the invoker's files and forge's own pipes must not be there.
fn fds() -> Attempt {
    let listing: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some(format!(
                    "{} -> {}",
                    e.file_name().to_string_lossy(),
                    target.display()
                ))
            })
            .collect()
        })
        .unwrap_or_default();
    println!("fds: {}", listing.join(", "));
    let mut got = Vec::new();
    for fd in 3..=20 {
        // SAFETY: F_GETFD on any number is harmless.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            continue;
        }
        let mut buf = [0u8; 256];
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own; a read only when it would not block.
        let n = unsafe {
            if libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLIN != 0 {
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            } else {
                -1
            }
        };
        if n > 0 {
            got.push(format!(
                "read fd {fd}: {:?}",
                String::from_utf8_lossy(&buf[..n as usize])
            ));
        }
        let msg = b"FORGE-HOSTILE-WROTE\n";
        // SAFETY: writing from a buffer we own, of its length.
        if unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) } > 0 {
            got.push(format!("wrote fd {fd}"));
        }
    }
    if got.is_empty() {
        Err(Blocked("EBADF (no fd above 2 to use)".into()))
    } else {
        Ok(got.join("; "))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i).map(String::as_str).unwrap_or_else(|| {
            eprintln!("{USAGE}");
            exit(2)
        })
    };
    let attack = arg(0);
    let result = match attack {
        "handle-of" => handle_of(arg(1)),
        "open-by-handle" => open_by_handle(arg(1), args.get(2).map(String::as_str)),
        "ptrace" => ptrace(arg(1)),
        "abstract-connect" => abstract_connect(arg(1)),
        "unix-connect" => unix_connect(arg(1)),
        "setxattr" => setxattr(arg(1)),
        "setcap" => setcap(arg(1)),
        "unshare-user" => unshare_user(),
        "setns" => setns(arg(1)),
        "mount-tmpfs" => mount_tmpfs(args.get(1).map_or("/tmp", String::as_str)),
        "pivot-root" => pivot_root(),
        "chroot-out" => chroot_out(),
        "keyctl" => keyctl(),
        "io-uring-setup" => io_uring_setup(),
        "personality" => personality(),
        "int80" => int80(),
        "setuid-chmod" => setuid_chmod(arg(1)),
        "setuid-create" => setuid_create(arg(1)),
        "vsock" => vsock(),
        "prlimit-init" => prlimit_init(),
        "tiocsti" => tiocsti(arg(1)),
        "no-pdeathsig" => no_pdeathsig(arg(1), args.get(2).map(String::as_str)),
        "daemon" => daemon(args.get(2).map_or("", String::as_str)),
        "fds" => fds(),
        _ => {
            eprintln!("{USAGE}");
            exit(2)
        }
    };
    match result {
        Ok(what) => {
            println!("ESCAPED {attack}: {what}");
            exit(0)
        }
        Err(Blocked(why)) => {
            println!("blocked: {why}");
            exit(1)
        }
    }
}
