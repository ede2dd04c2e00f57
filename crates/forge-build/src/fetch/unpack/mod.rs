//! Unpacking archives into a directory, safely and deterministically.
//!
//! See the [module docs](super) for the rules; in short: every entry's path
//! is checked (no absolute paths, no `..`), nothing is ever written through a
//! symlink (every parent directory is checked with `lstat`, files are created
//! with `O_CREAT | O_EXCL`), hard links become copies, special files are
//! refused, only the executable bit of modes is kept, and data is streamed.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use forge_core::diag::Hint;
use forge_core::recipe::Unpack;
use thiserror::Error;

use self::extractor::Extractor;
use super::ar::ArError;

mod extractor;
mod formats;

/// Largest GNU long name, long link name or pax header read into memory.
pub const MAX_EXTENSION_HEADER: u64 = 1 << 20;
/// Largest symlink target stored in a zip entry.
pub(super) const MAX_LINK_TARGET: u64 = 4096;
/// Memory limit of the xz decoder (xz -9 needs 65 MiB; the format allows
/// dictionaries of 1.5 GiB, which no real source archive uses).
pub const XZ_MEMLIMIT: u64 = 256 << 20;

/// Options of [`unpack`].
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Stop with [`UnpackError::TooLarge`] once the files written add up to
    /// more than this many bytes. `None`: no limit (the sandbox's disk quota
    /// still applies).
    pub max_bytes: Option<u64>,
    /// Override the single-top-directory rule ([`strips_single_top_dir`]).
    pub strip_single_top_dir: Option<bool>,
}

/// What [`unpack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOutcome {
    /// Entries written (files, directories, symlinks, copied hard links).
    pub entries: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// The name of the single top-level directory that became `dest`, if
    /// the archive had one and the rule applied.
    pub stripped: Option<String>,
}

/// Why an archive could not be unpacked. Every variant names the archive;
/// those about one entry name it too, as written in the archive.
#[derive(Debug, Error)]
pub enum UnpackError {
    /// The archive file could not be opened.
    #[error("cannot open archive {}", archive.display())]
    Open {
        /// The archive.
        archive: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `dest` exists already; unpacking never merges into an existing tree.
    #[error("cannot unpack into {}: it exists already", dest.display())]
    DestExists {
        /// The destination.
        dest: PathBuf,
    },
    /// Reading or decompressing the archive failed: it is corrupt, truncated
    /// or not of the declared kind.
    #[error("cannot read {kind} archive {}{}: {source}", archive.display(), at_entry(entry))]
    Read {
        /// The archive.
        archive: PathBuf,
        /// The declared kind.
        kind: Unpack,
        /// The entry being read, when known.
        entry: Option<String>,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The zip reader refused the archive.
    #[error("cannot read zip archive {}{}: {source}", archive.display(), at_entry(entry))]
    Zip {
        /// The archive.
        archive: PathBuf,
        /// The entry being read, when known.
        entry: Option<String>,
        /// The error.
        #[source]
        source: zip::result::ZipError,
    },
    /// The `ar` container of a `.deb` is malformed.
    #[error("cannot read deb archive {}: {source}", archive.display())]
    Ar {
        /// The archive.
        archive: PathBuf,
        /// The error.
        #[source]
        source: ArError,
    },
    /// A `.deb` without a `data.tar*` member.
    #[error("deb archive {} has no data.tar member (members: {})", archive.display(), members.join(", "))]
    NoDataTar {
        /// The archive.
        archive: PathBuf,
        /// The members it has.
        members: Vec<String>,
    },
    /// An entry's path is absolute or climbs out with `..`.
    #[error("archive {} has an unsafe entry `{entry}`: {reason}", archive.display())]
    UnsafePath {
        /// The archive.
        archive: PathBuf,
        /// The entry's path as written.
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An entry would be written through a symlink the archive created.
    #[error("archive {} has an entry `{entry}` below the symlink `{link}`; forge never writes through symlinks", archive.display())]
    ThroughSymlink {
        /// The archive.
        archive: PathBuf,
        /// The entry's path.
        entry: String,
        /// The symlink in its way.
        link: String,
    },
    /// A device node, fifo or socket.
    #[error("archive {} has a {kind} `{entry}`; only files, directories and symlinks can be unpacked", archive.display())]
    SpecialFile {
        /// The archive.
        archive: PathBuf,
        /// The entry's path.
        entry: String,
        /// What it is.
        kind: &'static str,
    },
    /// An entry of a kind forge does not unpack (GNU sparse files, …).
    #[error("archive {} has an entry `{entry}` of an unsupported kind: {kind}", archive.display())]
    Unsupported {
        /// The archive.
        archive: PathBuf,
        /// The entry's path.
        entry: String,
        /// What it is.
        kind: String,
    },
    /// A hard link whose target is not a regular file unpacked before it.
    #[error("archive {} has a hard link `{entry}` to `{target}`, which {reason}", archive.display())]
    BadHardLink {
        /// The archive.
        archive: PathBuf,
        /// The link's path.
        entry: String,
        /// Its target.
        target: String,
        /// What is wrong with the target.
        reason: &'static str,
    },
    /// A directory and a non-directory with the same path.
    #[error("archive {} has conflicting entries at `{entry}`: {detail}", archive.display())]
    Conflict {
        /// The archive.
        archive: PathBuf,
        /// The path.
        entry: String,
        /// What conflicts.
        detail: String,
    },
    /// More file data than [`UnpackOptions::max_bytes`].
    #[error("archive {} unpacks to more than {limit} bytes (at entry `{entry}`)", archive.display())]
    TooLarge {
        /// The archive.
        archive: PathBuf,
        /// The entry being written when the limit was reached.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// Writing the unpacked tree failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl Hint for UnpackError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            UnpackError::Read { kind, .. } => Some(
                format!("check that `unpack = \"{kind}\"` matches the format of the file").into(),
            ),
            UnpackError::NoDataTar { .. } => {
                Some("check that the file is a Debian binary package".into())
            }
            _ => None,
        }
    }
}

fn at_entry(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" (at entry `{e}`)"))
        .unwrap_or_default()
}

/// Whether [`unpack`] applies the single-top-directory rule to `kind` by
/// default: yes for tarballs and zip files (sources are usually wrapped in
/// `name-version/`), no for wheels and Debian packages, whose paths mean
/// something (install locations) and must stay as they are.
pub fn strips_single_top_dir(kind: Unpack) -> bool {
    !matches!(kind, Unpack::Whl | Unpack::Deb)
}

/// Unpacks `archive`, of format `kind`, into the new directory `dest` (which
/// must not exist; its parent must), as `opts` says. On error nothing is
/// left at `dest`.
pub fn unpack(
    archive: &Path,
    kind: Unpack,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackOutcome, UnpackError> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(UnpackError::DestExists {
            dest: dest.to_path_buf(),
        });
    }
    let file = File::open(archive).map_err(|source| UnpackError::Open {
        archive: archive.to_path_buf(),
        source,
    })?;
    let staging = staging_path(dest);
    let _ = fs::remove_dir_all(&staging);
    mkdir(&staging)?;
    let mut x = Extractor {
        root: staging.clone(),
        archive: archive.to_path_buf(),
        kind,
        max_bytes: opts.max_bytes,
        bytes: 0,
        entries: 0,
    };
    let result = formats::extract(&mut x, file).and_then(|()| {
        let strip = opts
            .strip_single_top_dir
            .unwrap_or_else(|| strips_single_top_dir(kind));
        finish(&staging, dest, strip)
    });
    match result {
        Ok(stripped) => Ok(UnpackOutcome {
            entries: x.entries,
            bytes: x.bytes,
            stripped,
        }),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// A private sibling of `dest` to unpack into before the final rename.
fn staging_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().unwrap_or(OsStr::new("unpack"));
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(format!(".unpack-{}", std::process::id()));
    dest.with_file_name(staged)
}

/// Moves the unpacked tree to `dest`, stripping a single top-level directory
/// when asked. Returns the stripped directory's name.
fn finish(staging: &Path, dest: &Path, strip: bool) -> Result<Option<String>, UnpackError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnpackError::Write { path, source }
    };
    if strip {
        let mut it = fs::read_dir(staging).map_err(write_err(staging))?;
        let first = it.next().transpose().map_err(write_err(staging))?;
        let second = it.next().transpose().map_err(write_err(staging))?;
        if let (Some(only), None) = (first, second) {
            // file_type() does not follow symlinks: a lone symlink stays.
            if only.file_type().map_err(write_err(&only.path()))?.is_dir() {
                fs::rename(only.path(), dest).map_err(write_err(dest))?;
                fs::remove_dir(staging).map_err(write_err(staging))?;
                return Ok(Some(only.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    fs::rename(staging, dest).map_err(write_err(dest))?;
    Ok(None)
}

pub(super) fn mkdir(path: &Path) -> Result<(), UnpackError> {
    fs::create_dir(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .map_err(|source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_rule_by_kind() {
        assert!(strips_single_top_dir(Unpack::TarGz));
        assert!(strips_single_top_dir(Unpack::Zip));
        assert!(!strips_single_top_dir(Unpack::Whl));
        assert!(!strips_single_top_dir(Unpack::Deb));
    }
}
