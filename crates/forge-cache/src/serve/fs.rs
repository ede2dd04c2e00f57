//! Opening a cache object for a client without ever leaving the cache
//! directory: the name is a [`Key`] (no `..`, no absolute path), the last
//! component is opened with `O_NOFOLLOW` (and `O_NONBLOCK`, so a planted
//! FIFO cannot hang a worker), and the file actually opened must be the
//! regular file at exactly `<dir>/<key>`, as the kernel names it in
//! `/proc/self/fd`. So a symlink anywhere below the directory (planted by
//! whoever can write there) is a miss, never a way out, and there is no
//! window between a check and the open.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::key::Key;

/// A served cache directory, resolved once at start.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// `dir`, which must be a directory; the path is made canonical (its
    /// own symlinks, above the cache, are followed once here).
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = dir.canonicalize()?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Root { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The regular file at `key` and its length, or `None` when there is
    /// none (missing, a directory, a symlink, a device, a FIFO).
    pub fn open(&self, key: &Key) -> io::Result<Option<(File, u64)>> {
        let path = self.dir.join(key.as_str());
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if is_miss(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        let actual = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        if actual != path {
            tracing::warn!(
                key = %key,
                "a symlink below the cache directory leads elsewhere; not serving it"
            );
            return Ok(None);
        }
        Ok(Some((file, meta.len())))
    }

    /// Whether every directory `key` would be written under is a real
    /// directory below the root (or does not exist yet), so that an upload
    /// cannot be steered out through a planted symlink.
    pub fn parents_are_real(&self, key: &Key) -> io::Result<bool> {
        let mut at = self.dir.clone();
        let parts: Vec<&str> = key.as_str().split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Errors that mean "no such object": missing, a symlink as the last
/// component (`ELOOP` under `O_NOFOLLOW`), a file where a directory
/// should be.
fn is_miss(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn symlinks_below_the_root_are_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        let dir = tmp.path().join("cache");
        std::fs::create_dir_all(dir.join("nar")).unwrap();
        std::fs::write(dir.join("nar/a.nar"), b"nar").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), dir.join("x.narinfo")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("realisations")).unwrap();
        std::os::unix::fs::symlink(dir.join("nar/a.nar"), dir.join("inside.nar")).unwrap();
        let root = Root::new(&dir).unwrap();
        let k = |s| Key::new(s).unwrap();
        let (_, len) = root.open(&k("nar/a.nar")).unwrap().unwrap();
        assert_eq!(len, 3);
        assert!(root.open(&k("x.narinfo")).unwrap().is_none());
        assert!(root.open(&k("realisations/secret")).unwrap().is_none());
        assert!(root.open(&k("inside.nar")).unwrap().is_none());
        assert!(root.open(&k("nar")).unwrap().is_none(), "a directory");
        assert!(root.open(&k("nar/a.nar/x")).unwrap().is_none());
        assert!(root.open(&k("missing")).unwrap().is_none());
        assert!(root.parents_are_real(&k("nar/b.nar")).unwrap());
        assert!(root.parents_are_real(&k("new/dir/b")).unwrap());
        assert!(!root.parents_are_real(&k("realisations/x.doi")).unwrap());
    }
}
