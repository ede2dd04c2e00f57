//! Unpacking archives into a directory, safely and deterministically.
//!
//! See the [module docs](super) for the rules; in short: every entry's path
//! is checked (no absolute paths, no `..`), nothing is ever written through a
//! symlink (every parent directory is checked with `lstat`, files are created
//! with `O_CREAT | O_EXCL`), hard links become copies, special files are
//! refused, only the executable bit of modes is kept, and data is streamed.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use forge_core::diag::Hint;
use forge_core::recipe::Unpack;
use thiserror::Error;

use super::ar::{ArError, ArReader};

/// Largest GNU long name, long link name or pax header read into memory.
pub const MAX_EXTENSION_HEADER: u64 = 1 << 20;
/// Largest symlink target stored in a zip entry.
const MAX_LINK_TARGET: u64 = 4096;
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
    let result = extract(&mut x, file).and_then(|()| {
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

fn mkdir(path: &Path) -> Result<(), UnpackError> {
    fs::create_dir(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .map_err(|source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn extract(x: &mut Extractor, file: File) -> Result<(), UnpackError> {
    let r = BufReader::new(file);
    match x.kind {
        Unpack::Zip | Unpack::Whl => extract_zip(x, r),
        Unpack::Deb => extract_deb(x, r),
        tar_kind => {
            let decoded = decoder(tar_kind, r).map_err(|e| x.read_err(None, e))?;
            extract_tar(x, decoded)
        }
    }
}

/// The decompressing reader for a tar kind.
fn decoder<'a, R: Read + 'a>(kind: Unpack, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Unpack::TarGz => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Unpack::TarXz => {
            let stream =
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, xz2::stream::CONCATENATED)
                    .map_err(io::Error::other)?;
            Box::new(xz2::read::XzDecoder::new_stream(r, stream))
        }
        Unpack::TarZst => Box::new(zstd::stream::read::Decoder::new(r)?),
        Unpack::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        _ => Box::new(r),
    })
}

/// Writes entries under `root`, enforcing the rules.
struct Extractor {
    root: PathBuf,
    archive: PathBuf,
    kind: Unpack,
    max_bytes: Option<u64>,
    bytes: u64,
    entries: u64,
}

/// What an entry is, once its archive format is set aside.
enum Node<'a> {
    Dir,
    File {
        executable: bool,
        data: &'a mut dyn Read,
    },
    Symlink {
        target: Vec<u8>,
    },
    HardLink {
        target: Vec<u8>,
    },
}

fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

impl Extractor {
    fn read_err(&self, entry: Option<&[u8]>, source: io::Error) -> UnpackError {
        UnpackError::Read {
            archive: self.archive.clone(),
            kind: self.kind,
            entry: entry.map(show),
            source,
        }
    }

    fn write_err(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The entry's path split into checked components; empty for the root.
    fn components<'p>(&self, raw: &'p [u8]) -> Result<Vec<&'p [u8]>, UnpackError> {
        let unsafe_path = |reason| UnpackError::UnsafePath {
            archive: self.archive.clone(),
            entry: show(raw),
            reason,
        };
        if raw.first() == Some(&b'/') {
            return Err(unsafe_path("absolute paths are not allowed"));
        }
        let mut out = Vec::new();
        for c in raw.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(unsafe_path("`..` components are not allowed")),
                _ if c.contains(&0) => return Err(unsafe_path("NUL bytes are not allowed")),
                _ => out.push(c),
            }
        }
        Ok(out)
    }

    /// Checks that every parent of `comps` under the root is a real
    /// directory, creating missing ones; returns the full path.
    fn prepare_parents(&self, raw: &[u8], comps: &[&[u8]]) -> Result<PathBuf, UnpackError> {
        let mut path = self.root.clone();
        let (last, parents) = comps.split_last().expect("callers pass a non-empty path");
        for (i, c) in parents.iter().enumerate() {
            path.push(OsStr::from_bytes(c));
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(UnpackError::ThroughSymlink {
                        archive: self.archive.clone(),
                        entry: show(raw),
                        link: show(&comps[..=i].join(&b'/')),
                    })
                }
                Ok(_) => {
                    return Err(UnpackError::Conflict {
                        archive: self.archive.clone(),
                        entry: show(raw),
                        detail: format!(
                            "`{}` is a file, not a directory",
                            show(&comps[..=i].join(&b'/'))
                        ),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => mkdir(&path)?,
                Err(e) => return Err(Self::write_err(&path)(e)),
            }
        }
        path.push(OsStr::from_bytes(last));
        Ok(path)
    }

    /// Makes room for a new entry at `path`: a later file or symlink
    /// replaces an earlier one; a directory and a non-directory conflict.
    /// Returns whether a directory is there already.
    fn clear(&self, raw: &[u8], path: &Path, new_is_dir: bool) -> Result<bool, UnpackError> {
        let conflict = |detail: &str| UnpackError::Conflict {
            archive: self.archive.clone(),
            entry: show(raw),
            detail: detail.to_owned(),
        };
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::write_err(path)(e)),
            Ok(m) if m.is_dir() => {
                if new_is_dir {
                    Ok(true)
                } else {
                    Err(conflict("a directory of that name came earlier"))
                }
            }
            Ok(_) if new_is_dir => Err(conflict("a file of that name came earlier")),
            Ok(_) => fs::remove_file(path)
                .map(|()| false)
                .map_err(Self::write_err(path)),
        }
    }

    /// Writes one entry.
    fn entry(&mut self, raw: &[u8], node: Node<'_>) -> Result<(), UnpackError> {
        let comps = self.components(raw)?;
        if comps.is_empty() {
            // `./` and the like: the root itself.
            return match node {
                Node::Dir => Ok(()),
                _ => Err(UnpackError::UnsafePath {
                    archive: self.archive.clone(),
                    entry: show(raw),
                    reason: "only a directory may stand for the archive's root",
                }),
            };
        }
        let path = self.prepare_parents(raw, &comps)?;
        match node {
            Node::Dir => {
                if !self.clear(raw, &path, true)? {
                    mkdir(&path)?;
                }
            }
            Node::File { executable, data } => {
                self.clear(raw, &path, false)?;
                self.write_file(raw, &path, executable, data)?;
            }
            Node::Symlink { target } => {
                if target.is_empty() || target.contains(&0) {
                    return Err(UnpackError::Unsupported {
                        archive: self.archive.clone(),
                        entry: show(raw),
                        kind: "symlink with an empty or NUL-containing target".into(),
                    });
                }
                self.clear(raw, &path, false)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .map_err(Self::write_err(&path))?;
            }
            Node::HardLink { target } => {
                let source = self.hard_link_source(raw, &target)?;
                if source == path {
                    // A link to itself: the file is there already.
                    return Ok(());
                }
                let m = fs::metadata(&source).map_err(Self::write_err(&source))?;
                let mut data = File::open(&source).map_err(Self::write_err(&source))?;
                self.clear(raw, &path, false)?;
                self.write_file(raw, &path, m.permissions().mode() & 0o111 != 0, &mut data)?;
            }
        }
        self.entries += 1;
        Ok(())
    }

    /// The unpacked regular file a hard link points at, reached without
    /// following any symlink.
    fn hard_link_source(&self, raw: &[u8], target: &[u8]) -> Result<PathBuf, UnpackError> {
        let bad = |reason| UnpackError::BadHardLink {
            archive: self.archive.clone(),
            entry: show(raw),
            target: show(target),
            reason,
        };
        let comps = self.components(target)?;
        if comps.is_empty() {
            return Err(bad("is the archive's root"));
        }
        let mut path = self.root.clone();
        for (i, c) in comps.iter().enumerate() {
            path.push(OsStr::from_bytes(c));
            let last = i + 1 == comps.len();
            match fs::symlink_metadata(&path) {
                Ok(m) if !last && m.is_dir() => {}
                Ok(m) if last && m.is_file() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(bad("is or lies below a symlink"))
                }
                Ok(_) => return Err(bad("is not a regular file")),
                Err(_) => return Err(bad("does not come earlier in the archive")),
            }
        }
        Ok(path)
    }

    fn write_file(
        &mut self,
        raw: &[u8],
        path: &Path,
        executable: bool,
        data: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        let mode = if executable { 0o755 } else { 0o644 };
        // create_new is O_CREAT | O_EXCL: it never follows a symlink.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(Self::write_err(path))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_err(Some(raw), e)),
            };
            self.bytes += n as u64;
            if let Some(limit) = self.max_bytes.filter(|&l| self.bytes > l) {
                return Err(UnpackError::TooLarge {
                    archive: self.archive.clone(),
                    entry: show(raw),
                    limit,
                });
            }
            f.write_all(&buf[..n]).map_err(Self::write_err(path))?;
        }
        // The umask may have taken bits away; set the mode exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(Self::write_err(path))
    }
}

/// Reads at most `limit` bytes of an extension header's data.
fn read_bounded(r: &mut dyn Read, size: u64) -> io::Result<Vec<u8>> {
    if size > MAX_EXTENSION_HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("extension header of {size} bytes exceeds the limit of {MAX_EXTENSION_HEADER}"),
        ));
    }
    let mut buf = Vec::new();
    r.take(size).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The `path`, `linkpath` and `size` records of a pax extended header, and
/// whether it describes a sparse file.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

fn parse_pax(data: &[u8]) -> io::Result<Pax> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed pax header: {what}"),
        )
    };
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        // Each record is "<len> <key>=<value>\n", <len> counting all of it.
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without a length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > sp + 1 && l <= rest.len())
            .ok_or_else(|| bad("bad record length"))?;
        let record = &rest[sp + 1..len];
        rest = &rest[len..];
        let record = record
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("record not ending in a newline"))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without `=`"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => {
                pax.size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad("size is not a number"))?,
                )
            }
            k if k.starts_with(b"GNU.sparse.") => pax.sparse = true,
            _ => {}
        }
    }
    Ok(pax)
}

/// Unpacks a tar stream. The tar crate is used in raw mode, and GNU long
/// names and pax headers are handled here, so that their size is bounded
/// ([`MAX_EXTENSION_HEADER`]) and nothing is ever unpacked by the crate.
fn extract_tar(x: &mut Extractor, r: impl Read) -> Result<(), UnpackError> {
    use tar::EntryType as T;
    let mut archive = tar::Archive::new(r);
    let entries = archive.entries().map_err(|e| x.read_err(None, e))?;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut pax = Pax::default();
    let mut last_name: Option<Vec<u8>> = None;
    for entry in entries.raw(true) {
        let mut entry = entry.map_err(|e| x.read_err(last_name.as_deref(), e))?;
        let header = entry.header().clone();
        let ty = header.entry_type();
        let size = header
            .entry_size()
            .map_err(|e| x.read_err(last_name.as_deref(), e))?;
        let ext_err = |x: &Extractor, e| x.read_err(last_name.as_deref(), e);
        match ty {
            T::GNULongName => {
                let mut name = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            T::GNULongLink => {
                let mut name = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_link = Some(name);
                continue;
            }
            T::XHeader => {
                let data = read_bounded(&mut entry, size).map_err(|e| ext_err(x, e))?;
                pax = parse_pax(&data).map_err(|e| ext_err(x, e))?;
                continue;
            }
            T::XGlobalHeader => continue,
            _ => {}
        }
        let name = pax
            .path
            .take()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let link = pax
            .linkpath
            .take()
            .or_else(|| long_link.take())
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
        let (pax_size, sparse) = (pax.size.take(), std::mem::take(&mut pax.sparse));
        long_name = None;
        long_link = None;
        last_name = Some(name.clone());
        let unsupported = |kind: &str| UnpackError::Unsupported {
            archive: x.archive.clone(),
            entry: show(&name),
            kind: kind.to_owned(),
        };
        if sparse || ty == T::GNUSparse {
            return Err(unsupported("gnu sparse file"));
        }
        if pax_size.is_some_and(|s| s != size) {
            // The tar crate in raw mode positions by the header's size.
            return Err(unsupported("pax size record that differs from the header"));
        }
        let special = |kind| UnpackError::SpecialFile {
            archive: x.archive.clone(),
            entry: show(&name),
            kind,
        };
        let node = match ty {
            T::Regular | T::Continuous => Node::File {
                executable: header.mode().unwrap_or(0) & 0o111 != 0,
                data: &mut entry,
            },
            T::Directory => Node::Dir,
            T::Symlink => Node::Symlink {
                target: link.unwrap_or_default(),
            },
            T::Link => Node::HardLink {
                target: link.unwrap_or_default(),
            },
            T::Char => return Err(special("character device")),
            T::Block => return Err(special("block device")),
            T::Fifo => return Err(special("fifo")),
            other => {
                return Err(unsupported(&format!(
                    "tar entry type {:?}",
                    other.as_byte() as char
                )))
            }
        };
        x.entry(&name, node)?;
    }
    if long_name.is_some() || long_link.is_some() || pax.path.is_some() {
        return Err(x.read_err(
            last_name.as_deref(),
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends after an extension header",
            ),
        ));
    }
    Ok(())
}

const S_IFMT: u32 = 0o170_000;

fn extract_zip<R: Read + io::Seek>(x: &mut Extractor, r: R) -> Result<(), UnpackError> {
    let zip_err = |x: &Extractor, entry: Option<&[u8]>, source| UnpackError::Zip {
        archive: x.archive.clone(),
        entry: entry.map(show),
        source,
    };
    let mut zip = zip::ZipArchive::new(r).map_err(|e| zip_err(x, None, e))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| zip_err(x, None, e))?;
        let name = f.name_raw().to_vec();
        let mode = f.unix_mode().unwrap_or(0);
        let special = |kind| UnpackError::SpecialFile {
            archive: x.archive.clone(),
            entry: show(&name),
            kind,
        };
        match mode & S_IFMT {
            0o020_000 => return Err(special("character device")),
            0o060_000 => return Err(special("block device")),
            0o010_000 => return Err(special("fifo")),
            0o140_000 => return Err(special("socket")),
            _ => {}
        }
        if f.is_symlink() {
            let target = read_bounded_link(&mut f).map_err(|e| x.read_err(Some(&name), e))?;
            x.entry(&name, Node::Symlink { target })?;
        } else if f.is_dir() {
            x.entry(&name, Node::Dir)?;
        } else {
            let executable = mode & 0o111 != 0;
            x.entry(
                &name,
                Node::File {
                    executable,
                    data: &mut f,
                },
            )?;
        }
    }
    Ok(())
}

fn read_bounded_link(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_LINK_TARGET + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_LINK_TARGET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("symlink target longer than {MAX_LINK_TARGET} bytes"),
        ));
    }
    Ok(buf)
}

/// The tar kind of a deb's data member, by name.
fn data_tar_kind(name: &[u8]) -> Option<Unpack> {
    Some(match name {
        b"data.tar" => Unpack::Tar,
        b"data.tar.gz" => Unpack::TarGz,
        b"data.tar.xz" => Unpack::TarXz,
        b"data.tar.zst" => Unpack::TarZst,
        b"data.tar.bz2" => Unpack::TarBz2,
        _ => return None,
    })
}

fn extract_deb(x: &mut Extractor, r: impl Read) -> Result<(), UnpackError> {
    let ar_err = |x: &Extractor, source| UnpackError::Ar {
        archive: x.archive.clone(),
        source,
    };
    let mut ar = ArReader::new(r).map_err(|e| ar_err(x, e))?;
    let mut members = Vec::new();
    while let Some(member) = ar.next_member().map_err(|e| ar_err(x, e))? {
        let name = member.name.clone();
        if let Some(kind) = data_tar_kind(&name) {
            let decoded = decoder(kind, member).map_err(|e| x.read_err(Some(&name), e))?;
            return extract_tar(x, decoded);
        }
        if name.starts_with(b"data.tar") {
            return Err(UnpackError::Unsupported {
                archive: x.archive.clone(),
                entry: show(&name),
                kind: "deb data member compression (expected none, gz, xz, zst or bz2)".into(),
            });
        }
        members.push(show(&name));
    }
    Err(UnpackError::NoDataTar {
        archive: x.archive.clone(),
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records() {
        let p =
            parse_pax(b"30 path=a/very/long/path/name\n19 linkpath=target\n11 size=42\n").unwrap();
        assert_eq!(p.path.as_deref(), Some(&b"a/very/long/path/name"[..]));
        assert_eq!(p.linkpath.as_deref(), Some(&b"target"[..]));
        assert_eq!(p.size, Some(42));
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"x").is_err());
        assert!(parse_pax(b"7 path\n").is_err());
    }

    #[test]
    fn strip_rule_by_kind() {
        assert!(strips_single_top_dir(Unpack::TarGz));
        assert!(strips_single_top_dir(Unpack::Zip));
        assert!(!strips_single_top_dir(Unpack::Whl));
        assert!(!strips_single_top_dir(Unpack::Deb));
    }
}
