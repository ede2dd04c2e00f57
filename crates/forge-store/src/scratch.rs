//! Scratch directories under the store's `tmp/`: staging areas of additions
//! and the work directories of builds, fetches and seed assembly, each owned
//! through a held lock so that a dead owner's are swept (see
//! [`Store::remove_stale_staging`]).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::lock::{FileLock, LockMode};
use crate::{tree, Store};

impl Store {
    /// Removes staging and build scratch directories under `tmp/` whose
    /// owner is gone (its lock is free). Safe while other processes work:
    /// theirs are locked.
    pub fn remove_stale_staging(&self) -> Result<()> {
        let tmp = self.layout.tmp_dir();
        for entry in fs::read_dir(&tmp).ctx("reading", &tmp)? {
            let entry = entry.ctx("reading", &tmp)?;
            let mut p = entry.path();
            if p.extension().is_some_and(|e| e == "lock") {
                // A lock whose directory is gone: its owner died between
                // removing the two.
                let dir = p.with_extension("");
                if fs::symlink_metadata(&dir).is_ok() {
                    continue;
                }
                p = dir;
            }
            let lock_path = p.with_extension("lock");
            if let Some(_l) = FileLock::try_acquire(&lock_path, LockMode::Exclusive)? {
                tracing::debug!(path = %p.display(), "removing stale staging directory");
                // One leftover that cannot be removed (not ours to remove,
                // say) must not stop every later build: warn and go on.
                match tree::remove_tree(&p) {
                    Ok(_) => {
                        let _ = fs::remove_file(&lock_path);
                    }
                    Err(e) => tracing::warn!("cannot remove stale staging directory: {e}"),
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn unique_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = blake3::hash(
        format!(
            "{}-{:?}-{t}",
            std::process::id(),
            std::thread::current().id()
        )
        .as_bytes(),
    );
    n.to_hex()[..12].to_owned()
}

/// A scratch directory under the store's `tmp/`, `<prefix>-<unique>`, owned
/// through a held lock file `<dir>.lock`: the stale-staging sweep
/// ([`Store::remove_stale_staging`]) removes only directories whose lock it
/// can take, so this one stays while it lives, is removed on drop, and is
/// swept by the next store operation if this process dies. Created 0700
/// with inherited default ACLs cut (they would make copies non-canonical).
#[derive(Debug)]
pub struct ScratchDir {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl ScratchDir {
    fn new(layout: &Layout, prefix: &str) -> Result<Self> {
        let dir = layout
            .tmp_dir()
            .join(format!("{prefix}-{}", unique_suffix()));
        let lock_path = dir.with_extension("lock");
        let lock = FileLock::acquire(&lock_path, LockMode::Exclusive)?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .ctx("creating scratch directory", &dir)?;
        for attr in ["system.posix_acl_default", "system.posix_acl_access"] {
            if let Err(e) = xattr::remove(&dir, attr) {
                let benign = matches!(
                    e.raw_os_error(),
                    Some(libc::ENODATA) | Some(libc::EOPNOTSUPP)
                );
                if !benign {
                    return Err(e).ctx("removing inherited ACL from", &dir);
                }
            }
        }
        Ok(ScratchDir {
            dir,
            lock_path,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = tree::remove_tree(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

impl Store {
    /// A fresh [`ScratchDir`] named after `prefix`, for work that ends in
    /// the store (builds, seed assembly).
    pub fn scratch_dir(&self, prefix: &str) -> Result<ScratchDir> {
        ScratchDir::new(&self.layout, prefix)
    }
}

/// Where an addition assembles its object: `object` inside a scratch
/// directory.
pub(crate) struct Staging {
    pub(crate) object: PathBuf,
    _scratch: ScratchDir,
}

impl Staging {
    pub(crate) fn new(layout: &Layout) -> Result<Self> {
        let scratch = ScratchDir::new(layout, &format!("add-{}", std::process::id()))?;
        Ok(Staging {
            object: scratch.path().join("object"),
            _scratch: scratch,
        })
    }
}
