//! Adding and removing GC roots (the collector is in [`crate::gc`]).

use std::fs;
use std::path::{Path, PathBuf};

use forge_core::store_path::StorePath;

use crate::error::{IoContext, Result, StoreError};
use crate::{RootKind, Store};

impl Store {
    /// Adds a direct GC root named `name` for `path`.
    pub fn add_root(&mut self, name: &str, path: &StorePath) -> Result<()> {
        // Under the GC lock, so a collection cannot delete the path between
        // the validity check and the insert.
        let _gc = self.lock_against_gc()?;
        if name.is_empty() {
            return Err(StoreError::BadRoot {
                name: name.into(),
                reason: "the name is empty".into(),
            });
        }
        self.db.add_root(RootKind::Direct, name, Some(path))
    }

    /// Adds an indirect GC root: the symlink at `link` (made absolute) roots
    /// whatever store path it points to, for as long as it exists.
    pub fn add_indirect_root(&mut self, link: &Path) -> Result<PathBuf> {
        let abs = if link.is_absolute() {
            link.to_path_buf()
        } else {
            std::env::current_dir()
                .ctx("reading current directory", ".")?
                .join(link)
        };
        let Some(name) = abs.to_str().map(str::to_owned) else {
            return Err(StoreError::BadRoot {
                name: abs.to_string_lossy().into_owned(),
                reason: "the link's path is not valid UTF-8".into(),
            });
        };
        let _gc = self.lock_against_gc()?;
        let meta = fs::symlink_metadata(&abs).ctx("reading", &abs)?;
        if !meta.file_type().is_symlink() {
            return Err(StoreError::BadRoot {
                name: abs.display().to_string(),
                reason: "an indirect root must be a symlink into the store".into(),
            });
        }
        let (path, _) = self.resolve(&abs)?;
        if !self.db.is_valid(&path)? {
            return Err(StoreError::NotValid(path));
        }
        self.db.add_root(RootKind::Indirect, &name, None)?;
        Ok(abs)
    }

    /// Removes a root by name (a direct root's name or an indirect root's
    /// link path).
    pub fn remove_root(&mut self, name: &str) -> Result<()> {
        self.db.remove_root(name)
    }
}
