//! `http(s)://host/prefix`: a cache any HTTP server serves (a static file
//! server over a pushed directory, forge's own server), read with GET and
//! HEAD. Writing goes through forge's server's upload endpoint, later.

use std::io::Read;

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;

/// A cache read over HTTP: the object `a/b` is `<prefix>/a/b`.
#[derive(Debug)]
pub struct HttpBackend {
    base: String,
    agent: ureq::Agent,
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
        let agent =
            forge_build::fetch::http_agent(&base, &forge_build::fetch::FetchOptions::default());
        Ok(HttpBackend { base, agent })
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

impl Backend for HttpBackend {
    fn name(&self) -> &str {
        &self.base
    }

    fn get(&self, key: &Key) -> Result<Option<Box<dyn Read + Send + '_>>, CacheError> {
        match self.agent.get(&self.url(key)).call() {
            Ok(r) => Ok(Some(Box::new(r.into_reader()))),
            Err(ureq::Error::Status(404 | 410, _)) => Ok(None),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn exists(&self, key: &Key) -> Result<bool, CacheError> {
        match self.agent.head(&self.url(key)).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404 | 410, _)) => Ok(false),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn put(&self, _key: &Key, _data: &mut dyn Read) -> Result<u64, CacheError> {
        Err(CacheError::ReadOnly {
            cache: self.base.clone(),
            why: "a plain HTTP server is read-only; push to its directory or to forge's server",
        })
    }
}
