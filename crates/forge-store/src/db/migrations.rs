//! The schema migrations (`store-schema/*.sql`) and applying them (see the
//! [parent module](super)).

use std::path::Path;

use super::{now, Db};
use crate::error::{DbContext, Result, StoreError};
use rusqlite::{params, TransactionBehavior};

/// The migrations, in order; migration `i` (1-based) moves to user_version `i`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial.sql",
        include_str!("../../../../store-schema/0001_initial.sql"),
    ),
    (
        "0002_source_cache.sql",
        include_str!("../../../../store-schema/0002_source_cache.sql"),
    ),
    (
        "0003_path_listings.sql",
        include_str!("../../../../store-schema/0003_path_listings.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

impl Db {
    fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .db(|| "reading schema version".into())
    }

    pub(super) fn migrate(&mut self, path: &Path) -> Result<()> {
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
}
