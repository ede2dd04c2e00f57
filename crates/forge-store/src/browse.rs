//! Browsing store objects: locating a file inside a valid path and listing
//! directories, for `forge store cat` and `forge store ls` and for the cache
//! server. A walk never follows a symlink, so a path inside the store never
//! leads outside it.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use forge_core::store_path::StorePath;
use serde::Serialize;
use thiserror::Error;

use crate::error::StoreError;
use crate::Store;

/// Why a sub-path of a store path cannot be located or listed.
#[derive(Debug, Error)]
pub enum BrowseError {
    /// The store path itself is not valid (or the store failed).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `..`, `.` or a root in the sub-path; the caller names the argument.
    #[error("only plain components may follow the store path")]
    NotPlain,
    /// A component on the way is a symlink.
    #[error("{shown} is a symlink to {}; name its target instead", target.display())]
    Symlink {
        /// The store path and sub-path up to the symlink.
        shown: String,
        /// Where it points.
        target: PathBuf,
    },
    /// A component on the way is not a directory.
    #[error("{shown} is not a directory")]
    NotDirectory {
        /// The store path and sub-path up to it.
        shown: String,
    },
    /// The top of the object cannot be read.
    #[error("reading {path}")]
    Unreadable {
        /// The store path.
        path: StorePath,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A component does not exist.
    #[error("{shown} does not exist")]
    Missing {
        /// The store path and sub-path.
        shown: String,
        /// Why the lookup failed.
        #[source]
        source: io::Error,
    },
    /// Reading a directory or a link failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The host path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A file, directory or symlink found inside a store path.
#[derive(Debug)]
pub struct Located {
    /// Its host path.
    pub physical: PathBuf,
    /// Its metadata (not following a symlink).
    pub meta: fs::Metadata,
}

/// What a listed node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symlink.
    Symlink,
}

/// One node of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Its path relative to the listed directory (its own name when a
    /// single file was listed).
    pub name: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// A regular file's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Whether a regular file is executable.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// A symlink's target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BrowseError + '_ {
    move |source| BrowseError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Walks `sub` inside the valid path `path` without following symlinks.
    pub fn locate(&self, path: &StorePath, sub: &Path) -> Result<Located, BrowseError> {
        if !self.db.is_valid(path)? {
            return Err(StoreError::NotValid(path.clone()).into());
        }
        let mut cur = self.physical(path);
        let mut meta = fs::symlink_metadata(&cur).map_err(|source| BrowseError::Unreadable {
            path: path.clone(),
            source,
        })?;
        let mut shown = path.to_string();
        for comp in sub.components() {
            let Component::Normal(name) = comp else {
                return Err(BrowseError::NotPlain);
            };
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&cur).map_err(io_err(&cur))?;
                return Err(BrowseError::Symlink { shown, target });
            }
            if !meta.is_dir() {
                return Err(BrowseError::NotDirectory { shown });
            }
            cur.push(name);
            shown = format!("{shown}/{}", name.to_string_lossy());
            meta = fs::symlink_metadata(&cur).map_err(|source| BrowseError::Missing {
                shown: shown.clone(),
                source,
            })?;
        }
        Ok(Located {
            physical: cur,
            meta,
        })
    }

    /// Lists what `at` is: a directory's entries in NAR order (bytewise by
    /// name; with `recursive`, each directory followed by its contents), or
    /// the single node it is.
    pub fn list(&self, at: &Located, recursive: bool) -> Result<Vec<Entry>, BrowseError> {
        let mut entries = Vec::new();
        if at.meta.is_dir() {
            list_dir(&at.physical, Path::new(""), recursive, &mut entries)?;
        } else {
            let name = at
                .physical
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            entries.push(entry_for(&at.physical, name, &at.meta)?);
        }
        Ok(entries)
    }
}

fn entry_for(physical: &Path, name: String, meta: &fs::Metadata) -> Result<Entry, BrowseError> {
    let ft = meta.file_type();
    let (kind, size, executable, target) = if ft.is_symlink() {
        let target = fs::read_link(physical).map_err(io_err(physical))?;
        (
            EntryKind::Symlink,
            None,
            false,
            Some(target.to_string_lossy().into_owned()),
        )
    } else if ft.is_dir() {
        (EntryKind::Directory, None, false, None)
    } else {
        (
            EntryKind::Regular,
            Some(meta.size()),
            meta.permissions().mode() & 0o100 != 0,
            None,
        )
    };
    Ok(Entry {
        name,
        kind,
        size,
        executable,
        target,
    })
}

fn list_dir(
    dir: &Path,
    prefix: &Path,
    recursive: bool,
    out: &mut Vec<Entry>,
) -> Result<(), BrowseError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(io_err(dir))?;
    names.sort_by(|a: &std::ffi::OsString, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let p = dir.join(&name);
        let meta = fs::symlink_metadata(&p).map_err(io_err(&p))?;
        let shown = prefix.join(&name);
        out.push(entry_for(&p, shown.to_string_lossy().into_owned(), &meta)?);
        if recursive && meta.is_dir() {
            list_dir(&p, &shown, recursive, out)?;
        }
    }
    Ok(())
}
