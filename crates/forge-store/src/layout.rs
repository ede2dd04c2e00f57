//! Where a store lives on the host.
//!
//! A store's *physical root* holds:
//!
//! ```text
//! <root>/store/<digest>-<name>   the objects (logical /forge/store/<digest>-<name>)
//! <root>/db/store.sqlite         the database (plus -wal and -shm files)
//! <root>/locks/gc.lock           shared by writers, exclusive for the garbage collector
//! <root>/locks/paths/<digest>    one lock per path being added
//! <root>/tmp/                    staging areas of additions in progress
//! <root>/trash/                  objects being deleted by the garbage collector
//! ```
//!
//! `store/`, `tmp/` and `trash/` are on one filesystem so that moving an object
//! into place or out of the way is a single atomic `rename`.

use std::path::{Path, PathBuf};

use forge_core::store_path::{StorePath, STORE_DIR};

/// The default physical root: `FORGE_ROOT` if set, else `/var/lib/forge` for
/// root, else `$XDG_DATA_HOME/forge` (`~/.local/share/forge`).
pub fn default_root() -> PathBuf {
    if let Some(root) = std::env::var_os("FORGE_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/forge");
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Path::new(&data).join("forge");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    Path::new(&home).join(".local/share/forge")
}

/// The physical paths of one store.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root` (made absolute against the current directory).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map(|cwd| cwd.join(&root))
                .unwrap_or(root)
        };
        Layout { root }
    }

    /// The physical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The physical directory behind the logical `/forge/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The database file.
    pub fn db_file(&self) -> PathBuf {
        self.root.join("db").join("store.sqlite")
    }

    /// The lock that writers hold shared and the garbage collector exclusively.
    pub fn gc_lock(&self) -> PathBuf {
        self.root.join("locks").join("gc.lock")
    }

    /// The lock taken while `path` is being added.
    pub fn path_lock(&self, path: &StorePath) -> PathBuf {
        self.root.join("locks").join("paths").join(path.hash_part())
    }

    /// Staging areas.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where deleted objects go before they are removed.
    pub fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// The physical location of a store path.
    pub fn physical(&self, path: &StorePath) -> PathBuf {
        self.store_dir().join(path.base_name())
    }

    /// The directories every store needs.
    pub(crate) fn dirs(&self) -> [PathBuf; 6] {
        [
            self.store_dir(),
            self.root.join("db"),
            self.root.join("locks"),
            self.root.join("locks").join("paths"),
            self.tmp_dir(),
            self.trash_dir(),
        ]
    }

    /// Maps a host path inside the physical store dir, or a logical path,
    /// to its store path and the remaining subpath (which may be empty).
    pub fn split_path(&self, path: &Path) -> Option<(String, PathBuf)> {
        let store = self.store_dir();
        let rest = path
            .strip_prefix(&store)
            .or_else(|_| path.strip_prefix(STORE_DIR))
            .ok()?;
        let mut comps = rest.components();
        let base = comps.next()?.as_os_str().to_str()?.to_owned();
        Some((base, comps.as_path().to_path_buf()))
    }
}
