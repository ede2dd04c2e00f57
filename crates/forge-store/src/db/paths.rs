//! Valid paths: lookups, registration with references and signatures,
//! invalidation, the reference graph.

use std::collections::{BTreeMap, BTreeSet};

use super::{parse_hash, parse_path, Db, PathInfo};
use crate::error::{DbContext, Result, StoreError};
use forge_core::hash::HashAlgo;
use forge_core::store_path::{StorePath, STORE_DIR};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// Inserts `infos` (those not valid yet) with their references and
/// signatures inside an open transaction.
pub(super) fn register_in(tx: &rusqlite::Transaction<'_>, infos: &[PathInfo]) -> Result<()> {
    let mut fresh = Vec::new();
    for info in infos {
        let changed = tx
            .execute(
                "INSERT INTO valid_paths (path, nar_blake3, nar_sha256, nar_size, registered_at,
                                              deriver, content_address, self_reference)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (path) DO NOTHING",
                params![
                    info.path.to_string(),
                    info.nar_blake3.to_string(),
                    info.nar_sha256.to_string(),
                    info.nar_size as i64,
                    info.registered_at,
                    info.deriver,
                    info.content_address,
                    info.self_reference,
                ],
            )
            .db(|| format!("registering {}", info.path))?;
        if changed == 1 {
            let id = tx.last_insert_rowid();
            if let Some(listing) = &info.listing {
                tx.execute(
                    "INSERT INTO path_listings (path_id, listing) VALUES (?1, ?2)",
                    params![id, listing],
                )
                .db(|| format!("recording the listing of {}", info.path))?;
            }
            fresh.push((id, info));
        }
    }
    for (id, info) in fresh {
        for r in &info.references {
            if *r == info.path {
                continue;
            }
            let ref_id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM valid_paths WHERE path = ?1",
                    [r.to_string()],
                    |row| row.get(0),
                )
                .optional()
                .db(|| format!("looking up reference {r}"))?;
            let ref_id = ref_id.ok_or_else(|| StoreError::NotValid(r.clone()))?;
            tx.execute(
                "INSERT INTO refs (referrer, reference) VALUES (?1, ?2)",
                params![id, ref_id],
            )
            .db(|| format!("recording reference {} -> {r}", info.path))?;
        }
        for sig in &info.signatures {
            tx.execute(
                "INSERT OR IGNORE INTO path_signatures (path_id, signature) VALUES (?1, ?2)",
                params![id, sig],
            )
            .db(|| format!("recording signature of {}", info.path))?;
        }
    }
    Ok(())
}

impl Db {
    /// Whether `path` is registered as valid.
    pub fn is_valid(&self, path: &StorePath) -> Result<bool> {
        self.path_id(path).map(|id| id.is_some())
    }

    /// The valid path whose digest is `hash_part` (32 base32 characters), if
    /// any. Uses the path index: `<store>/<hash>-` is a prefix of the path.
    pub fn valid_path_by_hash_part(&self, hash_part: &str) -> Result<Option<StorePath>> {
        let lo = format!("{STORE_DIR}/{hash_part}-");
        let hi = format!("{STORE_DIR}/{hash_part}.");
        let path: Option<String> = self
            .conn
            .prepare_cached("SELECT path FROM valid_paths WHERE path >= ?1 AND path < ?2 LIMIT 1")
            .and_then(|mut st| st.query_row([lo, hi], |r| r.get(0)).optional())
            .db(|| format!("looking up digest {hash_part}"))?;
        path.as_deref().map(parse_path).transpose()
    }

    pub(super) fn path_id(&self, path: &StorePath) -> Result<Option<i64>> {
        self.cached_row(
            "SELECT id FROM valid_paths WHERE path = ?1",
            [path.to_string()],
            |r| r.get(0),
        )
        .optional()
        .db(|| format!("looking up {path}"))
    }

    /// Everything recorded about `path`, or `None` if it is not valid.
    pub fn path_info(&self, path: &StorePath) -> Result<Option<PathInfo>> {
        let row = self
            .cached_row(
                "SELECT id, nar_blake3, nar_sha256, nar_size, registered_at, deriver,
                        content_address, self_reference
                 FROM valid_paths WHERE path = ?1",
                [path.to_string()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, bool>(7)?,
                    ))
                },
            )
            .optional()
            .db(|| format!("reading {path}"))?;
        let Some((id, b3, sha, size, at, deriver, ca, self_ref)) = row else {
            return Ok(None);
        };
        let references = self.strings(
            "SELECT p.path FROM refs r JOIN valid_paths p ON p.id = r.reference WHERE r.referrer = ?1",
            id,
        )?;
        let signatures = self.strings(
            "SELECT signature FROM path_signatures WHERE path_id = ?1",
            id,
        )?;
        Ok(Some(PathInfo {
            path: path.clone(),
            nar_blake3: parse_hash(&b3, HashAlgo::Blake3)?,
            nar_sha256: parse_hash(&sha, HashAlgo::Sha256)?,
            nar_size: size as u64,
            registered_at: at,
            deriver,
            content_address: ca,
            listing: None,
            self_reference: self_ref,
            references: references
                .iter()
                .map(|s| parse_path(s))
                .collect::<Result<_>>()?,
            signatures: signatures.into_iter().collect(),
        }))
    }

    /// `query_row` through the statement cache: the lookups a build makes
    /// for every input and output are prepared once per connection.
    pub(super) fn cached_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    pub(super) fn strings(&self, sql: &str, id: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(sql).db(|| sql.to_owned())?;
        let rows = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .db(|| sql.to_owned())?;
        rows.collect::<rusqlite::Result<_>>().db(|| sql.to_owned())
    }

    /// The valid paths that refer to `path` (not counting itself).
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>> {
        let Some(id) = self.path_id(path)? else {
            return Ok(BTreeSet::new());
        };
        self.strings(
            "SELECT p.path FROM refs r JOIN valid_paths p ON p.id = r.referrer WHERE r.reference = ?1",
            id,
        )?
        .iter()
        .map(|s| parse_path(s))
        .collect()
    }

    /// Registers `infos` as valid in one transaction. Paths already valid are
    /// left as they are. Every reference must be valid already or be in
    /// `infos`; otherwise nothing is registered.
    pub(crate) fn register(&mut self, infos: &[PathInfo]) -> Result<()> {
        self.register_realised(infos, &[])
    }

    /// The listing recorded for `path` at registration, if any (paths
    /// registered before schema version 3, or imported without one, have
    /// none).
    pub fn listing(&self, path: &StorePath) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT l.listing FROM path_listings l JOIN valid_paths p ON p.id = l.path_id
                 WHERE p.path = ?1",
                [path.to_string()],
                |r| r.get(0),
            )
            .optional()
            .db(|| format!("reading the listing of {path}"))
    }

    /// Every valid path with its id and NAR size.
    pub(crate) fn all_paths(&self) -> Result<Vec<(i64, StorePath, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, path, nar_size FROM valid_paths")
            .db(|| "listing valid paths".into())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .db(|| "listing valid paths".into())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, p, size) = row.db(|| "listing valid paths".into())?;
            out.push((id, parse_path(&p)?, size as u64));
        }
        Ok(out)
    }

    /// Every valid path.
    pub fn valid_paths(&self) -> Result<Vec<StorePath>> {
        Ok(self.all_paths()?.into_iter().map(|(_, p, _)| p).collect())
    }

    /// The whole reference graph as (referrer id, reference id) pairs.
    pub(crate) fn all_refs(&self) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT referrer, reference FROM refs")
            .db(|| "reading references".into())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .db(|| "reading references".into())?;
        rows.collect::<rusqlite::Result<_>>()
            .db(|| "reading references".into())
    }

    /// Invalidates the paths with these ids in one transaction. Fails, and
    /// changes nothing, if a remaining valid path still refers to one of them.
    pub(crate) fn invalidate(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting invalidation".into())?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM valid_paths WHERE id = ?1")
                .db(|| "invalidating".into())?;
            for id in ids {
                stmt.execute([id])
                    .db(|| format!("invalidating path #{id}"))?;
            }
        }
        tx.commit()
            .db(|| "committing invalidation (is a deleted path still referenced?)".into())
    }

    /// The references of every valid path, keyed by path (for closure
    /// computations that would otherwise issue one query per path).
    pub fn reference_graph(&self) -> Result<BTreeMap<StorePath, BTreeSet<StorePath>>> {
        let paths = self.all_paths()?;
        let by_id: BTreeMap<i64, &StorePath> = paths.iter().map(|(id, p, _)| (*id, p)).collect();
        let mut graph: BTreeMap<StorePath, BTreeSet<StorePath>> = paths
            .iter()
            .map(|(_, p, _)| (p.clone(), BTreeSet::new()))
            .collect();
        for (from, to) in self.all_refs()? {
            let (Some(f), Some(t)) = (by_id.get(&from), by_id.get(&to)) else {
                return Err(StoreError::Corrupt(format!(
                    "reference #{from} -> #{to} names a missing path"
                )));
            };
            graph
                .get_mut(*f)
                .expect("every id is in the graph")
                .insert((*t).clone());
        }
        Ok(graph)
    }
}
