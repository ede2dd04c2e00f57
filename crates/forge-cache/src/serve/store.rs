//! `--store`: the local store served as a cache. The server keeps a
//! private cache directory and serves it like `--dir`; a narinfo or
//! realisation it lacks is made on demand by pushing the one path the
//! store has for it into that directory with [`push_paths`] (its NAR
//! compressed once, hashed, signed with the server's key when it has one)
//! and is then a static file: the next request for it, or for its NAR, is
//! as fast as `--dir`. References are not pushed with a path: a client
//! asks for each, and each is made when asked for.
//!
//! One path is pushed at a time (the store is behind a lock, and the GC
//! lock is held shared during a push, so the path cannot be collected
//! while its NAR is made); concurrent requests for the same path wait and
//! then find it made. What the directory holds stays until it is removed
//! (after a key change, remove it to have every narinfo signed again).

use std::path::PathBuf;
use std::sync::Mutex;

use forge_core::cache::{layout, Compression, Realisation};
use forge_core::derivation::{ActionDigest, OutputName};
use forge_core::signing::SecretKey;
use forge_store::Store;

use crate::file::FileBackend;
use crate::key::Key;
use crate::push::{push_paths, push_realisations, NoPushProgress, PushError, PushOptions};

/// The store to serve.
#[derive(Debug, Clone)]
pub struct StoreSource {
    /// The store's physical root.
    pub root: PathBuf,
    /// The private cache directory (default: `<root>/serve-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Signs what is served (narinfos and realisations), when given.
    pub secret_key: Option<SecretKey>,
}

impl StoreSource {
    /// The directory the server serves.
    pub fn dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.root.join("serve-cache"))
    }
}

/// Makes objects from the store.
pub struct Filler {
    store: Mutex<Store>,
    backend: FileBackend,
    opts: PushOptions,
}

impl std::fmt::Debug for Filler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filler")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// What a cache key asks the store for.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// `<digest>.narinfo`.
    Path(String),
    /// `realisations/<hex>!<output>.doi`.
    Realisation(ActionDigest, OutputName),
}

/// The store object `key` names, if it names one the store can make and
/// `key` is the name it is published under. A digest in another spelling
/// (upper-case hex, nix32) parses to the same action but names another
/// object: making it would publish under the canonical name, miss the
/// requested one, and make it again on every such request.
pub(crate) fn wanted(key: &Key) -> Option<Wanted> {
    let k = key.as_str();
    if let Some(digest) = k.strip_suffix(".narinfo") {
        let ok = digest.len() == 32
            && digest
                .bytes()
                .all(|b| forge_core::base32::ALPHABET.contains(&b));
        return ok.then(|| Wanted::Path(digest.to_owned()));
    }
    let rest = k.strip_prefix("realisations/")?.strip_suffix(".doi")?;
    let (hex, output) = rest.split_once('!')?;
    let action: ActionDigest = format!("blake3:{hex}").parse().ok()?;
    let output = OutputName::new(output).ok()?;
    (layout::realisation(&action, &output) == k).then_some(Wanted::Realisation(action, output))
}

impl Filler {
    /// The store at `source.root`, served from `dir`.
    pub fn open(source: &StoreSource, dir: PathBuf) -> Result<Filler, forge_store::StoreError> {
        let store = Store::open(&source.root)?;
        Ok(Filler {
            store: Mutex::new(store),
            backend: FileBackend::new(dir),
            opts: PushOptions {
                compression: Compression::Zstd,
                secret_key: source.secret_key.clone(),
                ..PushOptions::default()
            },
        })
    }

    /// Makes the object at `key` in the cache directory if the store has
    /// what it names; `false` when it has not (a miss).
    pub fn fill(&self, key: &Key) -> Result<bool, PushError> {
        let Some(wanted) = wanted(key) else {
            return Ok(false);
        };
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _gc = store.lock_against_gc()?;
        match wanted {
            Wanted::Path(digest) => {
                let Some(path) = store.db().valid_path_by_hash_part(&digest)? else {
                    return Ok(false);
                };
                push_paths(
                    &store,
                    &self.backend,
                    std::slice::from_ref(&path),
                    &self.opts,
                    &NoPushProgress,
                )?;
                tracing::info!(path = %path, "published from the store");
                Ok(true)
            }
            Wanted::Realisation(action, output) => {
                let Some(r) = store
                    .db()
                    .realisation(&action.to_string(), output.as_str())?
                else {
                    return Ok(false);
                };
                push_paths(
                    &store,
                    &self.backend,
                    std::slice::from_ref(&r.path),
                    &self.opts,
                    &NoPushProgress,
                )?;
                let realisation = Realisation {
                    action,
                    output,
                    path: r.path,
                    signatures: Default::default(),
                };
                push_realisations(
                    &self.backend,
                    std::slice::from_ref(&realisation),
                    self.opts.secret_key.as_ref(),
                )?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_name_paths_and_realisations() {
        let k = |s: &str| wanted(&Key::new(s).unwrap());
        assert_eq!(
            k("0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s.narinfo"),
            Some(Wanted::Path("0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s".into()))
        );
        let hex = "ab".repeat(32);
        assert!(matches!(
            k(&format!("realisations/{hex}!out.doi")),
            Some(Wanted::Realisation(_, o)) if o.as_str() == "out"
        ));
        for none in [
            "short.narinfo",
            "0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4e.narinfo",
            "nar/x.nar.zst",
            "nix-cache-info",
            "realisations/ab!out.doi",
            "realisations/x.doi",
        ] {
            assert_eq!(k(none), None, "{none}");
        }
    }

    /// Found by the `cache_server_requests` fuzz target: a realisation's
    /// digest in upper-case hex (or nix32) was taken for the action, so
    /// the server published `realisations/<hex>!out.doi`, answered 404 for
    /// the name asked, and pushed again on every request in that spelling.
    #[test]
    fn regression_a_realisation_in_another_spelling_is_not_made() {
        let hex = "ab".repeat(32);
        let action: ActionDigest = format!("blake3:{hex}").parse().unwrap();
        let nix32 = action.as_hash().to_nix32();
        for alias in [hex.to_uppercase(), format!("Ab{}", &hex[2..]), nix32] {
            let key = Key::new(&format!("realisations/{alias}!out.doi")).unwrap();
            assert_eq!(wanted(&key), None, "{key}");
        }
        let key = Key::new(&format!("realisations/{hex}!out.doi")).unwrap();
        assert!(wanted(&key).is_some());
    }

    proptest! {
        /// Any key: no panic, and what a key is taken for is published
        /// under that very key.
        #[test]
        fn any_key_is_understood_or_not(s in "(realisations/)?[a-fA-F0-9!./a-z]{1,80}(\\.doi|\\.narinfo)?") {
            if let Ok(key) = Key::new(&s) {
                match wanted(&key) {
                    None => {}
                    Some(Wanted::Path(d)) => prop_assert_eq!(layout::narinfo_for_digest(&d), s),
                    Some(Wanted::Realisation(a, o)) => prop_assert_eq!(layout::realisation(&a, &o), s),
                }
            }
        }

        /// Every realisation key forge writes is understood.
        #[test]
        fn canonical_realisation_keys_are_understood(bytes in any::<[u8; 32]>(), output in "[a-z][a-z0-9]{0,8}") {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let action: ActionDigest = format!("blake3:{hex}").parse().unwrap();
            let output = OutputName::new(&output).unwrap();
            let key = Key::new(&layout::realisation(&action, &output)).unwrap();
            prop_assert_eq!(wanted(&key), Some(Wanted::Realisation(action, output)));
        }
    }
}
