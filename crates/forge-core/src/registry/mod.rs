//! What package registries answer about one artefact, parsed (no I/O):
//! enough to pin it by the hash the registry publishes (`forge prefetch
//! pypi:NAME==VER`, `crate:NAME@VER`, `npm:NAME@VER`; docs/bootstrap.md).
//!
//! - [`pypi`]: a project page of PyPI's JSON simple API (PEP 691), its files
//!   and their sha256;
//! - [`crates`]: a crate's file in the crates.io sparse index (one JSON
//!   object per version, with `cksum`), and where the `.crate` is;
//! - [`npm`]: the npm registry's document for one version (`dist.tarball`,
//!   `dist.integrity`).
//!
//! The registry's answer is remote input: every parser bounds what it reads,
//! never panics, and says which field was wrong. Trust: the hash printed is
//! the registry's own (fetched over TLS); from then on the pin, not the
//! registry, decides what a build gets.

pub mod crates;
pub mod npm;
pub mod pypi;

use thiserror::Error;

/// A registry's answer that forge cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// Not the JSON expected.
    #[error("{what}: {message}")]
    Json {
        /// What was being read (`PyPI project page for attrs`).
        what: String,
        /// serde_json's message, with its line and column.
        message: String,
    },
    /// A field has a value forge cannot use.
    #[error("{what}: {field}: {message}")]
    Field {
        /// What was being read.
        what: String,
        /// The field (`dist.integrity`).
        field: String,
        /// Why.
        message: String,
    },
}

fn json_err(what: &str, e: &serde_json::Error) -> RegistryError {
    RegistryError::Json {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

fn field_err(what: &str, field: &str, message: impl Into<String>) -> RegistryError {
    RegistryError::Field {
        what: what.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// `s` as 32 bytes of lower- or upper-case hex.
fn sha256_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}
