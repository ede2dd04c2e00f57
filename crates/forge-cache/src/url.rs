//! [`open`]: the backend a cache URL names (snix's `from_addr` shape).

use crate::backend::Backend;
use crate::error::CacheError;
use crate::file::FileBackend;
use crate::http::HttpBackend;
use crate::s3::S3Backend;

/// The backend a URL names: `file:///dir`, `http(s)://host/prefix` or
/// `s3://bucket/prefix?endpoint=…&region=…` (credentials from the
/// environment; see [`S3Backend::new`]); an HTTP cache is writable
/// with the upload token in `FORGE_CACHE_TOKEN`, when set.
pub fn open(url: &str) -> Result<Box<dyn Backend>, CacheError> {
    let bad = |reason: &str| CacheError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme (expected file://, http://, https:// or s3://)"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "file" => Ok(Box::new(FileBackend::from_url(url)?)),
        "http" | "https" => {
            let backend = HttpBackend::new(url)?;
            Ok(Box::new(match std::env::var(crate::http::TOKEN_ENV) {
                Ok(token) if !token.trim().is_empty() => backend.with_token(&token),
                _ => backend,
            }))
        }
        "s3" => Ok(Box::new(S3Backend::new(url)?)),
        _ => Err(bad(
            "unsupported scheme (expected file://, http://, https:// or s3://)",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::key::Key;

    /// `FORGE_CACHE_TOKEN` makes an HTTP cache writable (the write is
    /// tried, here against a closed port) and a missing one keeps it
    /// read-only. No other test of this crate's unit tests opens an HTTP
    /// cache, so setting the variable here races with nothing.
    #[test]
    fn the_token_variable_makes_http_caches_writable() {
        let k = Key::new("x").unwrap();
        let url = "http://127.0.0.1:1";
        std::env::remove_var(crate::http::TOKEN_ENV);
        let err = open(url).unwrap().put(&k, &mut &b"x"[..]).unwrap_err();
        assert!(matches!(err, CacheError::ReadOnly { .. }), "{err}");
        std::env::set_var(crate::http::TOKEN_ENV, "t");
        let b = open(url).unwrap();
        std::env::remove_var(crate::http::TOKEN_ENV);
        let err = b.put(&k, &mut &b"x"[..]).unwrap_err();
        assert!(matches!(err, CacheError::Transport { .. }), "{err}");
    }
}
