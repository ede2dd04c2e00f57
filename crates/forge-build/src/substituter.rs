//! The seam for binary caches: the [`Substituter`] trait, a source of
//! store paths and realisations built elsewhere, asked by the substitution
//! goal ([`crate::substitute`]) before anything is built.
//!
//! Implementations: none in this crate but test doubles; binary caches
//! (forge-cache, docs/cache.md) and a REAPI action cache (docs/remote.md)
//! implement it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use forge_core::derivation::ActionDigest;
use forge_core::store_path::StorePath;
use forge_store::ClaimedPath;
use thiserror::Error;

/// A source of store paths and realisations built elsewhere.
pub trait Substituter: Send + Sync {
    /// How messages name it (a cache's URL).
    fn name(&self) -> &str;

    /// The path of every output in `outputs` that `digest` realised to,
    /// or `None` unless it knows them all.
    fn realisations(
        &self,
        digest: &ActionDigest,
        outputs: &BTreeSet<String>,
    ) -> Result<Option<BTreeMap<String, StorePath>>, SubstituteError>;

    /// What it claims of `path` (references, NAR hashes and size,
    /// signatures), or `None` if it does not have it.
    fn path_info(&self, path: &StorePath) -> Result<Option<ClaimedPath>, SubstituteError>;

    /// The NAR serialisation of `path`.
    fn nar(&self, path: &StorePath) -> Result<Box<dyn Read + Send + '_>, SubstituteError>;

    /// Whether reading a NAR waits on nothing but this machine's disks (a
    /// cache in a local directory): its NARs are then imported as they are
    /// read, with no scratch copy first.
    fn is_local(&self) -> bool {
        false
    }
}

/// Why a substituter could not provide something; the engine then builds.
#[derive(Debug, Error)]
pub enum SubstituteError {
    /// Talking to it failed.
    #[error("{substituter}: {what}: {source}")]
    Io {
        substituter: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// It said it has a realisation but lacks a path of its closure.
    #[error("{substituter}: no {path}, which the realisation of {digest} needs")]
    Incomplete {
        substituter: String,
        digest: String,
        path: StorePath,
    },
    /// Asked for one path, it described another.
    #[error("{substituter}: asked for {asked}, it described {got}")]
    WrongPath {
        substituter: String,
        asked: StorePath,
        got: Box<StorePath>,
    },
    /// What it sent is not acceptable: malformed, unsigned where a
    /// signature is needed, signed by no trusted key.
    #[error("{substituter}: {what}: {reason}")]
    Refused {
        substituter: String,
        what: String,
        reason: String,
    },
    /// What it sent did not verify, or the store refused it.
    #[error("{substituter}: {path}: {source}")]
    Store {
        substituter: String,
        path: StorePath,
        #[source]
        source: Box<forge_store::StoreError>,
    },
}
