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

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::StorePath;
use rusqlite::Connection;
use serde::Serialize;

use crate::error::{Result, StoreError};

mod migrations;
mod paths;
mod realisations;
mod roots;
mod source_cache;

pub use migrations::{MIGRATIONS, SCHEMA_VERSION};
pub use realisations::Realisation;
pub use roots::{GcRoot, RootKind};
pub use source_cache::SourceHash;

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

    /// Raw connection, for tests and tools that need ad-hoc queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests;
