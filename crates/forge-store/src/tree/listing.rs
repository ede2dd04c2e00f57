//! A tree's listing: every node's relative path and kind, compactly
//! encoded, recorded at registration for the cheap verify.

use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{kind_name, too_deep};
use crate::error::{IoContext, Result, StoreError};

/// What a node of a [`listing`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListedKind {
    /// A directory.
    Directory,
    /// A regular file.
    File {
        /// Whether it is executable.
        executable: bool,
        /// Its size in bytes.
        size: u64,
    },
    /// A symlink, with its target.
    Symlink(Vec<u8>),
}

/// One node found by [`listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its path below the top: empty for the top, else `/a/b`.
    pub path: Vec<u8>,
    /// What it is.
    pub kind: ListedKind,
    /// Its permission bits (not part of the encoded listing).
    pub mode: u32,
}

/// The nodes of the tree at `root` in NAR order (entries sorted bytewise),
/// from one lstat walk: what the cheap verify compares with what was
/// registered.
pub fn listing(root: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    list_node(root, Vec::new(), 0, &mut out)?;
    Ok(out)
}

fn list_node(path: &Path, rel: Vec<u8>, depth: usize, out: &mut Vec<Listed>) -> Result<()> {
    too_deep(path, depth)?;
    let meta = fs::symlink_metadata(path).ctx("reading metadata of", path)?;
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    let kind = if ft.is_dir() {
        ListedKind::Directory
    } else if ft.is_file() {
        ListedKind::File {
            executable: meta.mode() & 0o100 != 0,
            size: meta.len(),
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path).ctx("reading symlink", path)?;
        ListedKind::Symlink(target.into_os_string().into_vec())
    } else {
        return Err(StoreError::SpecialFile {
            path: path.to_owned(),
            kind: kind_name(ft),
        });
    };
    let is_dir = kind == ListedKind::Directory;
    out.push(Listed {
        path: rel.clone(),
        kind,
        mode,
    });
    if is_dir {
        let mut names = Vec::new();
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            names.push(entry.ctx("reading directory", path)?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let mut child_rel = rel.clone();
            child_rel.push(b'/');
            child_rel.extend_from_slice(name.as_bytes());
            list_node(&path.join(&name), child_rel, depth + 1, out)?;
        }
    }
    Ok(())
}

/// The compact form of a listing stored in the database: per node
/// `<kind><detail>\0<path>\0` (see store-schema/0003_path_listings.sql).
pub fn encode_listing(nodes: &[Listed]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        match &n.kind {
            ListedKind::Directory => out.push(b'd'),
            ListedKind::File { executable, size } => {
                out.push(if *executable { b'x' } else { b'f' });
                out.extend_from_slice(size.to_string().as_bytes());
            }
            ListedKind::Symlink(target) => {
                out.push(b'l');
                out.extend_from_slice(target);
            }
        }
        out.push(0);
        out.extend_from_slice(&n.path);
        out.push(0);
    }
    out
}

/// Reads [`encode_listing`]'s form back as (path, kind) pairs; `None` if
/// it is malformed.
pub fn decode_listing(bytes: &[u8]) -> Option<Vec<(Vec<u8>, ListedKind)>> {
    let mut fields = bytes.split(|&b| b == 0);
    let mut out = Vec::new();
    loop {
        let head = fields.next()?;
        if head.is_empty() {
            // The empty piece after the final NUL.
            return fields.next().is_none().then_some(out);
        }
        let path = fields.next()?.to_vec();
        let (k, detail) = head.split_first()?;
        let size = || std::str::from_utf8(detail).ok()?.parse::<u64>().ok();
        let kind = match k {
            b'd' if detail.is_empty() => ListedKind::Directory,
            b'f' => ListedKind::File {
                executable: false,
                size: size()?,
            },
            b'x' => ListedKind::File {
                executable: true,
                size: size()?,
            },
            b'l' => ListedKind::Symlink(detail.to_vec()),
            _ => return None,
        };
        out.push((path, kind));
    }
}
