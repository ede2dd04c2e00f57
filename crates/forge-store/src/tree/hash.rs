//! The sink a NAR stream is hashed into (BLAKE3, SHA-256 on a second
//! thread, a reference scanner), and hashing a host tree with it.

use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use forge_core::hash::{Hash, HashAlgo, Hasher};
use forge_core::nar::NarEncoder;
use forge_core::refs::{Collection, RefScanner};
use forge_core::store_path::StorePath;

use super::{dump_tree, nar_err, Progress, CHUNK, DIRECT_MIN};
use crate::error::Result;

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

/// Hashes the NAR of a host tree without copying it (SHA-256 too when
/// `sha256`), scanning it for references when given a scanner, reporting
/// progress.
pub fn hash_tree(
    src: &Path,
    sha256: bool,
    scanner: Option<RefScanner>,
    progress: &dyn Progress,
) -> Result<NarDigest> {
    let mut enc = NarEncoder::new(NarSink::new(sha256, scanner)).map_err(nar_err(src))?;
    dump_tree(src, &mut enc, None, progress)?;
    Ok(enc.finish().map_err(nar_err(src))?.finish())
}
