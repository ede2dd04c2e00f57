//! The substitution goal: asks each [`Substituter`] for a derivation's
//! outputs before anything is built.
//!
//! The goal ([`crate::goal`]) asks between the local lookup and taking the
//! build lock: by action digest first (a realisation: output -> store
//! path), then for each path of the outputs' closures that the store does
//! not have, its claimed metadata (a frontier of the closure at a time, 16
//! queries at once), and brings them in: every NAR is downloaded (4 at
//! once, largest first) into a scratch file without the store's mutex,
//! then each is imported, references first, through [`forge_store::Store::import_nar`] (hashes
//! verified while it is read; nothing registered when they differ). The
//! realisations are registered, in one transaction, only once every
//! output's closure is in the store, so a substitution that fails midway
//! leaves no realisation behind and the build falls back to building. Whether a substituter's claims are
//! trusted (signatures) is the substituter's business: it returns only
//! what it trusts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use forge_core::derivation::{ActionDigest, Derivation};
use forge_core::store_path::StorePath;
use forge_store::{ClaimedPath, StoreError};

use crate::event::Event;
use crate::goal::output_names;
use crate::graph::Node;
use crate::session::Session;
use crate::substituter::{SubstituteError, Substituter};

impl Session<'_> {
    /// Asks each substituter in turn for the outputs of `drv`; on success
    /// they are in the store with their realisations. Failures are logged
    /// and mean "build it".
    pub fn substitute(&self, node: &Node, drv: &Derivation) -> Option<BTreeMap<String, StorePath>> {
        let digest = drv.action_digest();
        for s in self.substituters {
            if self.cancel.load(Ordering::Relaxed) {
                return None;
            }
            match self.substitute_from(s.as_ref(), node, drv, &digest) {
                Ok(Some(outputs)) => return Some(outputs),
                Ok(None) => {}
                Err(e) => self.reporter.event(&Event::SubstituteFailed {
                    recipe: node.recipe.store_name(),
                    error: e.to_string(),
                    from: s.name().to_owned(),
                }),
            }
        }
        if !self.substituters.is_empty() {
            self.reporter.event(&Event::NotSubstituted {
                recipe: node.recipe.store_name(),
                asked: self.substituters.len(),
            });
        }
        None
    }

    fn substitute_from(
        &self,
        s: &dyn Substituter,
        node: &Node,
        drv: &Derivation,
        digest: &ActionDigest,
    ) -> Result<Option<BTreeMap<String, StorePath>>, SubstituteError> {
        let outputs = &drv.outputs;
        let Some(found) = s.realisations(digest, outputs)? else {
            return Ok(None);
        };
        if found.keys().ne(outputs.iter()) {
            return Ok(None);
        }
        self.reporter.event(&Event::Substituting {
            recipe: node.recipe.store_name(),
            from: s.name().to_owned(),
        });
        // The closure of the outputs that the store lacks, with what the
        // substituter claims of each, asked a frontier at a time, the
        // paths of a frontier in parallel.
        let mut wanted: HashMap<StorePath, ClaimedPath> = HashMap::new();
        let mut frontier: Vec<StorePath> = found.values().cloned().collect();
        while !frontier.is_empty() {
            let mut ask = Vec::new();
            for p in std::mem::take(&mut frontier) {
                if !wanted.contains_key(&p) && !ask.contains(&p) && !self.is_valid(s, &p)? {
                    ask.push(p);
                }
            }
            for (p, info) in ask
                .iter()
                .zip(parallel(&ask, QUERY_FAN_OUT, |p| s.path_info(p)))
            {
                let info = info?.ok_or_else(|| SubstituteError::Incomplete {
                    substituter: s.name().to_owned(),
                    digest: digest.to_string(),
                    path: p.clone(),
                })?;
                if info.path != *p {
                    return Err(SubstituteError::WrongPath {
                        substituter: s.name().to_owned(),
                        asked: p.clone(),
                        got: Box::new(info.path),
                    });
                }
                frontier.extend(info.references.iter().filter(|r| *r != p).cloned());
                wanted.insert(p.clone(), info);
            }
        }
        let refs: HashMap<StorePath, BTreeSet<StorePath>> = wanted
            .iter()
            .map(|(p, i)| (p.clone(), i.references.clone()))
            .collect();
        // Downloaded in parallel (largest first, each into its own scratch
        // file, without the store's mutex), imported references first: a
        // path is registered only once what it names is.
        let order = forge_store::topo_sort(&refs);
        let mut by_size: Vec<&StorePath> =
            order.iter().filter(|p| wanted.contains_key(*p)).collect();
        by_size.sort_by_key(|p| std::cmp::Reverse(wanted[*p].nar_size));
        if s.is_local() {
            // Nothing to wait for: straight from the cache into the store.
            for p in &order {
                let Some(info) = wanted.get(p) else { continue };
                if self.cancel.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let nar = s.nar(p)?.take(info.nar_size.saturating_add(1));
                self.store()
                    .import_nar(nar, info)
                    .map_err(|e| store_error(s, p, e))?;
            }
            return self.register(s, drv, digest, found).map(Some);
        }
        let downloads = parallel(&by_size, DOWNLOAD_FAN_OUT, |p| {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            self.download(s, p, &wanted[*p]).map(Some)
        });
        let mut files: HashMap<&StorePath, (forge_store::ScratchDir, PathBuf)> = HashMap::new();
        for (p, d) in by_size.iter().zip(downloads) {
            match d? {
                Some(f) => {
                    files.insert(*p, f);
                }
                None => return Ok(None),
            }
        }
        for p in &order {
            let (Some(info), Some((_scratch, file))) = (wanted.get(p), files.get(p)) else {
                continue;
            };
            let nar = fs::File::open(file).map_err(|e| io_error(s, p, "reading", e))?;
            self.store()
                .import_nar(nar, info)
                .map_err(|e| store_error(s, p, e))?;
        }
        self.register(s, drv, digest, found).map(Some)
    }

    /// Records the realisations `found` of `drv`'s outputs, whose closures
    /// are in the store now.
    fn register(
        &self,
        s: &dyn Substituter,
        drv: &Derivation,
        digest: &ActionDigest,
        found: BTreeMap<String, StorePath>,
    ) -> Result<BTreeMap<String, StorePath>, SubstituteError> {
        // `found` has exactly the derivation's outputs, in the same order.
        let names = output_names(drv);
        self.store()
            .register_realisations(digest, names.iter().zip(found.values()))
            .map_err(|e| store_error(s, found.values().next().expect("outputs"), e))?;
        Ok(found)
    }

    /// Downloads the NAR of `p` into a scratch file, without the store's
    /// mutex (other jobs go on meanwhile), and never more than its claimed
    /// size and a byte (the import then finds it too long).
    fn download(
        &self,
        s: &dyn Substituter,
        p: &StorePath,
        info: &ClaimedPath,
    ) -> Result<(forge_store::ScratchDir, PathBuf), SubstituteError> {
        let scratch = self
            .store()
            .scratch_dir("substitute")
            .map_err(|e| store_error(s, p, e))?;
        let file = scratch.path().join("nar");
        let mut out = fs::File::create(&file).map_err(|e| io_error(s, p, "writing", e))?;
        let mut nar = s.nar(p)?.take(info.nar_size.saturating_add(1));
        std::io::copy(&mut nar, &mut out).map_err(|e| io_error(s, p, "downloading", e))?;
        Ok((scratch, file))
    }

    fn is_valid(&self, s: &dyn Substituter, p: &StorePath) -> Result<bool, SubstituteError> {
        self.store()
            .db()
            .is_valid(p)
            .map_err(|e| store_error(s, p, e))
    }
}

/// Narinfos asked of a substituter at once.
const QUERY_FAN_OUT: usize = 16;
/// NARs downloaded from a substituter at once.
const DOWNLOAD_FAN_OUT: usize = 4;

/// `f` of each item, at most `fan_out` at a time, in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], fan_out: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..fan_out.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break done };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn io_error(
    s: &dyn Substituter,
    path: &StorePath,
    what: &str,
    source: std::io::Error,
) -> SubstituteError {
    SubstituteError::Io {
        substituter: s.name().to_owned(),
        what: format!("{what} the NAR of {path}"),
        source,
    }
}

fn store_error(s: &dyn Substituter, path: &StorePath, source: StoreError) -> SubstituteError {
    SubstituteError::Store {
        substituter: s.name().to_owned(),
        path: path.clone(),
        source: Box::new(source),
    }
}
