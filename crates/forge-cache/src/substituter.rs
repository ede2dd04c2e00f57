//! [`CacheSubstituter`]: a cache as a source of store paths and
//! realisations for `forge build` (the engine's [`Substituter`] seam;
//! docs/cache.md, "Substitution").
//!
//! It returns only what it trusts:
//! - a **realisation** (action digest + output -> path) only with a good
//!   signature by a trusted key: it is the one claim nothing else checks;
//! - a **narinfo** with a good trusted signature, or, unsigned or signed
//!   by keys not trusted, one whose path is content-addressed (its
//!   `ForgeCA` and `NarBlake3`): the store recomputes that address from
//!   the NAR as it imports it and refuses a mismatch. A signature under a
//!   trusted key's name that does not verify is refused either way: the
//!   narinfo was changed after signing.
//!
//! The NAR is streamed through its decompressor; the store checks its
//! size and hashes while it reads and registers nothing that differs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use forge_build::{SubstituteError, Substituter};
use forge_core::cache::{layout, Compression, NarInfo, Realisation};
use forge_core::derivation::{ActionDigest, OutputName};
use forge_core::signing::{Signature, TrustError, TrustedKeys};
use forge_core::store_path::StorePath;
use forge_store::ClaimedPath;

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;
use crate::lookup::{Known, LookupCache};
use crate::paths::claimed;

/// The largest narinfo read (a path with thousands of references fits).
pub const MAX_NARINFO_BYTES: u64 = 1 << 20;
/// The largest realisation read.
pub const MAX_REALISATION_BYTES: u64 = 64 * 1024;

/// A cache asked by `forge build` before it builds.
pub struct CacheSubstituter {
    backend: Box<dyn Backend>,
    trusted: TrustedKeys,
    /// The narinfos already read, for [`Substituter::nar`].
    narinfos: Mutex<HashMap<StorePath, NarInfo>>,
    /// Answers kept between runs, if any.
    lookups: Option<Arc<LookupCache>>,
}

impl std::fmt::Debug for CacheSubstituter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSubstituter")
            .field("cache", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl CacheSubstituter {
    /// Substitutes from `backend`, trusting signatures by `trusted`.
    pub fn new(backend: Box<dyn Backend>, trusted: TrustedKeys) -> CacheSubstituter {
        CacheSubstituter {
            backend,
            trusted,
            narinfos: Mutex::new(HashMap::new()),
            lookups: None,
        }
    }

    /// Keeps this cache's answers in `lookups` and asks it first.
    pub fn with_lookups(mut self, lookups: Arc<LookupCache>) -> CacheSubstituter {
        self.lookups = Some(lookups);
        self
    }

    /// A small object, from the lookup cache while its answer is fresh.
    fn small(&self, key: &Key, limit: u64) -> Result<Option<Vec<u8>>, CacheError> {
        if let Some(l) = &self.lookups {
            match l.get(self.name(), key.as_str()) {
                Known::Present(v) => return Ok(Some(v)),
                Known::Absent => return Ok(None),
                Known::Unknown => {}
            }
        }
        let got = self.backend.get_small(key, limit)?;
        if let Some(l) = &self.lookups {
            l.put(self.name(), key.as_str(), got.as_deref());
        }
        Ok(got)
    }

    fn forget(&self, key: &Key) {
        if let Some(l) = &self.lookups {
            l.forget(self.name(), key.as_str());
        }
    }

    fn refused(&self, what: String, reason: impl std::fmt::Display) -> SubstituteError {
        SubstituteError::Refused {
            substituter: self.name().to_owned(),
            what,
            reason: reason.to_string(),
        }
    }

    fn cache_error(&self, what: String, e: CacheError) -> SubstituteError {
        SubstituteError::Io {
            substituter: self.name().to_owned(),
            what,
            source: io::Error::other(strip_name(self.name(), &e.to_string())),
        }
    }

    fn trust(&self, fingerprint: &str, signatures: &BTreeSet<String>) -> Result<(), TrustError> {
        let sigs: Vec<Signature> = signatures
            .iter()
            .filter_map(|s| Signature::parse(s).ok())
            .collect();
        self.trusted
            .verify(fingerprint.as_bytes(), &sigs)
            .map(|_| ())
    }

    /// The narinfo of `path`, read and checked, or `None`.
    fn narinfo(&self, path: &StorePath) -> Result<Option<NarInfo>, SubstituteError> {
        if let Some(n) = self.lock().get(path) {
            return Ok(Some(n.clone()));
        }
        let what = || format!("the narinfo of {path}");
        let key = Key::new(&layout::narinfo(path)).map_err(|e| self.refused(what(), e))?;
        let Some(bytes) = self
            .small(&key, MAX_NARINFO_BYTES)
            .map_err(|e| self.cache_error(what(), e))?
        else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| self.refused(what(), "it is not UTF-8"))?;
        let narinfo = NarInfo::parse(&text).map_err(|e| self.refused(what(), e))?;
        if narinfo.path != *path {
            return Err(SubstituteError::WrongPath {
                substituter: self.name().to_owned(),
                asked: path.clone(),
                got: Box::new(narinfo.path),
            });
        }
        match self.trust(&narinfo.fingerprint(), &narinfo.signatures) {
            Ok(()) => {}
            Err(e @ TrustError::Invalid { .. }) => return Err(self.refused(what(), e)),
            // Unsigned or signed by others: the store checks a content
            // address itself.
            Err(e) => {
                if narinfo.content_address.is_none() || narinfo.nar_blake3.is_none() {
                    return Err(self.refused(
                        what(),
                        format!("{e}, and the path is not content-addressed"),
                    ));
                }
            }
        }
        if !matches!(
            narinfo.compression,
            Compression::Zstd | Compression::Xz | Compression::None
        ) {
            return Err(self.refused(
                what(),
                format!(
                    "its NAR is compressed with {}, which forge does not read",
                    narinfo.compression
                ),
            ));
        }
        self.lock().insert(path.clone(), narinfo.clone());
        Ok(Some(narinfo))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StorePath, NarInfo>> {
        self.narinfos.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Substituter for CacheSubstituter {
    fn name(&self) -> &str {
        self.backend.name()
    }

    fn is_local(&self) -> bool {
        self.backend.local_dir().is_some()
    }

    fn realisations(
        &self,
        digest: &ActionDigest,
        outputs: &BTreeSet<String>,
    ) -> Result<Option<BTreeMap<String, StorePath>>, SubstituteError> {
        let mut found = BTreeMap::new();
        for o in outputs {
            let what = || format!("the realisation of {digest}!{o}");
            let output = OutputName::new(o).map_err(|e| self.refused(what(), e))?;
            let key = Key::new(&layout::realisation(digest, &output))
                .map_err(|e| self.refused(what(), e))?;
            let Some(bytes) = self
                .small(&key, MAX_REALISATION_BYTES)
                .map_err(|e| self.cache_error(what(), e))?
            else {
                return Ok(None);
            };
            let text =
                String::from_utf8(bytes).map_err(|_| self.refused(what(), "it is not UTF-8"))?;
            let r = Realisation::parse(&text).map_err(|e| self.refused(what(), e))?;
            if r.action != *digest || r.output != output {
                return Err(
                    self.refused(what(), format!("the file is the realisation of {}", r.id()))
                );
            }
            self.trust(&r.fingerprint(), &r.signatures)
                .map_err(|e| self.refused(format!("{} (-> {})", what(), r.path), e))?;
            found.insert(o.clone(), r.path);
        }
        Ok(Some(found))
    }

    fn path_info(&self, path: &StorePath) -> Result<Option<ClaimedPath>, SubstituteError> {
        Ok(self.narinfo(path)?.map(|n| claimed(&n)))
    }

    fn nar(&self, path: &StorePath) -> Result<Box<dyn Read + Send + '_>, SubstituteError> {
        let what = || format!("the NAR of {path}");
        let mut narinfo = self
            .narinfo(path)?
            .ok_or_else(|| self.refused(what(), "the cache no longer has its narinfo"))?;
        let key = Key::new(&narinfo.url).map_err(|e| self.refused(what(), e))?;
        let mut file = self
            .backend
            .get(&key)
            .map_err(|e| self.cache_error(what(), e))?;
        if file.is_none() {
            // The narinfo was stale (kept by the lookup cache, or the path
            // was pushed again since): forget it and ask again, once.
            self.lock().remove(path);
            if let Ok(k) = Key::new(&layout::narinfo(path)) {
                self.forget(&k);
            }
            if let Some(fresh) = self.narinfo(path)? {
                if fresh.url != narinfo.url {
                    let key = Key::new(&fresh.url).map_err(|e| self.refused(what(), e))?;
                    file = self
                        .backend
                        .get(&key)
                        .map_err(|e| self.cache_error(what(), e))?;
                    narinfo = fresh;
                }
            }
        }
        let Some(file) = file else {
            self.lock().remove(path);
            return Err(self.refused(
                what(),
                format!(
                    "its narinfo names {}, which the cache does not have",
                    narinfo.url
                ),
            ));
        };
        let io = |e: io::Error| SubstituteError::Io {
            substituter: self.name().to_owned(),
            what: what(),
            source: e,
        };
        Ok(match narinfo.compression {
            Compression::None => file,
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file).map_err(io)?),
            Compression::Xz => Box::new(xz2::read::XzDecoder::new(file)),
            other => return Err(self.refused(what(), format!("{other} compression is not read"))),
        })
    }
}

/// A cache error's message without the cache's name at its front (the
/// substitution error names it already).
fn strip_name(name: &str, message: &str) -> String {
    message
        .strip_prefix(name)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(message)
        .to_owned()
}
