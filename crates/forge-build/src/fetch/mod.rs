//! Fetch inputs: download a URL, check it against its pinned hash, and
//! optionally unpack it into a directory.
//!
//! A recipe's `fetch` input (`docs/recipes.md`) names a URL, the hash of the
//! file as downloaded, and optionally an [`Unpack`] format. The build engine
//! realises it by running [`fetch`] inside the fixed-output sandbox (through
//! the hidden `forge __fetch` command), so this module runs with network
//! access but without trust in what the network says: the hash decides.
//!
//! # Pieces
//!
//! - [`download()`]: `http://`, `https://` and `file://` URLs to a file.
//! - [`unpack()`]: an archive file to a directory.
//! - [`fetch()`]: both, the one entry point for the engine.
//! - [`ar`]: a small streaming reader of `ar` archives (the container of
//!   `.deb` files).
//!
//! Progress goes to a [`FetchProgress`] callback; this module never prints.
//!
//! # Download: integrity, retries, resume
//!
//! The body is streamed to `<dest>.part` and hashed while it is written, with
//! the algorithm of the expected hash (sha256, sha512 or blake3). Only when the whole
//! file is there and its hash matches is it fsynced and renamed to `<dest>`;
//! on a mismatch, or any other error, the `.part` file is removed and nothing
//! is left behind. [`FetchError::HashMismatch`] prints both hashes in the
//! form a recipe takes (`sha256 = "<hex>"`), so the right one can be pasted.
//!
//! Failures are *transient* or *permanent*:
//!
//! - transient, retried: connection errors and timeouts, HTTP 5xx and 429,
//!   a body that ends before its `Content-Length`;
//! - permanent, reported at once: every other HTTP status (404, 403, 401…),
//!   malformed or unsupported URLs, local disk errors, a hash mismatch.
//!
//! Retries wait `initial_backoff × 2^(n-1)` (capped by `max_backoff`; a
//! `Retry-After` in seconds is honoured up to the same cap), at most
//! [`FetchOptions::retries`] times after the first attempt.
//!
//! After a transient failure mid-body, the bytes received so far are kept in
//! `.part`. If that response said `Accept-Ranges: bytes`, the next attempt
//! asks for the rest (`Range: bytes=<len>-`, with `If-Range` set to the
//! strong `ETag` or `Last-Modified` when there was one). A `206` whose
//! `Content-Range` starts exactly at `<len>` continues the file: the part
//! already on disk is hashed again first, so the final hash always covers
//! every byte of the file. Anything else (a `200`, a `416`, a `206` for
//! another range) starts again from zero. Resuming trusts nothing: a spliced
//! file that is wrong fails the hash check like any other.
//!
//! HTTP is [`ureq`] 2 (blocking, rustls): fetches run one per sandboxed
//! process, so an async runtime would buy nothing; rustls needs no system
//! OpenSSL inside the sandbox; and ureq exposes the status, headers and a
//! plain `Read` body, which is all that resume needs. TLS trusts the host's
//! CA bundle when there is one (`SSL_CERT_FILE`, else
//! `/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`
//! or `/etc/ssl/cert.pem`; the fixed-output sandbox exposes `/etc/ssl/certs`
//! and `/etc/pki/tls/certs`), so a host behind a TLS-inspecting proxy
//! fetches through it; only without a usable bundle does it fall back to
//! the webpki roots compiled into ureq. Compression is not
//! negotiated (no `Accept-Encoding`), so the bytes hashed are the bytes the
//! publisher hashed. `http_proxy`/`https_proxy`/`ALL_PROXY` are honoured
//! when [`FetchOptions::proxy_from_env`] is set (the default), with
//! `NO_PROXY` checked here since ureq 2 does not.
//!
//! # Unpack: what is safe against what
//!
//! Archives are hostile input (their hash only proves they are the pinned
//! bytes, not that those bytes are benign). [`unpack()`] unpacks into a
//! private staging directory next to `dest` and renames it into place at the
//! end, so `dest` either appears complete or not at all. For every entry:
//!
//! - **paths**: absolute paths, `..` components and NUL bytes are refused
//!   ([`UnpackError::UnsafePath`], naming the entry); `.` and empty
//!   components are dropped;
//! - **symlinks** are created as they are (targets may point anywhere, even
//!   outside: they are data, as in any store object), but never written
//!   through: every parent of every entry is checked with `lstat` to be a
//!   real directory, and files are created with `O_CREAT | O_EXCL`, which
//!   does not follow a symlink. `a -> /etc` followed by `a/passwd` fails with
//!   [`UnpackError::ThroughSymlink`];
//! - **hard links** become copies of a regular file unpacked earlier in the
//!   same archive (reached without following symlinks); anything else is
//!   [`UnpackError::BadHardLink`];
//! - **device nodes, fifos and sockets** are refused
//!   ([`UnpackError::SpecialFile`]); GNU sparse files are refused as
//!   unsupported;
//! - **modes**: only the executable bit survives: directories 0755, files
//!   0644 or 0755; no setuid, setgid or sticky bits. Owners, mtimes and
//!   extended attributes are ignored (the store canonicalises afterwards);
//! - **duplicates**: a later file or symlink replaces an earlier one (what
//!   `tar x` does with appended archives); a repeated directory is merged;
//!   a directory and a non-directory at the same path is an error
//!   ([`UnpackError::Conflict`]);
//! - **size**: entries are streamed from the decompressor to disk, never
//!   buffered whole. Only small metadata is read into memory, each with a
//!   bound (tar long names and pax headers: 1 MiB; zip symlink targets:
//!   4 KiB; the `ar` name table: 1 MiB); the xz decoder's memory is capped
//!   at 256 MiB. [`UnpackOptions::max_bytes`] bounds the total written.
//!
//! **Single top-level directory.** When an archive holds exactly one entry at
//! its top level and that entry is a directory (`hello-2.12.1/`), the result
//! is that directory's contents (`docs/recipes.md`). This applies to tarballs
//! and zip files; not to wheels and `.deb` packages, whose paths are install
//! locations ([`strips_single_top_dir`]).
//!
//! Formats: `tar` (ustar, GNU and pax headers), `tar.gz` (flate2, pure
//! Rust), `tar.xz` (liblzma, built from source), `tar.zst` (libzstd, built
//! from source), `tar.bz2` (pure-Rust libbz2), `zip` and `whl` (stored and
//! deflate entries), `deb` (`ar` holding `data.tar[.gz|.xz|.zst|.bz2]`).

pub mod ar;
mod download;
pub mod protocol;
mod unpack;

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use forge_core::diag::Hint;
use forge_core::hash::Hash;
pub use forge_core::recipe::Unpack;
use thiserror::Error;

pub use download::{download, download_unpinned, file_url_path, http_agent, part_path, Download};
pub use unpack::{
    strips_single_top_dir, unpack, UnpackError, UnpackOptions, UnpackOutcome, MAX_EXTENSION_HEADER,
    XZ_MEMLIMIT,
};

/// One fetch input: what to download, what it must hash to, and how to
/// unpack it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSpec {
    /// An `https`, `http` or `file` URL.
    pub url: String,
    /// The hash of the file as downloaded.
    pub hash: Hash,
    /// How to unpack it; `None` keeps the file.
    pub unpack: Option<Unpack>,
}

/// Knobs of a download.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Retries after the first attempt, for transient failures.
    pub retries: u32,
    /// Limit on establishing a connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Limit on each read (and write) on the connection: a server silent for
    /// this long counts as a transient failure.
    pub read_timeout: Duration,
    /// The wait before the first retry; doubled for each later one.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
    /// Use `https_proxy`/`http_proxy`/`ALL_PROXY` from the environment.
    pub proxy_from_env: bool,
    /// Limits for unpacking.
    pub unpack: UnpackOptions,
    /// When unpacking, leave the download at `<work_dir>/download` (the
    /// build engine hashes it again outside the fetch sandbox).
    pub keep_download: bool,
    /// An `Accept` header for the request (a registry's JSON API, such as
    /// PyPI's simple API, answers HTML without it). None: no header.
    pub accept: Option<&'static str>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            retries: 4,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_redirects: 10,
            proxy_from_env: true,
            unpack: UnpackOptions::default(),
            keep_download: false,
            accept: None,
        }
    }
}

/// Receives progress. Every method has an empty default, so an implementor
/// picks what it shows. Called from the fetching thread.
pub trait FetchProgress {
    /// A request got its response (or a file was opened); `total` is the
    /// full size when known. Called again after each retry.
    fn started(&self, url: &str, total: Option<u64>) {
        let _ = (url, total);
    }
    /// `done` bytes of the file are on disk (counting a resumed part).
    fn bytes(&self, done: u64, total: Option<u64>) {
        let _ = (done, total);
    }
    /// Attempt `attempt` failed with `reason`; the next starts after `delay`.
    fn retrying(&self, url: &str, attempt: u32, delay: Duration, reason: &str) {
        let _ = (url, attempt, delay, reason);
    }
    /// Unpacking has begun.
    fn unpacking(&self, kind: Unpack) {
        let _ = kind;
    }
}

/// A [`FetchProgress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl FetchProgress for NoProgress {}

/// What [`fetch`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The download.
    pub download: Download,
    /// The unpacking, when the spec asked for one.
    pub unpacked: Option<UnpackOutcome>,
}

/// How a hash appears in a recipe: `sha256 = "<hex>"`.
fn recipe_form(h: &Hash) -> String {
    format!("{} = \"{}\"", h.algo(), h.to_hex())
}

/// Why a fetch failed. Every variant names the URL or the local path.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The URL is malformed or of a scheme forge does not fetch.
    #[error("cannot fetch {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The file's hash is not the pinned one.
    #[error(
        "hash mismatch for {url}\n  expected: {}\n  got:      {}",
        recipe_form(expected),
        recipe_form(actual)
    )]
    HashMismatch {
        /// The URL.
        url: String,
        /// The pinned hash (boxed, as `actual`: a SHA-512 makes a `Hash`
        /// 65 bytes, and every `Result` of this error would carry both).
        expected: Box<Hash>,
        /// The hash of what arrived.
        actual: Box<Hash>,
    },
    /// The server answered with a status that retrying will not change.
    #[error("fetching {url} failed: HTTP {status} {reason}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The server's reason phrase.
        reason: String,
    },
    /// Transient failures, as many as allowed.
    #[error("fetching {url} failed after {attempts} attempts; the last: {last}")]
    GaveUp {
        /// The URL.
        url: String,
        /// Requests made.
        attempts: u32,
        /// What went wrong the last time.
        last: String,
    },
    /// A `file://` URL's file could not be read.
    #[error("cannot read {} (from {url})", path.display())]
    ReadFile {
        /// The URL.
        url: String,
        /// The local path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A local file or directory could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The download was fine; unpacking it was not.
    #[error("cannot unpack {url}: {source}")]
    Unpack {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: UnpackError,
    },
}

impl Hint for FetchError {
    /// `Unpack` gives none here: its source, in the error chain, has it.
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            FetchError::BadUrl { .. } => {
                Some("fetch URLs are https://…, http://… or file:///absolute/path".into())
            }
            FetchError::HashMismatch { actual, .. } => Some(
                format!(
                    "if the file changed upstream on purpose, check it and paste `{}` into the recipe; otherwise the server sent other bytes than were pinned",
                    recipe_form(actual)
                )
                .into(),
            ),
            FetchError::HttpStatus { status: 404 | 410, .. } => Some(
                "check the URL; publishers sometimes move old releases to an archive location"
                    .into(),
            ),
            FetchError::HttpStatus { status: 401 | 403, .. } => Some(
                "the server refuses anonymous access; fetch inputs must be publicly downloadable"
                    .into(),
            ),
            FetchError::GaveUp { .. } => {
                Some("check the network (and https_proxy), or try again later".into())
            }
            FetchError::HttpStatus { .. }
            | FetchError::ReadFile { .. }
            | FetchError::Write { .. }
            | FetchError::Unpack { .. } => None,
        }
    }
}

/// Fetches one input: downloads `spec.url` into `work_dir`, checks it
/// against `spec.hash`, then moves the file to `out` (no unpack) or unpacks
/// it into the new directory `out`. `out` must not exist; `work_dir` must.
/// On error nothing is left at `out` and the download is removed.
pub fn fetch(
    spec: &FetchSpec,
    work_dir: &Path,
    out: &Path,
    progress: &dyn FetchProgress,
    opts: &FetchOptions,
) -> Result<FetchOutcome, FetchError> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(FetchError::Write {
            path: out.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "the output exists already"),
        });
    }
    let file = work_dir.join("download");
    let download = download(&spec.url, &spec.hash, &file, progress, opts)?;
    let unpacked = match spec.unpack {
        None => {
            if let Err(e) = move_file(&file, out) {
                let _ = fs::remove_file(&file);
                return Err(e);
            }
            None
        }
        Some(kind) => {
            progress.unpacking(kind);
            let r = unpack(&file, kind, out, &opts.unpack);
            if !opts.keep_download {
                let _ = fs::remove_file(&file);
            }
            Some(r.map_err(|source| FetchError::Unpack {
                url: spec.url.clone(),
                source,
            })?)
        }
    };
    Ok(FetchOutcome { download, unpacked })
}

/// Renames, or copies and removes when `from` and `to` are on different
/// filesystems.
fn move_file(from: &Path, to: &Path) -> Result<(), FetchError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Write { path, source }
    };
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let tmp = part_path(to);
            let r = fs::copy(from, &tmp)
                .and_then(|_| fs::File::open(&tmp)?.sync_all())
                .and_then(|()| fs::rename(&tmp, to));
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            r.map_err(werr(to))?;
            fs::remove_file(from).map_err(werr(from))
        }
        Err(e) => Err(werr(to)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::hash::HashAlgo;

    #[test]
    fn mismatch_prints_pasteable_hashes() {
        let e = FetchError::HashMismatch {
            url: "https://example.org/a.tar.gz".into(),
            expected: Box::new(HashAlgo::Sha256.digest(b"a")),
            actual: Box::new(HashAlgo::Sha256.digest(b"")),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("hash mismatch for https://example.org/a.tar.gz\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "got:      sha256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""
            ),
            "{s}"
        );
        assert!(!s.contains("hint"), "{s}");
        assert!(
            e.hint().unwrap().contains("paste `sha256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"` into the recipe"),
            "{s}"
        );
    }

    #[test]
    fn status_errors_name_url_and_status() {
        let e = FetchError::HttpStatus {
            url: "https://example.org/x".into(),
            status: 404,
            reason: "Not Found".into(),
        };
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "fetching https://example.org/x failed: HTTP 404 Not Found"
        );
        assert!(e.hint().unwrap().starts_with("check the URL"));
        let e = FetchError::HttpStatus {
            url: "https://example.org/x".into(),
            status: 500,
            reason: "Internal Server Error".into(),
        };
        assert_eq!(e.hint(), None);
    }
}
