//! Derivations and realisations: the action cache, `(action digest,
//! output) -> path`.

use std::collections::BTreeSet;

use forge_core::store_path::StorePath;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::paths::register_in;
use super::{now, parse_path, Db, PathInfo};
use crate::error::{DbContext, Result, StoreError};

/// A realisation: an output of a derivation and the path it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Realisation {
    /// The derivation's action digest.
    pub action_digest: String,
    /// The output name.
    pub output: String,
    /// The store path it realised to.
    pub path: StorePath,
    /// Signatures over the realisation.
    pub signatures: BTreeSet<String>,
}

/// Records a realisation inside an open transaction; its path must be valid.
fn insert_realisation(tx: &rusqlite::Transaction<'_>, r: &Realisation) -> Result<()> {
    let path_id: i64 = tx
        .query_row(
            "SELECT id FROM valid_paths WHERE path = ?1",
            [r.path.to_string()],
            |row| row.get(0),
        )
        .optional()
        .db(|| format!("looking up {}", r.path))?
        .ok_or_else(|| StoreError::NotValid(r.path.clone()))?;
    tx.execute(
        "INSERT INTO realisations (action_digest, output, path_id, registered_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        params![r.action_digest, r.output, path_id, now()],
    )
    .db(|| format!("registering realisation {}!{}", r.action_digest, r.output))?;
    for sig in &r.signatures {
        tx.execute(
            "INSERT OR IGNORE INTO realisation_signatures (action_digest, output, signature)
                 VALUES (?1, ?2, ?3)",
            params![r.action_digest, r.output, sig],
        )
        .db(|| "recording realisation signature".into())?;
    }
    Ok(())
}

impl Db {
    /// Registers `infos` and the realisations `realisations` (whose paths
    /// are valid already or among `infos`) in one transaction: a build's
    /// outputs and the action-cache entries that name them appear together
    /// or not at all.
    pub(crate) fn register_realised(
        &mut self,
        infos: &[PathInfo],
        realisations: &[Realisation],
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting registration".into())?;
        register_in(&tx, infos)?;
        for r in realisations {
            insert_realisation(&tx, r)?;
        }
        tx.commit().db(|| "committing registration".into())
    }

    /// Records a derivation in its canonical serialisation with its outputs.
    pub(crate) fn register_derivation(
        &mut self,
        action_digest: &str,
        name: &str,
        canonical: &[u8],
        outputs: &BTreeSet<String>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting derivation registration".into())?;
        let n = tx
            .execute(
                "INSERT INTO derivations (action_digest, name, canonical, registered_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (action_digest) DO NOTHING",
                params![action_digest, name, canonical, now()],
            )
            .db(|| format!("registering derivation {action_digest}"))?;
        if n == 1 {
            let id = tx.last_insert_rowid();
            for out in outputs {
                tx.execute(
                    "INSERT INTO derivation_outputs (derivation_id, output) VALUES (?1, ?2)",
                    params![id, out],
                )
                .db(|| format!("registering output {out} of {action_digest}"))?;
            }
        }
        tx.commit().db(|| "committing derivation".into())
    }

    /// The canonical bytes and output names of a derivation, if known.
    pub fn derivation(&self, action_digest: &str) -> Result<Option<(Vec<u8>, BTreeSet<String>)>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT id, canonical FROM derivations WHERE action_digest = ?1",
                [action_digest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .db(|| format!("reading derivation {action_digest}"))?;
        let Some((id, canonical)) = row else {
            return Ok(None);
        };
        let outputs = self.strings(
            "SELECT output FROM derivation_outputs WHERE derivation_id = ?1",
            id,
        )?;
        Ok(Some((canonical, outputs.into_iter().collect())))
    }

    /// Records each realisation (`output` of `action_digest` realised to
    /// `path`, which must be valid) in one transaction: all or none. An
    /// existing realisation is kept (the first one wins; the build engine
    /// compares them).
    pub(crate) fn register_realisations(&mut self, rs: &[Realisation]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting realisation".into())?;
        for r in rs {
            insert_realisation(&tx, r)?;
        }
        tx.commit().db(|| "committing realisation".into())
    }

    /// For every valid path made by a build, the action digests of the
    /// derivations known to have made it: its recorded deriver and every
    /// realisation naming it (early cutoff lets several derivations realise
    /// to one path). The garbage collector's `keep_outputs` follows these.
    pub(crate) fn derivers_by_path(&self) -> Result<Vec<(i64, String)>> {
        let sql = "SELECT id, deriver FROM valid_paths WHERE deriver IS NOT NULL
                   UNION SELECT path_id, action_digest FROM realisations";
        let mut stmt = self.conn.prepare(sql).db(|| "reading derivers".into())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .db(|| "reading derivers".into())?;
        rows.collect::<rusqlite::Result<_>>()
            .db(|| "reading derivers".into())
    }

    /// The realisation of `output` of `action_digest`, if recorded.
    pub fn realisation(&self, action_digest: &str, output: &str) -> Result<Option<Realisation>> {
        let path: Option<String> = self
            .cached_row(
                "SELECT p.path FROM realisations r JOIN valid_paths p ON p.id = r.path_id
                 WHERE r.action_digest = ?1 AND r.output = ?2",
                [action_digest, output],
                |r| r.get(0),
            )
            .optional()
            .db(|| format!("reading realisation {action_digest}!{output}"))?;
        let Some(path) = path else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT signature FROM realisation_signatures WHERE action_digest = ?1 AND output = ?2",
            )
            .db(|| "reading realisation signatures".into())?;
        let sigs = stmt
            .query_map([action_digest, output], |r| r.get::<_, String>(0))
            .db(|| "reading realisation signatures".into())?
            .collect::<rusqlite::Result<BTreeSet<_>>>()
            .db(|| "reading realisation signatures".into())?;
        Ok(Some(Realisation {
            action_digest: action_digest.to_owned(),
            output: output.to_owned(),
            path: parse_path(&path)?,
            signatures: sigs,
        }))
    }
}
