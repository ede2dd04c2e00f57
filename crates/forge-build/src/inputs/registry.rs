//! `forge prefetch pypi:NAME==VER | crate:NAME@VER | npm:NAME@VER`: the
//! registry is asked where the artefact is and which hash it publishes;
//! the artefact is then prefetched *pinned to that hash*, so the printed
//! input line holds the registry's own hash and a download that differs
//! from it fails (docs/bootstrap.md, "Registry hashes").
//!
//! The answers are parsed by [`forge_core::registry`]. The registries'
//! base URLs are in [`Registries`] (the public ones by default; a mirror or
//! a test server otherwise).

use std::borrow::Cow;
use std::path::Path;

use forge_core::diag::Hint;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::recipe::Unpack;
use forge_core::registry::{crates, npm, pypi, RegistryError};
use forge_store::Store;
use thiserror::Error;

use super::prefetch::{prefetch_pinned, PrefetchError, Prefetched};
use crate::fetch::{self, FetchError, FetchOptions, FetchProgress};

/// A registry artefact asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// `pypi:NAME==VERSION`.
    Pypi { name: String, version: String },
    /// `crate:NAME@VERSION`.
    Crate { name: String, version: String },
    /// `npm:NAME@VERSION` (`npm:@scope/name@VERSION`).
    Npm { name: String, version: String },
}

impl Spec {
    /// `text` as a registry spec; `None` when it names no registry (a URL);
    /// an error when it names one but is malformed.
    pub fn parse(text: &str) -> Option<Result<Spec, String>> {
        let (registry, rest) = text.split_once(':')?;
        let parsed = match registry {
            "pypi" => rest
                .split_once("==")
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .map(|(n, v)| Spec::Pypi {
                    name: n.to_owned(),
                    version: v.to_owned(),
                })
                .ok_or_else(|| format!("{text}: expected pypi:NAME==VERSION")),
            "crate" => rest
                .split_once('@')
                .filter(|(n, v)| crates::index_path(n).is_some() && !v.is_empty())
                .map(|(n, v)| Spec::Crate {
                    name: n.to_owned(),
                    version: v.to_owned(),
                })
                .ok_or_else(|| format!("{text}: expected crate:NAME@VERSION")),
            "npm" => rest
                .get(1..)
                .and_then(|tail| tail.rfind('@').map(|i| i + 1))
                .map(|at| (&rest[..at], &rest[at + 1..]))
                .filter(|(n, v)| npm::valid_name(n) && !v.is_empty())
                .map(|(n, v)| Spec::Npm {
                    name: n.to_owned(),
                    version: v.to_owned(),
                })
                .ok_or_else(|| {
                    format!("{text}: expected npm:NAME@VERSION (or npm:@SCOPE/NAME@VERSION)")
                }),
            _ => return None,
        };
        Some(parsed)
    }
}

/// Where the registries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registries {
    /// PyPI's simple API (`https://pypi.org/simple`).
    pub pypi: String,
    /// The crates.io sparse index.
    pub crates_index: String,
    /// Where `.crate` files are downloaded from.
    pub crates_downloads: String,
    /// The npm registry.
    pub npm: String,
}

impl Default for Registries {
    fn default() -> Self {
        Registries {
            pypi: "https://pypi.org/simple".to_owned(),
            crates_index: crates::INDEX.to_owned(),
            crates_downloads: crates::DOWNLOADS.to_owned(),
            npm: npm::REGISTRY.to_owned(),
        }
    }
}

/// An artefact located: where it is, the hash its registry publishes, and
/// how a recipe unpacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file's name (`attrs-25.3.0.tar.gz`).
    pub file_name: String,
    /// Where it is.
    pub url: String,
    /// The registry's hash of it.
    pub hash: Hash,
    /// Unpacked (sources) or kept as a file (wheels).
    pub unpack: Option<Unpack>,
    /// Other files of the same version (PyPI: the wheels beside the sdist).
    pub others: Vec<String>,
    /// The registry marked it yanked.
    pub yanked: bool,
}

/// Why a registry prefetch failed.
#[derive(Debug, Error)]
pub enum RegistryFetchError {
    /// Asking the registry.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Its answer.
    #[error(transparent)]
    Answer(#[from] RegistryError),
    /// The registry does not have it.
    #[error("{registry} has no {what}")]
    NotFound { registry: String, what: String },
    /// Downloading the artefact.
    #[error(transparent)]
    Prefetch(#[from] PrefetchError),
    /// The store.
    #[error(transparent)]
    Store(#[from] forge_store::StoreError),
    /// Reading the answer.
    #[error("reading the answer of {url}: {source}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

impl Hint for RegistryFetchError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            RegistryFetchError::Fetch(e) => e.hint(),
            RegistryFetchError::Prefetch(e) => e.hint(),
            RegistryFetchError::NotFound { .. } => {
                Some("check the name and the exact version on the registry's site".into())
            }
            _ => None,
        }
    }
}

/// Asks the registry where `spec` is and which hash it publishes.
/// `file`: for PyPI, which of the version's files (default: the sdist,
/// else the first wheel).
pub fn locate(
    store_root: &Path,
    regs: &Registries,
    spec: &Spec,
    file: Option<&str>,
    progress: &dyn FetchProgress,
) -> Result<Located, RegistryFetchError> {
    match spec {
        Spec::Pypi { name, version } => {
            let url = format!("{}/{}/", regs.pypi, pypi::normalize(name));
            let page = ask(
                store_root,
                &url,
                Some("application/vnd.pypi.simple.v1+json"),
                progress,
            )?;
            let files = pypi::files(&page, &format!("{url} (PyPI)"))?;
            let of = pypi::of_version(&files, name, version);
            let not_found = |what: String| RegistryFetchError::NotFound {
                registry: regs.pypi.clone(),
                what,
            };
            let chosen = match file {
                Some(f) => of
                    .iter()
                    .find(|x| x.filename == f)
                    .copied()
                    .ok_or_else(|| {
                        not_found(format!(
                            "file {f} of {name} {version} (its files: {})",
                            of.iter()
                                .map(|x| x.filename.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?,
                None => of
                    .first()
                    .copied()
                    .ok_or_else(|| not_found(format!("{name} {version}")))?,
            };
            let is_sdist =
                chosen.filename.ends_with(".tar.gz") || chosen.filename.ends_with(".zip");
            Ok(Located {
                file_name: chosen.filename.clone(),
                url: chosen.url.clone(),
                hash: Hash::new(HashAlgo::Sha256, chosen.sha256),
                unpack: match is_sdist {
                    true if chosen.filename.ends_with(".zip") => Some(Unpack::Zip),
                    true => Some(Unpack::TarGz),
                    false => None,
                },
                others: of
                    .iter()
                    .filter(|x| x.filename != chosen.filename)
                    .map(|x| x.filename.clone())
                    .collect(),
                yanked: chosen.yanked,
            })
        }
        Spec::Crate { name, version } => {
            let path = crates::index_path(name).unwrap_or_default();
            let url = format!("{}/{path}", regs.crates_index);
            let text = ask(store_root, &url, None, progress)?;
            let versions = crates::versions(&text, &url)?;
            let v = versions
                .iter()
                .find(|v| &v.version == version)
                .ok_or_else(|| RegistryFetchError::NotFound {
                    registry: regs.crates_index.clone(),
                    what: format!("crate {name} {version}"),
                })?;
            Ok(Located {
                file_name: format!("{}-{}.crate", v.name, v.version),
                url: format!(
                    "{}/{}/{}-{}.crate",
                    regs.crates_downloads, v.name, v.name, v.version
                ),
                hash: Hash::new(HashAlgo::Sha256, v.sha256),
                unpack: Some(Unpack::TarGz),
                others: Vec::new(),
                yanked: v.yanked,
            })
        }
        Spec::Npm { name, version } => {
            let url = format!("{}/{}/{version}", regs.npm, name.replacen('/', "%2f", 1));
            let doc = ask(store_root, &url, Some("application/json"), progress)?;
            let t = npm::tarball(&doc, &url)?;
            let hash = Hash::parse(&t.integrity).map_err(|e| RegistryError::Field {
                what: url.clone(),
                field: "dist.integrity".to_owned(),
                message: e.to_string(),
            })?;
            let file_name = t.url.rsplit('/').next().unwrap_or("package.tgz").to_owned();
            Ok(Located {
                file_name,
                url: t.url,
                hash,
                unpack: Some(Unpack::TarGz),
                others: Vec::new(),
                yanked: false,
            })
        }
    }
}

/// Locates `spec` and prefetches it, pinned to the registry's hash.
pub fn prefetch_registry(
    store_root: &Path,
    regs: &Registries,
    spec: &Spec,
    file: Option<&str>,
    progress: &dyn FetchProgress,
) -> Result<(Located, Prefetched), RegistryFetchError> {
    let located = locate(store_root, regs, spec, file, progress)?;
    let got = prefetch_pinned(
        store_root,
        &located.url,
        &located.hash,
        located.unpack,
        progress,
    )?;
    Ok((located, got))
}

/// The registry's answer at `url`, at most 64 MiB, as text.
fn ask(
    store_root: &Path,
    url: &str,
    accept: Option<&'static str>,
    progress: &dyn FetchProgress,
) -> Result<String, RegistryFetchError> {
    const LIMIT: u64 = 64 << 20;
    let store = Store::open(store_root)?;
    let work = store.scratch_dir("registry")?;
    let dest = work.path().join("answer");
    let opts = FetchOptions {
        accept,
        ..FetchOptions::default()
    };
    fetch::download_unpinned(url, HashAlgo::Sha256, &dest, progress, &opts)?;
    let io = |source| RegistryFetchError::Io {
        url: url.to_owned(),
        source,
    };
    let len = std::fs::metadata(&dest).map_err(io)?.len();
    if len > LIMIT {
        return Err(RegistryFetchError::Answer(RegistryError::Field {
            what: url.to_owned(),
            field: "(the whole answer)".to_owned(),
            message: format!("{len} bytes, over the {LIMIT} forge reads"),
        }));
    }
    std::fs::read_to_string(&dest).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_registry_or_are_left_alone() {
        assert_eq!(
            Spec::parse("pypi:attrs==25.3.0"),
            Some(Ok(Spec::Pypi {
                name: "attrs".into(),
                version: "25.3.0".into()
            }))
        );
        assert_eq!(
            Spec::parse("crate:serde@1.0.200"),
            Some(Ok(Spec::Crate {
                name: "serde".into(),
                version: "1.0.200".into()
            }))
        );
        assert_eq!(
            Spec::parse("npm:@types/node@20.0.0"),
            Some(Ok(Spec::Npm {
                name: "@types/node".into(),
                version: "20.0.0".into()
            }))
        );
        assert_eq!(
            Spec::parse("npm:left-pad@1.3.0"),
            Some(Ok(Spec::Npm {
                name: "left-pad".into(),
                version: "1.3.0".into()
            }))
        );
        for bad in [
            "pypi:attrs",
            "pypi:==1",
            "crate:serde",
            "crate:a/b@1",
            "npm:left-pad",
            "npm:@types/node",
            "npm:Left@1",
        ] {
            assert!(matches!(Spec::parse(bad), Some(Err(_))), "{bad}");
        }
        for url in ["https://x/y", "file:///x", "deb:hello", "nothing"] {
            assert_eq!(Spec::parse(url), None, "{url}");
        }
    }
}
