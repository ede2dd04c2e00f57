//! The store database: SQLite in WAL mode, schema from `store-schema/`.
//!
//! Opening a database applies any migrations it lacks, each in its own
//! `BEGIN IMMEDIATE` transaction so that two processes opening a fresh store
//! at once cannot both apply one. A database whose `user_version` is higher
//! than the last migration this binary knows is refused: an older forge must
//! never write to a store laid out by a newer one.
//!
//! Connections use `journal_mode=WAL` (readers never block the writer),
//! `synchronous=NORMAL` (a committed transaction survives a crash of the
//! process; a power cut may lose the last transactions but never corrupts the
//! file), `foreign_keys=ON` and a long busy timeout, so concurrent `forge`
//! processes queue instead of failing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::{StorePath, STORE_DIR};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{DbContext, Result, StoreError};

/// The migrations, in order; migration `i` (1-based) moves to user_version `i`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial.sql",
        include_str!("../../../store-schema/0001_initial.sql"),
    ),
    (
        "0002_source_cache.sql",
        include_str!("../../../store-schema/0002_source_cache.sql"),
    ),
    (
        "0003_path_listings.sql",
        include_str!("../../../store-schema/0003_path_listings.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the store records about a valid path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathInfo {
    /// The path.
    pub path: StorePath,
    /// BLAKE3 of the NAR serialisation.
    pub nar_blake3: Hash,
    /// SHA-256 of the NAR serialisation (what Nix's narinfo calls NarHash).
    pub nar_sha256: Hash,
    /// Length of the NAR serialisation in bytes.
    pub nar_size: u64,
    /// Unix time of registration.
    pub registered_at: i64,
    /// Action digest of the derivation that built it, if any.
    pub deriver: Option<String>,
    /// How the digest was computed from the contents, if content-addressed.
    pub content_address: Option<String>,
    /// Whether the object mentions its own path.
    pub self_reference: bool,
    /// Other store paths the object mentions.
    pub references: BTreeSet<StorePath>,
    /// Signatures, `keyname:base64`.
    pub signatures: BTreeSet<String>,
    /// The object's listing ([`crate::tree::listing`]) to record with it at
    /// registration, for the cheap verify. Never read back by
    /// [`Db::path_info`] (see [`Db::listing`]).
    #[serde(skip)]
    pub listing: Option<Vec<u8>>,
}

/// A garbage-collector root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcRoot {
    /// `direct` or `indirect`.
    pub kind: RootKind,
    /// The root's name: a label for direct roots, the link's host path for
    /// indirect ones.
    pub name: String,
    /// The rooted store path (direct roots only).
    pub path: Option<StorePath>,
    /// Unix time the root was added.
    pub created_at: i64,
}

/// The two kinds of GC root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootKind {
    /// Names a store path.
    Direct,
    /// Names a symlink whose target is rooted while the link exists.
    Indirect,
}

impl RootKind {
    fn as_str(self) -> &'static str {
        match self {
            RootKind::Direct => "direct",
            RootKind::Indirect => "indirect",
        }
    }
}

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

/// A connection to a store database.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_path(s: &str) -> Result<StorePath> {
    StorePath::parse(s).map_err(|e| StoreError::Corrupt(format!("bad path in database: {e}")))
}

fn parse_hash(s: &str, algo: HashAlgo) -> Result<Hash> {
    Hash::parse_as(algo, s).map_err(|e| StoreError::Corrupt(format!("bad hash in database: {e}")))
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| StoreError::DatabaseOpen {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Every forge command opens and closes the database; checkpointing
        // the WAL on each close costs two fsyncs per command for nothing
        // (the WAL is durable; SQLite checkpoints it every 1000 pages).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(open_err)?;
        let mut db = Db { conn };
        db.migrate(path)?;
        Ok(db)
    }

    fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .db(|| "reading schema version".into())
    }

    fn migrate(&mut self, path: &Path) -> Result<()> {
        let too_new = |found| StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
            binary: concat!("forge ", env!("CARGO_PKG_VERSION")),
        };
        // Fast path: nothing to do.
        let current = self.user_version()?;
        if current > SCHEMA_VERSION {
            return Err(too_new(current));
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting migration".into())?;
        // Re-read under the write lock: another process may have migrated.
        let mut current: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .db(|| "reading schema version".into())?;
        if current > SCHEMA_VERSION {
            return Err(too_new(current));
        }
        while current < SCHEMA_VERSION {
            let (name, sql) = MIGRATIONS[current as usize];
            tx.execute_batch(sql)
                .db(|| format!("applying migration {name}"))?;
            current += 1;
            tx.pragma_update(None, "user_version", current)
                .db(|| format!("recording migration {name}"))?;
            tracing::debug!(migration = name, "applied store migration");
        }
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_by', ?1), ('created_at', ?2)",
            params![
                concat!("forge ", env!("CARGO_PKG_VERSION")),
                now().to_string()
            ],
        )
        .db(|| "recording store metadata".into())?;
        tx.commit().db(|| "committing migration".into())?;
        // Leave the schema (and its version, in the file header) in the
        // main file rather than only in the WAL, so that tools reading the
        // header see it.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .db(|| "checkpointing after migration".into())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.user_version()
    }

    /// Raw connection, for tests and tools that need ad-hoc queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

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

    fn path_id(&self, path: &StorePath) -> Result<Option<i64>> {
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
    fn cached_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    fn strings(&self, sql: &str, id: i64) -> Result<Vec<String>> {
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
    pub fn register(&mut self, infos: &[PathInfo]) -> Result<()> {
        self.register_realised(infos, &[])
    }

    /// Registers `infos` and the realisations `realisations` (whose paths
    /// are valid already or among `infos`) in one transaction: a build's
    /// outputs and the action-cache entries that name them appear together
    /// or not at all.
    pub fn register_realised(
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

    /// Adds signatures to a valid path.
    pub fn add_signatures(&mut self, path: &StorePath, sigs: &[String]) -> Result<()> {
        let id = self
            .path_id(path)?
            .ok_or_else(|| StoreError::NotValid(path.clone()))?;
        let tx = self.conn.transaction().db(|| "starting".into())?;
        for sig in sigs {
            tx.execute(
                "INSERT OR IGNORE INTO path_signatures (path_id, signature) VALUES (?1, ?2)",
                params![id, sig],
            )
            .db(|| format!("recording signature of {path}"))?;
        }
        tx.commit().db(|| "committing signatures".into())
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

    /// Adds or replaces a GC root.
    pub fn add_root(&mut self, kind: RootKind, name: &str, path: Option<&StorePath>) -> Result<()> {
        if let Some(p) = path {
            if !self.is_valid(p)? {
                return Err(StoreError::NotValid(p.clone()));
            }
        }
        self.conn
            .execute(
                "INSERT INTO gc_roots (kind, name, path, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, path = excluded.path",
                params![kind.as_str(), name, path.map(|p| p.to_string()), now()],
            )
            .db(|| format!("adding GC root {name:?}"))?;
        Ok(())
    }

    /// Removes a GC root by name.
    pub fn remove_root(&mut self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM gc_roots WHERE name = ?1", [name])
            .db(|| format!("removing GC root {name:?}"))?;
        if n == 0 {
            return Err(StoreError::NoSuchRoot(name.to_owned()));
        }
        Ok(())
    }

    /// Every GC root.
    pub fn roots(&self) -> Result<Vec<GcRoot>> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, name, path, created_at FROM gc_roots ORDER BY name")
            .db(|| "listing GC roots".into())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .db(|| "listing GC roots".into())?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, name, path, created_at) = row.db(|| "listing GC roots".into())?;
            out.push(GcRoot {
                kind: if kind == "direct" {
                    RootKind::Direct
                } else {
                    RootKind::Indirect
                },
                name,
                path: path.as_deref().map(parse_path).transpose()?,
                created_at,
            });
        }
        Ok(out)
    }

    /// Records a derivation in its canonical serialisation with its outputs.
    pub fn register_derivation(
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

    /// Records that `output` of `action_digest` realised to `path` (which must
    /// be valid). An existing realisation is kept (the first one wins; the
    /// build engine compares them).
    pub fn register_realisation(&mut self, r: &Realisation) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(|| "starting realisation".into())?;
        insert_realisation(&tx, r)?;
        tx.commit().db(|| "committing realisation".into())
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

/// Inserts `infos` (those not valid yet) with their references and
/// signatures inside an open transaction.
fn register_in(tx: &rusqlite::Transaction<'_>, infos: &[PathInfo]) -> Result<()> {
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
    pub fn set_source_hash(
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
