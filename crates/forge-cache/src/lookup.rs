//! The lookup cache: what substituters answered for narinfos and
//! realisations, kept between runs (Nix's `binary-cache-v6.sqlite`), so a
//! build does not ask a cache again what it answered a moment ago
//! (docs/cache.md, "Substitution").
//!
//! An answer is kept [`POSITIVE_TTL`] when the object was there and
//! [`NEGATIVE_TTL`] when it was not: a path pushed meanwhile is found
//! soon. What is kept is the object's text, checked again (parsed,
//! signatures verified) every time it is used, so the lookup cache is
//! never trusted more than the cache itself. A narinfo whose NAR turns out
//! to be missing is forgotten and asked again (NixOS/nix#4478). Failures
//! of the lookup cache itself are logged and ignored: it only saves
//! requests.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::CacheError;

/// How long an answer "it is there" is kept.
pub const POSITIVE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an answer "it is not there" is kept.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Answers kept in an SQLite file (one per store: `<root>/substituter-lookups.sqlite`).
#[derive(Debug)]
pub struct LookupCache {
    conn: Mutex<rusqlite::Connection>,
    file: PathBuf,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

/// What the lookup cache knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Not asked, or the answer expired: ask the cache.
    Unknown,
    /// The cache said it does not have it.
    Absent,
    /// The cache sent these bytes.
    Present(Vec<u8>),
}

impl LookupCache {
    /// Opens (creating) the lookup cache in `file`, with the default TTLs.
    pub fn open(file: impl Into<PathBuf>) -> Result<LookupCache, CacheError> {
        Self::with_ttls(file, POSITIVE_TTL, NEGATIVE_TTL)
    }

    /// Opens it with other TTLs (tests).
    pub fn with_ttls(
        file: impl Into<PathBuf>,
        positive_ttl: Duration,
        negative_ttl: Duration,
    ) -> Result<LookupCache, CacheError> {
        let file = file.into();
        let fail = |e: rusqlite::Error| CacheError::Io {
            cache: "the substituter lookup cache".to_owned(),
            what: "opening",
            path: file.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
                cache: "the substituter lookup cache".to_owned(),
                what: "creating",
                path: dir.to_owned(),
                source,
            })?;
        }
        let conn = rusqlite::Connection::open(&file).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS lookups (
                 cache TEXT NOT NULL,
                 key TEXT NOT NULL,
                 asked_at INTEGER NOT NULL,
                 value BLOB,
                 PRIMARY KEY (cache, key)
             );",
        )
        .map_err(fail)?;
        Ok(LookupCache {
            conn: Mutex::new(conn),
            file,
            positive_ttl,
            negative_ttl,
        })
    }

    /// The file it lives in.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// What is known of `key` in `cache`, if the answer has not expired.
    pub fn get(&self, cache: &str, key: &str) -> Known {
        let row: rusqlite::Result<Row> = self.lock().query_row(
            "SELECT asked_at, value FROM lookups WHERE cache = ?1 AND key = ?2",
            (cache, key),
            |r| Ok((r.get(0)?, r.get(1)?)),
        );
        let (asked_at, value) = match row {
            Ok(r) => r,
            Err(rusqlite::Error::QueryReturnedNoRows) => return Known::Unknown,
            Err(e) => {
                tracing::debug!("lookup cache {}: {e}", self.file.display());
                return Known::Unknown;
            }
        };
        let age = now().saturating_sub(asked_at);
        let ttl = if value.is_some() {
            self.positive_ttl
        } else {
            self.negative_ttl
        };
        if u64::try_from(age).unwrap_or(u64::MAX) >= ttl.as_secs() {
            return Known::Unknown;
        }
        match value {
            Some(v) => Known::Present(v),
            None => Known::Absent,
        }
    }

    /// Records the answer for `key` in `cache`: its bytes, or `None` for
    /// "not there".
    pub fn put(&self, cache: &str, key: &str, value: Option<&[u8]>) {
        let r = self.lock().execute(
            "INSERT OR REPLACE INTO lookups (cache, key, asked_at, value) VALUES (?1, ?2, ?3, ?4)",
            (cache, key, now(), value),
        );
        if let Err(e) = r {
            tracing::debug!("lookup cache {}: {e}", self.file.display());
        }
    }

    /// Forgets the answer for `key` in `cache` (it turned out wrong).
    pub fn forget(&self, cache: &str, key: &str) {
        let r = self.lock().execute(
            "DELETE FROM lookups WHERE cache = ?1 AND key = ?2",
            (cache, key),
        );
        if let Err(e) = r {
            tracing::debug!("lookup cache {}: {e}", self.file.display());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A row: when it was asked, and the bytes (none: not there).
type Row = (i64, Option<Vec<u8>>);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_their_ttl_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.sqlite");
        let c = LookupCache::open(&file).unwrap();
        assert_eq!(c.get("file:///c", "a.narinfo"), Known::Unknown);
        c.put("file:///c", "a.narinfo", None);
        c.put("file:///c", "b.narinfo", Some(b"StorePath: x\n"));
        assert_eq!(c.get("file:///c", "a.narinfo"), Known::Absent);
        assert_eq!(
            c.get("file:///c", "b.narinfo"),
            Known::Present(b"StorePath: x\n".to_vec())
        );
        // Another cache's answers are its own.
        assert_eq!(c.get("file:///d", "b.narinfo"), Known::Unknown);
        // Kept between runs.
        drop(c);
        let c = LookupCache::open(&file).unwrap();
        assert_eq!(c.get("file:///c", "a.narinfo"), Known::Absent);
        c.forget("file:///c", "b.narinfo");
        assert_eq!(c.get("file:///c", "b.narinfo"), Known::Unknown);
        // With a TTL of zero nothing is fresh.
        let z = LookupCache::with_ttls(&file, Duration::ZERO, Duration::ZERO).unwrap();
        assert_eq!(z.get("file:///c", "a.narinfo"), Known::Unknown);
    }
}
