//! `forge prefetch deb:NAME[=VERSION]`: one package of a suite family, found
//! in the verified indices, downloaded and checked against the SHA-256 its
//! index lists, unpacked into the store as a recipe's
//! `{ fetch = …, sha256 = …, unpack = "deb" }` input would be.
//!
//! Only the package itself: its dependencies are what a `debian` package
//! set resolves (docs/bootstrap.md).

use std::path::Path;

use forge_core::debian::packages;
use forge_core::debian::Version;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::recipe::Unpack;
use forge_store::Store;

use super::archive::{fetch_suite, FetchedIndex, SuiteSource};
use super::DebianError;
use crate::fetch::FetchProgress;
use crate::inputs::{prefetch, Prefetched};

/// A package found in an index: enough to pin it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `amd64`, `all`…
    pub architecture: String,
    /// The suite whose index listed it.
    pub suite: String,
    /// Where the `.deb` is.
    pub url: String,
    /// The SHA-256 its index lists.
    pub sha256: Hash,
    /// The size its index lists.
    pub size: u64,
}

/// The highest version of `name` (or exactly `version`) for `arch` or
/// `all` in `indices`; the first index wins a tie.
pub fn find(
    indices: &[FetchedIndex],
    name: &str,
    version: Option<&str>,
    arch: &str,
) -> Result<Option<Found>, DebianError> {
    let want = match version {
        Some(v) => Some(v.parse::<Version>().map_err(|e| DebianError::Release {
            url: format!("deb:{name}={v}"),
            message: e.to_string(),
        })?),
        None => None,
    };
    let mut best: Option<(Version, Found)> = None;
    for index in indices {
        for record in packages::records(&index.text) {
            // A record that does not parse cannot be this package's pin
            // unless it is named so; the resolver reports broken ones.
            let Ok(p) = record else { continue };
            if p.name != name || (p.architecture != arch && p.architecture != "all") {
                continue;
            }
            if want.as_ref().is_some_and(|w| *w != p.version) {
                continue;
            }
            if best.as_ref().is_some_and(|(v, _)| *v >= p.version) {
                continue;
            }
            let found = Found {
                name: p.name.clone(),
                version: p.version.to_string(),
                architecture: p.architecture.clone(),
                suite: index.suite.clone(),
                url: format!("{}/{}", index.uri, p.filename),
                sha256: Hash::new(HashAlgo::Sha256, p.sha256),
                size: p.size,
            };
            best = Some((p.version, found));
        }
    }
    Ok(best.map(|(_, f)| f))
}

/// Fetches the indices of `suites`, finds `name` in them and prefetches its
/// `.deb` (unpacked), checked against the index's SHA-256.
pub fn prefetch_deb(
    store_root: &Path,
    suites: &[SuiteSource],
    name: &str,
    version: Option<&str>,
    arch: &str,
    now: u64,
    progress: &dyn FetchProgress,
) -> Result<(Found, Prefetched), DebianError> {
    let mut indices = Vec::new();
    {
        let mut store = Store::open(store_root)?;
        for s in suites {
            indices.extend(fetch_suite(&mut store, s, arch, now, progress)?);
        }
    }
    let found = find(&indices, name, version, arch)?.ok_or_else(|| DebianError::NoPackage {
        name: name.to_owned(),
        version: version.map(str::to_owned),
        suites: suites
            .iter()
            .map(|s| s.suite.clone())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let got =
        prefetch(store_root, &found.url, Some(Unpack::Deb), progress).map_err(|e| match e {
            crate::inputs::PrefetchError::Fetch(f) => DebianError::from(f),
            crate::inputs::PrefetchError::Store(s) => DebianError::Store(s),
        })?;
    if got.sha256 != found.sha256 {
        return Err(DebianError::from(crate::fetch::FetchError::HashMismatch {
            url: found.url.clone(),
            expected: Box::new(found.sha256),
            actual: Box::new(got.sha256),
        }));
    }
    Ok((found, got))
}
