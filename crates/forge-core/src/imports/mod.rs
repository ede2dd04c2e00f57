//! Lock-file importers: the artefacts a project's lock file pins, as one
//! typed list forge can fetch.
//!
//! Ecosystems publish the hash of every file they serve, and their lock files
//! record those hashes. An importer reads a lock file (pure code: the text is
//! handed in) and returns an [`Import`]:
//!
//! - [`Artifact`]s: a URL, the hash the registry published (sha256, or
//!   sha512 for npm), the size when known, and the file name the artefact
//!   must have in a vendor layout;
//! - [`PendingPin`]s: packages pinned by name, version and hashes but with no
//!   URL (pip's `requirements.txt` in hash-checking mode): the URL is to be
//!   resolved from the index later, and must then match one of the hashes;
//! - [`Skipped`] entries: packages that are not fetched from a registry (a
//!   workspace's own crates, path and git dependencies, npm links), reported
//!   so the caller can say what was left out, never as an error.
//!
//! Formats ([`LockFormat`]):
//!
//! | format | file | module |
//! | --- | --- | --- |
//! | PEP 751 | `pylock.toml` | [`python`] |
//! | uv | `uv.lock` | [`python`] |
//! | pip hash-checking | `requirements.txt` | [`python`] |
//! | pip `--report` | JSON | [`python`] |
//! | cargo | `Cargo.lock` v3, v4 | [`cargo`] (also the vendor files) |
//! | npm | `package-lock.json` v2, v3 | [`npm`] |
//!
//! A Python lock lists every wheel of a package (one per platform); keep the
//! ones a target can install with [`wheel_name::WheelTarget`] and
//! [`select_wheels`].
//!
//! Errors ([`ImportError`]) name the lock file's line and the package.

pub mod cargo;
mod error;
pub mod npm;
pub mod python;
pub mod wheel_name;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use cargo::{cargo_checksum_json, parse_cargo_lock, vendor_config};
pub use error::ImportError;
pub use npm::parse_package_lock;
pub use python::{parse_pip_report, parse_pylock, parse_requirements, parse_uv_lock};

use crate::hash::Hash;
use wheel_name::{WheelName, WheelTarget};

/// The package ecosystem an artefact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// PyPI (wheels and sdists).
    Python,
    /// crates.io.
    Rust,
    /// The npm registry.
    Npm,
}

/// What kind of file an artefact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactKind {
    /// A Python wheel (`.whl`).
    Wheel,
    /// A Python source distribution (`.tar.gz`, `.zip`).
    Sdist,
    /// A crate (`<name>-<version>.crate`, a gzipped tar).
    Crate,
    /// An npm package tarball (`.tgz`).
    NpmTarball,
}

/// One file to fetch, pinned by the hash the registry published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where it comes from.
    pub ecosystem: Ecosystem,
    /// The package name as the lock file writes it.
    pub name: String,
    /// The package version.
    pub version: String,
    /// Absolute download URL.
    pub url: String,
    /// sha256 or sha512, as the lock file gives it.
    pub hash: Hash,
    /// Size in bytes, when the lock file records it.
    pub size: Option<u64>,
    /// The name the file must have in the layout (wheel or sdist name,
    /// `<name>-<version>.crate`, npm's `<scope>-<name>-<version>.tgz`).
    pub file_name: String,
    /// What kind of file it is.
    pub kind: ArtifactKind,
    /// 1-based line of the package in the lock file.
    pub line: usize,
    /// npm: where the package is installed (`node_modules/a/node_modules/b`).
    pub install_path: Option<String>,
    /// npm: a development dependency only.
    pub dev: bool,
    /// npm: an optional dependency (a failed install is not an error).
    pub optional: bool,
}

/// A package pinned by hashes whose URL is still to be resolved from the
/// index (pip's `requirements.txt` names no URL). The file found there must
/// have one of `hashes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPin {
    /// Where it comes from.
    pub ecosystem: Ecosystem,
    /// The package name as written.
    pub name: String,
    /// The pinned version (`==` or `===`).
    pub version: String,
    /// Every hash the lock allows (one per wheel or sdist it accepted).
    pub hashes: Vec<Hash>,
    /// 1-based line of the requirement.
    pub line: usize,
}

/// Why a package in a lock file is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Part of the workspace or project itself (no source, `virtual`,
    /// `editable`, npm's root or workspace folders).
    Workspace,
    /// A path dependency (`path = …`, `file:` URLs, `directory`).
    Path(String),
    /// A git dependency (`git+…`, `vcs`).
    Git(String),
    /// A registry forge does not import from (another Cargo registry).
    OtherRegistry(String),
    /// An npm link (`link: true`) to the folder it names.
    Link(String),
}

/// A package the lock file lists but that is not fetched from a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it comes from.
    pub ecosystem: Ecosystem,
    /// The package name (or npm install path when it has no name).
    pub name: String,
    /// Its version, when the lock gives one.
    pub version: Option<String>,
    /// Why it is left out.
    pub reason: SkipReason,
    /// 1-based line.
    pub line: usize,
}

/// What an importer read from a lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Import {
    /// Files to fetch, in lock-file order.
    pub artifacts: Vec<Artifact>,
    /// Packages pinned by hashes whose URL is still to be resolved.
    pub pending: Vec<PendingPin>,
    /// Packages left out, with the reason.
    pub skipped: Vec<Skipped>,
}

/// The lock-file formats forge imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockFormat {
    /// PEP 751 `pylock.toml` (`pylock.<name>.toml`).
    Pylock,
    /// uv's `uv.lock`.
    UvLock,
    /// pip's `requirements.txt` with `--hash` (hash-checking mode).
    Requirements,
    /// pip's `install --report` JSON.
    PipReport,
    /// cargo's `Cargo.lock`.
    CargoLock,
    /// npm's `package-lock.json` (or `npm-shrinkwrap.json`).
    NpmLock,
}

impl LockFormat {
    /// Every format, in a fixed order.
    pub const ALL: [LockFormat; 6] = [
        LockFormat::Pylock,
        LockFormat::UvLock,
        LockFormat::Requirements,
        LockFormat::PipReport,
        LockFormat::CargoLock,
        LockFormat::NpmLock,
    ];

    /// The format a file's name says it has, if it says (the report of pip
    /// has no fixed name).
    pub fn from_file_name(name: &str) -> Option<Self> {
        match name {
            "uv.lock" => Some(LockFormat::UvLock),
            "Cargo.lock" => Some(LockFormat::CargoLock),
            "package-lock.json" | "npm-shrinkwrap.json" => Some(LockFormat::NpmLock),
            n if n == "pylock.toml" || (n.starts_with("pylock.") && n.ends_with(".toml")) => {
                Some(LockFormat::Pylock)
            }
            n if n.starts_with("requirements") && n.ends_with(".txt") => {
                Some(LockFormat::Requirements)
            }
            _ => None,
        }
    }

    /// Reads `text` as this format.
    pub fn parse(self, text: &str) -> Result<Import, ImportError> {
        match self {
            LockFormat::Pylock => parse_pylock(text),
            LockFormat::UvLock => parse_uv_lock(text),
            LockFormat::Requirements => parse_requirements(text),
            LockFormat::PipReport => parse_pip_report(text),
            LockFormat::CargoLock => parse_cargo_lock(text),
            LockFormat::NpmLock => parse_package_lock(text),
        }
    }
}

/// Keeps, of each Python package's artefacts, the one wheel `target` prefers
/// (the compatible wheel whose best tag ranks first in
/// [`WheelTarget::tags`]; a tie keeps the first in lock order), else its
/// sdist when no wheel is compatible, else nothing. Artefacts of other
/// ecosystems, and wheels whose file name does not parse, are kept as they
/// are (the latter are never silently dropped; they cannot be ranked).
///
/// Order is kept: each package's chosen artefact stays where its first
/// artefact was.
pub fn select_wheels(artifacts: Vec<Artifact>, target: &WheelTarget) -> Vec<Artifact> {
    // (name, version) -> (index of first artefact, best wheel rank+index, sdist index)
    struct Choice {
        first: usize,
        wheel: Option<(usize, usize)>,
        sdist: Option<usize>,
    }
    let mut choices: BTreeMap<(String, String), Choice> = BTreeMap::new();
    let mut keep_always = Vec::new();
    for (i, a) in artifacts.iter().enumerate() {
        if a.ecosystem != Ecosystem::Python {
            keep_always.push(i);
            continue;
        }
        let key = (python::normalize_name(&a.name), a.version.clone());
        let c = choices.entry(key).or_insert(Choice {
            first: i,
            wheel: None,
            sdist: None,
        });
        match a.kind {
            ArtifactKind::Wheel => match WheelName::parse(&a.file_name) {
                Ok(w) => {
                    if let Some(rank) = target.rank(&w) {
                        if c.wheel.is_none_or(|(r, _)| rank < r) {
                            c.wheel = Some((rank, i));
                        }
                    }
                }
                Err(_) => keep_always.push(i),
            },
            _ => {
                if c.sdist.is_none() {
                    c.sdist = Some(i);
                }
            }
        }
    }
    let mut chosen: Vec<(usize, usize)> = keep_always.into_iter().map(|i| (i, i)).collect();
    for c in choices.values() {
        if let Some(i) = c.wheel.map(|(_, i)| i).or(c.sdist) {
            chosen.push((c.first.min(i), i));
        }
    }
    chosen.sort_unstable();
    let mut slots: Vec<Option<Artifact>> = artifacts.into_iter().map(Some).collect();
    chosen
        .into_iter()
        .filter_map(|(_, i)| slots.get_mut(i).and_then(Option::take))
        .collect()
}
