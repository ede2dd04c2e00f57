//! [`Linux`]: the real kernel behind [`Syscalls`], with the binds that
//! pin their source (opened `O_PATH|O_NOFOLLOW`, mounted by fd) and reach
//! it through an overlay so that mountinfo does not tell its host path.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use super::steps::overlay_lowerdir;
use super::syscalls::{ctx, flat_name, workdir_of, Syscalls, Via, EMPTY, LOWER};
use crate::plan::OLD_ROOT;

/// Removes the work directories [`Via::UpperOverlay`] left next to the
/// spec's writable directory binds (empty once the sandbox is gone). Best
/// effort: one that is not there, or not empty, stays.
pub fn remove_workdirs(spec: &crate::spec::SandboxSpec) {
    for b in spec.binds.iter().filter(|b| b.writable) {
        if let Some(w) = workdir_of(&b.host) {
            for sub in ["work", "index"] {
                let _ = fs::remove_dir(w.join(sub));
            }
            let _ = fs::remove_dir(&w);
        }
    }
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

    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        is_dir: bool,
        via: Via,
    ) -> io::Result<Option<MsFlags>> {
        use std::os::fd::AsRawFd;
        let mut from = None;
        let mut known = None;
        // A source that is a mount of its own would be hidden by its
        // parent's overlay (which shows what is under it): bound directly.
        if via != Via::Direct && !is_mount_point(source) {
            if let (Some(parent), Some(name)) = (source.parent(), source.file_name()) {
                let hidden = match via {
                    Via::ParentOverlay => parent_overlay(parent, name, is_dir),
                    _ => upper_overlay(parent, name, target),
                };
                match hidden {
                    Ok(Some(fd)) => {
                        from = Some(fd);
                        known = Some(PARENT_OVERLAY_FLAGS);
                    }
                    Ok(None) => return Ok(None), // mounted at target already
                    // The direct bind below (which checks the source again).
                    Err(_) => {}
                }
            }
        }
        // O_PATH|O_NOFOLLOW pins what the runner looked at: a symlink
        // swapped in since then is opened as itself, and refused, instead of
        // being followed by mount(2) to wherever it points on the host.
        let from = match from {
            Some(fd) => fd,
            None => open_checked(source, is_dir)?,
        };
        // The host's /proc (under the old root) resolves the fd to exactly
        // the object opened, not to a path that could be resolved again.
        let by_fd = Path::new(OLD_ROOT)
            .join("proc/self/fd")
            .join(from.as_raw_fd().to_string());
        mount(
            Some(&by_fd),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        Ok(known)
    }

    fn chmod(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| ctx(e, format!("chmod {}", path.display())))
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

    fn remove_dir(&mut self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path).map_err(|e| ctx(e, format!("removing {}", path.display())))
    }
}

/// Opens `path` with O_PATH|O_NOFOLLOW and checks it is (still) a
/// directory if `is_dir`, else a non-directory, and not a symlink.
fn open_checked(path: &Path, is_dir: bool) -> io::Result<fs::File> {
    let mut flags = libc::O_PATH | libc::O_NOFOLLOW;
    if is_dir {
        // A symlink or a non-directory fails here (ELOOP, ENOTDIR).
        flags |= libc::O_DIRECTORY;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => changed(),
            _ => e,
        })?;
    if !is_dir {
        check_kind(file.metadata()?.file_type().into(), false)?;
    }
    Ok(file)
}

fn changed() -> io::Error {
    io::Error::other("it changed (or became a symlink) after it was listed")
}

/// What a bind source is, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Symlink,
    Other,
}

impl From<fs::FileType> for Kind {
    fn from(t: fs::FileType) -> Self {
        if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        }
    }
}

/// A symlink, or a directory where a non-directory was planned (or the
/// reverse), is refused.
fn check_kind(kind: Kind, is_dir: bool) -> io::Result<()> {
    if kind == Kind::Symlink || (kind == Kind::Dir) != is_dir {
        return Err(changed());
    }
    Ok(())
}

/// The flags of a bind from a parent's overlay: those forge mounted the
/// overlay with (and the default atime mode), which the bind copies.
const PARENT_OVERLAY_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_RELATIME);

/// Whether `path` (under the old root) is a mount point, by the mount
/// table read once (one read for every bind instead of a syscall each). A
/// path that reaches a mount point through a symlink is not recognised;
/// the sandbox's callers pass canonical host paths for host files. If the
/// table cannot be read, every path counts as one (bound directly: it
/// shows its host path, but what it shows is right).
fn is_mount_point(path: &Path) -> bool {
    thread_local! {
        static POINTS: Option<std::collections::BTreeSet<std::path::PathBuf>> = mount_points();
    }
    POINTS.with(|p| p.as_ref().is_none_or(|p| p.contains(path)))
}

/// The mount points this process sees. In the init, during setup, its
/// root is the setup tmpfs, which has no `/proc`: the host's is under the
/// old root, and its table names the host's mounts under the old root too,
/// as bind sources are named.
pub(super) fn mount_points() -> Option<std::collections::BTreeSet<std::path::PathBuf>> {
    let table = fs::read_to_string(Path::new(OLD_ROOT).join("proc/self/mountinfo"))
        .or_else(|_| fs::read_to_string("/proc/self/mountinfo"))
        .ok()?;
    Some(
        table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| std::path::PathBuf::from(unescape_mountinfo(p)))
            .collect(),
    )
}

/// mountinfo's octal escapes (`\040` for a space…).
pub(super) fn unescape_mountinfo(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// A directory opened O_PATH, for fchdir.
fn open_dir(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
}

/// [`Via::ParentOverlay`]: the read-only overlay of `parent` (mounted once
/// per parent, in the setup root) and `name` in it, opened and checked.
fn parent_overlay(
    parent: &Path,
    name: &std::ffi::OsStr,
    is_dir: bool,
) -> io::Result<Option<fs::File>> {
    thread_local! {
        /// The parents whose overlay this process has mounted.
        static MOUNTED: std::cell::RefCell<std::collections::BTreeSet<std::path::PathBuf>> =
            Default::default();
    }
    let ovl = Path::new(LOWER).join(flat_name(parent));
    if !MOUNTED.with(|m| m.borrow().contains(parent)) {
        fs::DirBuilder::new().recursive(true).create(EMPTY)?;
        fs::DirBuilder::new().recursive(true).create(&ovl)?;
        let dir = open_dir(parent)?;
        nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&dir)).map_err(io::Error::from)?;
        let mounted = mount(
            Some("overlay"),
            &ovl,
            Some("overlay"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("lowerdir=.:{EMPTY}").as_str()),
        );
        nix::unistd::chdir("/").map_err(io::Error::from)?;
        if let Err(e) = mounted {
            let _ = fs::remove_dir(&ovl);
            return Err(e.into());
        }
        MOUNTED.with(|m| m.borrow_mut().insert(parent.to_owned()));
    }
    open_checked(&ovl.join(name), is_dir).map(Some)
}

/// [`Via::UpperOverlay`]: an overlay at `target` whose upper layer is
/// `parent/name` and whose work directory is next to it.
fn upper_overlay(
    parent: &Path,
    name: &std::ffi::OsStr,
    target: &Path,
) -> io::Result<Option<fs::File>> {
    // Only an empty directory: overlayfs refuses (EXDEV) to rename a
    // directory that was in its upper layer before it was mounted, which
    // would break builds that move what they were given.
    // The upper layer is the directory the runner looked at, opened without
    // following a symlink and entered by its descriptor (`upperdir=.`): a
    // symlink swapped in since is refused, not mounted through.
    let upper = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(parent.join(name))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => changed(),
            _ => e,
        })?;
    let work = workdir_of(&parent.join(name)).ok_or_else(|| io::Error::other("no parent"))?;
    fs::DirBuilder::new().recursive(true).create(EMPTY)?;
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&upper)).map_err(io::Error::from)?;
    let empty = fs::read_dir(".").map(|mut d| d.next().is_none());
    if !matches!(empty, Ok(true)) {
        nix::unistd::chdir("/").map_err(io::Error::from)?;
        return Err(empty.err().unwrap_or_else(|| io::Error::other("not empty")));
    }
    match fs::create_dir(&work) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            nix::unistd::chdir("/").map_err(io::Error::from)?;
            return Err(e);
        }
    }
    let data = format!(
        "lowerdir={EMPTY},upperdir=.,workdir=../{}",
        overlay_lowerdir(&[work.file_name().map(Into::into).unwrap_or_default()])
    );
    let mounted = mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    );
    nix::unistd::chdir("/").map_err(io::Error::from)?;
    if let Err(e) = mounted {
        let _ = fs::remove_dir(&work);
        return Err(e.into());
    }
    // overlayfs makes its work/ directory mode 0: let the invoker remove it
    // after the run without privileges.
    for sub in ["work", "index"] {
        let _ = fs::set_permissions(work.join(sub), fs::Permissions::from_mode(0o700));
    }
    Ok(None)
}
