//! Pushing store paths and realisations to a cache (docs/cache.md,
//! "Pushing").
//!
//! [`push_paths`] publishes exactly the paths it is given (the caller
//! passes a closure: `forge copy` and `forge push` do):
//!
//! 1. which narinfos the cache lacks, asked with bounded parallelism;
//! 2. the NARs of those, **largest first** (a big NAR then overlaps with
//!    the many small ones instead of ending the push alone, NixOS/nix#15957),
//!    each dumped from the store, compressed (zstd on every core by
//!    default) and hashed as it streams into a scratch file, so memory stays
//!    bounded whatever the NAR's size (NixOS/nix#3386); then uploaded,
//!    `jobs` at a time, each with the backend's own retries;
//! 3. each narinfo, signed when a key is given, once its NAR is uploaded
//!    **and** the narinfos of the references it was pushed with are
//!    published: a reader never sees a narinfo whose NAR is missing or
//!    whose closure is incomplete, whenever the push stops.
//!
//! [`push_realisations`] then publishes realisations (signed), after the
//! paths they name, so a substituter that finds one finds its closure.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use forge_core::cache::{layout, CacheInfo, Compression, NarInfo, Realisation};
use forge_core::hash::{HashAlgo, Hasher};
use forge_core::nar::NarEncoder;
use forge_core::signing::SecretKey;
use forge_core::store_path::StorePath;
use forge_store::{PathInfo, Store, StoreError};
use thiserror::Error;

use crate::backend::Backend;
use crate::error::CacheError;
use crate::key::Key;
use crate::paths::{narinfo_for, StoredNar};

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// How NARs are compressed (`zstd`, `xz` or `none`).
    pub compression: Compression,
    /// Signs narinfos and realisations with it, when given.
    pub secret_key: Option<SecretKey>,
    /// NARs compressed and uploaded at once.
    pub jobs: usize,
    /// Threads each compressor may use.
    pub compressor_threads: u32,
    /// With zstd: a NAR whose first 4 MiB zstd cannot shrink by 3% (already
    /// compressed or random data) is stored uncompressed instead, which
    /// saves compressing it, hashing the compressed file (the store knows
    /// the NAR's hash) and decompressing it on every pull.
    pub raw_if_incompressible: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PushOptions {
            compression: Compression::Zstd,
            secret_key: None,
            jobs: cores.clamp(2, 8),
            compressor_threads: u32::try_from(cores).unwrap_or(1),
            raw_if_incompressible: true,
        }
    }
}

/// zstd's level for pushes: its default, fast and near xz on store trees.
pub const ZSTD_LEVEL: i32 = 3;
/// xz's preset for pushes: Nix's default.
pub const XZ_PRESET: u32 = 6;
/// Parallel existence checks against a cache.
const CHECK_FAN_OUT: usize = 16;

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// Paths whose narinfo the push published.
    pub pushed: Vec<StorePath>,
    /// Paths the cache had already.
    pub present: Vec<StorePath>,
    /// Bytes of NAR serialisation pushed.
    pub nar_bytes: u64,
    /// Bytes uploaded (compressed NAR files).
    pub file_bytes: u64,
}

/// Hears how a push goes (a progress bar, `--json` events).
pub trait PushProgress: Sync {
    /// The cache lacks `paths` paths, `nar_bytes` of NAR in all.
    fn missing(&self, _paths: usize, _nar_bytes: u64) {}
    /// `path` is published: its NAR (`nar_size` bytes, `file_size` as
    /// uploaded) and its narinfo.
    fn pushed(&self, _path: &StorePath, _nar_size: u64, _file_size: u64) {}
}

/// A [`PushProgress`] that hears nothing.
#[derive(Debug)]
pub struct NoPushProgress;
impl PushProgress for NoPushProgress {}

/// Why a push failed. Whatever it published before is consistent.
#[derive(Debug, Error)]
pub enum PushError {
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A name that is no cache object's (a bug, or a hostile store path).
    #[error(transparent)]
    Key(#[from] crate::key::KeyError),
    /// Writing a NAR to a scratch file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The cache is another store's (its `StoreDir` is not `/forge/store`).
    #[error("{cache}: the cache is for store {store_dir}, not /forge/store")]
    OtherStore { cache: String, store_dir: String },
    /// A compression forge does not write.
    #[error("cannot compress NARs with {0} (use zstd, xz or none)")]
    Compression(String),
}

impl forge_core::diag::Hint for PushError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            PushError::Cache(e) => e.hint(),
            PushError::OtherStore { .. } => Some(
                "push to a cache made for forge's store (an empty directory or bucket makes one)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Publishes `paths` (valid in `store`) to `backend` (see the module docs).
/// Paths the cache has already are skipped; the report says which.
pub fn push_paths(
    store: &Store,
    backend: &dyn Backend,
    paths: &[StorePath],
    opts: &PushOptions,
    progress: &dyn PushProgress,
) -> Result<PushReport, PushError> {
    if !matches!(
        opts.compression,
        Compression::Zstd | Compression::Xz | Compression::None
    ) {
        return Err(PushError::Compression(opts.compression.to_string()));
    }
    ensure_cache_info(backend)?;
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for p in paths {
        if seen.insert(p.clone()) {
            items.push(Item {
                info: store.path_info(p)?,
                physical: store.physical(p),
            });
        }
    }
    let have = exists_all(backend, &items)?;
    let mut report = PushReport::default();
    let (mut missing, present): (Vec<_>, Vec<_>) =
        items.into_iter().zip(have).partition(|(_, have)| !have);
    report.present = present.into_iter().map(|(i, _)| i.info.path).collect();
    missing.sort_by_key(|(i, _)| std::cmp::Reverse(i.info.nar_size));
    let missing: Vec<Item> = missing.into_iter().map(|(i, _)| i).collect();
    progress.missing(missing.len(), missing.iter().map(|i| i.info.nar_size).sum());
    if missing.is_empty() {
        return Ok(report);
    }
    let scratch = scratch_dir(backend)?;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<StoredNar, PushError>)>();
    let published = std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, missing.len()) {
            let tx = tx.clone();
            let (missing, next, stop, scratch) = (&missing, &next, &stop, scratch.path());
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= missing.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = upload_nar(backend, &missing[i], opts, scratch);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let r = publish_in_order(backend, &missing, rx, opts, progress);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        r
    })?;
    for (i, nar) in published {
        report.nar_bytes += missing[i].info.nar_size;
        report.file_bytes += nar.file_size;
        report.pushed.push(missing[i].info.path.clone());
    }
    Ok(report)
}

/// Publishes `realisations` (each output's path, which must be in the
/// cache already), signed with `key` when given. A realisation the cache
/// has already is kept as it is (the first one published wins, as for
/// paths). Returns how many were published.
pub fn push_realisations(
    backend: &dyn Backend,
    realisations: &[Realisation],
    key: Option<&SecretKey>,
) -> Result<usize, PushError> {
    let mut n = 0;
    for r in realisations {
        let k = Key::new(&layout::realisation(&r.action, &r.output))?;
        if backend.exists(&k)? {
            continue;
        }
        let mut r = r.clone();
        if let Some(key) = key {
            r.signatures
                .insert(key.sign(r.fingerprint().as_bytes()).to_string());
        }
        backend.put(&k, &mut r.to_text().as_bytes())?;
        n += 1;
    }
    Ok(n)
}

/// One path to push: what the store records and where its tree is.
struct Item {
    info: PathInfo,
    physical: PathBuf,
}

/// Writes `nix-cache-info` to a cache without one; refuses another
/// store's cache.
fn ensure_cache_info(backend: &dyn Backend) -> Result<(), PushError> {
    let key = Key::new(layout::CACHE_INFO)?;
    match backend.get_small(&key, 64 * 1024)? {
        Some(text) => {
            let info = CacheInfo::parse(&String::from_utf8_lossy(&text)).map_err(|e| {
                CacheError::Invalid {
                    cache: backend.name().to_owned(),
                    key: key.to_string(),
                    message: e.to_string(),
                }
            })?;
            if !info.is_forge_store() {
                return Err(PushError::OtherStore {
                    cache: backend.name().to_owned(),
                    store_dir: info.store_dir,
                });
            }
        }
        None => {
            backend.put(
                &key,
                &mut CacheInfo::forge(CacheInfo::DEFAULT_PRIORITY)
                    .to_text()
                    .as_bytes(),
            )?;
        }
    }
    Ok(())
}

/// Whether the cache has each item's narinfo, asked `CHECK_FAN_OUT` at a
/// time.
fn exists_all(backend: &dyn Backend, items: &[Item]) -> Result<Vec<bool>, PushError> {
    let keys = items
        .iter()
        .map(|i| Key::new(&layout::narinfo(&i.info.path)))
        .collect::<Result<Vec<_>, _>>()?;
    let next = AtomicUsize::new(0);
    let answers: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..CHECK_FAN_OUT.min(keys.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(k) = keys.get(i) else { break got };
                        got.push((i, backend.exists(k)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut have = vec![false; keys.len()];
    let mut answered = 0;
    for (i, r) in answers {
        have[i] = r?;
        answered += 1;
    }
    if answered != keys.len() {
        return Err(PushError::Io {
            what: "asking the cache about",
            path: PathBuf::from(backend.name()),
            source: io::Error::other("an existence check panicked"),
        });
    }
    Ok(have)
}

/// Where NARs are compressed before upload: inside a local cache's
/// directory (so the upload is a rename), else the temporary directory.
fn scratch_dir(backend: &dyn Backend) -> Result<tempfile::TempDir, PushError> {
    let base = backend
        .local_dir()
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    fs::create_dir_all(&base).map_err(|source| PushError::Io {
        what: "creating",
        path: base.clone(),
        source,
    })?;
    tempfile::Builder::new()
        .prefix(".push-")
        .tempdir_in(&base)
        .map_err(|source| PushError::Io {
            what: "creating a scratch directory in",
            path: base,
            source,
        })
}

/// A writer that hands what it is given, 1 MiB at a time, to a thread of
/// its own that hashes it (SHA-256, when asked), counts it and writes it
/// to a file: the hashing overlaps with dumping and compressing on the
/// caller's thread instead of following it. The writer hands each chunk
/// back for reuse, so a long NAR does not fault in fresh memory per chunk.
///
/// When the file is to be kept (`durable`), the writer also starts its
/// writeback every [`SYNC_EVERY`] bytes on a third thread, so the disk
/// writes while the NAR is still being made and the final sync waits for
/// the tail alone instead of the whole file.
struct Offload {
    buf: Vec<u8>,
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    spare: mpsc::Receiver<Vec<u8>>,
    writer: Option<std::thread::JoinHandle<io::Result<Written>>>,
}

/// What an [`Offload`] wrote: the SHA-256 when asked for, and the length.
struct Written {
    sha256: Option<forge_core::hash::Hash>,
    len: u64,
}

/// The size of the chunks an [`Offload`] hands over.
const OFFLOAD_CHUNK: usize = 1 << 20;
/// How often a durable [`Offload`] starts writeback.
const SYNC_EVERY: u64 = 32 << 20;

impl Offload {
    fn new(file: fs::File, hash: bool, durable: bool) -> Offload {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<u8>>(4);
        let writer = std::thread::spawn(move || {
            let mut out = file;
            let mut hasher = hash.then(|| Hasher::new(HashAlgo::Sha256));
            let mut len = 0u64;
            let syncer = if durable {
                Some(Syncer::new(&out)?)
            } else {
                None
            };
            for mut chunk in rx {
                if let Some(h) = &mut hasher {
                    h.update(&chunk);
                }
                out.write_all(&chunk)?;
                let before = len;
                len += chunk.len() as u64;
                if let Some(s) = &syncer {
                    if before / SYNC_EVERY != len / SYNC_EVERY {
                        s.kick();
                    }
                }
                chunk.clear();
                let _ = spare_tx.try_send(chunk);
            }
            out.flush()?;
            if let Some(s) = syncer {
                s.finish()?;
            }
            Ok(Written {
                sha256: hasher.map(Hasher::finalize),
                len,
            })
        });
        Offload {
            buf: Vec::with_capacity(OFFLOAD_CHUNK),
            tx: Some(tx),
            spare,
            writer: Some(writer),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(OFFLOAD_CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        match &self.tx {
            Some(tx) if tx.send(chunk).is_ok() => Ok(()),
            // The writer stopped: its error comes from `finish`.
            _ => Err(io::Error::other("the NAR writer stopped")),
        }
    }

    /// Waits for the writer: what it wrote.
    fn finish(mut self) -> io::Result<Written> {
        let sent = self.send();
        drop(self.tx.take());
        let written = match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("the NAR writer panicked")),
        };
        // The writer's own error says more than "it stopped".
        let r = written?;
        sent?;
        Ok(r)
    }
}

impl Write for Offload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let take = (OFFLOAD_CHUNK - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == OFFLOAD_CHUNK {
                self.send()?;
            }
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Syncs a file's data on a thread of its own whenever kicked (a kick
/// while a sync runs is dropped: the running one, or the final sync,
/// covers it). The backend syncs the file again before it publishes it;
/// this only moves the disk's work earlier.
struct Syncer {
    kick: Option<mpsc::SyncSender<()>>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Syncer {
    fn new(file: &fs::File) -> io::Result<Syncer> {
        let file = file.try_clone()?;
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::spawn(move || {
            for () in kicked {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(Syncer {
            kick: Some(kick),
            thread,
        })
    }

    fn kick(&self) {
        if let Some(k) = &self.kick {
            let _ = k.try_send(());
        }
    }

    fn finish(mut self) -> io::Result<()> {
        drop(self.kick.take());
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the NAR syncer panicked")))
    }
}

/// How much of a NAR `auto` compression looks at before it decides.
const PROBE: usize = 4 << 20;

/// zstd's output for `sample` when it saves at least 3%; `None` when the
/// data is not worth compressing (already compressed, random).
fn zstd_if_worth_it(sample: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let packed = zstd::bulk::compress(sample, ZSTD_LEVEL)?;
    let worth = (packed.len() as u64) * 100 < (sample.len() as u64) * 97;
    Ok(worth.then_some(packed))
}

/// What a NAR streams into: a compressor over an [`Offload`], or (with
/// [`PushOptions::raw_if_incompressible`]) first a probe that holds the
/// NAR's first [`PROBE`] bytes and then picks zstd or no compression by
/// how well they compress.
enum NarSink {
    Probe {
        sample: Vec<u8>,
        file: fs::File,
        opts: ZstdOpts,
        durable: bool,
    },
    Raw(Offload),
    /// The whole NAR as one zstd frame, made by the probe.
    Framed(Offload),
    Zstd(zstd::stream::write::Encoder<'static, Offload>),
    Xz(xz2::write::XzEncoder<Offload>),
    /// A decision failed; its error was returned.
    Broken,
}

/// How the zstd stream of a probed NAR is set up.
#[derive(Clone, Copy)]
struct ZstdOpts {
    threads: u32,
}

impl NarSink {
    fn new(file: fs::File, opts: &PushOptions, durable: bool) -> io::Result<NarSink> {
        let zstd = ZstdOpts {
            threads: opts.compressor_threads,
        };
        Ok(match &opts.compression {
            Compression::Zstd if opts.raw_if_incompressible => NarSink::Probe {
                sample: Vec::new(),
                file,
                opts: zstd,
                durable,
            },
            Compression::Zstd => NarSink::zstd(Offload::new(file, true, durable), zstd)?,
            Compression::Xz => {
                let stream = xz2::stream::MtStreamBuilder::new()
                    .preset(XZ_PRESET)
                    .threads(opts.compressor_threads.max(1))
                    .check(xz2::stream::Check::Crc64)
                    .encoder()?;
                NarSink::Xz(xz2::write::XzEncoder::new_stream(
                    Offload::new(file, true, durable),
                    stream,
                ))
            }
            _ => NarSink::Raw(Offload::new(file, false, durable)),
        })
    }

    fn zstd(out: Offload, opts: ZstdOpts) -> io::Result<NarSink> {
        let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
        if opts.threads > 1 {
            enc.multithread(opts.threads)?;
        }
        Ok(NarSink::Zstd(enc))
    }

    /// Ends a probe: the sample so far decides, and goes out first.
    /// `last`: the sample is the whole NAR.
    fn decide(&mut self, last: bool) -> io::Result<()> {
        if !matches!(self, NarSink::Probe { .. }) {
            return Ok(());
        }
        let NarSink::Probe {
            sample,
            file,
            opts,
            durable,
        } = std::mem::replace(self, NarSink::Broken)
        else {
            unreachable!("checked above")
        };
        *self = match zstd_if_worth_it(&sample)? {
            // The whole NAR is in the sample: its one frame is the file.
            Some(packed) if last => {
                let mut out = Offload::new(file, true, durable);
                out.write_all(&packed)?;
                NarSink::Framed(out)
            }
            Some(_) => {
                let mut sink = NarSink::zstd(Offload::new(file, true, durable), opts)?;
                sink.write_all(&sample)?;
                sink
            }
            None => {
                let mut out = Offload::new(file, false, durable);
                out.write_all(&sample)?;
                NarSink::Raw(out)
            }
        };
        Ok(())
    }

    /// Ends the file: how it is compressed, and what was written.
    fn finish(mut self) -> io::Result<(Compression, Written)> {
        self.decide(true)?;
        let (compression, out) = match self {
            NarSink::Raw(out) => (Compression::None, out),
            NarSink::Framed(out) => (Compression::Zstd, out),
            NarSink::Zstd(enc) => (Compression::Zstd, enc.finish()?),
            NarSink::Xz(enc) => (Compression::Xz, enc.finish()?),
            NarSink::Probe { .. } | NarSink::Broken => return Err(broken()),
        };
        Ok((compression, out.finish()?))
    }
}

fn broken() -> io::Error {
    io::Error::other("the NAR compressor failed earlier")
}

impl Write for NarSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            NarSink::Probe { sample, .. } => {
                let take = (PROBE - sample.len()).min(data.len());
                sample.extend_from_slice(&data[..take]);
                if sample.len() == PROBE {
                    self.decide(false)?;
                }
                Ok(take)
            }
            NarSink::Raw(out) => out.write(data),
            NarSink::Zstd(enc) => enc.write(data),
            NarSink::Xz(enc) => enc.write(data),
            NarSink::Framed(_) | NarSink::Broken => Err(broken()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Dumps, compresses and uploads the NAR of `item`; returns where it is.
fn upload_nar(
    backend: &dyn Backend,
    item: &Item,
    opts: &PushOptions,
    scratch: &Path,
) -> Result<StoredNar, PushError> {
    let file = scratch.join(item.info.path.hash_part());
    let io_err = |what, source| PushError::Io {
        what,
        path: file.clone(),
        source,
    };
    let out = fs::File::create(&file).map_err(|e| io_err("creating", e))?;
    // A local cache keeps this very file: start its writeback early.
    let durable = backend.local_dir().is_some();
    let mut sink = NarSink::new(out, opts, durable).map_err(|e| io_err("compressing into", e))?;
    dump(item, &mut sink)?;
    let (compression, written) = sink.finish().map_err(|e| io_err("writing", e))?;
    // An uncompressed NAR's file hash is its NAR hash, which the store has.
    let file_hash = match written.sha256 {
        Some(h) => h,
        None if written.len == item.info.nar_size => item.info.nar_sha256,
        None => {
            return Err(io_err(
                "dumping",
                io::Error::other(format!(
                    "the NAR is {} bytes, but the store records {}",
                    written.len, item.info.nar_size
                )),
            ))
        }
    };
    let stored = StoredNar {
        url: layout::nar(&file_hash, &compression),
        compression,
        file_hash,
        file_size: written.len,
    };
    let key = Key::new(&stored.url)?;
    if !backend.exists(&key)? {
        backend.put_file(&key, &file)?;
    }
    let _ = fs::remove_file(&file);
    Ok(stored)
}

/// The NAR of `item`'s tree into `out`.
fn dump(item: &Item, out: impl Write) -> Result<(), PushError> {
    let nar_err = |source| StoreError::Nar {
        path: item.physical.clone(),
        source,
    };
    let mut enc = NarEncoder::new(out).map_err(nar_err)?;
    forge_store::tree::dump_tree(
        &item.physical,
        &mut enc,
        None,
        &forge_store::tree::NoProgress,
    )?;
    enc.finish().map_err(nar_err)?;
    Ok(())
}

/// Publishes each narinfo once its NAR is up and the references pushed
/// with it are published; returns the published items in order.
fn publish_in_order(
    backend: &dyn Backend,
    missing: &[Item],
    done: mpsc::Receiver<(usize, Result<StoredNar, PushError>)>,
    opts: &PushOptions,
    progress: &dyn PushProgress,
) -> Result<Vec<(usize, StoredNar)>, PushError> {
    let index: HashMap<&StorePath, usize> = missing
        .iter()
        .enumerate()
        .map(|(i, it)| (&it.info.path, i))
        .collect();
    // What each item waits for: its references being pushed alongside.
    let mut waits: Vec<BTreeSet<usize>> = missing
        .iter()
        .map(|it| {
            it.info
                .references
                .iter()
                .filter(|r| **r != it.info.path)
                .filter_map(|r| index.get(r).copied())
                .collect()
        })
        .collect();
    let mut uploaded: HashMap<usize, StoredNar> = HashMap::new();
    let mut published = Vec::new();
    let mut is_published = vec![false; missing.len()];
    for (i, r) in done {
        uploaded.insert(i, r?);
        // Publish whatever is now ready, until nothing more is.
        loop {
            let ready: Vec<usize> = uploaded
                .keys()
                .copied()
                .filter(|&j| waits[j].iter().all(|&w| is_published[w]))
                .collect();
            if ready.is_empty() {
                break;
            }
            for j in ready {
                let nar = uploaded.remove(&j).expect("ready is uploaded");
                publish_narinfo(backend, &missing[j], &nar, opts)?;
                progress.pushed(
                    &missing[j].info.path,
                    missing[j].info.nar_size,
                    nar.file_size,
                );
                is_published[j] = true;
                waits[j].clear();
                published.push((j, nar));
            }
        }
    }
    if published.len() != missing.len() {
        return Err(PushError::Io {
            what: "pushing to",
            path: PathBuf::from(backend.name()),
            source: io::Error::other("a NAR upload stopped without a result"),
        });
    }
    Ok(published)
}

fn publish_narinfo(
    backend: &dyn Backend,
    item: &Item,
    nar: &StoredNar,
    opts: &PushOptions,
) -> Result<(), PushError> {
    let mut narinfo: NarInfo = narinfo_for(&item.info, nar);
    if let Some(key) = &opts.secret_key {
        narinfo
            .signatures
            .insert(key.sign(narinfo.fingerprint().as_bytes()).to_string());
    }
    let key = Key::new(&layout::narinfo(&item.info.path))?;
    backend.put(&key, &mut narinfo.to_text().as_bytes())?;
    Ok(())
}
