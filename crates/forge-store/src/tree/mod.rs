//! Walking host trees: serialising them as NAR, copying them into the store
//! canonicalised, and hashing the NAR stream on the way.
//!
//! [`dump_tree`] is the one walker. It visits a tree in NAR order (directory
//! entries sorted bytewise), feeds a [`NarEncoder`], and when asked also
//! writes a canonical copy of every node it reads. Copying and hashing in
//! one pass means the hash is the hash of exactly the bytes that were
//! written, even if the source changes under us (a file that grows or shrinks
//! while being read is an error, not a silently wrong hash).
//!
//! The parts: `walk` (the NAR walker and its copy), `hash` (the hashing
//! sink), `canonical` (making and checking the canonical form), `remove`
//! (removing and measuring trees without following symlinks), `sparse`
//! (hole-preserving writes) and `listing` (the compact record of a tree's
//! shape that the cheap verify compares).

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use forge_core::nar::NarEncoder;

use crate::error::{IoContext, Result, StoreError};

mod canonical;
mod hash;
mod listing;
mod remove;
mod sparse;
mod walk;

pub(crate) use canonical::set_mtime;
pub use canonical::{canonicalise_in_place, check_canonical, NonCanonical};
pub use hash::{hash_tree, NarDigest, NarSink};
pub use listing::{decode_listing, encode_listing, listing, Listed, ListedKind};
pub use remove::{apparent_size, remove_tree, REMOVE_MAX_DEPTH};
pub use sparse::SparseWriter;
use walk::dump_node;

/// The modification time of every store object (Nix uses the same value).
pub const CANONICAL_MTIME: i64 = 1;

const CHUNK: usize = 1 << 20;

/// Writes at least this long bypass the sink's buffer when they can.
const DIRECT_MIN: usize = 128 * 1024;

/// Receives progress of a walk: called from the walking thread, often, so
/// keep it cheap. The store never prints; the CLI turns this into a bar.
pub trait Progress {
    /// `n` more bytes of file contents were read.
    fn bytes(&self, n: u64) {
        let _ = n;
    }
    /// One more node (file, symlink or directory) was visited.
    fn node(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Where [`dump_tree`] writes its canonical copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyTo<'a> {
    /// The path to create (must not exist).
    pub dest: &'a Path,
    /// The longest host path the copy may contain. The object will be
    /// renamed to a longer prefix later (`store/<digest>-<name>`, and
    /// `trash/…` when collected); the caller subtracts the difference so
    /// that every file stays reachable by path after those renames.
    pub max_path_len: usize,
}

/// Serialises the tree at `src` into `enc`. With `copy_to`, also recreates
/// it there, canonical: files 0444 or 0555, directories 0555, mtime 1, no
/// setuid/setgid/sticky bits, no extended attributes, no special files.
/// `copy_to` must not exist yet. `progress` hears of every node and byte
/// read ([`NoProgress`] for nothing).
pub fn dump_tree<W: Write>(
    src: &Path,
    enc: &mut NarEncoder<W>,
    copy_to: Option<CopyTo<'_>>,
    progress: &dyn Progress,
) -> Result<()> {
    let meta = fs::symlink_metadata(src).ctx("reading metadata of", src)?;
    let limit = copy_to.map_or(usize::MAX, |c| c.max_path_len);
    let ctx = Walk {
        path_limit: limit,
        progress,
    };
    dump_node(src, &meta, enc, copy_to.map(|c| c.dest), &ctx, 0)
}

/// The deepest tree the store holds: directory levels below an object's
/// top. Every walk of a store object recurses once per level, and a tree
/// much deeper than this cannot be reached by path anyway (PATH_MAX).
pub const MAX_DEPTH: usize = 256;

/// What [`dump_node`] carries down the tree.
struct Walk<'a> {
    path_limit: usize,
    progress: &'a dyn Progress,
}

fn too_deep(path: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(StoreError::TooDeep {
            path: path.to_owned(),
            limit: MAX_DEPTH,
        });
    }
    Ok(())
}

fn nar_err(path: &Path) -> impl FnOnce(forge_core::nar::NarWriteError) -> StoreError + '_ {
    move |source| {
        // The encoder wraps I/O errors of the sink and of our tee reader;
        // surface those as what they are.
        StoreError::Nar {
            path: path.to_owned(),
            source,
        }
    }
}

/// What a file type is called in messages ("FIFO", "regular file"…).
pub fn kind_name(ft: fs::FileType) -> &'static str {
    if ft.is_file() {
        "regular file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests;
