//! The canonical form of a store object (modes 0444/0555, mtime 1, no
//! set-id bits, no extended attributes, no special files): made in place,
//! and checked.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::{kind_name, too_deep, CANONICAL_MTIME};
use crate::error::{IoContext, Result, StoreError};

pub(crate) fn set_mtime(path: &Path) -> Result<()> {
    let t = TimeSpec::new(CANONICAL_MTIME, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(io::Error::from)
        .ctx("setting mtime of", path)
}

/// Makes the tree at `root` canonical where it lies, without copying it:
/// files 0444 or 0555, directories 0555, mtime 1, no set-id or sticky bits,
/// no extended attributes. For trees this process owns and nothing else
/// can reach any more (a finished build's outputs): moving them into the
/// store then costs a rename instead of a copy. Special files are refused,
/// and so is any path longer than `max_path_len` (see [`CopyTo`](super::CopyTo)).
pub fn canonicalise_in_place(root: &Path, max_path_len: usize) -> Result<()> {
    let meta = fs::symlink_metadata(root).ctx("reading metadata of", root)?;
    canonicalise_node(root, &meta, max_path_len, 0)
}

fn path_too_long(path: &Path, limit: usize) -> Result<()> {
    if path.as_os_str().len() > limit {
        return Err(StoreError::PathTooLong {
            path: path.to_owned(),
            excess: path.as_os_str().len() - limit,
        });
    }
    Ok(())
}

fn canonicalise_node(path: &Path, meta: &fs::Metadata, limit: usize, depth: usize) -> Result<()> {
    path_too_long(path, limit)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return set_mtime(path);
    }
    if !ft.is_file() && !ft.is_dir() {
        return Err(StoreError::SpecialFile {
            path: path.to_owned(),
            kind: kind_name(ft),
        });
    }
    if ft.is_dir() {
        // Readable and writable while its entries are fixed, whatever the
        // builder left (the owner may always chmod).
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .ctx("setting permissions of", path)?;
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            let entry = entry.ctx("reading directory", path)?;
            let child = entry.path();
            // Before touching it: a path too long for the kernel fails
            // with ENAMETOOLONG, which says less.
            path_too_long(&child, limit)?;
            too_deep(&child, depth + 1)?;
            let m = fs::symlink_metadata(&child).ctx("reading metadata of", &child)?;
            canonicalise_node(&child, &m, limit, depth + 1)?;
        }
    }
    if let Ok(attrs) = xattr::list(path) {
        for a in attrs {
            if a == "security.selinux" {
                continue; // the host's label, not the object's
            }
            xattr::remove(path, &a).ctx("removing extended attribute from", path)?;
        }
    }
    let mode = if ft.is_dir() || meta.mode() & 0o100 != 0 {
        0o555
    } else {
        0o444
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx("setting permissions of", path)?;
    set_mtime(path)
}

/// A deviation from the canonical form found by [`check_canonical`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NonCanonical {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// Lists every way the tree at `root` is not canonical (modes, mtimes,
/// extended attributes, special files).
pub fn check_canonical(root: &Path) -> Result<Vec<NonCanonical>> {
    let mut out = Vec::new();
    check_node(root, &mut out, 0)?;
    Ok(out)
}

fn check_node(path: &Path, out: &mut Vec<NonCanonical>, depth: usize) -> Result<()> {
    too_deep(path, depth)?;
    let meta = fs::symlink_metadata(path).ctx("reading metadata of", path)?;
    let mut problem = |p: String| {
        out.push(NonCanonical {
            path: path.to_owned(),
            problem: p,
        })
    };
    if meta.mtime() != CANONICAL_MTIME {
        problem(format!(
            "mtime is {}, expected {CANONICAL_MTIME}",
            meta.mtime()
        ));
    }
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    if ft.is_symlink() {
        return Ok(());
    }
    if ft.is_file() {
        if mode != 0o444 && mode != 0o555 {
            problem(format!("mode is {mode:04o}, expected 0444 or 0555"));
        }
    } else if ft.is_dir() {
        if mode != 0o555 {
            problem(format!("mode is {mode:04o}, expected 0555"));
        }
    } else {
        problem("special file".into());
        return Ok(());
    }
    if let Ok(attrs) = xattr::list(path) {
        // SELinux labels every file on hosts that run it; they are the
        // host's, not the object's, and Nix ignores them too.
        let attrs: Vec<_> = attrs.filter(|a| a != "security.selinux").collect();
        if !attrs.is_empty() {
            problem(format!("has extended attributes {attrs:?}"));
        }
    }
    if ft.is_dir() {
        let mut children = Vec::new();
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            children.push(entry.ctx("reading directory", path)?.path());
        }
        children.sort();
        for c in children {
            check_node(&c, out, depth + 1)?;
        }
    }
    Ok(())
}
