//! Registering a build's outputs as content-addressed store paths.
//!
//! A derivation's outputs are built at *placeholder* paths: paths that
//! depend only on the derivation, of exactly the length of the final paths,
//! so that a builder can embed them and the store rewrite them in place
//! (docs/store.md, docs/build.md). Once the builder is done, each output's final
//! path is computed from what it contains:
//!
//! 1. The output tree is made canonical where it lies (the builder is gone;
//!    a rename into the store later costs nothing, a copy would cost an
//!    inode per file and every byte written again), then serialised to NAR
//!    and hashed with every occurrence of its own placeholder's digest
//!    replaced by a fixed mask (so the hash does not depend on the
//!    placeholder), and the digests of sibling outputs already finalised
//!    replaced by their final digests. The same pass scans it for
//!    references among the *candidates*: the closure of the derivation's
//!    inputs and the sibling outputs. Nothing else can be a reference, so
//!    the result does not depend on what else this store happens to hold.
//! 2. The final path is [`StorePath::content_addressed`] of the masked hash,
//!    the references and whether the output refers to itself.
//! 3. If any digest had to be rewritten, a rewritten copy is made in a
//!    staging directory in a second pass (NAR out, rewrite, NAR back in), so
//!    that it names its final path; its real NAR hash is what the store records. Digests are 32
//!    bytes before and after, so no length changes.
//! 4. Every output is moved into the store and registered together with the
//!    realisations `(action digest, output) -> path`, in one transaction.
//!
//! Outputs that refer to each other are finalised in dependency order; a
//! cycle between outputs is an error, as in Nix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use forge_core::hash::Hash;
use forge_core::nar::{read_nar_any_order, NarEncoder};
use forge_core::refs::RefScanner;
use forge_core::store_path::StorePath;

use crate::db::{self, PathInfo, Realisation};
use crate::error::{IoContext, Result, StoreError};
use crate::lock::{FileLock, LockMode};
use crate::restore::Restorer;
use crate::{failpoint, move_dir_entry, tree, Staging, Store, PATH_MAX_LEN};

/// What replaces a self-reference while hashing: 32 characters outside the
/// base32 alphabet, so it can never be mistaken for a real digest.
pub(crate) const SELF_MASK: &[u8; 32] = b"________________________________";

/// One output as the builder left it.
#[derive(Debug, Clone)]
pub struct BuiltOutput {
    /// The output's name (`out`, `dev`, …).
    pub output: String,
    /// Where the builder wrote it on the host (file, directory or symlink).
    pub staged: PathBuf,
    /// The placeholder path the builder saw it at.
    pub placeholder: StorePath,
}

/// A registered output.
#[derive(Debug, Clone)]
pub struct RegisteredOutput {
    /// What the store records about it.
    pub info: PathInfo,
    /// True if an identical path was valid already (another derivation, or
    /// an earlier build, produced the same bytes).
    pub already_valid: bool,
}

/// A streaming writer that replaces 32-byte digests, counting hits.
pub(crate) struct Rewriter<W: Write> {
    inner: W,
    pairs: Vec<([u8; 32], [u8; 32])>,
    hits: Vec<u64>,
    /// Bytes held back because a digest may straddle two writes.
    pending: Vec<u8>,
}

impl<W: Write> Rewriter<W> {
    pub(crate) fn new(inner: W, pairs: Vec<([u8; 32], [u8; 32])>) -> Self {
        let n = pairs.len();
        Rewriter {
            inner,
            pairs,
            hits: vec![0; n],
            pending: Vec::new(),
        }
    }

    fn rewrite(&mut self) {
        if self.pairs.is_empty() {
            return;
        }
        for (i, (from, to)) in self.pairs.iter().enumerate() {
            let finder = memchr::memmem::Finder::new(from);
            let mut start = 0;
            while let Some(pos) = finder.find(&self.pending[start..]) {
                let at = start + pos;
                self.pending[at..at + 32].copy_from_slice(to);
                self.hits[i] += 1;
                start = at + 32;
            }
        }
    }

    pub(crate) fn finish(mut self) -> io::Result<(W, Vec<u64>)> {
        self.rewrite();
        self.inner.write_all(&self.pending)?;
        Ok((self.inner, self.hits))
    }
}

impl<W: Write> Write for Rewriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= 1 << 16 {
            self.rewrite();
            // Keep 31 bytes: the start of a digest that continues later.
            let keep = self.pending.len() - 31;
            self.inner.write_all(&self.pending[..keep])?;
            self.pending.drain(..keep);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn digest_bytes(p: &StorePath) -> [u8; 32] {
    let mut b = [0u8; 32];
    b.copy_from_slice(p.hash_part().as_bytes());
    b
}

/// Writes both ways: the hashing sink and a channel to the restoring thread.
struct Tee<'a> {
    sink: &'a mut tree::NarSink,
    tx: SyncSender<Vec<u8>>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink.write_all(buf)?;
        self.tx
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "nar restore stopped"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the chunks a [`Tee`] sends.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The first pass over one output: masked hash, references, hits.
struct Scanned {
    masked: Hash,
    references: BTreeSet<StorePath>,
    self_reference: bool,
    /// Whether anything was rewritten (then the copy must be redone).
    rewritten: bool,
    /// Sibling placeholders still unresolved that this output contains.
    waits_for: BTreeSet<String>,
    digest: tree::NarDigest,
}

impl Store {
    /// Registers the outputs of a build of `action_digest` (see the module
    /// docs): computes each output's content address with self-references
    /// masked, rewrites placeholders, moves the outputs into the store and
    /// registers them with their realisations in one transaction.
    /// `input_closure` is every store path the build could see; references
    /// are searched among those and the sibling outputs only.
    ///
    /// The caller holds the GC lock shared (inputs must stay valid).
    pub(crate) fn register_outputs(
        &mut self,
        action_digest: &str,
        outputs: &[BuiltOutput],
        input_closure: &BTreeSet<StorePath>,
    ) -> Result<BTreeMap<String, RegisteredOutput>> {
        let mut finals: BTreeMap<String, StorePath> = BTreeMap::new(); // output -> final
                                                                       // Per output: where its final tree is, the staging area holding it
                                                                       // when it had to be rewritten, and its record.
        let mut staged_objects: BTreeMap<String, (PathBuf, Option<Staging>, PathInfo)> =
            BTreeMap::new();
        let mut todo: Vec<&BuiltOutput> = outputs.iter().collect();
        while !todo.is_empty() {
            let mut progressed = false;
            let mut next = Vec::new();
            for out in todo {
                let scanned = self.scan_output(out, outputs, &finals, input_closure)?;
                if !scanned.waits_for.is_empty() {
                    next.push(out);
                    continue;
                }
                progressed = true;
                let name = out.placeholder.name().clone();
                let path = StorePath::content_addressed(
                    name,
                    &scanned.masked,
                    &scanned.references,
                    scanned.self_reference,
                );
                let (source, staging, digest) = if scanned.rewritten {
                    let mut pairs: Vec<([u8; 32], [u8; 32])> =
                        vec![(digest_bytes(&out.placeholder), digest_bytes(&path))];
                    for o in outputs {
                        if let Some(f) = finals.get(&o.output) {
                            pairs.push((digest_bytes(&o.placeholder), digest_bytes(f)));
                        }
                    }
                    let staging = Staging::new(&self.layout)?;
                    let digest = self.rewrite_copy(&out.staged, &staging, pairs)?;
                    (staging.object.clone(), Some(staging), digest)
                } else {
                    // Nothing to rewrite: the canonical tree moves as it is.
                    (out.staged.clone(), None, scanned.digest)
                };
                let mut references = scanned.references.clone();
                if scanned.self_reference {
                    references.insert(path.clone());
                }
                let info = PathInfo {
                    path: path.clone(),
                    nar_blake3: digest.blake3,
                    nar_sha256: digest.sha256.expect("the sink computes sha256"),
                    nar_size: digest.size,
                    registered_at: db::now(),
                    deriver: Some(action_digest.to_owned()),
                    content_address: Some(format!("nar-masked:{}", scanned.masked)),
                    self_reference: scanned.self_reference,
                    references,
                    signatures: BTreeSet::new(),
                    listing: Some(tree::encode_listing(&tree::listing(&source)?)),
                };
                finals.insert(out.output.clone(), path);
                staged_objects.insert(out.output.clone(), (source, staging, info));
            }
            if !progressed {
                let names: Vec<_> = next.iter().map(|o| o.output.as_str()).collect();
                return Err(StoreError::OutputCycle {
                    action_digest: action_digest.to_owned(),
                    outputs: names.join(", "),
                });
            }
            todo = next;
        }
        self.install_outputs(action_digest, staged_objects)
    }

    /// Pass one over an output (see the module docs).
    fn scan_output(
        &self,
        out: &BuiltOutput,
        all: &[BuiltOutput],
        finals: &BTreeMap<String, StorePath>,
        input_closure: &BTreeSet<StorePath>,
    ) -> Result<Scanned> {
        fs::symlink_metadata(&out.staged).map_err(|_| StoreError::MissingOutput {
            output: out.output.clone(),
            placeholder: out.placeholder.clone(),
        })?;
        crate::refuse_symlink_out_of_store(&out.staged, || {
            format!("output `{}` ({})", out.output, out.placeholder)
        })?;
        // The builder is gone and the tree is ours: canonicalise it where it
        // is (a rename into the store later, not a copy).
        let limit = self.max_copy_len(&out.staged, out.placeholder.name().as_str());
        tree::canonicalise_in_place(&out.staged, limit)?;
        let mut pairs = vec![(digest_bytes(&out.placeholder), *SELF_MASK)];
        let mut pending_siblings = Vec::new();
        for o in all {
            if o.output == out.output {
                continue;
            }
            match finals.get(&o.output) {
                Some(f) => pairs.push((digest_bytes(&o.placeholder), digest_bytes(f))),
                None => pending_siblings.push(o),
            }
        }
        let mut candidates: Vec<&StorePath> = input_closure.iter().collect();
        candidates.extend(finals.values());
        candidates.extend(pending_siblings.iter().map(|o| &o.placeholder));
        let sink = tree::NarSink::new(true, Some(RefScanner::new(candidates)));
        let rewriter = Rewriter::new(sink, pairs);
        let mut enc = NarEncoder::new(rewriter).map_err(|source| StoreError::Nar {
            path: out.staged.clone(),
            source,
        })?;
        tree::dump_tree(&out.staged, &mut enc, None, &tree::NoProgress)?;
        let rewriter = enc.finish().map_err(|source| StoreError::Nar {
            path: out.staged.clone(),
            source,
        })?;
        let (sink, hits) = rewriter.finish().ctx("hashing", &out.staged)?;
        let digest = sink.finish();
        let waits_for: BTreeSet<String> = pending_siblings
            .iter()
            .filter(|o| digest.references.contains(&o.placeholder))
            .map(|o| o.output.clone())
            .collect();
        let references: BTreeSet<StorePath> = digest
            .references
            .iter()
            .filter(|r| pending_siblings.iter().all(|o| o.placeholder != **r))
            .cloned()
            .collect();
        Ok(Scanned {
            masked: digest.blake3,
            references,
            self_reference: hits[0] > 0,
            rewritten: hits.iter().any(|&h| h > 0),
            waits_for,
            digest,
        })
    }

    fn max_copy_len(&self, object: &Path, name: &str) -> usize {
        let final_prefix = self.layout.store_dir().as_os_str().len() + 2 + 32 + name.len();
        let trash_prefix = self.layout.trash_dir().as_os_str().len() + 2 + 32 + name.len() + 13;
        let extra = final_prefix
            .max(trash_prefix)
            .saturating_sub(object.as_os_str().len());
        PATH_MAX_LEN.saturating_sub(extra)
    }

    /// Pass two: recreates the canonical tree at `src` as `staging.object`
    /// with digests rewritten; returns the NAR digest of the result.
    fn rewrite_copy(
        &self,
        src: &Path,
        staging: &Staging,
        pairs: Vec<([u8; 32], [u8; 32])>,
    ) -> Result<tree::NarDigest> {
        let rewritten = staging.object.clone();
        let (tx, rx) = sync_channel::<Vec<u8>>(16);
        let root = rewritten.clone();
        let restorer = std::thread::spawn(move || {
            let mut r = Restorer::new(root);
            let reader = ChannelReader {
                rx,
                buf: Vec::new(),
                at: 0,
            };
            read_nar_any_order(reader, &mut r).map(|_| r.reordered)
        });
        let mut sink = tree::NarSink::new(true, None);
        let result = (|| -> Result<()> {
            let tee = Tee {
                sink: &mut sink,
                tx,
            };
            let rewriter = Rewriter::new(tee, pairs);
            let mut enc = NarEncoder::new(rewriter).map_err(|source| StoreError::Nar {
                path: src.to_owned(),
                source,
            })?;
            tree::dump_tree(src, &mut enc, None, &tree::NoProgress)?;
            let rewriter = enc.finish().map_err(|source| StoreError::Nar {
                path: src.to_owned(),
                source,
            })?;
            rewriter.finish().ctx("rewriting", src)?;
            Ok(())
        })();
        let restored = restorer.join().expect("the nar restorer does not panic");
        result?;
        let reordered = restored.map_err(|e| StoreError::Rewrite {
            path: rewritten.clone(),
            detail: e.to_string(),
        })?;
        if reordered {
            // A renamed entry sorts elsewhere now: the NAR of the tree (what
            // the store records and `verify` checks) has it at its new place.
            return tree::hash_tree(&staging.object, true, None, &tree::NoProgress);
        }
        Ok(sink.finish())
    }

    /// Moves staged outputs into place and registers them and their
    /// realisations in one transaction.
    fn install_outputs(
        &mut self,
        action_digest: &str,
        staged: BTreeMap<String, (PathBuf, Option<Staging>, PathInfo)>,
    ) -> Result<BTreeMap<String, RegisteredOutput>> {
        let mut locks = Vec::new();
        let mut moved = Vec::new();
        let mut infos = Vec::new();
        let mut realisations = Vec::new();
        let mut result = BTreeMap::new();
        // Lock in path order so two builders never deadlock.
        let mut ordered: Vec<_> = staged.into_iter().collect();
        ordered.sort_by(|a, b| a.1 .2.path.cmp(&b.1 .2.path));
        let outcome = (|| -> Result<()> {
            for (output, (source, _staging, info)) in &ordered {
                if locks.iter().all(|(p, _)| p != &info.path) {
                    let lock =
                        FileLock::acquire(&self.layout.path_lock(&info.path), LockMode::Exclusive)?;
                    locks.push((info.path.clone(), lock));
                }
                let already_valid = self.db.is_valid(&info.path)?;
                if !already_valid && !infos.iter().any(|i: &PathInfo| i.path == info.path) {
                    let dest = self.layout.physical(&info.path);
                    if fs::symlink_metadata(&dest).is_ok() {
                        self.discard(&dest)?;
                    }
                    move_dir_entry(source, &dest).ctx("moving into the store", &dest)?;
                    moved.push(dest);
                    infos.push(info.clone());
                }
                realisations.push(Realisation {
                    action_digest: action_digest.to_owned(),
                    output: output.clone(),
                    path: info.path.clone(),
                    signatures: BTreeSet::new(),
                });
                result.insert(
                    output.clone(),
                    RegisteredOutput {
                        info: info.clone(),
                        already_valid,
                    },
                );
            }
            failpoint::hit("add-after-rename");
            self.db.register_realised(&infos, &realisations)?;
            failpoint::hit("add-after-commit");
            Ok(())
        })();
        if let Err(e) = outcome {
            for dest in moved {
                let _ = self.discard(&dest);
            }
            return Err(e);
        }
        for (_, lock) in locks {
            lock.unlink_and_release()?;
        }
        // Outputs identical to valid paths were not moved; drop their copies.
        drop(ordered);
        for (output, reg) in &mut result {
            if reg.already_valid {
                reg.info = self.path_info(&reg.info.path)?;
                tracing::debug!(output, path = %reg.info.path, "output already valid");
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: Vec<([u8; 32], [u8; 32])>, input: &[u8], chunk: usize) -> (Vec<u8>, Vec<u64>) {
        let mut w = Rewriter::new(Vec::new(), pairs);
        for c in input.chunks(chunk.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn rewrites_across_write_boundaries() {
        let from = *b"abcdefghijklmnopqrstuvwxyz012345";
        let to = *b"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
        let mut input = vec![b'.'; 70_000];
        input.extend_from_slice(&from);
        input.extend_from_slice(b"--");
        input.extend_from_slice(&from);
        for chunk in [1, 7, 31, 32, 33, 4096, 65_536, 200_000] {
            let (out, hits) = run(vec![(from, to)], &input, chunk);
            assert_eq!(hits, vec![2], "chunk {chunk}");
            assert_eq!(out.len(), input.len());
            assert!(!out.windows(32).any(|w| w == from));
            assert_eq!(&out[70_000..70_032], &to);
        }
    }

    #[test]
    fn leaves_other_bytes_alone() {
        let from = *b"abcdefghijklmnopqrstuvwxyz012345";
        let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (out, hits) = run(vec![(from, *SELF_MASK)], &input, 10_000);
        assert_eq!(hits, vec![0]);
        assert_eq!(out, input);
    }
}
