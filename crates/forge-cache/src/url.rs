//! [`open`]: the backend a cache URL names (snix's `from_addr` shape).

use crate::backend::Backend;
use crate::error::CacheError;
use crate::file::FileBackend;
use crate::http::HttpBackend;
use crate::s3::S3Backend;

/// The backend a URL names: `file:///dir`, `http(s)://host/prefix` or
/// `s3://bucket/prefix?endpoint=…&region=…` (credentials from the
/// environment; see [`S3Backend::new`]).
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
        "http" | "https" => Ok(Box::new(HttpBackend::new(url)?)),
        "s3" => Ok(Box::new(S3Backend::new(url)?)),
        _ => Err(bad(
            "unsupported scheme (expected file://, http://, https:// or s3://)",
        )),
    }
}
