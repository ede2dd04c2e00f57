//! Entry points for the cargo-fuzz targets in `fuzz/` (`cache_s3`,
//! `cache_server_requests`) to the parsers of remote input that are
//! private to their modules. Hidden from the docs and not part of the
//! API: each is a thin wrapper over the function the server or the S3
//! backend calls, so what is fuzzed is what runs.

use crate::key::Key;

pub use crate::serve::fs::Root;
pub use crate::serve::range::Answer as RangeAnswer;
pub use crate::serve::store::Wanted as StoreWanted;

/// The `<Code>` an S3 error body names (the S3 backend's errors).
pub fn s3_error_code(text: &str) -> Option<String> {
    crate::s3::s3_error_code(text)
}

/// The name of the object `key` under an S3 cache's `prefix`, as the S3
/// backend sends it.
pub fn s3_object_name(prefix: &str, key: &Key) -> Result<String, String> {
    crate::s3::object_path(prefix, key)
        .map(|p| p.as_ref().to_owned())
        .map_err(|e| e.to_string())
}

/// What the server sends for a `Range` header over `len` bytes.
pub fn range(header: Option<&[u8]>, len: u64) -> RangeAnswer {
    crate::serve::range::answer(header, len)
}

/// The credentials an `Authorization: Bearer …` header carries.
pub fn bearer(header: &[u8]) -> Option<&[u8]> {
    crate::serve::token::bearer(header)
}

/// The digests a batch narinfo query's body asks for, or the status it
/// is refused with.
pub fn batch_body(body: &[u8], max: usize) -> Result<Vec<String>, u16> {
    crate::serve::batch_body(body, max).map_err(|s| s.as_u16())
}

/// The key a request path names, if any.
pub fn request_key(path: &str) -> Option<Key> {
    crate::serve::key_of(path)
}

/// What `--store` mode would make from the store for `key`.
pub fn store_wanted(key: &Key) -> Option<StoreWanted> {
    crate::serve::store::wanted(key)
}
