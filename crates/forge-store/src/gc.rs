//! Garbage collection: deleting the valid paths no root can reach.
//!
//! The collector takes the GC lock exclusively, so no addition is in flight
//! (additions hold it shared for their whole duration). It then:
//!
//! 1. reads the roots: direct roots name a path; indirect roots name a
//!    symlink on the host, which roots whatever store path it points to. An
//!    indirect root whose link is gone, or points outside the store, is stale
//!    and is dropped;
//! 2. marks the closure of the roots live; with
//!    [`GcOptions::keep_outputs`], the build-time inputs of every live path
//!    a build made (the inputs and root layers of the derivations that made
//!    it, as the store recorded them) are live too, recursively;
//! 3. orders the dead paths so that every path comes before the paths it
//!    refers to, and with `max_freed` keeps only a prefix of that order (so
//!    the set deleted never leaves a live path referring to a deleted one);
//! 4. deletes in batches: first the database rows, in one transaction per
//!    batch (the paths stop being valid), then each object is renamed into
//!    `trash/` and removed. A crash in between leaves only invalid objects,
//!    which the next collection removes;
//! 5. removes leftovers: objects in `store/` that are not valid, stale
//!    staging directories and anything in `trash/`. An object that cannot be
//!    removed is reported and skipped, never a reason to stop.

use std::collections::{HashMap, HashSet};
use std::fs;

use forge_core::derivation::Derivation;
use forge_core::store_path::StorePath;
use serde::Serialize;

use crate::db::RootKind;
use crate::error::{IoContext, Result, StoreError};
use crate::lock::{FileLock, LockMode};
use crate::{tree, Store};

const BATCH: usize = 512;

/// What the collector should do.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Stop once at least this many bytes (of NAR size) are freed.
    pub max_freed: Option<u64>,
    /// Keep the build-time inputs of live paths too (Nix's `keep-outputs`
    /// with `keep-derivations`): for every live path a build made, the
    /// inputs and root layers of each derivation known to have made it
    /// (its deriver and its realisations) are live, and so on down. Off by
    /// default, as in Nix: a store then holds only what roots run.
    pub keep_outputs: bool,
}

/// A path the collector deleted (or would delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The path.
    pub path: StorePath,
    /// Its NAR size.
    pub nar_size: u64,
}

/// What a collection did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Number of roots honoured.
    pub roots: usize,
    /// Valid paths kept alive by the roots.
    pub live: usize,
    /// Paths deleted, in deletion order.
    pub deleted: Vec<Deleted>,
    /// Sum of the deleted paths' NAR sizes.
    pub freed_nar_bytes: u64,
    /// Bytes of file contents actually removed from disk (including leftovers).
    pub freed_disk_bytes: u64,
    /// Indirect roots dropped because their link no longer leads to the store.
    pub stale_roots: Vec<String>,
    /// Invalid objects and staging leftovers removed.
    pub leftovers_removed: usize,
    /// Objects that could not be removed (they are no longer valid; the
    /// next collection tries again).
    pub errors: Vec<String>,
}

/// The build-time inputs of derivations, read from the store's record of
/// each (its canonical form) once per collection.
#[derive(Default)]
struct BuildInputs(HashMap<String, Vec<StorePath>>);

impl BuildInputs {
    /// The input paths and root layers of the derivation `digest`; none
    /// when the store does not hold it (a substituted path's deriver).
    fn of(&mut self, store: &Store, digest: &str) -> Result<&[StorePath]> {
        if !self.0.contains_key(digest) {
            let paths = match store.db().derivation(digest)? {
                None => Vec::new(),
                Some((canonical, _)) => {
                    let drv = Derivation::from_canonical_bytes(&canonical).map_err(|e| {
                        StoreError::Corrupt(format!("derivation {digest} does not parse: {e}"))
                    })?;
                    drv.input_paths().into_iter().chain(drv.root).collect()
                }
            };
            self.0.insert(digest.to_owned(), paths);
        }
        Ok(&self.0[digest])
    }
}

impl Store {
    /// Path id -> the action digests of the derivations that made it.
    fn derivers(&self) -> Result<HashMap<i64, Vec<String>>> {
        let mut by_path: HashMap<i64, Vec<String>> = HashMap::new();
        for (id, digest) in self.db().derivers_by_path()? {
            by_path.entry(id).or_default().push(digest);
        }
        Ok(by_path)
    }

    /// Collects garbage; see the module docs. If builds or additions hold
    /// the GC lock, `waiting` hears their pids before the collection waits
    /// for them, so that a wait never looks like a hang.
    pub fn gc(&mut self, opts: &GcOptions, waiting: impl FnOnce(&[u32])) -> Result<GcReport> {
        let gc_lock = self.layout().gc_lock();
        let _lock = match FileLock::try_acquire(&gc_lock, LockMode::Exclusive)? {
            Some(lock) => lock,
            None => {
                waiting(&FileLock::holders(&gc_lock));
                FileLock::acquire(&gc_lock, LockMode::Exclusive)?
            }
        };
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..GcReport::default()
        };

        // 1. Roots.
        let mut roots: Vec<StorePath> = Vec::new();
        for root in self.db().roots()? {
            match root.kind {
                RootKind::Direct => roots.extend(root.path),
                RootKind::Indirect => {
                    let link = std::path::Path::new(&root.name);
                    let exists =
                        fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink());
                    if !exists {
                        // The link is gone: so is the root.
                        if !opts.dry_run {
                            self.db.remove_root(&root.name)?;
                        }
                        report.stale_roots.push(root.name);
                        continue;
                    }
                    // A link that exists but leads nowhere valid roots nothing
                    // today, and is kept: it may be pointed back into the store.
                    if let Ok((p, _)) = self.resolve(link) {
                        if self.db().is_valid(&p)? {
                            roots.push(p);
                        }
                    }
                }
            }
        }
        report.roots = roots.len();

        // 2. Mark.
        let paths = self.db().all_paths()?;
        let id_of: HashMap<&StorePath, i64> = paths.iter().map(|(id, p, _)| (p, *id)).collect();
        let mut refs: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut referrers: HashMap<i64, Vec<i64>> = HashMap::new();
        for (from, to) in self.db().all_refs()? {
            refs.entry(from).or_default().push(to);
            referrers.entry(to).or_default().push(from);
        }
        let derivers = if opts.keep_outputs {
            self.derivers()?
        } else {
            HashMap::new()
        };
        let mut build_inputs = BuildInputs::default();
        let mut live: HashSet<i64> = HashSet::new();
        let mut todo: Vec<i64> = roots.iter().filter_map(|p| id_of.get(p).copied()).collect();
        while let Some(id) = todo.pop() {
            if live.insert(id) {
                todo.extend(refs.get(&id).into_iter().flatten().copied());
                for digest in derivers.get(&id).into_iter().flatten() {
                    let inputs = build_inputs.of(self, digest)?;
                    todo.extend(inputs.iter().filter_map(|p| id_of.get(p).copied()));
                }
            }
        }
        report.live = live.len();

        // 3. Order the dead: a path only after all of its (dead) referrers.
        // Kahn's algorithm over the dead subgraph, seeded in path order so the
        // result is deterministic.
        let mut dead: Vec<&(i64, StorePath, u64)> = paths
            .iter()
            .filter(|(id, _, _)| !live.contains(id))
            .collect();
        dead.sort_by(|a, b| a.1.cmp(&b.1));
        let info: HashMap<i64, (&StorePath, u64)> =
            dead.iter().map(|(id, p, s)| (*id, (p, *s))).collect();
        let mut pending_referrers: HashMap<i64, usize> = dead
            .iter()
            .map(|(id, _, _)| {
                (
                    *id,
                    referrers
                        .get(id)
                        .map_or(0, |r| r.iter().filter(|x| info.contains_key(x)).count()),
                )
            })
            .collect();
        let mut ready: std::collections::VecDeque<i64> = dead
            .iter()
            .filter(|(id, _, _)| pending_referrers[id] == 0)
            .map(|(id, _, _)| *id)
            .collect();
        let mut order: Vec<i64> = Vec::with_capacity(dead.len());
        let mut planned: u64 = 0;
        while let Some(id) = ready.pop_front() {
            if opts.max_freed.is_some_and(|max| planned >= max) {
                break;
            }
            order.push(id);
            planned += info[&id].1;
            for r in refs.get(&id).into_iter().flatten() {
                if let Some(n) = pending_referrers.get_mut(r) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push_back(*r);
                    }
                }
            }
        }
        report.deleted = order
            .iter()
            .map(|id| Deleted {
                path: info[id].0.clone(),
                nar_size: info[id].1,
            })
            .collect();
        report.freed_nar_bytes = planned;
        if opts.dry_run {
            return Ok(report);
        }

        // 4. Sweep.
        for batch in order.chunks(BATCH) {
            self.db.invalidate(batch)?;
            crate::failpoint::hit("gc-after-invalidate");
            for id in batch {
                let physical = self.physical(info[id].0);
                match self.discard(&physical) {
                    Ok(n) => report.freed_disk_bytes += n,
                    // Already invalid: a leftover that a later run retries.
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
            tracing::debug!(count = batch.len(), "deleted a batch of dead paths");
        }

        // 5. Leftovers.
        let valid: HashSet<String> = self
            .db()
            .valid_paths()?
            .iter()
            .map(StorePath::base_name)
            .collect();
        let store_dir = self.layout().store_dir();
        for entry in fs::read_dir(&store_dir).ctx("reading", &store_dir)? {
            let entry = entry.ctx("reading", &store_dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid.contains(&name) {
                tracing::info!(name, "removing invalid leftover");
                match self.discard(&entry.path()) {
                    Ok(n) => {
                        report.freed_disk_bytes += n;
                        report.leftovers_removed += 1;
                    }
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
        let trash = self.layout().trash_dir();
        for entry in fs::read_dir(&trash).ctx("reading", &trash)? {
            let entry = entry.ctx("reading", &trash)?;
            match tree::remove_tree(&entry.path()) {
                Ok(n) => {
                    report.freed_disk_bytes += n;
                    report.leftovers_removed += 1;
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
        // No addition runs while we hold the lock exclusively, so every
        // staging directory left is a dead process's.
        self.remove_stale_staging()?;
        Ok(report)
    }
}
