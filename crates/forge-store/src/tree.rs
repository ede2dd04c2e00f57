//! Walking host trees: serialising them as NAR, copying them into the store
//! canonicalised, and hashing the NAR stream on the way.
//!
//! [`dump_tree`] is the one walker. It visits a tree in NAR order (directory
//! entries sorted bytewise), feeds a [`NarEncoder`], and when asked also
//! writes a canonical copy of every node it reads. Copying and hashing in
//! one pass means the hash is the hash of exactly the bytes that were
//! written, even if the source changes under us (a file that grows or shrinks
//! while being read is an error, not a silently wrong hash).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use forge_core::hash::{Hash, HashAlgo, Hasher};
use forge_core::nar::NarEncoder;
use forge_core::refs::{Collection, RefScanner};
use forge_core::store_path::StorePath;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::{IoContext, Result, StoreError};

/// The modification time of every store object (Nix uses the same value).
pub const CANONICAL_MTIME: i64 = 1;

const CHUNK: usize = 1 << 20;

/// Writes at least this long bypass the sink's buffer when they can.
const DIRECT_MIN: usize = 128 * 1024;

/// Receives progress of a walk: called from the walking thread, often, so
/// keep it cheap. The store never prints; the CLI turns this into a bar.
pub trait Progress {
    /// `n` more bytes of file contents were read.
    fn bytes(&self, n: u64) {
        let _ = n;
    }
    /// One more node (file, symlink or directory) was visited.
    fn node(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Where [`dump_tree`] writes its canonical copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyTo<'a> {
    /// The path to create (must not exist).
    pub dest: &'a Path,
    /// The longest host path the copy may contain. The object will be
    /// renamed to a longer prefix later (`store/<digest>-<name>`, and
    /// `trash/…` when collected); the caller subtracts the difference so
    /// that every file stays reachable by path after those renames.
    pub max_path_len: usize,
}

/// Serialises the tree at `src` into `enc`. With `copy_to`, also recreates
/// it there, canonical: files 0444 or 0555, directories 0555, mtime 1, no
/// setuid/setgid/sticky bits, no extended attributes, no special files.
/// `copy_to` must not exist yet.
pub fn dump_tree<W: Write>(
    src: &Path,
    enc: &mut NarEncoder<W>,
    copy_to: Option<CopyTo<'_>>,
) -> Result<()> {
    dump_tree_with_progress(src, enc, copy_to, &NoProgress)
}

/// [`dump_tree`], reporting progress.
pub fn dump_tree_with_progress<W: Write>(
    src: &Path,
    enc: &mut NarEncoder<W>,
    copy_to: Option<CopyTo<'_>>,
    progress: &dyn Progress,
) -> Result<()> {
    let meta = fs::symlink_metadata(src).ctx("reading metadata of", src)?;
    let limit = copy_to.map_or(usize::MAX, |c| c.max_path_len);
    let ctx = Walk {
        path_limit: limit,
        progress,
    };
    dump_node(src, &meta, enc, copy_to.map(|c| c.dest), &ctx, 0)
}

/// The deepest tree the store holds: directory levels below an object's
/// top. Every walk of a store object recurses once per level, and a tree
/// much deeper than this cannot be reached by path anyway (PATH_MAX).
pub const MAX_DEPTH: usize = 256;

/// What [`dump_node`] carries down the tree.
struct Walk<'a> {
    path_limit: usize,
    progress: &'a dyn Progress,
}

fn too_deep(path: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(StoreError::TooDeep {
            path: path.to_owned(),
            limit: MAX_DEPTH,
        });
    }
    Ok(())
}

fn nar_err(path: &Path) -> impl FnOnce(forge_core::nar::NarWriteError) -> StoreError + '_ {
    move |source| {
        // The encoder wraps I/O errors of the sink and of our tee reader;
        // surface those as what they are.
        StoreError::Nar {
            path: path.to_owned(),
            source,
        }
    }
}

fn set_mtime(path: &Path) -> Result<()> {
    let t = TimeSpec::new(CANONICAL_MTIME, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(io::Error::from)
        .ctx("setting mtime of", path)
}

/// Makes the tree at `root` canonical where it lies, without copying it:
/// files 0444 or 0555, directories 0555, mtime 1, no set-id or sticky bits,
/// no extended attributes. For trees this process owns and nothing else
/// can reach any more (a finished build's outputs): moving them into the
/// store then costs a rename instead of a copy. Special files are refused,
/// and so is any path longer than `max_path_len` (see [`CopyTo`]).
pub fn canonicalise_in_place(root: &Path, max_path_len: usize) -> Result<()> {
    let meta = fs::symlink_metadata(root).ctx("reading metadata of", root)?;
    canonicalise_node(root, &meta, max_path_len, 0)
}

fn path_too_long(path: &Path, limit: usize) -> Result<()> {
    if path.as_os_str().len() > limit {
        return Err(StoreError::PathTooLong {
            path: path.to_owned(),
            excess: path.as_os_str().len() - limit,
        });
    }
    Ok(())
}

fn canonicalise_node(path: &Path, meta: &fs::Metadata, limit: usize, depth: usize) -> Result<()> {
    path_too_long(path, limit)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return set_mtime(path);
    }
    if !ft.is_file() && !ft.is_dir() {
        return Err(StoreError::SpecialFile {
            path: path.to_owned(),
            kind: kind_name(ft),
        });
    }
    if ft.is_dir() {
        // Readable and writable while its entries are fixed, whatever the
        // builder left (the owner may always chmod).
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .ctx("setting permissions of", path)?;
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            let entry = entry.ctx("reading directory", path)?;
            let child = entry.path();
            // Before touching it: a path too long for the kernel fails
            // with ENAMETOOLONG, which says less.
            path_too_long(&child, limit)?;
            too_deep(&child, depth + 1)?;
            let m = fs::symlink_metadata(&child).ctx("reading metadata of", &child)?;
            canonicalise_node(&child, &m, limit, depth + 1)?;
        }
    }
    if let Ok(attrs) = xattr::list(path) {
        for a in attrs {
            if a == "security.selinux" {
                continue; // the host's label, not the object's
            }
            xattr::remove(path, &a).ctx("removing extended attribute from", path)?;
        }
    }
    let mode = if ft.is_dir() || meta.mode() & 0o100 != 0 {
        0o555
    } else {
        0o444
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx("setting permissions of", path)?;
    set_mtime(path)
}

fn dump_node<W: Write>(
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

/// What a file type is called in messages ("FIFO", "regular file"…).
pub fn kind_name(ft: fs::FileType) -> &'static str {
    if ft.is_file() {
        "regular file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
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
const PREFETCH_MIN: u64 = 4 << 20;

/// Block size of read-ahead.
const PREFETCH_BLOCK: usize = 256 * 1024;

/// Runs `f` with a reader of exactly `size` bytes of `file`, reporting
/// progress. Returns what `f` returned and, separately, whether the file
/// ended where its size said (an error if it grew or shrank meanwhile); the
/// caller decides which failure to report first.
fn with_contents<R>(
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

/// The digests of a NAR stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarDigest {
    /// BLAKE3 of the stream.
    pub blake3: Hash,
    /// SHA-256 of the stream, when asked for.
    pub sha256: Option<Hash>,
    /// Bytes in the stream.
    pub size: u64,
    /// Candidate references seen in the stream.
    pub references: std::collections::BTreeSet<StorePath>,
    /// With a collecting scanner: the digest-shaped windows seen.
    pub collection: Option<Collection>,
}

/// A `Write` sink that hashes a NAR stream: BLAKE3 on the calling thread
/// (multithreaded over large chunks), SHA-256 on a helper thread once the
/// stream is larger than one chunk (inline before that, so that small
/// objects cost no thread), and an optional reference scan, over buffers of
/// 1 MiB.
pub struct NarSink {
    buf: Vec<u8>,
    blake3: blake3::Hasher,
    sha: Sha,
    scanner: Option<RefScanner>,
    size: u64,
}

enum Sha {
    Off,
    Inline(Box<Hasher>),
    Thread {
        tx: SyncSender<Arc<Vec<u8>>>,
        handle: JoinHandle<Hash>,
    },
}

impl std::fmt::Debug for NarSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NarSink").field("size", &self.size).finish()
    }
}

impl NarSink {
    /// A sink computing BLAKE3, SHA-256 if `sha256`, and references among
    /// `scanner`'s candidates if given.
    pub fn new(sha256: bool, scanner: Option<RefScanner>) -> Self {
        NarSink {
            buf: Vec::new(),
            blake3: blake3::Hasher::new(),
            sha: if sha256 {
                Sha::Inline(Box::new(Hasher::new(HashAlgo::Sha256)))
            } else {
                Sha::Off
            },
            scanner: scanner.filter(|s| !s.is_empty()),
            size: 0,
        }
    }

    /// Hashes and scans the buffered bytes. `last` is true from `finish`.
    fn flush_chunk(&mut self, last: bool) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        // A second full chunk is coming: move SHA-256 to the other core.
        if !last {
            if let Sha::Inline(_) = self.sha {
                let Sha::Inline(mut h) = std::mem::replace(&mut self.sha, Sha::Off) else {
                    unreachable!("matched above");
                };
                let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(4);
                let handle = std::thread::spawn(move || {
                    for chunk in rx {
                        h.update(&chunk);
                    }
                    h.finalize()
                });
                self.sha = Sha::Thread { tx, handle };
            }
        }
        match &mut self.sha {
            // SHA-256 runs on the other core; BLAKE3 keeps to this one.
            Sha::Thread { .. } => {
                self.blake3.update(&chunk);
            }
            Sha::Inline(h) => {
                h.update(&chunk);
                self.blake3.update(&chunk);
            }
            Sha::Off if chunk.len() >= 1 << 17 => {
                self.blake3.update_rayon(&chunk);
            }
            Sha::Off => {
                self.blake3.update(&chunk);
            }
        }
        if let Some(s) = &mut self.scanner {
            s.update(&chunk);
        }
        if let Sha::Thread { tx, .. } = &self.sha {
            // The receiver only goes away if its thread panicked; finish()
            // reports that.
            let _ = tx.send(Arc::new(chunk));
        }
    }

    /// Finishes hashing.
    pub fn finish(mut self) -> NarDigest {
        self.flush_chunk(true);
        let sha256 = match std::mem::replace(&mut self.sha, Sha::Off) {
            Sha::Off => None,
            Sha::Inline(h) => Some(h.finalize()),
            Sha::Thread { tx, handle } => {
                drop(tx);
                Some(handle.join().expect("sha256 thread does not panic"))
            }
        };
        NarDigest {
            blake3: Hash::new(HashAlgo::Blake3, *self.blake3.finalize().as_bytes()),
            sha256,
            size: self.size,
            references: self
                .scanner
                .as_ref()
                .map(|s| s.found().clone())
                .unwrap_or_default(),
            collection: self.scanner.and_then(RefScanner::finish_collection),
        }
    }
}

impl Write for NarSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let len = data.len();
        self.size += len as u64;
        // Large writes with nothing buffered and no SHA-256 thread to feed
        // (`forge hash path`): hash in place, saving a copy.
        if self.buf.is_empty() && len >= DIRECT_MIN && matches!(self.sha, Sha::Off) {
            self.blake3.update_rayon(data);
            if let Some(s) = &mut self.scanner {
                s.update(data);
            }
            return Ok(len);
        }
        let mut data = data;
        while !data.is_empty() {
            let room = CHUNK - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.flush_chunk(false);
            }
        }
        Ok(len)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes the NAR of a host tree without copying it.
pub fn hash_tree(src: &Path, sha256: bool, scanner: Option<RefScanner>) -> Result<NarDigest> {
    hash_tree_with_progress(src, sha256, scanner, &NoProgress)
}

/// [`hash_tree`], reporting progress.
pub fn hash_tree_with_progress(
    src: &Path,
    sha256: bool,
    scanner: Option<RefScanner>,
    progress: &dyn Progress,
) -> Result<NarDigest> {
    let mut enc = NarEncoder::new(NarSink::new(sha256, scanner)).map_err(nar_err(src))?;
    dump_tree_with_progress(src, &mut enc, None, progress)?;
    Ok(enc.finish().map_err(nar_err(src))?.finish())
}

/// Removes the file, symlink or tree at `path`, even with read-only
/// directories in it (store objects are 0555), and returns the bytes of
/// file contents freed.
///
/// Safe against a tree that changes while it is removed (a builder that
/// outlived its build, a hostile path input): the walk never follows a
/// symlink. Every directory is opened relative to its parent's descriptor
/// with `O_NOFOLLOW | O_DIRECTORY` and every entry removed with `unlinkat`
/// relative to the directory that holds it, so a directory swapped for a
/// symlink at any moment is removed as a link, and nothing outside the tree
/// is ever listed, chmodded or unlinked. Only the components of `path`
/// itself are resolved as usual (they are the caller's, not the tree's).
///
/// Works at any depth with bounded descriptors and no long paths: below
/// [`REMOVE_MAX_DEPTH`] levels a directory is first moved up to the top of
/// the tree (`renameat`, which never follows the link it moves) and
/// removed from there.
pub fn remove_tree(path: &Path) -> Result<u64> {
    let name = match path.file_name() {
        Some(n) => n,
        None => {
            return Err(StoreError::Io {
                op: "removing",
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "no file name to remove"),
            })
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent_dir = match remove::open_dir(None, parent, false) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).ctx("opening", parent),
    };
    let mut walk = remove::Walk {
        top: None,
        hoisted: 0,
    };
    walk.remove_at(&parent_dir, name, path, 0)
}

/// How many directory levels [`remove_tree`] descends (holding one
/// descriptor per level) before it moves the rest up to the top.
pub const REMOVE_MAX_DEPTH: usize = 64;

mod remove {
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use nix::dir::Dir;
    use nix::errno::Errno;
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{fchmod, fchmodat, fstatat, FchmodatFlags, Mode, SFlag};
    use nix::unistd::{unlinkat, UnlinkatFlags};

    use super::REMOVE_MAX_DEPTH;
    use crate::error::{IoContext, Result};

    /// Attempts at one entry that keeps changing type under us before
    /// giving up (a live adversary; each attempt is a few syscalls).
    const RETRIES: usize = 1000;

    /// Opens a directory; relative to `at` if given, and then never
    /// through a symlink unless `follow`.
    pub(super) fn open_dir(at: Option<&Dir>, path: &Path, follow: bool) -> io::Result<Dir> {
        let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        Dir::openat(at.map(AsRawFd::as_raw_fd), path, flags, Mode::empty()).map_err(io::Error::from)
    }

    pub(super) struct Walk {
        /// The tree's top directory, once open: where deep directories are
        /// moved up to.
        pub(super) top: Option<Dir>,
        pub(super) hoisted: u64,
    }

    impl Walk {
        /// Removes the entry `name` of `parent`, whatever it is now.
        /// `shown` names it in errors.
        pub(super) fn remove_at(
            &mut self,
            parent: &Dir,
            name: &OsStr,
            shown: &Path,
            depth: usize,
        ) -> Result<u64> {
            let pfd = parent.as_raw_fd();
            for _ in 0..RETRIES {
                let st = match fstatat(Some(pfd), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::ENOENT) => return Ok(0),
                    Err(e) => return Err(io::Error::from(e)).ctx("reading metadata of", shown),
                };
                let is_dir =
                    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
                if !is_dir {
                    match unlinkat(Some(pfd), name, UnlinkatFlags::NoRemoveDir) {
                        Ok(()) => return Ok(st.st_size.max(0) as u64),
                        Err(Errno::ENOENT) => return Ok(0),
                        // It became a directory since the stat.
                        Err(Errno::EISDIR) | Err(Errno::EPERM) if self.is_dir_now(pfd, name) => {
                            continue
                        }
                        Err(e) => return Err(io::Error::from(e)).ctx("removing", shown),
                    }
                }
                let mut dir = match open_dir(Some(parent), Path::new(name), false) {
                    Ok(d) => d,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(0),
                    // Swapped for a symlink or a file since the stat: start
                    // over with what is there now.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) =>
                    {
                        continue
                    }
                    // A directory its owner cannot read (`chmod 0`): made
                    // readable through its name, never through a symlink
                    // (a link swapped in is refused, not followed), then
                    // opened again.
                    Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                        match fchmodat(
                            Some(pfd),
                            name,
                            Mode::from_bits_truncate(0o700),
                            FchmodatFlags::NoFollowSymlink,
                        ) {
                            Ok(()) | Err(Errno::EOPNOTSUPP) | Err(Errno::ENOENT) => continue,
                            Err(e) => return Err(io::Error::from(e)).ctx("making readable", shown),
                        }
                    }
                    Err(e) => return Err(e).ctx("opening directory", shown),
                };
                // Writable while it is emptied (the owner may always chmod;
                // this is the directory just opened, never a link's target).
                fchmod(dir.as_raw_fd(), Mode::from_bits_truncate(0o700))
                    .map_err(io::Error::from)
                    .ctx("making writable", shown)?;
                let freed = self.empty(&mut dir, shown, depth + 1)?;
                drop(dir);
                match unlinkat(Some(pfd), name, UnlinkatFlags::RemoveDir) {
                    Ok(()) => return Ok(freed),
                    Err(Errno::ENOENT) => return Ok(freed),
                    // Refilled or swapped meanwhile: go again.
                    Err(Errno::ENOTEMPTY) | Err(Errno::EEXIST) | Err(Errno::ENOTDIR) => continue,
                    Err(e) => return Err(io::Error::from(e)).ctx("removing directory", shown),
                }
            }
            Err(io::Error::other("it kept changing while being removed")).ctx("removing", shown)
        }

        fn is_dir_now(&self, pfd: i32, name: &OsStr) -> bool {
            fstatat(Some(pfd), name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
                SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            })
        }

        /// Removes every entry of `dir`, listing it again until it is empty.
        fn empty(&mut self, dir: &mut Dir, shown: &Path, depth: usize) -> Result<u64> {
            let mut freed = 0;
            if self.top.is_none() {
                // The first directory opened is the top of the tree.
                self.top = Some(open_dir(Some(dir), Path::new("."), false).ctx("opening", shown)?);
            }
            for _ in 0..RETRIES {
                let names = list(dir).ctx("reading directory", shown)?;
                if names.is_empty() {
                    return Ok(freed);
                }
                for name in names {
                    let child: PathBuf = shown.join(&name);
                    if depth >= REMOVE_MAX_DEPTH {
                        self.hoist(dir, &name, &child)?;
                        continue;
                    }
                    freed += self.remove_at(dir, &name, &child, depth)?;
                }
            }
            Err(io::Error::other("it kept refilling while being emptied")).ctx("removing", shown)
        }

        /// Moves the entry `name` of `dir` to the top of the tree, to be
        /// removed from there with few descriptors and a short path.
        fn hoist(&mut self, dir: &Dir, name: &OsStr, shown: &Path) -> Result<()> {
            let top = self.top.as_ref().expect("set by empty");
            // Moving a directory to another parent rewrites its `..`: it must
            // be writable (never through a symlink).
            if let Ok(child) = open_dir(Some(dir), Path::new(name), false) {
                let _ = fchmod(child.as_raw_fd(), Mode::from_bits_truncate(0o700));
            }
            loop {
                self.hoisted += 1;
                let to = format!(".forge-remove-{}", self.hoisted);
                let taken = fstatat(
                    Some(top.as_raw_fd()),
                    to.as_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok();
                if taken {
                    continue;
                }
                return match nix::fcntl::renameat(
                    Some(dir.as_raw_fd()),
                    name,
                    Some(top.as_raw_fd()),
                    to.as_str(),
                ) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(()),
                    Err(e) => Err(io::Error::from(e)).ctx("moving up", shown),
                };
            }
        }
    }

    /// The names in `dir` (without `.` and `..`), from its start.
    fn list(dir: &mut Dir) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        // The iterator rewinds the directory when dropped.
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_owned());
            }
        }
        Ok(names)
    }
}

/// The apparent size of the tree at `path`: the sizes of its files and
/// symlinks added up (about its NAR size, whatever holes its files have),
/// from an lstat walk that never follows a symlink. Stops counting once past
/// `stop_above`. On an error (a tree that changes meanwhile, or one deeper
/// than [`MAX_DEPTH`]) returns what it counted so far as the error.
pub fn apparent_size(path: &Path, stop_above: u64) -> std::result::Result<u64, u64> {
    let mut total = 0u64;
    match size_node(path, 0, stop_above, &mut total) {
        Ok(()) => Ok(total),
        Err(()) => Err(total),
    }
}

fn size_node(path: &Path, depth: usize, stop: u64, total: &mut u64) -> std::result::Result<(), ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    let meta = fs::symlink_metadata(path).map_err(|_| ())?;
    if !meta.is_dir() {
        *total = total.saturating_add(meta.len());
        return Ok(());
    }
    // Not through a symlink swapped in since the lstat.
    // The names first: one descriptor open at a time, at any depth.
    let mut dir = remove::open_dir(None, path, false).map_err(|_| ())?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|_| ())?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    drop(dir);
    for name in names {
        if *total > stop {
            return Ok(());
        }
        size_node(&path.join(name), depth + 1, stop, total)?;
    }
    Ok(())
}

/// Writes a new file, leaving holes where aligned blocks are zero,
/// so that a sparse file copied through a stream (the placeholder rewrite)
/// stays sparse. [`SparseWriter::finish`] sets the final length, which
/// covers a trailing hole.
#[derive(Debug)]
pub struct SparseWriter {
    file: File,
    pos: u64,
}

/// The unit of holes: a page, the smallest block a filesystem allocates.
const HOLE_BLOCK: usize = 4096;

impl SparseWriter {
    /// Writes into `file`, which must be new and empty.
    pub fn new(file: File) -> Self {
        SparseWriter { file, pos: 0 }
    }

    /// Copies everything `r` yields.
    pub fn copy_from(&mut self, r: &mut dyn Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Sets the file's length to what was written and returns it.
    pub fn finish(self) -> io::Result<File> {
        self.file.set_len(self.pos)?;
        Ok(self.file)
    }
}

impl Write for SparseWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut i = 0; // start of the piece being looked at
        let mut run = 0; // start of the data not yet written
        while i < data.len() {
            let at = self.pos + i as u64;
            let to_boundary = HOLE_BLOCK - (at % HOLE_BLOCK as u64) as usize;
            let end = (i + to_boundary).min(data.len());
            let block = &data[i..end];
            // The file is new: what is not written reads as zeros, so a zero
            // piece of a block (whole or at either end of a write) is skipped.
            if block.iter().fold(0u8, |a, &b| a | b) == 0 {
                if run < i {
                    self.file
                        .write_all_at(&data[run..i], self.pos + run as u64)?;
                }
                run = end;
            }
            i = end;
        }
        if run < data.len() {
            self.file
                .write_all_at(&data[run..], self.pos + run as u64)?;
        }
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a node of a [`listing`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListedKind {
    /// A directory.
    Directory,
    /// A regular file.
    File {
        /// Whether it is executable.
        executable: bool,
        /// Its size in bytes.
        size: u64,
    },
    /// A symlink, with its target.
    Symlink(Vec<u8>),
}

/// One node found by [`listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its path below the top: empty for the top, else `/a/b`.
    pub path: Vec<u8>,
    /// What it is.
    pub kind: ListedKind,
    /// Its permission bits (not part of the encoded listing).
    pub mode: u32,
}

/// The nodes of the tree at `root` in NAR order (entries sorted bytewise),
/// from one lstat walk: what the cheap verify compares with what was
/// registered.
pub fn listing(root: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    list_node(root, Vec::new(), 0, &mut out)?;
    Ok(out)
}

fn list_node(path: &Path, rel: Vec<u8>, depth: usize, out: &mut Vec<Listed>) -> Result<()> {
    too_deep(path, depth)?;
    let meta = fs::symlink_metadata(path).ctx("reading metadata of", path)?;
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    let kind = if ft.is_dir() {
        ListedKind::Directory
    } else if ft.is_file() {
        ListedKind::File {
            executable: meta.mode() & 0o100 != 0,
            size: meta.len(),
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path).ctx("reading symlink", path)?;
        ListedKind::Symlink(target.into_os_string().into_vec())
    } else {
        return Err(StoreError::SpecialFile {
            path: path.to_owned(),
            kind: kind_name(ft),
        });
    };
    let is_dir = kind == ListedKind::Directory;
    out.push(Listed {
        path: rel.clone(),
        kind,
        mode,
    });
    if is_dir {
        let mut names = Vec::new();
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            names.push(entry.ctx("reading directory", path)?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let mut child_rel = rel.clone();
            child_rel.push(b'/');
            child_rel.extend_from_slice(name.as_bytes());
            list_node(&path.join(&name), child_rel, depth + 1, out)?;
        }
    }
    Ok(())
}

/// The compact form of a listing stored in the database: per node
/// `<kind><detail>\0<path>\0` (see store-schema/0003_path_listings.sql).
pub fn encode_listing(nodes: &[Listed]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        match &n.kind {
            ListedKind::Directory => out.push(b'd'),
            ListedKind::File { executable, size } => {
                out.push(if *executable { b'x' } else { b'f' });
                out.extend_from_slice(size.to_string().as_bytes());
            }
            ListedKind::Symlink(target) => {
                out.push(b'l');
                out.extend_from_slice(target);
            }
        }
        out.push(0);
        out.extend_from_slice(&n.path);
        out.push(0);
    }
    out
}

/// Reads [`encode_listing`]'s form back as (path, kind) pairs; `None` if
/// it is malformed.
pub fn decode_listing(bytes: &[u8]) -> Option<Vec<(Vec<u8>, ListedKind)>> {
    let mut fields = bytes.split(|&b| b == 0);
    let mut out = Vec::new();
    loop {
        let head = fields.next()?;
        if head.is_empty() {
            // The empty piece after the final NUL.
            return fields.next().is_none().then_some(out);
        }
        let path = fields.next()?.to_vec();
        let (k, detail) = head.split_first()?;
        let size = || std::str::from_utf8(detail).ok()?.parse::<u64>().ok();
        let kind = match k {
            b'd' if detail.is_empty() => ListedKind::Directory,
            b'f' => ListedKind::File {
                executable: false,
                size: size()?,
            },
            b'x' => ListedKind::File {
                executable: true,
                size: size()?,
            },
            b'l' => ListedKind::Symlink(detail.to_vec()),
            _ => return None,
        };
        out.push((path, kind));
    }
}

/// A deviation from the canonical form found by [`check_canonical`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NonCanonical {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// Lists every way the tree at `root` is not canonical (modes, mtimes,
/// extended attributes, special files).
pub fn check_canonical(root: &Path) -> Result<Vec<NonCanonical>> {
    let mut out = Vec::new();
    check_node(root, &mut out, 0)?;
    Ok(out)
}

fn check_node(path: &Path, out: &mut Vec<NonCanonical>, depth: usize) -> Result<()> {
    too_deep(path, depth)?;
    let meta = fs::symlink_metadata(path).ctx("reading metadata of", path)?;
    let mut problem = |p: String| {
        out.push(NonCanonical {
            path: path.to_owned(),
            problem: p,
        })
    };
    if meta.mtime() != CANONICAL_MTIME {
        problem(format!(
            "mtime is {}, expected {CANONICAL_MTIME}",
            meta.mtime()
        ));
    }
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    if ft.is_symlink() {
        return Ok(());
    }
    if ft.is_file() {
        if mode != 0o444 && mode != 0o555 {
            problem(format!("mode is {mode:04o}, expected 0444 or 0555"));
        }
    } else if ft.is_dir() {
        if mode != 0o555 {
            problem(format!("mode is {mode:04o}, expected 0555"));
        }
    } else {
        problem("special file".into());
        return Ok(());
    }
    if let Ok(attrs) = xattr::list(path) {
        // SELinux labels every file on hosts that run it; they are the
        // host's, not the object's, and Nix ignores them too.
        let attrs: Vec<_> = attrs.filter(|a| a != "security.selinux").collect();
        if !attrs.is_empty() {
            problem(format!("has extended attributes {attrs:?}"));
        }
    }
    if ft.is_dir() {
        let mut children = Vec::new();
        for entry in fs::read_dir(path).ctx("reading directory", path)? {
            children.push(entry.ctx("reading directory", path)?.path());
        }
        children.sort();
        for c in children {
            check_node(&c, out, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the size (inline or threaded SHA-256, one chunk or many,
    /// writes of any length), the sink's digests are those of the bytes.
    #[test]
    fn sink_digests_match_direct_hashing() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
            for write_len in [1000, 1 << 20, 3 << 20] {
                let mut sink = NarSink::new(true, None);
                for piece in data.chunks(write_len) {
                    sink.write_all(piece).unwrap();
                }
                let d = sink.finish();
                assert_eq!(d.size, size as u64);
                assert_eq!(d.blake3, HashAlgo::Blake3.digest(&data), "size {size}");
                assert_eq!(
                    d.sha256,
                    Some(HashAlgo::Sha256.digest(&data)),
                    "size {size}"
                );
            }
            let mut sink = NarSink::new(false, None);
            sink.write_all(&data).unwrap();
            let d = sink.finish();
            assert_eq!(d.blake3, HashAlgo::Blake3.digest(&data));
            assert_eq!(d.sha256, None);
        }
    }

    /// Whatever the write sizes and offsets, the file holds exactly the
    /// bytes written, and long zero runs take no blocks.
    #[test]
    fn sparse_writer_keeps_bytes_and_holes() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0u8; 64 << 20];
        data[5000..5100].fill(7);
        data[(32 << 20) + 3] = 1;
        data.extend_from_slice(&[9u8; 4097]);
        data.extend_from_slice(&[0u8; 3 << 20]);
        for write_len in [1, 4095, 4096, 100_000, 1 << 20] {
            let p = dir.path().join(format!("f{write_len}"));
            let mut w = SparseWriter::new(File::create(&p).unwrap());
            let mut chunks = data.chunks(if write_len == 1 { 1 << 16 } else { write_len });
            if write_len == 1 {
                // Unaligned start: a few single bytes, then big pieces.
                let (head, rest) = data.split_at(3);
                for b in head {
                    w.write_all(std::slice::from_ref(b)).unwrap();
                }
                chunks = rest.chunks(1 << 16);
            }
            for c in chunks {
                w.write_all(c).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(fs::read(&p).unwrap(), data, "write_len {write_len}");
            let blocks = fs::metadata(&p).unwrap().blocks() * 512;
            assert!(
                blocks < 1 << 20,
                "write_len {write_len}: {blocks} bytes allocated"
            );
        }
    }

    /// Files above the read-ahead threshold hash and copy exactly like
    /// small ones, and a file that is not the size its metadata said fails.
    #[test]
    fn read_ahead_gives_the_same_archive() {
        use forge_core::nar::NarNode;
        let dir = tempfile::tempdir().unwrap();
        for size in [
            PREFETCH_MIN - 1,
            PREFETCH_MIN,
            PREFETCH_MIN + 5,
            3 * PREFETCH_MIN + 7,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let f = dir.path().join(format!("f{size}"));
            fs::write(&f, &data).unwrap();
            let want = NarNode::Regular {
                executable: false,
                contents: data,
            }
            .to_nar();
            let d = hash_tree(&f, true, None).unwrap();
            assert_eq!(d.blake3, HashAlgo::Blake3.digest(&want), "size {size}");
            assert_eq!(d.sha256, Some(HashAlgo::Sha256.digest(&want)));
            let copy = dir.path().join(format!("c{size}"));
            let mut enc = NarEncoder::new(Vec::new()).unwrap();
            dump_tree(
                &f,
                &mut enc,
                Some(CopyTo {
                    dest: &copy,
                    max_path_len: usize::MAX,
                }),
            )
            .unwrap();
            assert_eq!(enc.finish().unwrap(), want);
            assert_eq!(fs::read(&copy).unwrap(), fs::read(&f).unwrap());
        }
        // A reader given the wrong size notices.
        let f = dir.path().join(format!("f{PREFETCH_MIN}"));
        let file = File::open(&f).unwrap();
        let (res, exact) = with_contents(file, PREFETCH_MIN + 10, &f, &NoProgress, |r| {
            io::copy(r, &mut io::sink())
        });
        assert_eq!(res.unwrap(), PREFETCH_MIN);
        assert!(matches!(exact, Err(StoreError::SourceChanged { .. })));
        let file = File::open(&f).unwrap();
        let (_, exact) = with_contents(file, PREFETCH_MIN - 10, &f, &NoProgress, |r| {
            io::copy(r, &mut io::sink())
        });
        assert!(matches!(exact, Err(StoreError::SourceChanged { .. })));
    }
}
