//! Checking that the store is what its database says.
//!
//! Without `check_contents`, verification checks that every valid path
//! exists on disk. With it, every object is re-serialised and re-hashed and
//! its BLAKE3 and SHA-256 NAR hashes and size compared with the database,
//! and its metadata checked against the canonical form. Objects on disk that
//! are not valid are reported as leftovers (harmless; the collector removes
//! them).

use std::fs;

use forge_core::hash::Hash;
use forge_core::store_path::StorePath;
use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::tree;
use crate::Store;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Re-hash every object (slow: reads the whole store).
    pub check_contents: bool,
    /// Only these paths (default: every valid path).
    pub paths: Option<Vec<StorePath>>,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// A valid path whose object is missing.
    Missing { path: StorePath },
    /// A valid path whose NAR hash differs from the recorded one.
    HashMismatch {
        path: StorePath,
        expected: Hash,
        found: Hash,
    },
    /// A valid path whose NAR size differs from the recorded one.
    SizeMismatch {
        path: StorePath,
        expected: u64,
        found: u64,
    },
    /// A file in a valid path that is not canonical.
    NotCanonical {
        path: StorePath,
        file: String,
        problem: String,
    },
    /// The object could not be read at all.
    Unreadable { path: StorePath, error: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { path } => write!(f, "{path}: object is missing"),
            Problem::HashMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{path}: contents changed: expected {expected}, found {found}"
            ),
            Problem::SizeMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{path}: NAR size changed: expected {expected}, found {found}"
            ),
            Problem::NotCanonical {
                path,
                file,
                problem,
            } => write!(f, "{path}: {file}: not canonical: {problem}"),
            Problem::Unreadable { path, error } => write!(f, "{path}: cannot read: {error}"),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Valid paths checked.
    pub checked: usize,
    /// Problems, in path order.
    pub problems: Vec<Problem>,
    /// Objects on disk that are not valid (left by interrupted operations).
    pub leftovers: Vec<String>,
}

impl VerifyReport {
    /// True if no problem was found (leftovers are not problems).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Verifies the store; see the module docs.
    pub fn verify(&self, opts: &VerifyOptions) -> Result<VerifyReport> {
        let all = self.db().valid_paths()?;
        let mut paths = match &opts.paths {
            Some(p) => p.clone(),
            None => all.clone(),
        };
        paths.sort();
        let mut report = VerifyReport::default();
        for path in &paths {
            report.checked += 1;
            let info = self.path_info(path)?;
            let physical = self.physical(path);
            if fs::symlink_metadata(&physical).is_err() {
                report
                    .problems
                    .push(Problem::Missing { path: path.clone() });
                continue;
            }
            if !opts.check_contents {
                continue;
            }
            let digest = match tree::hash_tree(&physical, true, None) {
                Ok(d) => d,
                Err(e) => {
                    report.problems.push(Problem::Unreadable {
                        path: path.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            if digest.blake3 != info.nar_blake3 {
                report.problems.push(Problem::HashMismatch {
                    path: path.clone(),
                    expected: info.nar_blake3,
                    found: digest.blake3,
                });
            } else if digest.sha256 != Some(info.nar_sha256) {
                report.problems.push(Problem::HashMismatch {
                    path: path.clone(),
                    expected: info.nar_sha256,
                    found: digest.sha256.expect("asked for sha256"),
                });
            } else if digest.size != info.nar_size {
                report.problems.push(Problem::SizeMismatch {
                    path: path.clone(),
                    expected: info.nar_size,
                    found: digest.size,
                });
            }
            for nc in tree::check_canonical(&physical)? {
                let file = nc
                    .path
                    .strip_prefix(&physical)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_else(|_| nc.path.display().to_string());
                let file = if file == "/" { ".".to_owned() } else { file };
                report.problems.push(Problem::NotCanonical {
                    path: path.clone(),
                    file,
                    problem: nc.problem,
                });
            }
        }
        if opts.paths.is_none() {
            let valid: std::collections::HashSet<String> =
                all.iter().map(|p| p.base_name()).collect();
            let dir = self.layout().store_dir();
            for entry in fs::read_dir(&dir).ctx("reading", &dir)? {
                let name = entry.ctx("reading", &dir)?.file_name();
                let name = name.to_string_lossy().into_owned();
                if !valid.contains(&name) {
                    report.leftovers.push(name);
                }
            }
            report.leftovers.sort();
        }
        Ok(report)
    }
}
