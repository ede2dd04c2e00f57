//! `forge prefetch`: a download into the store ahead of the recipe that
//! will pin it (docs/recipes.md, "fetch").
//!
//! The file is downloaded once, hashed (sha256, the hash of the file as
//! downloaded, which is what a `fetch` input pins), unpacked when asked, and
//! added and registered exactly as the fetch of a recipe input with that
//! hash, unpack format and URL would be (the same [`FetchKey`] and store
//! name): the build that follows finds it and downloads nothing.
//!
//! Unlike a build's fetch, this runs in the calling process, not in the
//! fixed-output sandbox: there is no pinned hash to hold the download to
//! yet (the user is asking for it), so the sandbox would protect nothing the
//! user does not already trust, as with `nix-prefetch-url`. Unpacking is the
//! same hardened code ([`crate::fetch::unpack`]).

use std::borrow::Cow;
use std::path::Path;

use forge_core::diag::Hint;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::recipe::Unpack;
use forge_core::store_path::StorePath;
use forge_store::{Store, StoreError};
use thiserror::Error;

use crate::fetch::{self, FetchError, FetchOptions, FetchProgress};

/// What [`prefetch`] put in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefetched {
    /// The URL, as given.
    pub url: String,
    /// The hash of the file as downloaded (what the input pins): sha256,
    /// or the registry's own algorithm for [`prefetch_pinned`].
    pub sha256: Hash,
    /// How it was unpacked.
    pub unpack: Option<Unpack>,
    /// The store path a recipe's input with this URL, hash and unpack
    /// format realises to.
    pub store_path: StorePath,
    /// Whether the store held it already (it was not added again).
    pub already_present: bool,
}

impl Prefetched {
    /// The line for a recipe's `[inputs]`, named `input`:
    /// `src = { fetch = "…", sha256 = "…", unpack = "tar.gz" }` (the key is
    /// the hash's algorithm: `sha512` for a registry that publishes that).
    pub fn input_line(&self, input: &str) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let unpack = self
            .unpack
            .map(|u| format!(", unpack = {}", quote(u.as_str())))
            .unwrap_or_default();
        format!(
            "{input} = {{ fetch = {}, {} = {}{unpack} }}",
            quote(&self.url),
            self.sha256.algo(),
            quote(&self.sha256.to_hex())
        )
    }
}

/// Why a prefetch failed.
#[derive(Debug, Error)]
pub enum PrefetchError {
    /// The download or the unpacking.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hint for PrefetchError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            PrefetchError::Fetch(e) => e.hint(),
            PrefetchError::Store(_) => None,
        }
    }
}

/// Downloads `url` into the store at `store_root` (unpacked as `unpack`
/// says), registered as the fetch a recipe input with the same URL, hash and
/// unpack format would make; see the module docs.
pub fn prefetch(
    store_root: &Path,
    url: &str,
    unpack: Option<Unpack>,
    progress: &dyn FetchProgress,
) -> Result<Prefetched, PrefetchError> {
    prefetch_checked(store_root, url, None, unpack, progress)
}

/// [`prefetch`] of a file whose hash is known already (a registry
/// published it): the download is checked against `expected` as a build's
/// fetch would be, and registered under that hash, whatever its algorithm.
pub fn prefetch_pinned(
    store_root: &Path,
    url: &str,
    expected: &Hash,
    unpack: Option<Unpack>,
    progress: &dyn FetchProgress,
) -> Result<Prefetched, PrefetchError> {
    prefetch_checked(store_root, url, Some(expected), unpack, progress)
}

fn prefetch_checked(
    store_root: &Path,
    url: &str,
    expected: Option<&Hash>,
    unpack: Option<Unpack>,
    progress: &dyn FetchProgress,
) -> Result<Prefetched, PrefetchError> {
    let mut store = Store::open(store_root)?;
    // Held until the fetch is registered: nothing added here is rooted, and
    // a collection in between would take it.
    let _gc = store.lock_against_gc()?;
    let found = |hash: Hash, store_path, already_present| Prefetched {
        url: url.to_owned(),
        sha256: hash,
        unpack,
        store_path,
        already_present,
    };
    // A known hash may be in the store already: nothing to download.
    if let Some(h) = expected {
        let (_, key) = super::fetch::fetch_key(url, h, unpack);
        if let Some(p) = store.fetched(&key)? {
            return Ok(found(*h, p, true));
        }
    }
    let work = store.scratch_dir("prefetch")?;
    let download = work.path().join("download");
    let opts = FetchOptions::default();
    let got = match expected {
        Some(h) => fetch::download(url, h, &download, progress, &opts)?,
        None => fetch::download_unpinned(url, HashAlgo::Sha256, &download, progress, &opts)?,
    };
    let (name, key) = super::fetch::fetch_key(url, &got.hash, unpack);
    if let Some(p) = store.fetched(&key)? {
        return Ok(found(got.hash, p, true));
    }
    let out = match unpack {
        None => download,
        Some(kind) => {
            progress.unpacking(kind);
            let out = work.path().join("out");
            fetch::unpack(&download, kind, &out, &opts.unpack).map_err(|source| {
                FetchError::Unpack {
                    url: url.to_owned(),
                    source,
                }
            })?;
            out
        }
    };
    let path = super::fetch::register_fetched(&mut store, &out, &name, &key)?;
    Ok(found(got.hash, path, false))
}
