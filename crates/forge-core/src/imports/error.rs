//! Why a lock file could not be imported.
//!
//! Every variant names the 1-based line of the lock file and, once the
//! parser knows it, the package involved. Hints (what the user can do) are
//! data, through [`Hint`], never part of the message.

use std::borrow::Cow;

use thiserror::Error;

use crate::diag::Hint;

/// Why a lock file could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// The text is not valid TOML or JSON, or does not have the lock file's
    /// shape (a table where a string belongs, an unknown version...).
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What the TOML or JSON parser said.
        message: String,
    },
    /// The lock file's format version is one this importer does not read.
    #[error("line {line}: unsupported {what} version {version}")]
    Version {
        /// 1-based line.
        line: usize,
        /// Which file (`Cargo.lock`, `package-lock.json`...).
        what: &'static str,
        /// The version found.
        version: String,
    },
    /// A package lacks a field every importable package has.
    #[error("line {line}: package {package}: no `{field}`")]
    Missing {
        /// 1-based line.
        line: usize,
        /// The package.
        package: String,
        /// The missing field.
        field: &'static str,
    },
    /// A package's field has a value that cannot be used.
    #[error("line {line}: package {package}: invalid `{field}`: {reason}")]
    Invalid {
        /// 1-based line.
        line: usize,
        /// The package.
        package: String,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The only hash a package has is one forge does not accept as a pin.
    #[error("line {line}: package {package}: only a {algo} hash is given, which forge does not accept as a pin")]
    WeakHash {
        /// 1-based line.
        line: usize,
        /// The package.
        package: String,
        /// The algorithm the lock gives (`sha1`, `md5`...).
        algo: String,
    },
}

impl ImportError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            ImportError::Syntax { line, .. }
            | ImportError::Version { line, .. }
            | ImportError::Missing { line, .. }
            | ImportError::Invalid { line, .. }
            | ImportError::WeakHash { line, .. } => *line,
        }
    }
}

impl Hint for ImportError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            ImportError::WeakHash { .. } => Some(Cow::Borrowed(
                "regenerate the lock with a current npm (it records sha512 integrity)",
            )),
            ImportError::Version { what: "Cargo.lock", .. } => Some(Cow::Borrowed(
                "run `cargo generate-lockfile` with a current cargo (lock versions 3 and 4 are read)",
            )),
            ImportError::Version {
                what: "package-lock.json",
                ..
            } => Some(Cow::Borrowed(
                "run `npm install --package-lock-only` with npm 7 or later (lockfileVersion 2 or 3)",
            )),
            _ => None,
        }
    }
}

/// The 1-based line of byte `offset` in `text` (offsets past the end give
/// the last line).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML parse error as an [`ImportError::Syntax`] at its line.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> ImportError {
    let line = e.span().map_or(1, |s| line_of(text, s.start));
    ImportError::Syntax {
        line,
        message: e.message().to_owned(),
    }
}

/// A JSON parse error as an [`ImportError::Syntax`] at its line.
pub(crate) fn json_error(e: &serde_json::Error) -> ImportError {
    let msg = e.to_string();
    // serde_json appends " at line L column C"; the line is kept apart.
    let message = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m)
        .to_owned();
    ImportError::Syntax {
        line: e.line().max(1),
        message,
    }
}
