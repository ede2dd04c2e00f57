//! Checking that the store is what its database says.
//!
//! Without `check_contents`, verification checks that every valid path
//! exists on disk and, for paths registered with a listing (every path since
//! schema version 3), walks it with lstat and compares every node's path,
//! type, size, executable bit and symlink target with the listing, and its
//! mode with the canonical one: a deleted, added, truncated or chmodded
//! file is named without reading any contents. With `check_contents`, every object is re-serialised and re-hashed and
//! its BLAKE3 and SHA-256 NAR hashes and size compared with the database,
//! and its metadata checked against the canonical form. Objects on disk that
//! are not valid are reported as leftovers (harmless; the collector removes
//! them).

use std::collections::{BTreeMap, BTreeSet};
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
    /// A file in a valid path that differs from what was registered
    /// (missing, unexpected, another type, size, executable bit or target).
    FileChanged {
        path: StorePath,
        file: String,
        problem: String,
    },
    /// The object could not be read at all.
    Unreadable { path: StorePath, error: String },
}

impl Problem {
    /// The path the problem is in.
    pub fn path(&self) -> &StorePath {
        match self {
            Problem::Missing { path }
            | Problem::HashMismatch { path, .. }
            | Problem::SizeMismatch { path, .. }
            | Problem::NotCanonical { path, .. }
            | Problem::FileChanged { path, .. }
            | Problem::Unreadable { path, .. } => path,
        }
    }
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
            Problem::FileChanged {
                path,
                file,
                problem,
            } => write!(f, "{path}: {file}: {problem}"),
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
    /// Compares the object at `physical` with the listing recorded for
    /// `path` (nothing to compare for paths registered without one); with
    /// `modes`, also checks every node's mode is the canonical one.
    fn compare_listing(
        &self,
        path: &StorePath,
        physical: &std::path::Path,
        modes: bool,
    ) -> Result<Vec<Problem>> {
        let Some(recorded) = self.db().listing(path)? else {
            return Ok(Vec::new());
        };
        let mut problems = Vec::new();
        let mut problem = |rel: &[u8], what: String| {
            let file = if rel.is_empty() {
                ".".to_owned()
            } else {
                String::from_utf8_lossy(rel).into_owned()
            };
            problems.push(Problem::FileChanged {
                path: path.clone(),
                file,
                problem: what,
            });
        };
        let Some(recorded) = tree::decode_listing(&recorded) else {
            problem(b"", "the recorded listing is malformed".into());
            return Ok(problems);
        };
        let found = tree::listing(physical)?;
        let found_by_path: BTreeMap<&[u8], &tree::Listed> =
            found.iter().map(|n| (n.path.as_slice(), n)).collect();
        let recorded_paths: BTreeSet<&[u8]> = recorded.iter().map(|(p, _)| p.as_slice()).collect();
        for (rel, kind) in &recorded {
            let Some(now) = found_by_path.get(rel.as_slice()) else {
                problem(rel, format!("missing (registered as {})", describe(kind)));
                continue;
            };
            if let Some(change) = difference(kind, &now.kind) {
                problem(rel, change);
            } else if modes {
                let want = match kind {
                    tree::ListedKind::Directory => Some(0o555),
                    tree::ListedKind::File { executable, .. } => {
                        Some(if *executable { 0o555 } else { 0o444 })
                    }
                    tree::ListedKind::Symlink(_) => None,
                };
                if let Some(want) = want.filter(|w| *w != now.mode) {
                    problem(
                        rel,
                        format!("mode is {:04o}, expected {want:04o}", now.mode),
                    );
                }
            }
        }
        for n in &found {
            if !recorded_paths.contains(n.path.as_slice()) {
                problem(
                    &n.path,
                    format!("not registered ({} added since)", describe(&n.kind)),
                );
            }
        }
        Ok(problems)
    }

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
            match self.compare_listing(path, &physical, !opts.check_contents) {
                Ok(found) => report.problems.extend(found),
                Err(e) => {
                    report.problems.push(Problem::Unreadable {
                        path: path.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            }
            if !opts.check_contents {
                continue;
            }
            let digest = match tree::hash_tree(&physical, true, None, &tree::NoProgress) {
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

fn describe(kind: &tree::ListedKind) -> String {
    match kind {
        tree::ListedKind::Directory => "a directory".into(),
        tree::ListedKind::File {
            executable: true,
            size,
        } => format!("an executable file of {size} bytes"),
        tree::ListedKind::File { size, .. } => format!("a file of {size} bytes"),
        tree::ListedKind::Symlink(t) => format!("a symlink to {}", String::from_utf8_lossy(t)),
    }
}

/// How `now` differs from what was registered, if it does.
fn difference(registered: &tree::ListedKind, now: &tree::ListedKind) -> Option<String> {
    use tree::ListedKind::{Directory, File, Symlink};
    match (registered, now) {
        (Directory, Directory) => None,
        (
            File {
                executable: e1,
                size: s1,
            },
            File {
                executable: e2,
                size: s2,
            },
        ) => {
            if s1 != s2 {
                Some(format!("size changed: registered {s1} bytes, found {s2}"))
            } else if e1 != e2 {
                Some(if *e2 {
                    "is executable now, registered as not executable".into()
                } else {
                    "is not executable now, registered as executable".into()
                })
            } else {
                None
            }
        }
        (Symlink(a), Symlink(b)) if a == b => None,
        (Symlink(a), Symlink(b)) => Some(format!(
            "symlink target changed: registered {}, found {}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        )),
        (a, b) => Some(format!(
            "type changed: registered as {}, found {}",
            describe(a),
            describe(b)
        )),
    }
}
