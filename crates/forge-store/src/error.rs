//! The store's error type.

use std::io;
use std::path::PathBuf;

use forge_core::hash::Hash;
use forge_core::nar::{NarReadError, NarWriteError};
use forge_core::store_path::{StorePath, StorePathError};
use thiserror::Error;

/// Everything that can go wrong in a store operation. Every variant names the
/// file, store path or hash involved.
#[derive(Debug, Error)]
pub enum StoreError {
    /// An I/O error on a named file.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open store database {path}: {source}")]
    DatabaseOpen {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A query or transaction failed.
    #[error("store database: {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer forge.
    #[error("store database {path} has schema version {found}, but this forge ({binary}) only knows versions up to {supported}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
        binary: &'static str,
    },
    /// The database row contradicts the schema's expectations.
    #[error("store database is corrupt: {0}")]
    Corrupt(String),
    /// A store path that is not valid in this store.
    #[error("{0} is not a valid path in this store")]
    NotValid(StorePath),
    /// A string that should be a store path is not one.
    #[error(transparent)]
    BadStorePath(#[from] StorePathError),
    /// A host path that does not lead into the store.
    #[error("{path} is not in the store {store_dir}")]
    OutsideStore { path: PathBuf, store_dir: PathBuf },
    /// A path to resolve into the store that does not exist at all (a
    /// `./result` link never made, a typo).
    #[error("{path} does not exist")]
    NoSuchFile { path: PathBuf },
    /// A file type the store cannot hold (device, FIFO, socket).
    #[error(
        "{path}: cannot add a {kind} to the store (only regular files, directories and symlinks)"
    )]
    SpecialFile { path: PathBuf, kind: &'static str },
    /// A file name that is not valid in a NAR.
    #[error("{path}: file name cannot be archived: {reason}")]
    BadFileName { path: PathBuf, reason: String },
    /// A file whose path in the store would exceed the host's PATH_MAX.
    #[error("{path}: too deep or too long for the store: its store path would exceed the host's path length limit by {excess} bytes")]
    PathTooLong { path: PathBuf, excess: usize },
    /// A store object that is a symlink leading out of the store (an input
    /// bound into a sandbox by that path would expose the host).
    #[error("{what} is a symlink to {}, which leads out of the store (a store path may be a symlink only to another /forge/store/... path)", target.display())]
    SymlinkOutOfStore { what: String, target: PathBuf },
    /// A tree deeper than the store accepts.
    #[error("{path}: too deep for the store: more than {limit} directory levels")]
    TooDeep { path: PathBuf, limit: usize },
    /// The source contains the store itself.
    #[error("cannot add {path}: it contains the store root {root}")]
    ContainsStore { path: PathBuf, root: PathBuf },
    /// The source changed while it was being copied.
    #[error("{path} changed while it was being added: {detail}")]
    SourceChanged { path: PathBuf, detail: String },
    /// Serialising to NAR failed.
    #[error("writing NAR of {path}: {source}")]
    Nar {
        path: PathBuf,
        #[source]
        source: NarWriteError,
    },
    /// A builder did not create one of its outputs.
    #[error("the builder did not create output `{output}` (expected at {placeholder})")]
    MissingOutput {
        output: String,
        placeholder: StorePath,
    },
    /// A derivation's outputs refer to each other in a cycle.
    #[error("outputs {outputs} of derivation {action_digest} refer to each other in a cycle")]
    OutputCycle {
        action_digest: String,
        outputs: String,
    },
    /// Restoring a rewritten output failed.
    #[error("rewriting output {path}: {detail}")]
    Rewrite { path: PathBuf, detail: String },
    /// An import claimed no NAR hash to check the stream against.
    #[error("cannot import {path}: no NAR hash was claimed to check it against")]
    NoClaimedHash { path: StorePath },
    /// An import whose references are not all valid yet.
    #[error("cannot import {path}: its reference {reference} is not valid in this store (import references first)")]
    MissingReference {
        path: StorePath,
        reference: Box<StorePath>,
    },
    /// The NAR stream of an import is malformed or ends early.
    #[error("reading the NAR of {path}: {source}")]
    NarRead {
        path: StorePath,
        #[source]
        source: Box<NarReadError>,
    },
    /// The NAR of an import is not the size claimed.
    #[error("the NAR of {path} is {actual} bytes, but {expected} were claimed")]
    NarSizeMismatch {
        path: StorePath,
        expected: u64,
        actual: u64,
    },
    /// The NAR of an import does not have the hash claimed.
    #[error("hash mismatch importing {path}: expected {expected}, got {actual}")]
    NarHashMismatch {
        path: StorePath,
        expected: Box<Hash>,
        actual: Box<Hash>,
    },
    /// A content-addressed import whose contents give another address
    /// (`detail` boxed: keeps `StoreError` as small as before it existed).
    #[error("{path} is not what its content address says: {detail}")]
    ContentAddressMismatch { path: StorePath, detail: Box<str> },
    /// A GC root name that does not exist.
    #[error("no GC root named {0:?}")]
    NoSuchRoot(String),
    /// A GC root that cannot be added.
    #[error("cannot add GC root {name:?}: {reason}")]
    BadRoot { name: String, reason: String },
}

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            op,
            path: path.into(),
            source,
        })
    }
}

pub(crate) trait DbContext<T> {
    fn db(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> DbContext<T> for rusqlite::Result<T> {
    fn db(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StoreError::Database {
            context: context(),
            source,
        })
    }
}
