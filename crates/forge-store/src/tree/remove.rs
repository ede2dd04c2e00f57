//! Removing and measuring trees without ever following a symlink.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::MAX_DEPTH;
use crate::error::{IoContext, Result, StoreError};

/// Removes the file, symlink or tree at `path`, even with read-only
/// directories in it (store objects are 0555), and returns the bytes of
/// file contents freed.
///
/// Safe against a tree that changes while it is removed (a builder that
/// outlived its build, a hostile path input): the walk never follows a
/// symlink. Every directory is opened relative to its parent's descriptor
/// with `O_NOFOLLOW | O_DIRECTORY` and every entry removed with `unlinkat`
/// relative to the directory that holds it, so a directory swapped for a
/// symlink at any moment is removed as a link, and nothing outside the tree
/// is ever listed, chmodded or unlinked. Only the components of `path`
/// itself are resolved as usual (they are the caller's, not the tree's).
///
/// Works at any depth with bounded descriptors and no long paths: below
/// [`REMOVE_MAX_DEPTH`] levels a directory is first moved up to the top of
/// the tree (`renameat`, which never follows the link it moves) and
/// removed from there.
pub fn remove_tree(path: &Path) -> Result<u64> {
    let name = match path.file_name() {
        Some(n) => n,
        None => {
            return Err(StoreError::Io {
                op: "removing",
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "no file name to remove"),
            })
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent_dir = match fd::open_dir(None, parent, false) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).ctx("opening", parent),
    };
    let mut walk = fd::Walk {
        top: None,
        hoisted: 0,
    };
    walk.remove_at(&parent_dir, name, path, 0)
}

/// How many directory levels [`remove_tree`] descends (holding one
/// descriptor per level) before it moves the rest up to the top.
pub const REMOVE_MAX_DEPTH: usize = 64;

mod fd {
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use nix::dir::Dir;
    use nix::errno::Errno;
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{fchmod, fchmodat, fstatat, FchmodatFlags, Mode, SFlag};
    use nix::unistd::{unlinkat, UnlinkatFlags};

    use super::REMOVE_MAX_DEPTH;
    use crate::error::{IoContext, Result};

    /// Attempts at one entry that keeps changing type under us before
    /// giving up (a live adversary; each attempt is a few syscalls).
    const RETRIES: usize = 1000;

    /// Opens a directory; relative to `at` if given, and then never
    /// through a symlink unless `follow`.
    pub(super) fn open_dir(at: Option<&Dir>, path: &Path, follow: bool) -> io::Result<Dir> {
        let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        Dir::openat(at.map(AsRawFd::as_raw_fd), path, flags, Mode::empty()).map_err(io::Error::from)
    }

    pub(super) struct Walk {
        /// The tree's top directory, once open: where deep directories are
        /// moved up to.
        pub(super) top: Option<Dir>,
        pub(super) hoisted: u64,
    }

    impl Walk {
        /// Removes the entry `name` of `parent`, whatever it is now.
        /// `shown` names it in errors.
        pub(super) fn remove_at(
            &mut self,
            parent: &Dir,
            name: &OsStr,
            shown: &Path,
            depth: usize,
        ) -> Result<u64> {
            let pfd = parent.as_raw_fd();
            for _ in 0..RETRIES {
                let st = match fstatat(Some(pfd), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::ENOENT) => return Ok(0),
                    Err(e) => return Err(io::Error::from(e)).ctx("reading metadata of", shown),
                };
                let is_dir =
                    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
                if !is_dir {
                    match unlinkat(Some(pfd), name, UnlinkatFlags::NoRemoveDir) {
                        Ok(()) => return Ok(st.st_size.max(0) as u64),
                        Err(Errno::ENOENT) => return Ok(0),
                        // It became a directory since the stat.
                        Err(Errno::EISDIR) | Err(Errno::EPERM) if self.is_dir_now(pfd, name) => {
                            continue
                        }
                        Err(e) => return Err(io::Error::from(e)).ctx("removing", shown),
                    }
                }
                let mut dir = match open_dir(Some(parent), Path::new(name), false) {
                    Ok(d) => d,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(0),
                    // Swapped for a symlink or a file since the stat: start
                    // over with what is there now.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) =>
                    {
                        continue
                    }
                    // A directory its owner cannot read (`chmod 0`): made
                    // readable through its name, never through a symlink
                    // (a link swapped in is refused, not followed), then
                    // opened again.
                    Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                        match fchmodat(
                            Some(pfd),
                            name,
                            Mode::from_bits_truncate(0o700),
                            FchmodatFlags::NoFollowSymlink,
                        ) {
                            Ok(()) | Err(Errno::EOPNOTSUPP) | Err(Errno::ENOENT) => continue,
                            Err(e) => return Err(io::Error::from(e)).ctx("making readable", shown),
                        }
                    }
                    Err(e) => return Err(e).ctx("opening directory", shown),
                };
                // Writable while it is emptied (the owner may always chmod;
                // this is the directory just opened, never a link's target).
                fchmod(dir.as_raw_fd(), Mode::from_bits_truncate(0o700))
                    .map_err(io::Error::from)
                    .ctx("making writable", shown)?;
                let freed = self.empty(&mut dir, shown, depth + 1)?;
                drop(dir);
                match unlinkat(Some(pfd), name, UnlinkatFlags::RemoveDir) {
                    Ok(()) => return Ok(freed),
                    Err(Errno::ENOENT) => return Ok(freed),
                    // Refilled or swapped meanwhile: go again.
                    Err(Errno::ENOTEMPTY) | Err(Errno::EEXIST) | Err(Errno::ENOTDIR) => continue,
                    Err(e) => return Err(io::Error::from(e)).ctx("removing directory", shown),
                }
            }
            Err(io::Error::other("it kept changing while being removed")).ctx("removing", shown)
        }

        fn is_dir_now(&self, pfd: i32, name: &OsStr) -> bool {
            fstatat(Some(pfd), name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
                SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            })
        }

        /// Removes every entry of `dir`, listing it again until it is empty.
        fn empty(&mut self, dir: &mut Dir, shown: &Path, depth: usize) -> Result<u64> {
            let mut freed = 0;
            if self.top.is_none() {
                // The first directory opened is the top of the tree.
                self.top = Some(open_dir(Some(dir), Path::new("."), false).ctx("opening", shown)?);
            }
            for _ in 0..RETRIES {
                let names = list(dir).ctx("reading directory", shown)?;
                if names.is_empty() {
                    return Ok(freed);
                }
                for name in names {
                    let child: PathBuf = shown.join(&name);
                    if depth >= REMOVE_MAX_DEPTH {
                        self.hoist(dir, &name, &child)?;
                        continue;
                    }
                    freed += self.remove_at(dir, &name, &child, depth)?;
                }
            }
            Err(io::Error::other("it kept refilling while being emptied")).ctx("removing", shown)
        }

        /// Moves the entry `name` of `dir` to the top of the tree, to be
        /// removed from there with few descriptors and a short path.
        fn hoist(&mut self, dir: &Dir, name: &OsStr, shown: &Path) -> Result<()> {
            let top = self.top.as_ref().expect("set by empty");
            // Moving a directory to another parent rewrites its `..`: it must
            // be writable (never through a symlink).
            if let Ok(child) = open_dir(Some(dir), Path::new(name), false) {
                let _ = fchmod(child.as_raw_fd(), Mode::from_bits_truncate(0o700));
            }
            loop {
                self.hoisted += 1;
                let to = format!(".forge-remove-{}", self.hoisted);
                let taken = fstatat(
                    Some(top.as_raw_fd()),
                    to.as_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok();
                if taken {
                    continue;
                }
                return match nix::fcntl::renameat(
                    Some(dir.as_raw_fd()),
                    name,
                    Some(top.as_raw_fd()),
                    to.as_str(),
                ) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(()),
                    Err(e) => Err(io::Error::from(e)).ctx("moving up", shown),
                };
            }
        }
    }

    /// The names in `dir` (without `.` and `..`), from its start.
    fn list(dir: &mut Dir) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        // The iterator rewinds the directory when dropped.
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_owned());
            }
        }
        Ok(names)
    }
}

/// The apparent size of the tree at `path`: the sizes of its files and
/// symlinks added up (about its NAR size, whatever holes its files have),
/// from an lstat walk that never follows a symlink. Stops counting once past
/// `stop_above`. On an error (a tree that changes meanwhile, or one deeper
/// than [`MAX_DEPTH`]) returns what it counted so far as the error.
pub fn apparent_size(path: &Path, stop_above: u64) -> std::result::Result<u64, u64> {
    let mut total = 0u64;
    match size_node(path, 0, stop_above, &mut total) {
        Ok(()) => Ok(total),
        Err(()) => Err(total),
    }
}

fn size_node(path: &Path, depth: usize, stop: u64, total: &mut u64) -> std::result::Result<(), ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    let meta = fs::symlink_metadata(path).map_err(|_| ())?;
    if !meta.is_dir() {
        *total = total.saturating_add(meta.len());
        return Ok(());
    }
    // Not through a symlink swapped in since the lstat.
    // The names first: one descriptor open at a time, at any depth.
    let mut dir = fd::open_dir(None, path, false).map_err(|_| ())?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|_| ())?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    drop(dir);
    for name in names {
        if *total > stop {
            return Ok(());
        }
        size_node(&path.join(name), depth + 1, stop, total)?;
    }
    Ok(())
}
