//! The [`Backend`] trait: what a cache's storage does.

use std::io::Read;
use std::path::Path;

use crate::error::CacheError;
use crate::key::Key;

/// Where a cache's objects live: a flat namespace of [`Key`]s, each a blob.
/// Reads stream (a NAR is never held whole); a write is all or nothing: a
/// reader sees the old object, the new one, or none, never part of one.
pub trait Backend: Send + Sync {
    /// How messages name the cache (its URL).
    fn name(&self) -> &str;

    /// The object at `key`, as a stream, or `None` if there is none.
    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError>;

    /// Whether there is an object at `key`.
    fn exists(&self, key: &Key) -> Result<bool, CacheError>;

    /// Stores what `data` yields at `key`, replacing what was there;
    /// returns the number of bytes written.
    fn put(&self, key: &Key, data: &mut dyn Read) -> Result<u64, CacheError>;

    /// Stores the file at `file` at `key`; the file may be moved into
    /// place rather than copied (a local cache renames it), so it is the
    /// caller's no more. Returns the number of bytes stored.
    fn put_file(&self, key: &Key, file: &Path) -> Result<u64, CacheError> {
        let mut f = std::fs::File::open(file).map_err(|source| CacheError::Io {
            cache: self.name().to_owned(),
            what: "reading",
            path: file.to_owned(),
            source,
        })?;
        self.put(key, &mut f)
    }

    /// The local directory the cache lives in, if it is one: scratch
    /// files made there can be moved in by [`Backend::put_file`].
    fn local_dir(&self) -> Option<&Path> {
        None
    }

    /// Reads the whole object at `key` (for small ones: narinfos,
    /// realisations), at most `limit` bytes; more is an error.
    fn get_small(&self, key: &Key, limit: u64) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(mut r) = self.get(key)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        (&mut r)
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CacheError::Transport {
                cache: self.name().to_owned(),
                key: key.to_string(),
                message: e.to_string(),
            })?;
        if buf.len() as u64 > limit {
            return Err(CacheError::Transport {
                cache: self.name().to_owned(),
                key: key.to_string(),
                message: format!("the object is larger than {limit} bytes"),
            });
        }
        Ok(Some(buf))
    }
}
