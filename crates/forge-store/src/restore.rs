//! Recreating a tree from a NAR stream, canonical as it is written: used by
//! the placeholder rewrite ([`crate::outputs`]) and by imports
//! ([`Store::import_nar`](crate::Store::import_nar)).

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use forge_core::nar::NarVisitor;

use crate::tree;

/// Recreates a tree from a NAR stream, canonical (0444/0555, mtime 1).
pub(crate) struct Restorer {
    root: PathBuf,
    /// Directories to make read-only once complete, deepest last.
    dirs: Vec<PathBuf>,
    /// The last entry name seen in each open directory.
    last: Vec<Option<Vec<u8>>>,
    /// Whether a rewritten name moved an entry out of bytewise order: then
    /// the rewritten stream is not the NAR of the restored tree.
    pub(crate) reordered: bool,
}

impl Restorer {
    /// A restorer that creates the tree at `root` (which must not exist).
    pub(crate) fn new(root: PathBuf) -> Self {
        Restorer {
            root,
            dirs: Vec::new(),
            last: Vec::new(),
            reordered: false,
        }
    }

    fn at(&mut self, path: &[Vec<u8>]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        if let (Some(name), Some(Some(last))) = (path.last(), self.last.last_mut()) {
            if *last > *name {
                self.reordered = true;
            }
        }
        if let (Some(name), Some(last)) = (path.last(), self.last.last_mut()) {
            *last = Some(name.clone());
        }
        let mut p = self.root.clone();
        for c in path {
            p.push(std::ffi::OsStr::from_bytes(c));
        }
        p
    }
}

impl NarVisitor for Restorer {
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        _size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        let p = self.at(path);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)?;
        // Holes stay holes: 4 KiB in a sparse 512 MiB file is not 512 MiB.
        let mut w = tree::SparseWriter::new(f);
        w.copy_from(contents)?;
        let f = w.finish()?;
        f.set_permissions(fs::Permissions::from_mode(if executable {
            0o555
        } else {
            0o444
        }))?;
        drop(f);
        set_mtime(&p)
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let p = self.at(path);
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &p)?;
        set_mtime(&p)
    }

    fn begin_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let p = self.at(path);
        fs::DirBuilder::new().mode(0o700).create(&p)?;
        self.dirs.push(p);
        self.last.push(None);
        Ok(())
    }

    fn end_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        self.last.pop();
        let p = self.at(path);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o555))?;
        set_mtime(&p)
    }
}

fn set_mtime(path: &Path) -> io::Result<()> {
    let t = nix::sys::time::TimeSpec::new(1, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}
