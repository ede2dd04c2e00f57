//! The walker behind [`dump_tree`](super::dump_tree): one node at a time in
//! NAR order, with the canonical copy and the read-ahead of large files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};

use forge_core::nar::NarEncoder;

use super::{kind_name, nar_err, set_mtime, too_deep, Progress, Walk};
use crate::error::{IoContext, Result, StoreError};

pub(super) fn dump_node<W: Write>(
    src: &Path,
    meta: &fs::Metadata,
    enc: &mut NarEncoder<W>,
    copy_to: Option<&Path>,
    walk: &Walk<'_>,
    depth: usize,
) -> Result<()> {
    let (path_limit, progress) = (walk.path_limit, walk.progress);
    progress.node();
    if let Some(dst) = copy_to {
        if dst.as_os_str().len() > path_limit {
            return Err(StoreError::PathTooLong {
                path: src.to_owned(),
                excess: dst.as_os_str().len() - path_limit,
            });
        }
    }
    let ft = meta.file_type();
    if ft.is_file() {
        let executable = meta.mode() & 0o100 != 0;
        let size = meta.len();
        // Never follow a symlink or block on a FIFO swapped in since lstat.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(src)
            .ctx("opening", src)?;
        let opened = file.metadata().ctx("reading metadata of", src)?;
        if !opened.is_file() || opened.ino() != meta.ino() || opened.dev() != meta.dev() {
            return Err(StoreError::SourceChanged {
                path: src.to_owned(),
                detail: "it was replaced while being read".into(),
            });
        }
        match copy_to {
            None => {
                let (res, exact) = with_contents(file, size, src, progress, |r| {
                    enc.regular(executable, size, r)
                });
                res.map_err(nar_err(src))?;
                exact?;
            }
            Some(dst) => {
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(dst)
                    .ctx("creating", dst)?;
                let mut write_err = None;
                let (res, exact) = with_contents(file, size, src, progress, |r| {
                    let mut tee = TeeReader {
                        inner: r,
                        out: &mut out,
                        dst,
                        err: &mut write_err,
                    };
                    enc.regular(executable, size, &mut tee)
                });
                if let Some(e) = write_err {
                    return Err(e);
                }
                res.map_err(nar_err(src))?;
                exact?;
                let mode = if executable { 0o555 } else { 0o444 };
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .ctx("setting permissions of", dst)?;
                drop(out);
                set_mtime(dst)?;
            }
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(src).ctx("reading symlink", src)?;
        enc.symlink(target.as_os_str().as_bytes())
            .map_err(nar_err(src))?;
        if let Some(dst) = copy_to {
            std::os::unix::fs::symlink(&target, dst).ctx("creating symlink", dst)?;
            set_mtime(dst)?;
        }
    } else if ft.is_dir() {
        let mut entries = Vec::new();
        for entry in fs::read_dir(src).ctx("reading directory", src)? {
            let entry = entry.ctx("reading directory", src)?;
            entries.push(entry.file_name());
        }
        entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        if let Some(dst) = copy_to {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dst)
                .ctx("creating directory", dst)?;
        }
        enc.begin_directory().map_err(nar_err(src))?;
        for name in entries {
            let child = src.join(&name);
            too_deep(&child, depth + 1)?;
            enc.entry(name.as_bytes()).map_err(nar_err(&child))?;
            let child_meta = fs::symlink_metadata(&child).ctx("reading metadata of", &child)?;
            let child_dst = copy_to.map(|d| d.join(&name));
            dump_node(
                &child,
                &child_meta,
                enc,
                child_dst.as_deref(),
                walk,
                depth + 1,
            )?;
        }
        enc.end_directory().map_err(nar_err(src))?;
        if let Some(dst) = copy_to {
            fs::set_permissions(dst, fs::Permissions::from_mode(0o555))
                .ctx("setting permissions of", dst)?;
            set_mtime(dst)?;
        }
    } else {
        return Err(StoreError::SpecialFile {
            path: src.to_owned(),
            kind: kind_name(ft),
        });
    }
    Ok(())
}

/// Reads exactly `size` bytes of a file and notices if there are more.
struct ExactReader<'a> {
    file: File,
    left: u64,
    path: &'a Path,
    progress: &'a dyn Progress,
}

impl<'a> ExactReader<'a> {
    fn new(file: File, size: u64, path: &'a Path, progress: &'a dyn Progress) -> Self {
        ExactReader {
            file,
            left: size,
            path,
            progress,
        }
    }

    /// Checks that the file ended where its size said it would.
    fn finish(mut self) -> Result<()> {
        let mut probe = [0u8; 1];
        if self.left == 0 && self.file.read(&mut probe).ctx("reading", self.path)? == 0 {
            return Ok(());
        }
        Err(StoreError::SourceChanged {
            path: self.path.to_owned(),
            detail: "the file's size changed".into(),
        })
    }
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// Copies what it reads into `out`; remembers a write error with its path.
struct TeeReader<'a, 'r> {
    inner: &'a mut (dyn Read + 'r),
    out: &'a mut File,
    dst: &'a Path,
    err: &'a mut Option<StoreError>,
}

impl Read for TeeReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let kind = e.kind();
            *self.err = Some(StoreError::Io {
                op: "writing",
                path: self.dst.to_owned(),
                source: e,
            });
            return Err(io::Error::new(kind, "write to store copy failed"));
        }
        Ok(n)
    }
}

/// Files at least this large are read ahead on a second thread, so that
/// reading (a copy out of the page cache, in the kernel) overlaps hashing.
pub(super) const PREFETCH_MIN: u64 = 4 << 20;

/// Block size of read-ahead.
const PREFETCH_BLOCK: usize = 256 * 1024;

/// Runs `f` with a reader of exactly `size` bytes of `file`, reporting
/// progress. Returns what `f` returned and, separately, whether the file
/// ended where its size said (an error if it grew or shrank meanwhile); the
/// caller decides which failure to report first.
pub(super) fn with_contents<R>(
    file: File,
    size: u64,
    path: &Path,
    progress: &dyn Progress,
    f: impl FnOnce(&mut dyn Read) -> R,
) -> (R, Result<()>) {
    let changed = || StoreError::SourceChanged {
        path: path.to_owned(),
        detail: "the file's size changed".into(),
    };
    if size < PREFETCH_MIN {
        let mut r = ExactReader::new(file, size, path, progress);
        let out = f(&mut r);
        return (out, r.finish());
    }
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<io::Result<(Vec<u8>, usize)>>(4);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(4);
        for _ in 0..4 {
            // Cannot fail: the receiver is alive and the channel has room.
            let _ = empty_tx.send(vec![0u8; PREFETCH_BLOCK]);
        }
        let reader = scope.spawn(move || -> io::Result<bool> {
            let mut file = file;
            let mut left = size;
            while left > 0 {
                let Ok(mut buf) = empty_rx.recv() else {
                    return Ok(true); // the consumer stopped early
                };
                let want = left.min(PREFETCH_BLOCK as u64) as usize;
                let n = loop {
                    match file.read(&mut buf[..want]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return Ok(true);
                        }
                    }
                };
                if n == 0 {
                    return Ok(false); // shrank
                }
                left -= n as u64;
                if full_tx.send(Ok((buf, n))).is_err() {
                    return Ok(true);
                }
            }
            drop(full_tx);
            let mut probe = [0u8; 1];
            Ok(file.read(&mut probe)? == 0)
        });
        let mut r = ChannelReader {
            rx: full_rx,
            back: empty_tx,
            cur: Vec::new(),
            len: 0,
            pos: 0,
            progress,
        };
        let out = f(&mut r);
        drop(r);
        let exact = match reader.join() {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(changed()),
            Ok(Err(e)) => Err(StoreError::Io {
                op: "reading",
                path: path.to_owned(),
                source: e,
            }),
            Err(_) => Err(StoreError::Io {
                op: "reading",
                path: path.to_owned(),
                source: io::Error::other("read-ahead thread panicked"),
            }),
        };
        (out, exact)
    })
}

/// The consuming end of the read-ahead: hands out blocks, returns buffers.
struct ChannelReader<'a> {
    rx: std::sync::mpsc::Receiver<io::Result<(Vec<u8>, usize)>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    progress: &'a dyn Progress,
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            if !self.cur.is_empty() {
                let _ = self.back.send(std::mem::take(&mut self.cur));
            }
            match self.rx.recv() {
                Ok(Ok((block, len))) => {
                    self.cur = block;
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}
