//! forge's immutable store: objects on disk, tracked in SQLite.
//!
//! A [`Store`] is a physical root on the host (see [`layout`]) holding
//! objects whose logical paths are `/forge/store/<digest>-<name>`, and a
//! database ([`db`]) that says which of them are *valid*: complete, canonical
//! and with known hashes and references. Only valid paths exist as far as the
//! rest of forge is concerned; anything else under the store directory is
//! leftover from an interrupted operation and is removed by the next attempt
//! or by the garbage collector.
//!
//! The invariants this crate keeps:
//!
//! - **Immutable and canonical.** Added trees are copied in, never moved or
//!   linked, and canonicalised on the way ([`tree`]): mode 0444/0555, mtime 1,
//!   no setuid/setgid, no extended attributes, no special files (a build's
//!   outputs, in the store's own scratch space, are canonicalised where they
//!   are and renamed in: [`outputs`]).
//! - **Content-addressed.** An added tree's path digest comes from the BLAKE3
//!   hash of its NAR and its references, so adding the same tree twice gives
//!   the same path and the second addition is a no-op.
//! - **Atomic.** An object is assembled in `tmp/`, renamed into `store/`,
//!   and only then registered, in one transaction with its references. A
//!   crash at any point leaves either nothing valid or a complete object.
//! - **Safe under concurrency.** Additions of one path are serialised by a
//!   per-path lock; additions hold the GC lock shared and the collector holds
//!   it exclusively; SQLite transactions do the rest.
//!
//! The store owns its whole physical layout ([`layout`]: objects, database,
//! locks, scratch directories, the seed cache, kept `--check` trees, logs)
//! and writes everything under its root but the build logs (streamed by the
//! build engine at [`Layout::log_file`]): objects and the database through
//! [`Store`], the build engine's locks, seed cache and kept checks through
//! [`BuildState`], which needs no database. Modules: [`db`], [`tree`],
//! [`outputs`], `import`, `restore` (a NAR into a tree), [`source`],
//! [`browse`], `action_cache`, `build_state`, `roots`, `scratch`, [`gc`],
//! [`verify`], [`lock`], [`error`], [`failpoint`]. Paths arriving from elsewhere
//! (substitution, closure import) come in through [`Store::import_nar`],
//! verified while they stream ([`ClaimedPath`]). The layout, the schema and
//! the algorithms are described in docs/store.md.
//!
//! The store knows nothing of recipes, sandboxes or caches: those layers call
//! into it.

mod action_cache;
pub mod browse;
mod build_state;
pub mod db;
pub mod error;
pub mod failpoint;
pub mod gc;
mod import;
pub mod layout;
pub mod lock;
pub mod outputs;
mod restore;
mod roots;
mod scratch;
pub mod source;
pub mod tree;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use forge_core::hash::Hash;
use forge_core::nar::NarEncoder;
use forge_core::refs::{Collection, RefScanner};
use forge_core::store_path::{StorePath, StorePathName};

pub use crate::build_state::{BuildState, RemovedSpecial};
pub use crate::db::{Db, GcRoot, PathInfo, Realisation, RootKind, SourceHash};
use crate::error::IoContext;
pub use crate::error::{Result, StoreError};
pub use crate::import::ClaimedPath;
pub use crate::layout::Layout;
use crate::lock::{FileLock, LockMode};
pub use crate::scratch::ScratchDir;
use crate::scratch::{unique_suffix, Staging};

/// The longest path the kernel accepts, without its terminating NUL.
const PATH_MAX_LEN: usize = libc::PATH_MAX as usize - 1;

/// Distinct digest-shaped strings remembered while adding before falling
/// back to a second scan against every valid path.
const REF_WINDOW_LIMIT: usize = 1 << 16;

/// An open store.
#[derive(Debug)]
pub struct Store {
    layout: Layout,
    db: Db,
    /// Whether this process already removed dead processes' staging areas.
    staging_swept: bool,
    /// The physical root with symlinks resolved, for containment checks.
    root_real: PathBuf,
}

/// The result of adding a tree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddOutcome {
    /// What the store now records about the path.
    pub info: PathInfo,
    /// True if the path was already valid and nothing was written.
    pub already_valid: bool,
}

impl Store {
    /// Opens the store at `root`, creating its directories and database if
    /// they do not exist and migrating the database if it is older.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let layout = Layout::new(root);
        for dir in layout.dirs() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .ctx("creating store directory", &dir)?;
        }
        // Creating the database (switching it to WAL) needs an exclusive
        // SQLite lock that does not wait on the busy timeout; serialise
        // openers so that a crowd opening a fresh store does not fail.
        let db = {
            let _open = FileLock::acquire(&layout.db_open_lock(), LockMode::Exclusive)?;
            Db::open(&layout.db_file())?
        };
        let root_real = fs::canonicalize(layout.root()).ctx("resolving", layout.root())?;
        Ok(Store {
            layout,
            db,
            staging_swept: false,
            root_real,
        })
    }

    /// The physical layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The physical location of `path`.
    pub fn physical(&self, path: &StorePath) -> PathBuf {
        self.layout.physical(path)
    }

    /// Takes the GC lock shared: while held, the collector cannot run, so
    /// paths the caller is about to reference cannot disappear.
    pub fn lock_against_gc(&self) -> Result<FileLock> {
        FileLock::acquire(&self.layout.gc_lock(), LockMode::Shared)
    }

    /// Adds the file or tree at `src` to the store by content.
    ///
    /// The tree is copied into a staging directory, canonicalised and hashed
    /// in one pass; its references are the valid store paths whose digests
    /// appear in its bytes. Its path is then computed from the NAR hash, the
    /// references and `name` (default: the sanitised file name of `src`).
    /// If that path is already valid the staging copy is dropped; otherwise
    /// it is renamed into place and registered in one transaction.
    ///
    /// `progress` hears of the copy ([`tree::NoProgress`] for nothing).
    pub fn add_path(
        &mut self,
        src: &Path,
        name: Option<StorePathName>,
        progress: &dyn tree::Progress,
    ) -> Result<AddOutcome> {
        self.add_path_scanning(src, name, true, progress)
    }

    /// Adds a tree that by definition refers to nothing (a source file, a
    /// download, a seed): no reference scan, so its path depends only on
    /// its bytes and name, never on what else this store holds.
    pub fn add_source(
        &mut self,
        src: &Path,
        name: StorePathName,
        progress: &dyn tree::Progress,
    ) -> Result<AddOutcome> {
        self.add_path_scanning(src, Some(name), false, progress)
    }

    fn add_path_scanning(
        &mut self,
        src: &Path,
        name: Option<StorePathName>,
        scan: bool,
        progress: &dyn tree::Progress,
    ) -> Result<AddOutcome> {
        let name = match name {
            Some(n) => n,
            None => {
                let base = src
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .or_else(|| {
                        fs::canonicalize(src)
                            .ok()
                            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    })
                    .unwrap_or_default();
                StorePathName::sanitize(&base)
            }
        };
        self.refuse_store_inside(src)?;
        refuse_symlink_out_of_store(src, || src.display().to_string())?;
        let _gc = self.lock_against_gc()?;
        if !self.staging_swept {
            self.remove_stale_staging()?;
            self.staging_swept = true;
        }
        let staging = Staging::new(&self.layout)?;
        // Every path in the copy must stay under PATH_MAX once the object is
        // renamed to its longer final (and, when collected, trash) location.
        let final_prefix = self.layout.store_dir().as_os_str().len() + 2 + 32 + name.as_str().len();
        let trash_prefix =
            self.layout.trash_dir().as_os_str().len() + 2 + 32 + name.as_str().len() + 13;
        let extra = final_prefix
            .max(trash_prefix)
            .saturating_sub(staging.object.as_os_str().len());
        let copy_to = tree::CopyTo {
            dest: &staging.object,
            max_path_len: PATH_MAX_LEN.saturating_sub(extra),
        };

        let sink = tree::NarSink::new(true, scan.then(|| RefScanner::collect(REF_WINDOW_LIMIT)));
        let mut enc = NarEncoder::new(sink).map_err(|source| StoreError::Nar {
            path: src.to_owned(),
            source,
        })?;
        tree::dump_tree(src, &mut enc, Some(copy_to), progress)?;
        let digest = enc
            .finish()
            .map_err(|source| StoreError::Nar {
                path: src.to_owned(),
                source,
            })?
            .finish();
        let references = if scan {
            self.resolve_references(digest.collection, &staging.object)?
        } else {
            BTreeSet::new()
        };
        failpoint::hit("add-after-copy");
        // The resolved references, as docs/store.md says: part of the identity.
        let path = StorePath::content_addressed(name, &digest.blake3, &references, false);
        let info = PathInfo {
            path: path.clone(),
            nar_blake3: digest.blake3,
            nar_sha256: digest.sha256.expect("sink computes sha256"),
            nar_size: digest.size,
            registered_at: db::now(),
            deriver: None,
            content_address: Some(format!("nar:{}", digest.blake3)),
            self_reference: false,
            references,
            signatures: BTreeSet::new(),
            listing: Some(tree::encode_listing(&tree::listing(&staging.object)?)),
        };
        let already_valid = self.install(&staging.object, &info)?;
        let info = if already_valid {
            self.path_info(&path)?
        } else {
            info
        };
        Ok(AddOutcome {
            info,
            already_valid,
        })
    }

    /// Turns the digest-shaped windows seen while copying into the valid
    /// paths they name. If there were too many windows to keep, scans the
    /// staged copy again against every valid path instead.
    fn resolve_references(
        &self,
        collection: Option<Collection>,
        staged: &Path,
    ) -> Result<BTreeSet<StorePath>> {
        match collection {
            Some(Collection::Windows(windows)) => {
                let mut refs = BTreeSet::new();
                for w in windows {
                    if let Some(p) = self.db.valid_path_by_hash_part(&w)? {
                        refs.insert(p);
                    }
                }
                Ok(refs)
            }
            Some(Collection::Overflowed) | None => {
                tracing::debug!("many digest-shaped strings: scanning against every valid path");
                let all = self.db.valid_paths()?;
                Ok(tree::hash_tree(
                    staged,
                    false,
                    Some(RefScanner::new(&all)),
                    &tree::NoProgress,
                )?
                .references)
            }
        }
    }

    /// Moves a complete, canonical object from `staged` into the store as
    /// `info.path` and registers it. Returns true if the path was already
    /// valid (then `staged` is left for the caller to drop). The caller must
    /// hold the GC lock shared.
    pub fn install(&mut self, staged: &Path, info: &PathInfo) -> Result<bool> {
        let lock = FileLock::acquire(&self.layout.path_lock(&info.path), LockMode::Exclusive)?;
        let res = self.install_locked(staged, info);
        lock.unlink_and_release()?;
        res
    }

    fn install_locked(&mut self, staged: &Path, info: &PathInfo) -> Result<bool> {
        if self.db.is_valid(&info.path)? {
            return Ok(true);
        }
        let dest = self.layout.physical(&info.path);
        // A leftover of a crash between rename and commit: never valid, and
        // nobody else can be installing it while we hold its lock.
        if fs::symlink_metadata(&dest).is_ok() {
            tracing::info!(path = %info.path, "removing invalid leftover before adding");
            self.discard(&dest)?;
        }
        move_dir_entry(staged, &dest).ctx("moving into the store", &dest)?;
        failpoint::hit("add-after-rename");
        if let Err(e) = self.db.register(std::slice::from_ref(info)) {
            // Not registered, so not valid: take it back out rather than
            // leave garbage (a crash here is cleaned up the same way later).
            let _ = self.discard(&dest);
            return Err(e);
        }
        failpoint::hit("add-after-commit");
        Ok(false)
    }

    /// Renames a non-valid object out of the store and deletes it. Returns
    /// the bytes freed.
    pub(crate) fn discard(&self, physical: &Path) -> Result<u64> {
        let trash = self.layout.trash_dir().join(format!(
            "{}-{}",
            physical
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            unique_suffix()
        ));
        match move_dir_entry(physical, &trash) {
            Ok(()) => tree::remove_tree(&trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).ctx("moving to trash", physical),
        }
    }

    /// Refuses a source that contains the store root: copying it would copy
    /// the staging area into itself.
    fn refuse_store_inside(&self, src: &Path) -> Result<()> {
        let Ok(src_real) = fs::canonicalize(src) else {
            return Ok(()); // a missing source fails with its own error later
        };
        if self.root_real.starts_with(&src_real) {
            return Err(StoreError::ContainsStore {
                path: src.to_owned(),
                root: self.layout.root().to_owned(),
            });
        }
        Ok(())
    }

    /// Everything recorded about `path`; an error if it is not valid.
    pub fn path_info(&self, path: &StorePath) -> Result<PathInfo> {
        self.db
            .path_info(path)?
            .ok_or_else(|| StoreError::NotValid(path.clone()))
    }

    /// Resolves a user's argument to a store path and a subpath inside it.
    /// Accepts a logical path (`/forge/store/…[/sub]`), a physical one
    /// (`<root>/store/…[/sub]`), or a symlink to either, such as `./result`.
    pub fn resolve(&self, arg: &Path) -> Result<(StorePath, PathBuf)> {
        if let Some((base, sub)) = self.layout.split_path(arg) {
            return Ok((StorePath::from_base_name(&base)?, sub));
        }
        // Follow symlinks one at a time: the final target may not exist on
        // the host (a logical path when the root is elsewhere).
        let mut cur = if arg.is_absolute() {
            arg.to_path_buf()
        } else {
            std::env::current_dir()
                .ctx("reading current directory", ".")?
                .join(arg)
        };
        for _ in 0..40 {
            if let Some((base, sub)) = self.layout.split_path(&cur) {
                return Ok((StorePath::from_base_name(&base)?, sub));
            }
            match fs::read_link(&cur) {
                Ok(target) => {
                    cur = cur.parent().unwrap_or(Path::new("/")).join(target);
                }
                Err(_) => break,
            }
        }
        if let Ok(real) = fs::canonicalize(&cur) {
            let store_real = fs::canonicalize(self.layout.store_dir())
                .unwrap_or_else(|_| self.layout.store_dir());
            if let Ok(rest) = real.strip_prefix(&store_real) {
                let logical = self.layout.store_dir().join(rest);
                if let Some((base, sub)) = self.layout.split_path(&logical) {
                    return Ok((StorePath::from_base_name(&base)?, sub));
                }
            }
        }
        if fs::symlink_metadata(arg).is_err() {
            return Err(StoreError::NoSuchFile {
                path: arg.to_owned(),
            });
        }
        Err(StoreError::OutsideStore {
            path: arg.to_owned(),
            store_dir: self.layout.store_dir(),
        })
    }

    /// The closure of `paths`: them and everything they refer to,
    /// transitively, in dependency order (every path after all of its
    /// references).
    pub fn closure(&self, paths: &[StorePath]) -> Result<Vec<StorePath>> {
        let mut refs: HashMap<StorePath, BTreeSet<StorePath>> = HashMap::new();
        let mut todo: Vec<StorePath> = paths.to_vec();
        while let Some(p) = todo.pop() {
            if refs.contains_key(&p) {
                continue;
            }
            let info = self.path_info(&p)?;
            todo.extend(info.references.iter().cloned());
            refs.insert(p, info.references);
        }
        Ok(topo_sort(&refs))
    }

    /// Writes the NAR serialisation of a valid path.
    pub fn dump(&self, path: &StorePath, out: impl Write) -> Result<()> {
        if !self.db.is_valid(path)? {
            return Err(StoreError::NotValid(path.clone()));
        }
        let physical = self.layout.physical(path);
        let nar_err = |source| StoreError::Nar {
            path: physical.clone(),
            source,
        };
        let mut enc =
            NarEncoder::new(std::io::BufWriter::with_capacity(1 << 16, out)).map_err(nar_err)?;
        tree::dump_tree(&physical, &mut enc, None, &tree::NoProgress)?;
        enc.finish()
            .map_err(nar_err)?
            .flush()
            .ctx("writing NAR of", &physical)?;
        Ok(())
    }
}

/// Renames `from` to `to`, keeping a directory's canonical mode and mtime.
///
/// Moving a directory to another parent rewrites its `..` entry, which an
/// unprivileged owner may only do while the directory is writable, and which
/// may touch its mtime. So a directory is made writable for the move and
/// canonical again after it.
pub(crate) fn move_dir_entry(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(from)?;
    if !meta.is_dir() {
        return fs::rename(from, to);
    }
    let mode = meta.permissions().mode() & 0o7777;
    fs::set_permissions(from, fs::Permissions::from_mode(0o700))?;
    if let Err(e) = fs::rename(from, to) {
        let _ = fs::set_permissions(from, fs::Permissions::from_mode(mode));
        return Err(e);
    }
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    let t = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        None,
        to,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

/// Refuses a top-level store object at `path` that is a symlink leading
/// out of the store: its target, taken lexically from the store directory
/// (where the object will live), must name something under
/// `/forge/store/`. `what` names the object in the error.
pub fn refuse_symlink_out_of_store(path: &Path, what: impl FnOnce() -> String) -> Result<()> {
    let meta = fs::symlink_metadata(path).ctx("reading metadata of", path)?;
    if !meta.file_type().is_symlink() {
        return Ok(());
    }
    let target = fs::read_link(path).ctx("reading symlink", path)?;
    if symlink_stays_in_store(&target) {
        return Ok(());
    }
    Err(StoreError::SymlinkOutOfStore {
        what: what(),
        target,
    })
}

/// Whether a symlink in the store directory with `target` names a path
/// strictly under the store directory (lexically: `..` climbs, never
/// above `/`).
pub fn symlink_stays_in_store(target: &Path) -> bool {
    use std::path::Component;
    let store = Path::new(forge_core::store_path::STORE_DIR);
    let mut parts: Vec<&std::ffi::OsStr> = if target.is_absolute() {
        Vec::new()
    } else {
        store
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect()
    };
    for c in target.components() {
        match c {
            Component::RootDir => parts.clear(),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(n) => parts.push(n),
            Component::Prefix(_) => return false,
        }
    }
    let resolved: PathBuf = std::iter::once(std::ffi::OsStr::new("/"))
        .chain(parts)
        .collect();
    resolved.starts_with(store) && resolved != store
}

/// Sorts a closed reference graph so that every path comes after its
/// references; ties are broken by path order so the output is stable.
pub fn topo_sort(refs: &HashMap<StorePath, BTreeSet<StorePath>>) -> Vec<StorePath> {
    let mut sorted: BTreeMap<&StorePath, &BTreeSet<StorePath>> = BTreeMap::new();
    sorted.extend(refs.iter());
    let mut state: HashMap<&StorePath, bool> = HashMap::new(); // false = visiting, true = done
    let mut out = Vec::with_capacity(refs.len());
    for &start in sorted.keys() {
        if state.contains_key(start) {
            continue;
        }
        // Iterative DFS emitting in post-order.
        let mut stack: Vec<(&StorePath, Vec<&StorePath>)> = Vec::new();
        state.insert(start, false);
        stack.push((start, sorted[start].iter().rev().collect()));
        while let Some((node, children)) = stack.last_mut() {
            if let Some(child) = children.pop() {
                if child == *node || state.contains_key(child) || !sorted.contains_key(child) {
                    continue;
                }
                state.insert(child, false);
                let grand = sorted[child].iter().rev().collect();
                stack.push((child, grand));
            } else {
                let node = *node;
                state.insert(node, true);
                out.push(node.clone());
                stack.pop();
            }
        }
    }
    out
}

/// Hashes the NAR of a host tree (BLAKE3, and SHA-256 if asked), as
/// `forge hash path` does, without touching any store.
pub fn hash_path(
    path: &Path,
    sha256: bool,
    progress: &dyn tree::Progress,
) -> Result<(Hash, Option<Hash>, u64)> {
    let d = tree::hash_tree(path, sha256, None, progress)?;
    Ok((d.blake3, d.sha256, d.size))
}
