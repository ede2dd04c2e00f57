//! The one writer of an unpacked tree: [`Extractor`] applies the rules of
//! the [module docs](super::super) (checked paths, never through a symlink,
//! hard links as copies, no special files, only the executable bit, the
//! byte limit) to entries the [format readers](super::formats) hand it.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use forge_core::recipe::Unpack;

use super::{mkdir, UnpackError};

/// Writes entries under `root`, enforcing the rules.
pub(super) struct Extractor {
    pub(super) root: PathBuf,
    pub(super) archive: PathBuf,
    pub(super) kind: Unpack,
    pub(super) max_bytes: Option<u64>,
    pub(super) bytes: u64,
    pub(super) entries: u64,
}

/// What an entry is, once its archive format is set aside.
pub(super) enum Node<'a> {
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

pub(super) fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

impl Extractor {
    pub(super) fn read_err(&self, entry: Option<&[u8]>, source: io::Error) -> UnpackError {
        UnpackError::Read {
            archive: self.archive.clone(),
            kind: self.kind,
            entry: entry.map(show),
            source,
        }
    }

    pub(super) fn write_err(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |source| UnpackError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The entry's path split into checked components; empty for the root.
    pub(super) fn components<'p>(&self, raw: &'p [u8]) -> Result<Vec<&'p [u8]>, UnpackError> {
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
    pub(super) fn prepare_parents(
        &self,
        raw: &[u8],
        comps: &[&[u8]],
    ) -> Result<PathBuf, UnpackError> {
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
    pub(super) fn clear(
        &self,
        raw: &[u8],
        path: &Path,
        new_is_dir: bool,
    ) -> Result<bool, UnpackError> {
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
    pub(super) fn entry(&mut self, raw: &[u8], node: Node<'_>) -> Result<(), UnpackError> {
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
    pub(super) fn hard_link_source(
        &self,
        raw: &[u8],
        target: &[u8],
    ) -> Result<PathBuf, UnpackError> {
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

    pub(super) fn write_file(
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
