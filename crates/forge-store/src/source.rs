//! Hashing host trees (sources, seeds) with a cache.
//!
//! Hashing a source tree means reading every byte of it; a no-op build must
//! not. [`Store::hash_source`] first walks the tree with `lstat` only and
//! hashes, for every node, its relative path, type, size, mode, inode,
//! device, mtime and ctime into a *fingerprint*; if the source cache holds a
//! hash for that path at that fingerprint, that hash is the answer. Any
//! write to a file changes its ctime (which user space cannot set back), so
//! a stale hit needs a change within the timestamp granularity of the last
//! hashing: like git's "racy" entries, a tree with a node changed less than
//! two seconds before it was hashed is not cached.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::db::SourceHash;
use crate::error::{IoContext, Result};
use crate::{tree, Store};

/// Seconds within which a change makes a fingerprint unsafe to cache.
const RACY_SECONDS: i64 = 2;

/// Feeds what an lstat says of a file into a fingerprint: type and mode,
/// size, inode, device, mtime and ctime (any write changes the ctime, which
/// user space cannot set back).
pub fn hash_metadata(h: &mut blake3::Hasher, m: &fs::Metadata) {
    for v in [
        m.mode() as u64,
        m.size(),
        m.ino(),
        m.dev(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
    ] {
        h.update(&v.to_le_bytes());
    }
}

/// The fingerprint of the tree at `path`, and whether it is safe to cache
/// (no node changed in the last `RACY_SECONDS` seconds).
pub fn fingerprint(path: &Path) -> Result<(String, bool)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut h = blake3::Hasher::new();
    let mut newest = i64::MIN;
    let mut stack = vec![(path.to_owned(), Vec::<u8>::new())];
    while let Some((p, rel)) = stack.pop() {
        let m = fs::symlink_metadata(&p).ctx("reading metadata of", &p)?;
        newest = newest.max(m.mtime()).max(m.ctime());
        h.update(&(rel.len() as u64).to_le_bytes());
        h.update(&rel);
        hash_metadata(&mut h, &m);
        if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&p)
                .ctx("reading", &p)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<std::io::Result<_>>()
                .ctx("reading", &p)?;
            names.sort();
            // Reverse so that the stack pops in name order.
            for n in names.into_iter().rev() {
                let mut r = rel.clone();
                r.push(b'/');
                r.extend_from_slice(n.as_encoded_bytes());
                stack.push((p.join(&n), r));
            }
        }
    }
    Ok((
        h.finalize().to_hex().to_string(),
        newest < now - RACY_SECONDS,
    ))
}

impl Store {
    /// The NAR hashes of the host tree at `path` (BLAKE3, SHA-256, size),
    /// from the source cache when the tree is unchanged since it was last
    /// hashed, otherwise by reading it (and then cached).
    pub fn hash_source(&mut self, path: &Path) -> Result<SourceHash> {
        let abs = fs::canonicalize(path).ctx("resolving", path)?;
        let key = abs.to_string_lossy().into_owned();
        let (fp, cacheable) = fingerprint(&abs)?;
        if let Some(hit) = self.db.source_hash(&key, &fp)? {
            return Ok(hit);
        }
        let d = tree::hash_tree(&abs, true, None, &tree::NoProgress)?;
        let h = SourceHash {
            nar_blake3: d.blake3,
            nar_sha256: d.sha256.expect("asked for sha256"),
            nar_size: d.size,
        };
        // Hashing took time: if the tree changed meanwhile, do not cache.
        if cacheable && fingerprint(&abs)?.0 == fp {
            self.db.set_source_hash(&key, &fp, &h)?;
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_changes_the_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("t");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/f"), "one").unwrap();
        let (a, _) = fingerprint(&root).unwrap();
        assert_eq!(fingerprint(&root).unwrap().0, a);
        fs::write(root.join("sub/f"), "two").unwrap(); // same size
        let (b, racy_ok) = fingerprint(&root).unwrap();
        assert_ne!(a, b);
        assert!(!racy_ok, "a file changed just now is not cacheable");
        fs::write(root.join("sub/g"), "").unwrap();
        assert_ne!(fingerprint(&root).unwrap().0, b);
    }

    #[test]
    fn cached_hashes_match_real_ones_and_follow_changes() {
        let d = tempfile::tempdir().unwrap();
        let mut store = Store::open(d.path().join("root")).unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("f"), "one").unwrap();
        // Make the tree old enough to be cached.
        let old = nix::sys::time::TimeSpec::new(1_000_000, 0);
        for p in [src.join("f"), src.clone()] {
            nix::sys::stat::utimensat(
                None,
                &p,
                &old,
                &old,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        let first = store.hash_source(&src).unwrap();
        assert_eq!(
            first.nar_blake3,
            tree::hash_tree(&src, false, None, &tree::NoProgress)
                .unwrap()
                .blake3
        );
        // ctime is now, so nothing was cached yet; wait it out, then cache.
        std::thread::sleep(std::time::Duration::from_millis(
            RACY_SECONDS as u64 * 1000 + 1100,
        ));
        store.hash_source(&src).unwrap();
        let key = fs::canonicalize(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (fp, ok) = fingerprint(&src).unwrap();
        assert!(ok);
        assert_eq!(
            store.db().source_hash(&key, &fp).unwrap(),
            Some(first.clone())
        );
        fs::write(src.join("f"), "two").unwrap();
        let second = store.hash_source(&src).unwrap();
        assert_ne!(second.nar_blake3, first.nar_blake3);
        assert_eq!(
            second.nar_blake3,
            tree::hash_tree(&src, false, None, &tree::NoProgress)
                .unwrap()
                .blake3
        );
    }
}
