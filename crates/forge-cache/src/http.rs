//! `http(s)://host/prefix`: a cache any HTTP server serves (a static file
//! server over a pushed directory, forge's own server), read with GET and
//! HEAD. A server error (5xx, 429) or a broken connection is retried
//! ([`ATTEMPTS`] requests in all, with growing waits); a 404 is an
//! answer, not a failure. Writing is a `PUT` with a bearer token
//! ([`HttpBackend::with_token`]; [`open`](crate::open) takes it from
//! `FORGE_CACHE_TOKEN`), which forge's own server takes
//! (`forge cache serve --upload-token-file`); the token is sent with
//! uploads only, never with reads, so a substituter never sees it. An
//! upload streams its body (chunked) and is not retried: the stream is
//! spent.

use std::io::Read;
use std::time::Duration;

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;

/// A cache read over HTTP: the object `a/b` is `<prefix>/a/b`.
#[derive(Debug)]
pub struct HttpBackend {
    base: String,
    agent: ureq::Agent,
    token: Option<Token>,
}

/// The environment variable [`open`](crate::open) reads an upload token
/// from.
pub const TOKEN_ENV: &str = "FORGE_CACHE_TOKEN";

/// An upload token; `Debug` does not show it.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl HttpBackend {
    /// The cache at `url` (`http://` or `https://`, with or without a
    /// trailing `/`), using forge's HTTP client settings.
    pub fn new(url: &str) -> Result<HttpBackend, CacheError> {
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        if rest.is_empty() || rest.starts_with('/') {
            return Err(CacheError::BadUrl {
                url: url.to_owned(),
                reason: "no host".to_owned(),
            });
        }
        if url.contains(['?', '#']) {
            return Err(CacheError::BadUrl {
                url: url.to_owned(),
                reason: "a cache URL has no query or fragment".to_owned(),
            });
        }
        let base = url.trim_end_matches('/').to_owned();
        let mut opts = forge_build::fetch::FetchOptions::default();
        if let Some(t) = timeout_from_env() {
            opts.connect_timeout = t;
            opts.read_timeout = t;
        }
        let agent = forge_build::fetch::http_agent(&base, &opts);
        Ok(HttpBackend {
            base,
            agent,
            token: None,
        })
    }

    /// The same cache, written to with `PUT`s carrying `Authorization:
    /// Bearer <token>` (surrounding whitespace dropped).
    pub fn with_token(mut self, token: &str) -> HttpBackend {
        self.token = Some(Token(token.trim().to_owned()));
        self
    }

    fn url(&self, key: &Key) -> String {
        format!("{}/{}", self.base, key.as_str())
    }

    fn fail(&self, key: &Key, e: ureq::Error) -> CacheError {
        match e {
            ureq::Error::Status(status, _) => CacheError::Status {
                cache: self.base.clone(),
                key: key.to_string(),
                status,
            },
            ureq::Error::Transport(t) => CacheError::Transport {
                cache: self.base.clone(),
                key: key.to_string(),
                message: t.to_string(),
            },
        }
    }
}

/// The environment variable that sets the connect and read timeout of
/// every request, in seconds (default: forge's fetch timeouts, 30 s to
/// connect and 60 s between reads).
pub const TIMEOUT_ENV: &str = "FORGE_CACHE_TIMEOUT";

fn timeout_from_env() -> Option<Duration> {
    let v = std::env::var(TIMEOUT_ENV).ok()?;
    match v.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        _ => {
            tracing::warn!("{TIMEOUT_ENV}={v:?} is not a number of seconds; ignored");
            None
        }
    }
}

/// Requests made for one object before giving up on a server that keeps
/// failing (5xx, 429, a broken connection); the waits between them grow
/// fourfold from [`FIRST_RETRY`].
pub const ATTEMPTS: u32 = 4;

/// The wait before the first retry.
pub const FIRST_RETRY: Duration = Duration::from_millis(50);

impl HttpBackend {
    /// `method` on `key`: the response, `None` for 404 or 410, retried
    /// while the failure is one a server recovers from.
    fn call(&self, method: &str, key: &Key) -> Result<Option<ureq::Response>, CacheError> {
        let url = self.url(key);
        let mut wait = FIRST_RETRY;
        let mut attempt = 1;
        loop {
            match self.agent.request(method, &url).call() {
                Ok(r) => return Ok(Some(r)),
                Err(ureq::Error::Status(404 | 410, _)) => return Ok(None),
                Err(e) if attempt < ATTEMPTS && transient(&e) => {
                    std::thread::sleep(wait);
                    wait *= 4;
                    attempt += 1;
                }
                Err(e) => return Err(self.fail(key, e)),
            }
        }
    }
}

/// Whether a failure is worth asking again: the server is overloaded or
/// broken for now, or the connection failed.
fn transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Status(s, _) => *s >= 500 || *s == 429,
        ureq::Error::Transport(_) => true,
    }
}

impl Backend for HttpBackend {
    fn name(&self) -> &str {
        &self.base
    }

    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError> {
        Ok(self
            .call("GET", key)?
            .map(|r| Box::new(r.into_reader()) as Box<dyn Read + Send>))
    }

    fn exists(&self, key: &Key) -> Result<bool, CacheError> {
        Ok(self.call("HEAD", key)?.is_some())
    }

    fn put(&self, key: &Key, data: &mut dyn Read) -> Result<u64, CacheError> {
        let Some(Token(token)) = &self.token else {
            return Err(CacheError::ReadOnly {
                cache: self.base.clone(),
                why: "no upload token (set FORGE_CACHE_TOKEN for forge's server); a plain HTTP server is read-only: push to its directory",
            });
        };
        let mut counted = Counted {
            inner: data,
            bytes: 0,
        };
        self.agent
            .put(&self.url(key))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/octet-stream")
            .send(&mut counted)
            .map_err(|e| self.fail(key, e))?;
        Ok(counted.bytes)
    }
}

/// A reader that counts what it yields.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    bytes: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
