//! The cached hashes of host trees (see `store-schema/0002_source_cache.sql`).

use super::{now, Db};
use crate::error::{DbContext, Result};
use forge_core::hash::Hash;
use rusqlite::{params, OptionalExtension};

/// A cached hash of a host tree (see `store-schema/0002_source_cache.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHash {
    /// BLAKE3 of the tree's NAR.
    pub nar_blake3: Hash,
    /// SHA-256 of the tree's NAR.
    pub nar_sha256: Hash,
    /// NAR size in bytes.
    pub nar_size: u64,
}

impl Db {
    /// The cached hash of `host_path` if its fingerprint is still `fingerprint`.
    pub fn source_hash(&self, host_path: &str, fingerprint: &str) -> Result<Option<SourceHash>> {
        let row: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT nar_blake3, nar_sha256, nar_size FROM source_cache
                 WHERE host_path = ?1 AND fingerprint = ?2",
                [host_path, fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .db(|| format!("reading the source cache for {host_path}"))?;
        let Some((b3, sha, size)) = row else {
            return Ok(None);
        };
        let (Ok(b3), Ok(sha)) = (b3.parse::<Hash>(), sha.parse::<Hash>()) else {
            return Ok(None); // a damaged row is only a cache miss
        };
        Ok(Some(SourceHash {
            nar_blake3: b3,
            nar_sha256: sha,
            nar_size: size as u64,
        }))
    }

    /// Records the hash of `host_path` at `fingerprint`.
    pub(crate) fn set_source_hash(
        &mut self,
        host_path: &str,
        fingerprint: &str,
        h: &SourceHash,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO source_cache (host_path, fingerprint, nar_blake3, nar_sha256, nar_size, checked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (host_path) DO UPDATE SET fingerprint = ?2, nar_blake3 = ?3,
                     nar_sha256 = ?4, nar_size = ?5, checked_at = ?6",
                params![
                    host_path,
                    fingerprint,
                    h.nar_blake3.to_string(),
                    h.nar_sha256.to_string(),
                    h.nar_size as i64,
                    now()
                ],
            )
            .db(|| format!("recording the source cache for {host_path}"))?;
        Ok(())
    }
}
