//! Debian package sets: the network side (docs/bootstrap.md).
//!
//! A recipe names Debian packages and a suite family (`bookworm`); `forge
//! lock` resolves them once against the archive apt is configured with and
//! pins every `.deb` by URL, SHA-256 and size; builds only ever fetch those
//! pins. The formats (Release, Packages, apt sources) and the resolver are
//! pure code in [`forge_core::debian`]; this module does what needs the
//! network, the host's apt configuration and `gpgv`:
//!
//! - [`sources`]: which archives and suites apt on this host uses for a
//!   suite family, and the keyring each must be signed by;
//! - [`archive`]: a suite's `InRelease`, verified with `gpgv`, and its
//!   `Packages` indices fetched by the hash the signed Release lists,
//!   cached in the store;
//! - [`prefetch`]: `forge prefetch deb:NAME`, one package's `.deb` found in
//!   those indices and checked against the hash they list.

pub mod archive;
pub mod prefetch;
pub mod sources;

use std::borrow::Cow;
use std::path::PathBuf;

use forge_core::diag::Hint;
use thiserror::Error;

use crate::fetch::FetchError;

/// Why resolving against a Debian archive failed.
#[derive(Debug, Error)]
pub enum DebianError {
    /// A download (boxed: a hash mismatch carries two hashes).
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The store.
    #[error(transparent)]
    Store(#[from] forge_store::StoreError),
    /// Reading or decompressing a file.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `gpgv` could not be run.
    #[error("{url}: {message}")]
    Gpgv { url: String, message: String },
    /// The InRelease file is not signed by a key of the keyring.
    #[error("{url}: not signed by a key in {} ({detail})", keyring.display())]
    BadSignature {
        url: String,
        keyring: PathBuf,
        detail: String,
    },
    /// The verified Release does not parse.
    #[error("{url}: {message}")]
    Release { url: String, message: String },
    /// The Release is another suite's.
    #[error("{url}: asked for suite {asked}, but the signed Release is for suite `{suite}`, codename `{codename}`")]
    WrongSuite {
        url: String,
        asked: String,
        suite: String,
        codename: String,
    },
    /// The Release is past its `Valid-Until`.
    #[error("{url}: the signed Release expired (Valid-Until {until}, seconds since 1970)")]
    Expired { url: String, until: i64 },
    /// The Release lists no such index.
    #[error("{url}: the signed Release lists no {file}")]
    NoIndex { url: String, file: String },
    /// No index of the suites lists the package.
    #[error("no package {name}{} in suites {suites}", version.as_ref().map(|v| format!(" version {v}")).unwrap_or_default())]
    NoPackage {
        name: String,
        version: Option<String>,
        suites: String,
    },
    /// apt's configuration names no archive for the suite family.
    #[error("no apt source on this host serves suite {suite} (looked in {looked})")]
    NoSource { suite: String, looked: String },
    /// An apt sources file does not parse, or says something forge cannot use.
    #[error("{path}: {message}")]
    Sources { path: PathBuf, message: String },
}

impl From<FetchError> for DebianError {
    fn from(e: FetchError) -> Self {
        DebianError::Fetch(Box::new(e))
    }
}

impl Hint for DebianError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            DebianError::Fetch(e) => e.hint(),
            DebianError::Gpgv { .. } => Some("install gpgv (Debian package `gpgv`)".into()),
            DebianError::BadSignature { .. } => Some(
                "the mirror may be compromised or the keyring outdated: update the \
                 debian-archive-keyring package, or check the source's Signed-By in apt's sources"
                    .into(),
            ),
            DebianError::Expired { .. } => Some(
                "the mirror serves a stale Release: use another mirror in apt's sources".into(),
            ),
            DebianError::NoSource { .. } => Some(
                "add the suite to apt's sources (/etc/apt/sources.list.d/), or name another \
                 suite family"
                    .into(),
            ),
            _ => None,
        }
    }
}
