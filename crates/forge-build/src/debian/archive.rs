//! Fetching a Debian suite's package indices, verified (docs/bootstrap.md,
//! "From the archive keyring to a pinned .deb").
//!
//! For each suite (`bookworm`, `bookworm-updates`, `bookworm-security`):
//!
//! 1. `dists/<suite>/InRelease` is downloaded with nothing to check it
//!    against yet (it changes with every archive update);
//! 2. the host's `gpgv` checks its signature against the archive keyring and
//!    writes out the text it verified (`--output`): that text, and nothing
//!    outside it, is parsed as the `Release` file, so a parser difference
//!    between forge and gpgv cannot smuggle in unsigned lines;
//! 3. the Release must name the suite asked for (a mirror cannot answer
//!    `bookworm-security` with an old `bookworm`) and must not be past its
//!    `Valid-Until` (a replayed old Release would pin old, vulnerable
//!    packages);
//! 4. each component's `Packages.xz` is fetched **by the SHA-256 the Release
//!    lists** (through `by-hash/` when the archive offers it, so an index
//!    replaced mid-update is never mixed up) as a fixed output into the
//!    store: a second `forge lock` against an unchanged archive downloads
//!    only the InRelease files.
//!
//! The decompressed indices are handed to [`forge_core::debian`]'s parser
//! and resolver by the caller.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use forge_core::debian::release::Release;
use forge_core::hash::{Hash, HashAlgo};
use forge_store::Store;

use super::DebianError;
use crate::fetch::{self, FetchOptions, FetchProgress};

/// Where a suite's indices come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteSource {
    /// The archive's base URI, without a trailing slash
    /// (`http://deb.debian.org/debian`).
    pub uri: String,
    /// The suite (`bookworm-security`).
    pub suite: String,
    /// The components wanted (`main`).
    pub components: Vec<String>,
    /// The keyring the suite's InRelease must be signed by.
    pub keyring: PathBuf,
}

/// One verified index of one suite: which it is and its text.
#[derive(Debug)]
pub struct FetchedIndex {
    /// The archive's base URI.
    pub uri: String,
    /// The suite.
    pub suite: String,
    /// The component.
    pub component: String,
    /// The SHA-256 of `Packages.xz` that the signed Release lists.
    pub sha256: Hash,
    /// Whether the store had the index already (nothing downloaded).
    pub cached: bool,
    /// The decompressed `Packages` text.
    pub text: String,
}

/// The indices of `src` for `arch`, verified (see the module docs). `now`
/// is seconds since the epoch, for `Valid-Until`.
pub fn fetch_suite(
    store: &mut Store,
    src: &SuiteSource,
    arch: &str,
    now: u64,
    progress: &dyn FetchProgress,
) -> Result<Vec<FetchedIndex>, DebianError> {
    let _gc = store.lock_against_gc()?;
    let work = store.scratch_dir("debian-index")?;
    let in_release = work.path().join("InRelease");
    let url = format!("{}/dists/{}/InRelease", src.uri, src.suite);
    let opts = FetchOptions::default();
    fetch::download_unpinned(&url, HashAlgo::Sha256, &in_release, progress, &opts)?;
    let verified = work.path().join("Release");
    verify(&in_release, &verified, &src.keyring, &url)?;
    let text = std::fs::read_to_string(&verified).map_err(|source| DebianError::Io {
        what: "reading the verified Release of",
        path: url.clone(),
        source,
    })?;
    let release = Release::parse(&text).map_err(|e| DebianError::Release {
        url: url.clone(),
        message: e.to_string(),
    })?;
    if release.suite.as_deref() != Some(src.suite.as_str())
        && release.codename.as_deref() != Some(src.suite.as_str())
    {
        return Err(DebianError::WrongSuite {
            url,
            asked: src.suite.clone(),
            suite: release.suite.clone().unwrap_or_default(),
            codename: release.codename.clone().unwrap_or_default(),
        });
    }
    if let Some(until) = release.valid_until {
        if until < i64::try_from(now).unwrap_or(i64::MAX) {
            return Err(DebianError::Expired { url, until });
        }
    }
    let mut out = Vec::new();
    for component in &src.components {
        let rel = format!("{component}/binary-{arch}/Packages.xz");
        let entry = release.file(&rel).ok_or_else(|| DebianError::NoIndex {
            url: url.clone(),
            file: rel.clone(),
        })?;
        let sha256 = Hash::new(HashAlgo::Sha256, entry.sha256);
        let index_url = if release.acquire_by_hash {
            format!(
                "{}/dists/{}/{component}/binary-{arch}/by-hash/SHA256/{}",
                src.uri,
                src.suite,
                sha256.to_hex()
            )
        } else {
            format!("{}/dists/{}/{rel}", src.uri, src.suite)
        };
        let (path, cached) = fetch_pinned(store, &index_url, &sha256, work.path(), progress)?;
        let text = unxz(&store.physical(&path), &index_url, entry.size)?;
        out.push(FetchedIndex {
            uri: src.uri.clone(),
            suite: src.suite.clone(),
            component: component.clone(),
            sha256,
            cached,
            text,
        });
    }
    Ok(out)
}

/// Runs `gpgv` on `in_release`, writing the verified text to `out`.
/// Succeeds only on a good signature by a key in `keyring`.
fn verify(in_release: &Path, out: &Path, keyring: &Path, url: &str) -> Result<(), DebianError> {
    // gpgv reads no configuration of the user's: an empty home of its own.
    let home = tempfile::tempdir().map_err(|source| DebianError::Io {
        what: "making a GnuPG home for",
        path: url.to_owned(),
        source,
    })?;
    let result = Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .arg("--status-fd")
        .arg("1")
        .arg("--keyring")
        .arg(keyring)
        .arg("--output")
        .arg(out)
        .arg(in_release)
        .output()
        .map_err(|source| DebianError::Gpgv {
            url: url.to_owned(),
            message: format!("cannot run gpgv: {source}"),
        })?;
    let status = String::from_utf8_lossy(&result.stdout);
    let good = status.lines().any(|l| l.starts_with("[GNUPG:] VALIDSIG "));
    if !result.status.success() || !good {
        let stderr = String::from_utf8_lossy(&result.stderr);
        return Err(DebianError::BadSignature {
            url: url.to_owned(),
            keyring: keyring.to_owned(),
            detail: stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no valid signature")
                .to_owned(),
        });
    }
    Ok(())
}

/// The file at `url` with SHA-256 `hash` in the store, fetched unless the
/// store has it; and whether it had.
fn fetch_pinned(
    store: &mut Store,
    url: &str,
    hash: &Hash,
    work: &Path,
    progress: &dyn FetchProgress,
) -> Result<(forge_core::store_path::StorePath, bool), DebianError> {
    let (name, key) = crate::inputs::fetch::fetch_key(url, hash, None);
    if let Some(p) = store.fetched(&key)? {
        return Ok((p, true));
    }
    let dest = work.join(hash.to_hex());
    fetch::download(url, hash, &dest, progress, &FetchOptions::default())?;
    let path = crate::inputs::fetch::register_fetched(store, &dest, &name, &key)?;
    Ok((path, false))
}

/// Decompresses the xz file at `path` (an index of `url`) into text, at
/// most 1 GiB.
fn unxz(path: &Path, url: &str, compressed: u64) -> Result<String, DebianError> {
    const LIMIT: u64 = 1 << 30;
    let io = |source| DebianError::Io {
        what: "decompressing",
        path: url.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::with_capacity((compressed * 6).min(LIMIT) as usize);
    // One byte past the limit tells a cut index from one that fits.
    let n = xz2::read::XzDecoder::new(file)
        .take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if n as u64 > LIMIT {
        return Err(io(std::io::Error::other(format!(
            "it decompresses to more than {LIMIT} bytes"
        ))));
    }
    Ok(text)
}
