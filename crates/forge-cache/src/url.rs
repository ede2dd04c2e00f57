//! [`open`]: the backend a cache URL names (snix's `from_addr` shape).

use crate::backend::Backend;
use crate::error::CacheError;
use crate::file::FileBackend;
use crate::http::HttpBackend;

/// The backend a URL names: `file:///dir` or `http(s)://host/prefix`
/// (writable with the upload token in `FORGE_CACHE_TOKEN`, when set).
pub fn open(url: &str) -> Result<Box<dyn Backend>, CacheError> {
    let bad = |reason: &str| CacheError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme (expected file://, http:// or https://)"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "file" => Ok(Box::new(FileBackend::from_url(url)?)),
        "http" | "https" => {
            let backend = HttpBackend::new(url)?;
            Ok(Box::new(match std::env::var(crate::http::TOKEN_ENV) {
                Ok(token) if !token.trim().is_empty() => backend.with_token(&token),
                _ => backend,
            }))
        }
        "s3" => Err(bad("S3 caches are not supported yet")),
        _ => Err(bad(
            "unsupported scheme (expected file://, http:// or https://)",
        )),
    }
}
