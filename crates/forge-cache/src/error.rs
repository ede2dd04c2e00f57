//! What can go wrong talking to a cache.

use std::path::PathBuf;

use thiserror::Error;

use crate::key::KeyError;

/// A failure of a cache backend, naming the cache and the object.
#[derive(Debug, Error)]
pub enum CacheError {
    /// The URL names no cache forge can use.
    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },
    /// A key that is not a cache object's name.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading or writing a local cache failed.
    #[error("{cache}: {what} {}: {source}", path.display())]
    Io {
        cache: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error status.
    #[error("{cache}: {key}: the server answered {status}")]
    Status {
        cache: String,
        key: String,
        status: u16,
    },
    /// The server could not be reached or the transfer broke off.
    #[error("{cache}: {key}: {message}")]
    Transport {
        cache: String,
        key: String,
        message: String,
    },
    /// An object the cache holds is not what its name says it is.
    #[error("{cache}: {key}: {message}")]
    Invalid {
        cache: String,
        key: String,
        message: String,
    },
    /// Writing to a cache that only reads.
    #[error("{cache}: this cache cannot be written to ({why})")]
    ReadOnly { cache: String, why: &'static str },
    /// `forge cache serve` could not listen where it was asked to.
    #[error("serving {cache}: listening on {addr}: {source}")]
    Listen {
        cache: String,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The server could not start (its directory, its runtime).
    #[error("serving {cache}: {what}: {source}")]
    ServeSetup {
        cache: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// `forge cache serve --store` could not open the store.
    #[error("serving {cache}: opening the store: {source}")]
    ServeStore {
        cache: String,
        #[source]
        source: Box<forge_store::StoreError>,
    },
    /// An upload token that cannot be used.
    #[error("the upload token file {}: {why}", path.display())]
    UploadToken { path: PathBuf, why: String },
    /// The object store refused the request: wrong credentials, or none
    /// that may do this (`reason`: S3's error code, such as
    /// `SignatureDoesNotMatch`, when the answer gave one).
    #[error("{cache}: {key}: access denied ({reason})")]
    Denied {
        cache: String,
        key: String,
        reason: String,
    },
    /// The bucket an `s3://` URL names does not exist.
    #[error("{cache}: there is no bucket `{bucket}`")]
    NoBucket { cache: String, bucket: String },
    /// An `s3://` cache without credentials in the environment.
    #[error("{cache}: no S3 credentials: {variable} is not set")]
    NoCredentials {
        cache: String,
        variable: &'static str,
    },
}

impl forge_core::diag::Hint for CacheError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            CacheError::Denied { .. } => Some(
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), and that they may read, write and list the bucket".into(),
            ),
            CacheError::NoBucket { .. } => {
                Some("create the bucket, or correct its name in the cache URL".into())
            }
            CacheError::NoCredentials { .. } => Some(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into(),
            ),
            _ => None,
        }
    }
}
