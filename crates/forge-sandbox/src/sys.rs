//! The syscalls that carry out a [`Plan`](crate::plan::Plan).
//!
//! Everything that changes the system goes through the [`Syscalls`] trait:
//! [`Linux`] makes the real calls, [`Recorder`] (tests) writes down each
//! call with its exact flags, so the sequence the executor issues for a plan
//! is checked by ordinary unit tests (the approach of youki's `Syscall`).
//! The few calls the `nix` crate does not wrap safely (bringing `lo` up)
//! are the only `unsafe` code, each with its reason.
#![allow(unsafe_code)] // ioctl(SIOCSIFFLAGS) to bring up loopback; nothing else

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::plan::{Flags, Step, NEW_ROOT, OLD_ROOT};

/// The operations the executor needs.
pub trait Syscalls {
    /// mount(2).
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// A bind mount of `source` at `target` that never follows a symlink
    /// at `source` itself: the source must still be a directory (if
    /// `is_dir`) or a non-directory that is not a symlink, as it was when
    /// the runner looked. Not recursive.
    fn bind(&mut self, source: &Path, target: &Path, is_dir: bool) -> io::Result<()>;
    /// The flags the kernel reports for the mount holding `path`, as
    /// `MS_*` flags that a bind remount must keep.
    fn locked_flags(&mut self, path: &Path) -> io::Result<MsFlags>;
    /// mkdir -p with a mode for the last component.
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates an empty file (a bind-mount target).
    fn touch(&mut self, path: &Path) -> io::Result<()>;
    /// symlink(2).
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()>;
    /// Writes a file with a mode.
    fn write_file(&mut self, path: &Path, contents: &str, mode: u32) -> io::Result<()>;
    /// chdir(2).
    fn chdir(&mut self, path: &Path) -> io::Result<()>;
    /// pivot_root(2).
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// umount2(2) with MNT_DETACH.
    fn detach(&mut self, target: &Path) -> io::Result<()>;
}

fn ms(flags: Flags) -> MsFlags {
    let mut f = MsFlags::empty();
    f.set(MsFlags::MS_RDONLY, flags.rdonly);
    f.set(MsFlags::MS_NOSUID, flags.nosuid);
    f.set(MsFlags::MS_NODEV, flags.nodev);
    f.set(MsFlags::MS_NOEXEC, flags.noexec);
    f
}

fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Prepares the setup tmpfs: makes every mount private, mounts a tmpfs at
/// `base` (a directory that exists on the host, such as `/tmp`), and pivots
/// into it with the host root at [`OLD_ROOT`].
pub fn enter_setup_root(sys: &mut dyn Syscalls, base: &Path) -> io::Result<()> {
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(|e| ctx(e, "making mounts private".into()))?;
    sys.mount(
        Some(Path::new("tmpfs")),
        base,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=1m"),
    )
    .map_err(|e| ctx(e, format!("mounting the setup tmpfs on {}", base.display())))?;
    sys.chdir(base)?;
    sys.mkdir_all(&base.join(&NEW_ROOT[1..]), 0o755)?;
    sys.mkdir_all(&base.join(&OLD_ROOT[1..]), 0o755)?;
    sys.pivot_root(base, &base.join(&OLD_ROOT[1..]))
        .map_err(|e| ctx(e, "pivot_root into the setup tmpfs".into()))?;
    sys.chdir(Path::new("/"))
}

/// overlayfs's `lowerdir=` value: the directories joined with `:`, each
/// with `\\`, `:` and `,` escaped by a backslash (the separators of the
/// option and of the mount data).
pub fn overlay_lowerdir(lower: &[std::path::PathBuf]) -> String {
    let mut out = String::new();
    for (i, dir) in lower.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        for c in dir.to_string_lossy().chars() {
            if matches!(c, '\\' | ':' | ',') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Carries out the plan's steps. Returns warnings about what was done
/// differently from the plan (an overlay the kernel refused, replaced by
/// its first layer).
pub fn apply_steps(sys: &mut dyn Syscalls, steps: &[Step]) -> io::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for step in steps {
        match step {
            Step::Tmpfs {
                target,
                mode,
                size,
                flags,
            } => {
                sys.mkdir_all(target, 0o755)?;
                let mut data = format!("mode={mode:o}");
                if let Some(size) = size {
                    data.push_str(&format!(",size={size}"));
                }
                sys.mount(
                    Some(Path::new("tmpfs")),
                    target,
                    Some("tmpfs"),
                    ms(*flags),
                    Some(&data),
                )
                .map_err(|e| ctx(e, format!("mounting tmpfs on {}", target.display())))?;
            }
            Step::Bind {
                source,
                target,
                is_dir,
                flags,
            } => {
                if *is_dir {
                    sys.mkdir_all(target, 0o755)?;
                } else {
                    if let Some(parent) = target.parent() {
                        sys.mkdir_all(parent, 0o755)?;
                    }
                    sys.touch(target)?;
                }
                // Not recursive: mounts below a bound host path stay hidden
                // rather than appearing without the read-only flag.
                sys.bind(source, target, *is_dir).map_err(|e| {
                        ctx(
                            e,
                            format!(
                                "binding {} to {}",
                                source.strip_prefix(OLD_ROOT).unwrap_or(source).display(),
                                target.strip_prefix(NEW_ROOT).unwrap_or(target).display()
                            ),
                        )
                    })?;
                let keep = sys.locked_flags(target)?;
                sys.mount(
                    None,
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ms(*flags) | keep,
                    None,
                )
                .map_err(|e| ctx(e, format!("remounting {}", target.display())))?;
            }
            Step::Overlay {
                lower,
                target,
                flags,
            } => {
                sys.mkdir_all(target, 0o755)?;
                let data = format!("lowerdir={}", overlay_lowerdir(lower));
                if let Err(e) = sys.mount(
                    Some(Path::new("overlay")),
                    target,
                    Some("overlay"),
                    ms(*flags),
                    Some(&data),
                ) {
                    let inside = target.strip_prefix(NEW_ROOT).unwrap_or(target);
                    warnings.push(format!(
                        "overlayfs refused for /{} ({e}); using only its first root layer",
                        inside.display()
                    ));
                    let Some(first) = lower.first() else { continue };
                    let fallback = Step::Bind {
                        source: first.clone(),
                        target: target.clone(),
                        is_dir: true,
                        flags: *flags,
                    };
                    apply_steps(sys, std::slice::from_ref(&fallback))?;
                }
            }
            Step::Proc { target } => {
                sys.mkdir_all(target, 0o555)?;
                sys.mount(
                    Some(Path::new("proc")),
                    target,
                    Some("proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None,
                )
                .map_err(|e| ctx(e, "mounting /proc".into()))?;
            }
            Step::Devpts { target } => {
                sys.mount(
                    Some(Path::new("devpts")),
                    target,
                    Some("devpts"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                    Some("newinstance,ptmxmode=0666,mode=620"),
                )
                .map_err(|e| ctx(e, "mounting /dev/pts".into()))?;
            }
            Step::Mkdir { path, mode } => sys.mkdir_all(path, *mode)?,
            Step::Symlink { target, link } => sys.symlink(target, link)?,
            Step::WriteFile {
                path,
                contents,
                mode,
            } => sys.write_file(path, contents, *mode)?,
            Step::RemountReadOnly { target } => {
                let keep = sys.locked_flags(target)?;
                sys.mount(
                    None,
                    target,
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
                    None,
                )
                .map_err(|e| ctx(e, format!("making {} read-only", target.display())))?;
            }
            Step::RemountRootReadOnly => {
                sys.mount(
                    None,
                    Path::new(NEW_ROOT),
                    None,
                    MsFlags::MS_REMOUNT
                        | MsFlags::MS_BIND
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV,
                    None,
                )
                .map_err(|e| ctx(e, "making the new root read-only".into()))?;
            }
        }
    }
    Ok(warnings)
}

/// Moves into the assembled root for good and drops the host's root.
pub fn enter_new_root(sys: &mut dyn Syscalls, cwd: &Path) -> io::Result<()> {
    sys.chdir(Path::new(NEW_ROOT))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; a
    // lazy unmount of "." then removes it (and the host root under it).
    sys.pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| ctx(e, "pivot_root into the new root".into()))?;
    sys.detach(Path::new("."))
        .map_err(|e| ctx(e, "detaching the host root".into()))?;
    sys.chdir(Path::new("/"))?;
    sys.chdir(cwd)
}

/// The real kernel.
#[derive(Debug, Default)]
pub struct Linux;

impl Syscalls for Linux {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        mount(source, target, fstype, flags, data).map_err(io::Error::from)
    }

    fn bind(&mut self, source: &Path, target: &Path, is_dir: bool) -> io::Result<()> {
        use nix::fcntl::{open, OFlag};
        use nix::sys::stat::{fstat, Mode, SFlag};
        use std::os::fd::AsRawFd;
        // O_PATH|O_NOFOLLOW pins what the runner lstat'ed: a symlink swapped
        // in since then is opened as itself, and refused below, instead of
        // being followed by mount(2) to wherever it points on the host.
        let fd = open(
            source,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let st = fstat(fd.as_raw_fd()).map_err(io::Error::from)?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK || (kind == SFlag::S_IFDIR) != is_dir {
            return Err(io::Error::other(
                "it changed (or became a symlink) after it was listed",
            ));
        }
        // The host's /proc (under the old root) resolves the fd to exactly
        // the object opened, not to a path that could be resolved again.
        let by_fd = Path::new(OLD_ROOT)
            .join("proc/self/fd")
            .join(fd.as_raw_fd().to_string());
        mount(Some(&by_fd), target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(io::Error::from)
    }

    fn locked_flags(&mut self, path: &Path) -> io::Result<MsFlags> {
        let st = statvfs(path).map_err(io::Error::from)?;
        let f = st.flags();
        let mut out = MsFlags::empty();
        for (fs, msf) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                out |= msf;
            }
        }
        Ok(out)
    }

    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(ctx(e, format!("creating {}", path.display()))),
        }
    }

    fn touch(&mut self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o444)
            .open(path)
            .map(drop)
            .map_err(|e| ctx(e, format!("creating {}", path.display())))
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| ctx(e, format!("creating symlink {}", link.display())))
    }

    fn write_file(&mut self, path: &Path, contents: &str, mode: u32) -> io::Result<()> {
        fs::write(path, contents).map_err(|e| ctx(e, format!("writing {}", path.display())))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }

    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        nix::unistd::chdir(path)
            .map_err(io::Error::from)
            .map_err(|e| ctx(e, format!("chdir {}", path.display())))
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(io::Error::from)
    }

    fn detach(&mut self, target: &Path) -> io::Result<()> {
        umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
    }
}

/// What a bind's host path is, without following a symlink there (the
/// runner's look for [`crate::plan::plan_with_layers`]).
pub fn lstat_node(path: &Path) -> io::Result<crate::plan::Node> {
    use crate::plan::Node;
    let kind = fs::symlink_metadata(path)?.file_type();
    Ok(if kind.is_symlink() {
        Node::Symlink(fs::read_link(path)?)
    } else if kind.is_dir() {
        Node::Dir
    } else if kind.is_file() {
        Node::File
    } else {
        Node::Other
    })
}

/// Refuses a root layer that is a symlink: its entries would be bound
/// through it, from wherever it points on the host.
pub fn check_layer(layer: &Path) -> io::Result<()> {
    if fs::symlink_metadata(layer)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a symlink (a root layer must be a directory)",
        ));
    }
    Ok(())
}

/// Brings the loopback interface up (in a fresh network namespace it exists
/// but is down).
pub fn loopback_up() -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let name = CString::new("lo").expect("no NUL");
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS reads into `req`, which outlives the call; the
    // socket fd is open for the whole call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS filled.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above, `req` is valid for SIOCSIFFLAGS.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A test double that records every call.
#[derive(Debug, Default)]
pub struct Recorder {
    /// One line per call, with its arguments and flags.
    pub calls: Vec<String>,
    /// Mounts of this filesystem type fail (EINVAL), to test fallbacks.
    pub refuse_fstype: Option<String>,
}

impl Recorder {
    fn record(&mut self, call: String) -> io::Result<()> {
        self.calls.push(call);
        Ok(())
    }
}

impl Syscalls for Recorder {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let flags = format!("{flags:?}");
        let flags = flags
            .strip_prefix("MsFlags(")
            .and_then(|f| f.strip_suffix(')'))
            .unwrap_or(&flags);
        if fstype.is_some() && fstype == self.refuse_fstype.as_deref() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.record(format!(
            "mount {:?} {} {:?} {flags} {:?}",
            source.map(Path::to_path_buf),
            target.display(),
            fstype,
            data
        ))
    }
    fn bind(&mut self, source: &Path, target: &Path, _is_dir: bool) -> io::Result<()> {
        self.mount(Some(source), target, None, MsFlags::MS_BIND, None)
    }
    fn locked_flags(&mut self, _path: &Path) -> io::Result<MsFlags> {
        Ok(MsFlags::MS_RELATIME)
    }
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(format!("mkdir {} {mode:o}", path.display()))
    }
    fn touch(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("touch {}", path.display()))
    }
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        self.record(format!(
            "symlink {} -> {}",
            link.display(),
            target.display()
        ))
    }
    fn write_file(&mut self, path: &Path, _contents: &str, mode: u32) -> io::Result<()> {
        self.record(format!("write {} {mode:o}", path.display()))
    }
    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        self.record(format!("chdir {}", path.display()))
    }
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.record(format!(
            "pivot_root {} {}",
            new_root.display(),
            put_old.display()
        ))
    }
    fn detach(&mut self, target: &Path) -> io::Result<()> {
        self.record(format!("detach {}", target.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan;
    use crate::spec::{Bind, SandboxSpec};

    #[test]
    fn read_only_binds_are_remounted_read_only_keeping_locked_flags() {
        let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
        spec.binds.push(Bind {
            host: "/h/in".into(),
            inside: "/forge/store/in".into(),
            writable: false,
        });
        let p = plan(&spec, &[true]).unwrap();
        let mut r = Recorder::default();
        apply_steps(&mut r, &p.steps).unwrap();
        let i = r
            .calls
            .iter()
            .position(|c| c.starts_with("mount Some(\"/oldroot/h/in\")"))
            .unwrap();
        assert_eq!(
            r.calls[i],
            "mount Some(\"/oldroot/h/in\") /newroot/forge/store/in None MS_BIND None"
        );
        assert_eq!(
            r.calls[i + 1],
            "mount None /newroot/forge/store/in None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
        );
        assert!(r.calls.contains(
            &"mount Some(\"proc\") /newroot/proc Some(\"proc\") MS_NOSUID | MS_NODEV | MS_NOEXEC None"
                .to_owned()
        ));
        assert!(r.calls.contains(
            &"mount Some(\"devpts\") /newroot/dev/pts Some(\"devpts\") MS_NOSUID | MS_NOEXEC Some(\"newinstance,ptmxmode=0666,mode=620\")"
                .to_owned()
        ));
        assert_eq!(
            r.calls.last().unwrap(),
            "mount None /newroot None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND None"
        );
    }

    #[test]
    fn a_bind_source_swapped_for_a_symlink_or_another_kind_is_refused_before_mounting() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        // Planned as a directory or a file: a symlink is never followed.
        for is_dir in [true, false] {
            let e = Linux.bind(&link, &target, is_dir).unwrap_err();
            assert!(e.to_string().contains("symlink"), "{e}");
        }
        // A directory where the runner saw a file.
        let e = Linux.bind(dir.path(), &target, false).unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
        assert_eq!(
            lstat_node(&link).unwrap(),
            crate::plan::Node::Symlink("/etc".into())
        );
        assert!(check_layer(&link).is_err());
        assert!(check_layer(dir.path()).is_ok());
    }

    #[test]
    fn entering_the_root_pivots_then_detaches_the_host() {
        let mut r = Recorder::default();
        enter_setup_root(&mut r, Path::new("/tmp")).unwrap();
        enter_new_root(&mut r, Path::new("/build")).unwrap();
        assert_eq!(
            r.calls,
            [
                "mount None / None MS_REC | MS_PRIVATE None",
                "mount Some(\"tmpfs\") /tmp Some(\"tmpfs\") MS_NOSUID | MS_NODEV Some(\"mode=0755,size=1m\")",
                "chdir /tmp",
                "mkdir /tmp/newroot 755",
                "mkdir /tmp/oldroot 755",
                "pivot_root /tmp /tmp/oldroot",
                "chdir /",
                "chdir /newroot",
                "pivot_root . .",
                "detach .",
                "chdir /",
                "chdir /build",
            ]
        );
    }

    #[test]
    fn overlays_are_mounted_read_only_or_fall_back_to_the_first_layer() {
        use crate::plan::{plan_with_layers, LayerListing, Node};
        let mut spec = SandboxSpec::new(vec!["/bin/sh".into()]);
        spec.root_layers = vec!["/s/a".into(), "/s/b,c:d".into()];
        let l = LayerListing {
            top: [("usr".into(), Node::Dir)].into_iter().collect(),
            etc: Default::default(),
        };
        let p = plan_with_layers(&spec, &[], &[l.clone(), l]).unwrap();
        let mut r = Recorder::default();
        assert!(apply_steps(&mut r, &p.steps).unwrap().is_empty());
        assert!(r.calls.contains(
            &"mount Some(\"overlay\") /newroot/usr Some(\"overlay\") MS_RDONLY | MS_NOSUID | MS_NODEV Some(\"lowerdir=/oldroot/s/a/usr:/oldroot/s/b\\\\,c\\\\:d/usr\")"
                .to_owned()
        ), "{:#?}", r.calls);

        let mut r = Recorder {
            refuse_fstype: Some("overlay".into()),
            ..Recorder::default()
        };
        let warnings = apply_steps(&mut r, &p.steps).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("overlayfs refused for /usr ("),
            "{warnings:?}"
        );
        let i = r
            .calls
            .iter()
            .position(|c| c.starts_with("mount Some(\"/oldroot/s/a/usr\")"))
            .unwrap();
        assert_eq!(
            r.calls[i..i + 2],
            [
                "mount Some(\"/oldroot/s/a/usr\") /newroot/usr None MS_BIND None",
                "mount None /newroot/usr None MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND | MS_RELATIME None"
            ]
        );
    }
}
