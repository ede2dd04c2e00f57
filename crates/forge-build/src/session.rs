//! One run of the engine over a recipe graph: the state its jobs share
//! (the store, the graph, the lock files, the results so far, caches of
//! this run) and the steps every entry point takes around the scheduler:
//! opening the store under the GC lock, running the jobs
//! ([`crate::schedule`]), saving the lock files, collecting the errors.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use forge_core::derivation::ActionDigest;
use forge_core::diag::Hint;
use forge_core::recipe::Input;
use forge_store::lock::FileLock;
use forge_store::{BuildState, Layout, SourceHash, Store};

use crate::error::BuildError;
use crate::event::{Event, Reporter};
use crate::executor::Executor;
use crate::graph::Graph;
use crate::local::LocalSandbox;
use crate::lockfile::LockFile;
use crate::log;
use crate::options::BuildOptions;
use crate::report::Realised;
use crate::schedule::{self, JobState};
use crate::substituter::Substituter;

/// What the jobs of one run share.
pub(crate) struct Session<'a> {
    store: Mutex<Store>,
    /// The store's layout (a copy: executors read it without the lock).
    pub layout: Layout,
    /// The engine's files under the store root (locks, the seed cache,
    /// kept checks), used without the store's mutex: a build lock may wait
    /// for another process.
    pub state: BuildState,
    pub graph: &'a Graph,
    /// Each recipe's lock file, as it is being updated.
    pub locks: Vec<Mutex<LockFile>>,
    /// Each recipe's result, once realised.
    pub results: Mutex<Vec<Option<Realised>>>,
    pub opts: &'a BuildOptions,
    pub reporter: &'a dyn Reporter,
    pub cancel: Arc<AtomicBool>,
    /// Runs builders.
    pub executor: &'a dyn Executor,
    /// Asked, in order, before anything is built.
    pub substituters: &'a [Box<dyn Substituter + 'a>],
    /// The sandbox of this host, for what always runs here (fetches,
    /// `forge shell`).
    pub local: LocalSandbox,
    /// Host trees hashed in this run (one `tools/` shared by 200 recipes
    /// is looked at once).
    pub source_hashes: Mutex<HashMap<PathBuf, SourceHash>>,
    /// (host path, repository) pairs found acceptable as `path` inputs.
    pub host_paths_ok: Mutex<BTreeSet<(PathBuf, PathBuf)>>,
}

/// The seams a run plugs in (see [`crate::Engine`]).
pub(crate) struct Seams<'a> {
    pub reporter: &'a dyn Reporter,
    pub cancel: Arc<AtomicBool>,
    pub executor: &'a dyn Executor,
    pub substituters: &'a [Box<dyn Substituter + 'a>],
}

impl<'a> Session<'a> {
    /// Opens the store at `store_root` for a run over `graph`. The caller
    /// holds the returned GC lock for the whole run, so nothing the run
    /// reads or makes can be collected before it is rooted.
    pub fn open(
        store_root: &Path,
        graph: &'a Graph,
        opts: &'a BuildOptions,
        seams: Seams<'a>,
    ) -> Result<(Session<'a>, FileLock), BuildError> {
        let store = Store::open(store_root)?;
        let gc = store.lock_against_gc()?;
        // Scratch directories of builds that died (SIGKILL, power loss)
        // would otherwise stay until something is added to the store or
        // collected.
        store.remove_stale_staging()?;
        let layout = store.layout().clone();
        let state = store.build_state();
        let session = Session {
            state,
            layout,
            store: Mutex::new(store),
            graph,
            locks: graph
                .nodes
                .iter()
                .map(|n| Mutex::new(n.lock.clone()))
                .collect(),
            results: Mutex::new(vec![None; graph.nodes.len()]),
            opts,
            reporter: seams.reporter,
            cancel: seams.cancel,
            executor: seams.executor,
            substituters: seams.substituters,
            local: LocalSandbox::new(opts.forge_exe.clone(), opts.enforcement),
            source_hashes: Mutex::new(HashMap::new()),
            host_paths_ok: Mutex::new(BTreeSet::new()),
        };
        Ok((session, gc))
    }

    /// The store, for one short step: never held across a build, a wait
    /// for a lock, or a download.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("store lock")
    }

    /// Runs `job` on every node of the graph, dependencies first, up to `jobs` at once; records each success in
    /// [`Session::results`] and reports each failure.
    pub fn run_jobs(
        &self,
        job: impl Fn(usize) -> Result<Realised, BuildError> + Sync,
    ) -> Vec<JobState<Realised, BuildError>> {
        let deps: Vec<Vec<usize>> = self
            .graph
            .nodes
            .iter()
            .map(|n| {
                let mut d: Vec<usize> = n.deps.iter().map(|(_, i, _)| *i).collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        schedule::run(
            &deps,
            self.opts.jobs,
            self.opts.keep_going,
            &self.cancel,
            |i| {
                // A builder or fetcher killed by the Ctrl-C that also
                // reached forge (the terminal signals the whole process
                // group) fails in its own way before forge stops it: that is
                // an interruption. Other errors stay what they are.
                let r = match job(i) {
                    Err(
                        BuildError::Sandbox(_)
                        | BuildError::BuildFailed { .. }
                        | BuildError::Fetch(_),
                    ) if self.cancel.load(Ordering::Relaxed) => Err(BuildError::Interrupted),
                    r => r,
                };
                match &r {
                    Err(BuildError::Interrupted) => {}
                    Ok(real) => {
                        self.results.lock().expect("results lock")[i] = Some(real.clone());
                    }
                    Err(e) => self.reporter.event(&Event::Failed {
                        recipe: self.graph.nodes[i].recipe.store_name(),
                        hint: e.hint().map(|h| h.into_owned()),
                        message: e.to_string(),
                    }),
                }
                r
            },
        )
    }

    /// Saves every lock file that changed (even if something failed
    /// later), dropping entries of inputs that are gone; returns the files
    /// written.
    pub fn save_locks(&self) -> Result<Vec<PathBuf>, BuildError> {
        let mut written = Vec::new();
        for (l, node) in self.locks.iter().zip(&self.graph.nodes) {
            let mut l = l.lock().expect("lock file lock");
            let inputs = &node.recipe.inputs;
            l.retain(|name, kind| match inputs.get(name) {
                Some(Input::Path { hash: None, .. }) => kind == "path",
                Some(Input::Seed { .. }) => kind == "seed",
                _ => false,
            });
            if !l.is_dirty() {
                continue;
            }
            // One writer at a time per lock file (save merges with what is
            // on disk now, so a concurrent re-pin is not undone).
            let _guard = self.state.recipe_lock_guard(&l.file)?;
            if l.save()? {
                written.push(l.file.clone());
            }
        }
        Ok(written)
    }

    /// The results of every job, dependencies first; the first error (or
    /// all of them, with `--keep-going`) otherwise.
    pub fn collect(
        &self,
        states: Vec<JobState<Realised, BuildError>>,
    ) -> Result<Vec<Realised>, BuildError> {
        let mut errors = Vec::new();
        let mut all = Vec::new();
        for (i, st) in states.into_iter().enumerate() {
            match st {
                JobState::Done(r) => all.push(r),
                JobState::Failed(e) => errors.push(e),
                JobState::Skipped(Some(dep)) if self.opts.keep_going => {
                    errors.push(BuildError::DependencyFailed {
                        name: self.graph.nodes[i].recipe.store_name(),
                        dependency: self.graph.nodes[dep].recipe.store_name(),
                    })
                }
                JobState::Skipped(_) => {}
            }
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(BuildError::Interrupted);
        }
        match errors.len() {
            0 => Ok(all),
            1 => Err(errors.remove(0)),
            _ => Err(BuildError::Many(errors)),
        }
    }

    /// Takes the build lock of `digest` exclusively: one builder (or
    /// downloader) per derivation across processes. If another process
    /// holds it, says so first ([`Event::Waiting`]: `what` it is doing for
    /// `recipe`), so that a wait never looks like a hang.
    pub fn build_lock(
        &self,
        digest: &ActionDigest,
        recipe: &str,
        what: &str,
    ) -> Result<FileLock, BuildError> {
        Ok(self.state.build_lock(digest, |pid| {
            self.reporter.event(&Event::Waiting {
                recipe: recipe.to_owned(),
                pid,
                what: what.to_owned(),
            })
        })?)
    }

    /// How the logs of this run are written, each line echoed after
    /// `prefix` under `-L`.
    pub fn log_options(&self, prefix: &str) -> log::LogOptions {
        log::LogOptions {
            echo: self.opts.print_logs.clone(),
            prefix: prefix.to_owned(),
            max_size: self.opts.max_log_size,
        }
    }
}
