//! What the build engine keeps under the store root beside the objects:
//! build locks, the guards of recipe lock files, the seed cache and kept
//! `--check` rebuilds. The paths are [`Layout`]'s; this module does the
//! writing, so that nothing outside the store writes under its root
//! (docs/store.md).
//!
//! None of it touches the database, so it is a handle of its own,
//! [`BuildState`] ([`Store::build_state`]): a build engine that shares one
//! `Store` between threads behind a mutex takes a build lock (which may
//! wait for another process's build) or moves a large `--check` tree
//! without holding that mutex.

use std::fs;
use std::path::{Path, PathBuf};

use forge_core::derivation::ActionDigest;
use forge_core::store_path::StorePath;

use crate::error::{IoContext, Result};
use crate::lock::{FileLock, LockMode};
use crate::{tree, Layout, Store};

/// A special file removed from a kept `--check` rebuild: its path relative
/// to the output (`.` for the output itself) and its kind
/// ([`tree::kind_name`]).
pub type RemovedSpecial = (PathBuf, &'static str);

/// The build engine's files under a store root (see the module docs).
#[derive(Debug, Clone)]
pub struct BuildState {
    layout: Layout,
}

impl Store {
    /// The handle on the build engine's files under this store's root.
    pub fn build_state(&self) -> BuildState {
        BuildState {
            layout: self.layout.clone(),
        }
    }
}

impl BuildState {
    /// Takes the build lock of `digest` (`locks/builds/<hex>`) exclusively:
    /// one builder, or downloader, per derivation across processes. When
    /// another process holds it, `waiting` is called first with the pid
    /// that process recorded (if any), then this blocks. The holder's pid
    /// is recorded in the lock file.
    pub fn build_lock(
        &self,
        digest: &ActionDigest,
        waiting: impl FnOnce(Option<u32>),
    ) -> Result<FileLock> {
        let dir = self.layout.build_locks_dir();
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        let path = self.layout.build_lock(digest);
        let lock = match FileLock::try_acquire(&path, LockMode::Exclusive)? {
            Some(lock) => lock,
            None => {
                waiting(FileLock::holder(&path));
                FileLock::acquire(&path, LockMode::Exclusive)?
            }
        };
        lock.record_holder()?;
        Ok(lock)
    }

    /// Takes the guard of the recipe lock file `lock_file`
    /// (`locks/recipe-locks/<key>`) exclusively: one writer at a time per
    /// lock file.
    pub fn recipe_lock_guard(&self, lock_file: &Path) -> Result<FileLock> {
        let dir = self.layout.recipe_locks_dir();
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        FileLock::acquire(&self.layout.recipe_lock(lock_file), LockMode::Exclusive)
    }

    /// The seed cache entry recorded for the declaration file `declaration`
    /// (resolved through symlinks first), if there is one. The entry's
    /// format is the caller's; a missing or unreadable one is `None` (the
    /// cache is only an optimisation).
    pub fn seed_cache_entry(&self, declaration: &Path) -> Option<Vec<u8>> {
        fs::read(self.seed_cache_path(declaration)).ok()
    }

    /// Records `entry` as the seed cache entry of `declaration`, atomically
    /// (a reader sees the old entry or the new one). The caller may ignore
    /// a failure: the cache is only an optimisation.
    pub fn set_seed_cache_entry(&self, declaration: &Path, entry: &[u8]) -> Result<()> {
        let file = self.seed_cache_path(declaration);
        let dir = self.layout.seed_cache_dir();
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        fs::write(&tmp, entry).ctx("writing", &tmp)?;
        fs::rename(&tmp, &file).ctx("renaming into place", &file)
    }

    fn seed_cache_path(&self, declaration: &Path) -> PathBuf {
        let abs = fs::canonicalize(declaration).unwrap_or_else(|_| declaration.to_owned());
        self.layout.seed_cache_file(&abs)
    }

    /// Where `--check` rebuilds are kept (`<root>/check`).
    pub fn check_dir(&self) -> PathBuf {
        self.layout.check_dir()
    }

    /// Moves a `--check` rebuild of `old` from `staged` to
    /// `<root>/check/<base>.check` (replacing an earlier one), as canonical
    /// as a store object (modes 0444/0555, mtime 1, no set-id bits, no
    /// extended attributes), without its special files, which are removed
    /// and returned: nothing a builder leaves there is a FIFO to block on, a
    /// world-writable directory or a set-id file.
    pub fn keep_check(
        &self,
        staged: &Path,
        old: &StorePath,
    ) -> Result<(PathBuf, Vec<RemovedSpecial>)> {
        let dir = self.layout.check_dir();
        fs::create_dir_all(&dir).ctx("creating", &dir)?;
        let dest = self.layout.check_tree(old);
        if fs::symlink_metadata(&dest).is_ok() {
            let _ = tree::remove_tree(&dest);
        }
        fs::rename(staged, &dest).ctx("keeping the rebuild at", &dest)?;
        let mut removed = Vec::new();
        remove_special_files(&dest, Path::new(""), &mut removed)
            .ctx("removing special files from", &dest)?;
        // (Unless the output itself was a special file, now gone.)
        if fs::symlink_metadata(&dest).is_ok() {
            tree::canonicalise_in_place(&dest, usize::MAX)?;
        }
        Ok((dest, removed))
    }
}

/// Unlinks every FIFO, socket and device under `path` (never following a
/// symlink); records each as (path relative to the top, kind).
fn remove_special_files(
    path: &Path,
    rel: &Path,
    removed: &mut Vec<RemovedSpecial>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        // Whatever mode the builder left: readable while it is walked
        // (canonicalised right after).
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(path)? {
            let name = entry?.file_name();
            remove_special_files(&path.join(&name), &rel.join(&name), removed)?;
        }
    } else if !ft.is_file() && !ft.is_symlink() {
        fs::remove_file(path)?;
        let shown = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        removed.push((shown.to_owned(), tree::kind_name(ft)));
    }
    Ok(())
}
