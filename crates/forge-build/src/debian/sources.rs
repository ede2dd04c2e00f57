//! Which archives serve a suite family, from apt's configuration on this
//! host (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list` and
//! `*.sources`).
//!
//! A family is a release's codename: `bookworm` takes the apt entries for
//! `bookworm` and `bookworm-<anything>` (updates, security, backports if
//! configured), each `deb` entry (not `deb-src`, not disabled) with its
//! components. Each must name its keyring (`Signed-By` as a file); an entry
//! without one falls back to Debian's archive keyring
//! ([`DEFAULT_KEYRING`]), the one apt itself would trust. A key embedded in
//! the sources file is refused: forge checks signatures with `gpgv` and a
//! keyring file.

use std::path::{Path, PathBuf};

use forge_core::debian::sources::{parse_list, parse_sources, SourceEntry};

use super::archive::SuiteSource;
use super::DebianError;

/// Debian's archive keyring, from the `debian-archive-keyring` package.
pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// apt's sources on this host, in the order apt reads them.
pub fn apt_source_files(etc_apt: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let list = etc_apt.join("sources.list");
    if list.is_file() {
        files.push(list);
    }
    if let Ok(dir) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files
}

/// The suites of `family` that `files` configure, one [`SuiteSource`] per
/// (archive, suite), in the order the files give them; the components of
/// entries for the same (archive, suite) are merged.
pub fn suites_for(family: &str, files: &[PathBuf]) -> Result<Vec<SuiteSource>, DebianError> {
    let mut out: Vec<SuiteSource> = Vec::new();
    for file in files {
        let text = crate::inputs::read_regular(file)
            .map_err(|source| DebianError::Io {
                what: "reading",
                path: file.display().to_string(),
                source,
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned())?;
        let is_deb822 = file.extension().is_some_and(|e| e == "sources");
        let parsed = if is_deb822 {
            parse_sources(&text).map_err(|e| e.to_string())
        } else {
            parse_list(&text).map_err(|e| e.to_string())
        };
        let entries = parsed.map_err(|message| DebianError::Sources {
            path: file.clone(),
            message,
        })?;
        for e in entries {
            add_entry(&mut out, family, file, &e)?;
        }
    }
    if out.is_empty() {
        return Err(DebianError::NoSource {
            suite: family.to_owned(),
            looked: files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(out)
}

fn add_entry(
    out: &mut Vec<SuiteSource>,
    family: &str,
    file: &Path,
    e: &SourceEntry,
) -> Result<(), DebianError> {
    let suite = e.suite.as_str();
    let in_family = suite == family
        || suite
            .strip_prefix(family)
            .is_some_and(|r| r.starts_with('-'));
    if !in_family {
        return Ok(());
    }
    let keyring = match e.signed_by.as_deref().map(str::trim) {
        None => PathBuf::from(DEFAULT_KEYRING),
        // One key file; several (space-separated) are not supported yet.
        Some(k) if k.starts_with('/') && !k.contains(char::is_whitespace) => PathBuf::from(k),
        Some(_) => {
            return Err(DebianError::Sources {
                path: file.to_owned(),
                message: format!(
                    "line {}: suite {suite}: Signed-By is not one keyring file; forge checks \
                     signatures with gpgv and needs a single file",
                    e.line
                ),
            })
        }
    };
    let uri = e.uri.trim_end_matches('/').to_owned();
    match out.iter_mut().find(|s| s.uri == uri && s.suite == suite) {
        Some(s) => {
            for c in &e.components {
                if !s.components.contains(c) {
                    s.components.push(c.clone());
                }
            }
        }
        None => out.push(SuiteSource {
            uri,
            suite: suite.to_owned(),
            components: e.components.clone(),
            keyring,
        }),
    }
    Ok(())
}
