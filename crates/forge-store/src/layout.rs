//! Where a store lives on the host.
//!
//! A store's *physical root* holds:
//!
//! ```text
//! <root>/store/<digest>-<name>   the objects (logical /forge/store/<digest>-<name>)
//! <root>/db/store.sqlite         the database (plus -wal and -shm files)
//! <root>/locks/gc.lock           shared by writers, exclusive for the garbage collector
//! <root>/locks/paths/<digest>    one lock per path being added
//! <root>/locks/db-open.lock      serialises creating the database
//! <root>/locks/builds/<hex>      one builder (or downloader) per action digest
//! <root>/locks/recipe-locks/<k>  one writer per recipe lock file (k: BLAKE3
//!                                of the lock file's path, 32 hex digits)
//! <root>/tmp/                    staging areas of additions, build and fetch
//!                                scratch directories (each `<dir>` beside its
//!                                `<dir>.lock`)
//! <root>/trash/                  objects being deleted by the garbage collector
//! <root>/cache/seeds/<k>.json    the seed cache (k: BLAKE3 of the declaration
//!                                file's path, 32 hex digits)
//! <root>/check/<base>.check      the last `--check` rebuild of a path, kept
//! <root>/logs/<aa>/<hex>.log.zst build logs by action digest (aa: its first
//!                                two hex digits); `.check.log.zst` for a
//!                                `--check` rebuild
//! <root>/logs/recipes/<k>        the last action digest built from a recipe
//!                                directory (k: BLAKE3 of its path)
//! ```
//!
//! `store/`, `tmp/` and `trash/` are on one filesystem so that moving an object
//! into place or out of the way is a single atomic `rename`. Every one of these
//! is named here and written through [`crate::Store`] (logs: by the build
//! engine's log writer, at the paths named here), so the layout is in one
//! place; see docs/store.md.

use std::path::{Path, PathBuf};

use forge_core::derivation::ActionDigest;
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

    /// Serialises openers while the database is created.
    pub fn db_open_lock(&self) -> PathBuf {
        self.root.join("locks").join("db-open.lock")
    }

    /// Where the per-derivation build locks live.
    pub fn build_locks_dir(&self) -> PathBuf {
        self.root.join("locks").join("builds")
    }

    /// The lock one builder (or downloader) of `digest` holds.
    pub fn build_lock(&self, digest: &ActionDigest) -> PathBuf {
        self.build_locks_dir().join(digest.as_hash().to_hex())
    }

    /// Where the guards of recipe lock files live.
    pub fn recipe_locks_dir(&self) -> PathBuf {
        self.root.join("locks").join("recipe-locks")
    }

    /// The guard held while the recipe lock file `lock_file` is written:
    /// named by the BLAKE3 of its path as given.
    pub fn recipe_lock(&self, lock_file: &Path) -> PathBuf {
        let key = blake3::hash(lock_file.as_os_str().as_encoded_bytes());
        self.recipe_locks_dir().join(&key.to_hex()[..32])
    }

    /// The seed cache.
    pub fn seed_cache_dir(&self) -> PathBuf {
        self.root.join("cache").join("seeds")
    }

    /// The seed cache entry of the declaration file `declaration` (the
    /// caller resolves it: the key is the path as given). `v3` in the key:
    /// entries are made only by imports that passed the seed trust rule.
    pub fn seed_cache_file(&self, declaration: &Path) -> PathBuf {
        let mut key = blake3::Hasher::new();
        key.update(b"forge:seed-cache:v3\0");
        key.update(declaration.as_os_str().as_encoded_bytes());
        let key = key.finalize();
        self.seed_cache_dir()
            .join(format!("{}.json", &key.to_hex()[..32]))
    }

    /// Where `--check` rebuilds are kept.
    pub fn check_dir(&self) -> PathBuf {
        self.root.join("check")
    }

    /// Where the `--check` rebuild of `path` is kept.
    pub fn check_tree(&self, path: &StorePath) -> PathBuf {
        self.check_dir().join(format!("{}.check", path.base_name()))
    }

    /// Build logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The log of the build of the derivation whose action digest has the
    /// hex `hex`.
    pub fn log_file(&self, hex: &str) -> PathBuf {
        self.logs_dir()
            .join(&hex[..2.min(hex.len())])
            .join(format!("{hex}.log.zst"))
    }

    /// The log of a `--check` rebuild of `hex`: beside the build's own,
    /// which stays the log of what was registered.
    pub fn check_log_file(&self, hex: &str) -> PathBuf {
        self.log_file(hex)
            .with_extension("")
            .with_extension("check.log.zst")
    }

    /// What forge recorded about the build of `hex` beside its log (the
    /// recipe, when, how it ended).
    pub fn build_record_file(&self, hex: &str) -> PathBuf {
        self.log_file(hex)
            .with_extension("")
            .with_extension("build.json")
    }

    /// The record of the last build of the recipe in `recipe_dir`.
    pub fn recipe_log_index(&self, recipe_dir: &Path) -> PathBuf {
        let key = blake3::hash(recipe_dir.as_os_str().as_encoded_bytes());
        self.logs_dir().join("recipes").join(key.to_hex().as_str())
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
