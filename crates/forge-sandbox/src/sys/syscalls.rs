//! The seam: [`Syscalls`], the operations that carry out a plan, with the
//! names and helpers its implementations share.

use std::io;
use std::path::Path;

use nix::mount::MsFlags;

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
    /// the runner looked. Not recursive. `via` says how the source's host
    /// path is kept out of the mount's entry in mountinfo.
    /// Returns the flags the new mount has when they are known without
    /// asking the kernel (a bind from forge's own overlay), else `None`.
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        is_dir: bool,
        via: Via,
    ) -> io::Result<Option<MsFlags>>;
    /// chmod(2), exactly (no umask).
    fn chmod(&mut self, path: &Path, mode: u32) -> io::Result<()>;
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
    /// rmdir(2).
    fn remove_dir(&mut self, path: &Path) -> io::Result<()>;
}

/// How a bind reaches its source, so that the mount's root field in
/// mountinfo (the source's path within its filesystem: a store path's host
/// location) does not tell where the source is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Straight from the source (devices: an overlay in a user namespace
    /// cannot give access to device nodes).
    Direct,
    /// Read-only: from a read-only overlay of the source's parent
    /// directory, mounted with `lowerdir=.` from inside that directory, so
    /// the entry reads `/<name>` and `lowerdir=.:/.empty` wherever the
    /// source lies. A source that is a mount point of its own is bound
    /// directly (the parent's overlay would show what is under it).
    ParentOverlay,
    /// Writable directory: through an overlay with the source as its upper
    /// layer (`upperdir=<name>`, relative to the parent) and a work
    /// directory next to it ([`workdir_of`]), which the runner removes
    /// after the run. Only for a directory that is empty when the sandbox
    /// starts (a build's scratch store is): overlayfs refuses to rename a
    /// directory that was in its upper layer before. Falls back to a direct
    /// bind otherwise, or where the overlay is not possible (a parent the
    /// invoker cannot write).
    UpperOverlay,
}

/// Where the executor puts the tmpfs behind a [`Step::Tmpfs`] overlay, in
/// the setup root (gone with it when the sandbox enters its new root).
pub(super) const HIDDEN: &str = "/.hidden";
/// Where the executor mounts the read-only overlays of bind sources'
/// parents, in the setup root.
pub(super) const LOWER: &str = "/.lower";
/// An empty directory of the setup root: the second, empty lower layer of
/// those overlays (overlayfs needs two lower layers without an upper one).
pub(super) const EMPTY: &str = "/.empty";

/// The work directory the executor makes next to a writable directory bind
/// `host` ([`Via::UpperOverlay`]): `.<name>.forge-work` in its parent.
pub fn workdir_of(host: &Path) -> Option<std::path::PathBuf> {
    let name = host.file_name()?;
    let mut w = std::ffi::OsString::from(".");
    w.push(name);
    w.push(".forge-work");
    Some(host.parent()?.join(w))
}

/// A path component naming `path` (any bytes but `/` and NUL), one to one.
pub(super) fn flat_name(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'/' => out.push_str("%2f"),
            b'%' => out.push_str("%25"),
            b if b.is_ascii_alphanumeric() || b"-_.+@".contains(b) => out.push(char::from(*b)),
            b => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// `e` with `what` in front of its message.
pub(super) fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
