//! Importing a path from a NAR stream with the metadata someone claims for
//! it: the entry point of substitution and closure import (docs/store.md).
//!
//! [`Store::import_nar`] never trusts the claim. Before reading a byte it
//! refuses a path whose references are not valid here yet (a closure is
//! imported references first, so the store stays closed under references).
//! It then unpacks the stream into a staging directory, canonical as it is
//! written, hashing the bytes as they pass (BLAKE3 and SHA-256, and the
//! size); only if the size and every claimed hash agree, and a
//! content-addressed path's address is the one its contents give, is the
//! object renamed into place and registered, in one transaction. Anything
//! else leaves the store as it was: no object, no row, no staging area.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use forge_core::derivation::ActionDigest;
use forge_core::hash::Hash;
use forge_core::nar::read_nar;
use forge_core::store_path::StorePath;

use crate::db::{self, PathInfo};
use crate::error::{IoContext, Result, StoreError};
use crate::outputs::{digest_bytes, Rewriter, SELF_MASK};
use crate::restore::Restorer;
use crate::{tree, Staging, Store};

/// What a substituter (or a closure being imported) says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPath {
    /// The path.
    pub path: StorePath,
    /// The paths it refers to; may contain `path` itself (a self-reference).
    pub references: BTreeSet<StorePath>,
    /// SHA-256 of its NAR (a narinfo's `NarHash`), if claimed.
    pub nar_sha256: Option<Hash>,
    /// BLAKE3 of its NAR, if claimed.
    pub nar_blake3: Option<Hash>,
    /// The length of its NAR.
    pub nar_size: u64,
    /// The derivation that built it, if any.
    pub deriver: Option<ActionDigest>,
    /// How its digest derives from its contents: `nar:<blake3>` (an added
    /// tree) or `nar-masked:<blake3>` (a build output, self-references
    /// masked); `None` for a path whose address is not checkable here.
    pub content_address: Option<String>,
    /// Signatures, `keyname:base64`, recorded as they are (checking them
    /// against trusted keys is the substituter's job).
    pub signatures: BTreeSet<String>,
}

impl ClaimedPath {
    /// The claim that matches what `info` records (a self-reference back in
    /// `references`): what a store exporting the path would say.
    pub fn from_info(info: &PathInfo) -> Self {
        let mut references = info.references.clone();
        if info.self_reference {
            references.insert(info.path.clone());
        }
        ClaimedPath {
            path: info.path.clone(),
            references,
            nar_sha256: Some(info.nar_sha256),
            nar_blake3: Some(info.nar_blake3),
            nar_size: info.nar_size,
            deriver: info.deriver.as_deref().and_then(|d| d.parse().ok()),
            content_address: info.content_address.clone(),
            signatures: info.signatures.clone(),
        }
    }
}

/// A reader that hashes and counts what passes through it, and, for a
/// `nar-masked:` path, hashes it again with the path's own digest masked
/// (its content address), so the address is checked in the same pass.
struct Hashing<R> {
    inner: R,
    sink: tree::NarSink,
    masked: Option<Rewriter<tree::NarSink>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        if let Some(m) = &mut self.masked {
            m.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// The rewriter that masks `path`'s digest, as outputs are hashed.
fn masking(path: &StorePath) -> Rewriter<tree::NarSink> {
    Rewriter::new(
        tree::NarSink::new(false, None),
        vec![(digest_bytes(path), *SELF_MASK)],
    )
}

impl Store {
    /// Imports the NAR in `nar` as `claimed.path` (see the module docs).
    /// Returns what the store records: the existing record, without reading
    /// `nar`, if the path is valid already.
    pub fn import_nar(&mut self, nar: impl Read, claimed: &ClaimedPath) -> Result<PathInfo> {
        let path = &claimed.path;
        if claimed.nar_sha256.is_none() && claimed.nar_blake3.is_none() {
            return Err(StoreError::NoClaimedHash { path: path.clone() });
        }
        let _gc = self.lock_against_gc()?;
        if let Some(info) = self.db.path_info(path)? {
            return Ok(info);
        }
        for r in &claimed.references {
            if r != path && !self.db.is_valid(r)? {
                return Err(StoreError::MissingReference {
                    path: path.clone(),
                    reference: Box::new(r.clone()),
                });
            }
        }
        if !self.staging_swept {
            self.remove_stale_staging()?;
            self.staging_swept = true;
        }
        let staging = Staging::new(&self.layout)?;
        // Never more than the claimed size: an archive longer than claimed
        // is cut there and fails as truncated, and whatever follows it in
        // the stream is left unread.
        let masked = claimed
            .content_address
            .as_deref()
            .is_some_and(|ca| ca.starts_with("nar-masked:"));
        let mut reader = Hashing {
            inner: nar.take(claimed.nar_size),
            sink: tree::NarSink::new(true, None),
            masked: masked.then(|| masking(path)),
        };
        let mut restorer = Restorer::new(staging.object.clone());
        read_nar(&mut reader, &mut restorer).map_err(|source| StoreError::NarRead {
            path: path.clone(),
            source: Box::new(source),
        })?;
        let masked_blake3 = match reader.masked {
            Some(m) => {
                let (sink, _) = m.finish().ctx("hashing", &staging.object)?;
                Some(sink.finish().blake3)
            }
            None => None,
        };
        let digest = reader.sink.finish();
        let sha256 = digest.sha256.expect("the sink computes sha256");
        if digest.size != claimed.nar_size {
            return Err(StoreError::NarSizeMismatch {
                path: path.clone(),
                expected: claimed.nar_size,
                actual: digest.size,
            });
        }
        for (claim, actual) in [
            (claimed.nar_sha256, sha256),
            (claimed.nar_blake3, digest.blake3),
        ] {
            if let Some(expected) = claim {
                if expected != actual {
                    return Err(StoreError::NarHashMismatch {
                        path: path.clone(),
                        expected: Box::new(expected),
                        actual: Box::new(actual),
                    });
                }
            }
        }
        let self_reference = claimed.references.contains(path);
        self.check_content_address(claimed, &digest.blake3, masked_blake3, self_reference)?;
        crate::refuse_symlink_out_of_store(&staging.object, || path.to_string())?;
        let info = PathInfo {
            path: path.clone(),
            nar_blake3: digest.blake3,
            nar_sha256: sha256,
            nar_size: digest.size,
            registered_at: db::now(),
            deriver: claimed.deriver.map(|d| d.to_string()),
            content_address: claimed.content_address.clone(),
            self_reference,
            // As the database records them: a self-reference is the flag.
            references: claimed
                .references
                .iter()
                .filter(|r| *r != path)
                .cloned()
                .collect(),
            signatures: claimed.signatures.clone(),
            listing: Some(tree::encode_listing(&tree::listing(&staging.object)?)),
        };
        let already_valid = self.install(&staging.object, &info)?;
        if already_valid {
            // Another process imported it meanwhile.
            return self.path_info(path);
        }
        Ok(info)
    }

    /// Replaces the object of valid path `path` with the one `nar` holds,
    /// if that NAR is exactly the one recorded (its size, SHA-256 and
    /// BLAKE3): `forge store verify --repair`, with a NAR from a cache. The
    /// record is not touched; a NAR that differs from it changes nothing.
    pub fn repair_from_nar(&mut self, nar: impl Read, path: &StorePath) -> Result<()> {
        let _gc = self.lock_against_gc()?;
        let info = self
            .db
            .path_info(path)?
            .ok_or_else(|| StoreError::NotValid(path.clone()))?;
        if !self.staging_swept {
            self.remove_stale_staging()?;
            self.staging_swept = true;
        }
        let staging = Staging::new(&self.layout)?;
        let mut reader = Hashing {
            inner: nar.take(info.nar_size),
            sink: tree::NarSink::new(true, None),
            masked: None,
        };
        let mut restorer = Restorer::new(staging.object.clone());
        read_nar(&mut reader, &mut restorer).map_err(|source| StoreError::NarRead {
            path: path.clone(),
            source: Box::new(source),
        })?;
        let digest = reader.sink.finish();
        if digest.size != info.nar_size {
            return Err(StoreError::NarSizeMismatch {
                path: path.clone(),
                expected: info.nar_size,
                actual: digest.size,
            });
        }
        let sha256 = digest.sha256.expect("the sink computes sha256");
        for (expected, actual) in [(info.nar_sha256, sha256), (info.nar_blake3, digest.blake3)] {
            if expected != actual {
                return Err(StoreError::NarHashMismatch {
                    path: path.clone(),
                    expected: Box::new(expected),
                    actual: Box::new(actual),
                });
            }
        }
        let lock = crate::lock::FileLock::acquire(
            &self.layout.path_lock(path),
            crate::lock::LockMode::Exclusive,
        )?;
        let dest = self.layout.physical(path);
        let res = self.discard(&dest).and_then(|_| {
            crate::move_dir_entry(&staging.object, &dest).ctx("moving into the store", &dest)
        });
        lock.unlink_and_release()?;
        res
    }

    /// Checks that a content-addressed path is the address of the NAR
    /// read: `nar_blake3` is its hash, `masked_blake3` its hash with the
    /// path's own digest masked (computed for `nar-masked:` paths).
    fn check_content_address(
        &self,
        claimed: &ClaimedPath,
        nar_blake3: &Hash,
        masked_blake3: Option<Hash>,
        self_reference: bool,
    ) -> Result<()> {
        let Some(ca) = &claimed.content_address else {
            return Ok(());
        };
        let path = &claimed.path;
        let others: BTreeSet<StorePath> = claimed
            .references
            .iter()
            .filter(|r| *r != path)
            .cloned()
            .collect();
        let bad = |detail: String| StoreError::ContentAddressMismatch {
            path: path.clone(),
            detail: detail.into(),
        };
        let (hash, masked) = if let Some(h) = ca.strip_prefix("nar-masked:") {
            (h, true)
        } else if let Some(h) = ca.strip_prefix("nar:") {
            (h, false)
        } else {
            return Err(bad(format!("unknown content address {ca:?}")));
        };
        let hash: Hash = hash
            .parse()
            .map_err(|e| bad(format!("content address {ca:?}: {e}")))?;
        let actual = if masked {
            // The output's NAR with its own digest masked, as it was hashed
            // when it was built (computed while it was read).
            masked_blake3.ok_or_else(|| bad("the masked hash was not computed".into()))?
        } else {
            if self_reference {
                return Err(bad("a `nar:` path cannot refer to itself".into()));
            }
            *nar_blake3
        };
        if actual != hash {
            return Err(bad(format!(
                "its contents hash to {actual}, not {hash} as its content address says"
            )));
        }
        let computed = StorePath::content_addressed(
            path.name().clone(),
            &hash,
            &others,
            masked && self_reference,
        );
        if &computed != path {
            return Err(bad(format!(
                "its content address and references give {computed}"
            )));
        }
        Ok(())
    }
}
