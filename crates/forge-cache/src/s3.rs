//! `s3://bucket/prefix?endpoint=…&region=…`: a cache in an S3 bucket (AWS
//! or any S3-compatible store: SeaweedFS, MinIO, Garage, R2), through the
//! `object_store` crate's S3 client.
//!
//! object_store is async; the [`Backend`] trait is not. The backend owns
//! a small tokio runtime (two worker threads) and blocks on it: `get`
//! hands back a reader that pulls the response body a chunk at a time
//! (never the whole object), `put` sends objects under [`PART_SIZE`] in
//! one PUT and larger ones as a multipart upload of [`PART_SIZE`] parts,
//! at most [`PARTS_IN_FLIGHT`] at once, so memory stays bounded whatever
//! the size; a failed multipart upload is aborted, so an object appears
//! whole or not at all. Calling it from inside another tokio runtime
//! needs `spawn_blocking`, as for any blocking I/O.
//!
//! Transient failures (5xx, throttling, timeouts, broken connections) are
//! retried by object_store ([`RETRIES`] times within [`RETRY_WINDOW`],
//! with exponential backoff); connecting times out after
//! [`CONNECT_TIMEOUT`], a request that stops sending after
//! [`READ_TIMEOUT`], and any request other than a download after
//! [`REQUEST_TIMEOUT`].

mod config;

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

pub use config::{ConfigError, S3Config, S3Url};

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;

/// Objects up to this size go up in one PUT; larger ones in parts of this
/// size (S3 allows 10,000 parts: objects up to 80 GiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at the same time.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a request may go without receiving anything.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Time allowed for a whole request other than a download (a HEAD, a
/// small PUT, one part of an upload); downloads have no overall limit,
/// only [`READ_TIMEOUT`], as a NAR may be large.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Retries of a request that failed transiently.
pub const RETRIES: usize = 4;

/// No retry starts later than this after the first attempt.
pub const RETRY_WINDOW: Duration = Duration::from_secs(90);

/// A cache in an S3 bucket: the object `a/b` is `<prefix>/a/b`.
#[derive(Debug)]
pub struct S3Backend {
    name: String,
    bucket: String,
    prefix: String,
    /// Downloads: no overall timeout.
    reads: Arc<AmazonS3>,
    /// Everything else.
    calls: Arc<AmazonS3>,
    runtime: tokio::runtime::Runtime,
    /// Whether the bucket is known to exist (checked at the first miss, as
    /// S3 answers 404 for a missing bucket and a missing object alike).
    bucket_seen: AtomicBool,
}

impl S3Backend {
    /// The cache `url` names, with credentials (and the region and
    /// endpoint when the URL gives none) from the process's environment.
    /// Nothing is sent until the first request.
    pub fn new(url: &str) -> Result<S3Backend, CacheError> {
        S3Backend::with_env(url, &|name| std::env::var(name).ok())
    }

    /// As [`S3Backend::new`], with `env` standing for the environment.
    pub fn with_env(
        url: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Backend, CacheError> {
        let name = url.trim_end_matches('/').to_owned();
        let config = S3Config::new(url, env).map_err(|e| match e {
            ConfigError::Url(reason) => CacheError::BadUrl {
                url: url.to_owned(),
                reason,
            },
            ConfigError::NoCredentials(variable) => CacheError::NoCredentials {
                cache: name.clone(),
                variable,
            },
        })?;
        S3Backend::from_config(name, &config)
    }

    /// The cache `config` describes, named `name` in messages.
    pub fn from_config(name: String, config: &S3Config) -> Result<S3Backend, CacheError> {
        // reqwest's TLS needs a process-wide provider; ring is forge's.
        // Already installed (by us or the program) is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bad = |e: object_store::Error| CacheError::BadUrl {
            url: name.clone(),
            reason: e.to_string(),
        };
        let client = ClientOptions::new()
            .with_allow_http(config.allow_http)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_read_timeout(READ_TIMEOUT);
        let reads = builder(config, client.clone().with_timeout_disabled())
            .build()
            .map_err(bad)?;
        let calls = builder(config, client.with_timeout(REQUEST_TIMEOUT))
            .build()
            .map_err(bad)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("forge-s3")
            .enable_all()
            .build()
            .map_err(|e| CacheError::Transport {
                cache: name.clone(),
                key: String::new(),
                message: format!("cannot start the S3 client's runtime: {e}"),
            })?;
        Ok(S3Backend {
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
            name,
            reads: Arc::new(reads),
            calls: Arc::new(calls),
            runtime,
            bucket_seen: AtomicBool::new(false),
        })
    }

    fn path(&self, key: &Key) -> Result<Path, CacheError> {
        object_path(&self.prefix, key).map_err(|e| CacheError::BadUrl {
            url: self.name.clone(),
            reason: e.to_string(),
        })
    }

    /// An error of object_store's, as the cache's.
    fn fail(&self, key: &Key, e: object_store::Error) -> CacheError {
        let text = chain(&e);
        let code = s3_error_code(&text);
        if code.as_deref() == Some("NoSuchBucket") {
            return self.no_bucket();
        }
        let denied = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        );
        if denied {
            return CacheError::Denied {
                cache: self.name.clone(),
                key: key.to_string(),
                reason: match code {
                    Some(code) => code,
                    // A HEAD answer has no body to say why.
                    None => "the server answered 403".to_owned(),
                },
            };
        }
        CacheError::Transport {
            cache: self.name.clone(),
            key: key.to_string(),
            message: text,
        }
    }

    fn no_bucket(&self) -> CacheError {
        CacheError::NoBucket {
            cache: self.name.clone(),
            bucket: self.bucket.clone(),
        }
    }

    /// After a 404: the object is missing, or (checked once) the bucket.
    fn missing(&self, key: &Key) -> Result<(), CacheError> {
        if self.bucket_seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        let prefix = self.path(key)?;
        let listing = self
            .runtime
            .block_on(self.calls.list_with_delimiter(Some(&prefix)));
        match listing {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Err(self.no_bucket()),
            Err(e) => {
                let e = self.fail(key, e);
                if matches!(e, CacheError::NoBucket { .. }) {
                    return Err(e);
                }
                // Listing not allowed (or failing): the miss stands, and
                // is checked again next time.
                return Ok(());
            }
        }
        self.bucket_seen.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn put_multipart(
        &self,
        key: &Key,
        path: &Path,
        first: Vec<u8>,
        data: &mut dyn Read,
    ) -> Result<u64, CacheError> {
        let upload = self
            .runtime
            .block_on(self.calls.put_multipart(path))
            .map_err(|e| self.fail(key, e))?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut total = 0u64;
        let mut part = first;
        let sent: Result<(), CacheError> = loop {
            if part.is_empty() {
                break Ok(());
            }
            if let Err(e) = self
                .runtime
                .block_on(parts.wait_for_capacity(PARTS_IN_FLIGHT))
            {
                break Err(self.fail(key, e));
            }
            total += part.len() as u64;
            {
                // Each part is sent by a task on the runtime.
                let _in_runtime = self.runtime.enter();
                parts.put(Bytes::from(part));
            }
            part = match read_part(data) {
                Ok(p) => p,
                Err(e) => break Err(self.read_error(key, e)),
            };
        };
        match sent {
            Ok(()) => match self.runtime.block_on(parts.finish()) {
                // finish aborts the upload itself when it fails.
                Ok(_) => Ok(total),
                Err(e) => Err(self.fail(key, e)),
            },
            Err(e) => {
                // Best effort: an upload left behind is invisible (no
                // object appears) and the bucket's lifecycle rules or a
                // later abort clean its parts.
                let _ = self.runtime.block_on(parts.abort());
                Err(e)
            }
        }
    }

    fn read_error(&self, key: &Key, e: io::Error) -> CacheError {
        CacheError::Transport {
            cache: self.name.clone(),
            key: key.to_string(),
            message: format!("reading what to upload: {e}"),
        }
    }
}

/// The object `key` is under `prefix`: `<prefix>/<key>`. Keys and
/// prefixes are valid object_store paths (no empty, `.` or `..` component,
/// no control character); parsing keeps them as they are, so the object's
/// name is the key (fuzzed: `cache_s3`).
pub(crate) fn object_path(prefix: &str, key: &Key) -> Result<Path, object_store::path::Error> {
    if prefix.is_empty() {
        Path::parse(key.as_str())
    } else {
        Path::parse(format!("{prefix}/{}", key.as_str()))
    }
}

fn builder(config: &S3Config, client: ClientOptions) -> AmazonS3Builder {
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_access_key_id(&config.access_key_id)
        .with_secret_access_key(&config.secret_access_key)
        .with_allow_http(config.allow_http)
        .with_client_options(client)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: RETRIES,
            retry_timeout: RETRY_WINDOW,
        });
    if let Some(token) = &config.session_token {
        b = b.with_token(token);
    }
    b = match &config.endpoint {
        // Other stores: `<endpoint>/<bucket>/<key>`, which all of them
        // answer.
        Some(endpoint) => b
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false),
        // AWS: `<bucket>.s3.<region>.amazonaws.com/<key>`, as it asks.
        None => b.with_virtual_hosted_style_request(true),
    };
    b
}

/// Up to [`PART_SIZE`] bytes of `data` (fewer only at its end).
fn read_part(data: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_SIZE);
    data.take(PART_SIZE as u64).read_to_end(&mut part)?;
    Ok(part)
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// The `<Code>` of an S3 error body found in `text` (`NoSuchBucket`,
/// `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `AccessDenied`): the
/// first one, if it is a plain word.
pub(crate) fn s3_error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| code.to_owned())
}

/// A streaming download: the body arrives a chunk at a time.
struct ObjectReader<'a> {
    backend: &'a S3Backend,
    key: Key,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.backend.runtime.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    return Err(io::Error::other(self.backend.fail(&self.key, e)));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl Backend for S3Backend {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError> {
        let path = self.path(key)?;
        match self.runtime.block_on(self.reads.get(&path)) {
            Ok(r) => Ok(Some(Box::new(ObjectReader {
                backend: self,
                key: key.clone(),
                body: r.into_stream(),
                chunk: Bytes::new(),
            }))),
            Err(e @ object_store::Error::NotFound { .. }) => {
                if s3_error_code(&chain(&e)).as_deref() == Some("NoSuchBucket") {
                    return Err(self.no_bucket());
                }
                self.missing(key)?;
                Ok(None)
            }
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn exists(&self, key: &Key) -> Result<bool, CacheError> {
        let path = self.path(key)?;
        match self.runtime.block_on(self.calls.head(&path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => {
                self.missing(key)?;
                Ok(false)
            }
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn put(&self, key: &Key, data: &mut dyn Read) -> Result<u64, CacheError> {
        let path = self.path(key)?;
        let first = read_part(data).map_err(|e| self.read_error(key, e))?;
        if first.len() == PART_SIZE {
            return self.put_multipart(key, &path, first, data);
        }
        let n = first.len() as u64;
        self.runtime
            .block_on(self.calls.put(&path, PutPayload::from(first)))
            .map_err(|e| self.fail(key, e))?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn error_codes_come_from_s3_error_bodies() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\
            <Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>";
        assert_eq!(
            s3_error_code(body).as_deref(),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(s3_error_code("<Code>a b</Code>"), None);
        assert_eq!(s3_error_code("<Code></Code>"), None);
        assert_eq!(s3_error_code("<Code>x"), None);
        assert_eq!(s3_error_code("404 Not Found"), None);
    }

    proptest! {
        /// Whatever a server sends, looking for the code answers.
        #[test]
        fn finding_the_code_never_panics(s in "\\PC{0,200}") {
            let _ = s3_error_code(&s);
            let _ = s3_error_code(&format!("<Code>{s}</Code>"));
        }

        /// Under any prefix a URL accepts, a key's object is named
        /// `<prefix>/<key>`, exactly.
        #[test]
        fn objects_are_named_by_their_keys(
            prefix in "[^/%\\p{Cc}]{0,6}(/[^/%\\p{Cc}]{1,6}){0,2}",
            key in "[a-z0-9]{1,8}(/[a-z0-9!.+=?_-]{1,8}){0,2}",
        ) {
            let (Ok(u), Ok(key)) = (S3Url::parse(&format!("s3://b-cache/{prefix}")), Key::new(&key)) else {
                return Ok(());
            };
            let want = if u.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", u.prefix) };
            let path = object_path(&u.prefix, &key).unwrap();
            prop_assert_eq!(path.as_ref(), want.as_str());
        }

        #[test]
        fn a_code_in_a_body_is_found(code in "[A-Za-z]{1,40}", before in "[^<]{0,50}") {
            let body = format!("{}<Error><Code>{code}</Code></Error>", before);
            prop_assert_eq!(s3_error_code(&body), Some(code));
        }
    }

    #[test]
    fn opening_sends_nothing_and_names_missing_credentials() {
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("id".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        // An endpoint nobody answers: opening still works.
        let b = S3Backend::with_env("s3://b-cache/p?endpoint=http://127.0.0.1:9", &env).unwrap();
        assert_eq!(b.name(), "s3://b-cache/p?endpoint=http://127.0.0.1:9");
        // TLS is set up (ring as rustls's provider): a server that is
        // not there is an error naming the cache, after the retries.
        let b = S3Backend::with_env("s3://b-cache/p?endpoint=https://127.0.0.1:9", &env).unwrap();
        let err = b.exists(&Key::new("nix-cache-info").unwrap()).unwrap_err();
        assert!(matches!(err, CacheError::Transport { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("s3://b-cache/p?endpoint=https://127.0.0.1:9: nix-cache-info: "),
            "{err}"
        );
        let err = S3Backend::with_env("s3://b-cache/p", &|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s3://b-cache/p: no S3 credentials: AWS_ACCESS_KEY_ID is not set"
        );
    }
}
