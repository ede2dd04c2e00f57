//! The engine's entry points: [`Engine::build_all`] (and its one-recipe
//! [`Engine::build`]), [`Engine::plan`] (`--dry-run`), [`Engine::lock`] and
//! [`Engine::shell`], each a run over a recipe graph (`session`),
//! with the seams it plugs in: the [`Executor`] that runs builders
//! ([`LocalSandbox`] unless told otherwise) and the [`Substituter`]s asked
//! before anything is built (none unless told).
//!
//! docs/build.md describes the realisation algorithm; [`crate::goal`] is
//! its code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use forge_core::recipe::Input;

use crate::error::BuildError;
use crate::event::{Event, Reporter, Silent};
use crate::executor::Executor;
use crate::graph::Graph;
use crate::local::LocalSandbox;
use crate::options::BuildOptions;
use crate::plan::Planned;
use crate::report::{BuildReport, Realised};
use crate::session::{Seams, Session};
use crate::substituter::Substituter;

/// Realises recipe graphs in one store.
pub struct Engine<'a> {
    store_root: PathBuf,
    opts: BuildOptions,
    reporter: &'a dyn Reporter,
    cancel: Arc<AtomicBool>,
    executor: Box<dyn Executor + 'a>,
    substituters: Vec<Box<dyn Substituter + 'a>>,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store_root", &self.store_root)
            .field("opts", &self.opts)
            .field("substituters", &self.substituters.len())
            .finish_non_exhaustive()
    }
}

static SILENT: Silent = Silent;

impl<'a> Engine<'a> {
    /// An engine over the store at `store_root`, building in forge's
    /// sandbox on this host, with no substituters, reporting nothing.
    pub fn new(store_root: impl Into<PathBuf>, opts: BuildOptions) -> Engine<'a> {
        let local = LocalSandbox::new(opts.forge_exe.clone(), opts.enforcement);
        Engine {
            store_root: store_root.into(),
            opts,
            reporter: &SILENT,
            cancel: Arc::new(AtomicBool::new(false)),
            executor: Box::new(local),
            substituters: Vec::new(),
        }
    }

    /// Reports progress to `reporter`.
    pub fn reporter(mut self, reporter: &'a dyn Reporter) -> Self {
        self.reporter = reporter;
        self
    }

    /// Stops (running builders killed, nothing new started) once `cancel`
    /// is set, by a signal handler say.
    pub fn cancel_on(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = cancel;
        self
    }

    /// Runs builders on `executor` instead of the local sandbox.
    pub fn executor(mut self, executor: impl Executor + 'a) -> Self {
        self.executor = Box::new(executor);
        self
    }

    /// Asks `substituter` (after those added before) for a derivation's
    /// outputs before building them.
    pub fn substituter(mut self, substituter: impl Substituter + 'a) -> Self {
        self.substituters.push(Box::new(substituter));
        self
    }

    /// Opens a run over `graph`; the GC lock comes back with it.
    fn session<'s>(
        &'s self,
        graph: &'s Graph,
    ) -> Result<(Session<'s>, forge_store::lock::FileLock), BuildError> {
        let seams = Seams {
            reporter: self.reporter,
            cancel: self.cancel.clone(),
            executor: self.executor.as_ref(),
            substituters: &self.substituters,
        };
        let (session, gc) = Session::open(&self.store_root, graph, &self.opts, seams)?;
        self.reporter.event(&Event::Planned {
            total: graph.nodes.len(),
        });
        Ok((session, gc))
    }

    /// Builds the recipe at `recipe` (a directory or a file) and everything
    /// it depends on; links the result when asked
    /// ([`BuildOptions::out_link`]).
    pub fn build(&self, recipe: &Path) -> Result<BuildReport, BuildError> {
        self.build_all(&[recipe])
    }

    /// Builds the recipes at `recipes` and everything they depend on, in
    /// one run of the scheduler (a recipe they share is built once); links
    /// each target's result when asked: the first at
    /// [`BuildOptions::out_link`], the `n`th at `<link>-<n>` (as
    /// `nix-build a b` does).
    pub fn build_all<P: AsRef<Path>>(&self, recipes: &[P]) -> Result<BuildReport, BuildError> {
        let graph = Graph::load_all(recipes)?;
        let (session, _gc) = self.session(&graph)?;
        let states = session.run_jobs(|i| session.realise(i));
        let locks_written = session.save_locks()?;
        let all = session.collect(states)?;
        let mut targets = Vec::new();
        let mut links = Vec::new();
        for (n, &t) in graph.targets.iter().enumerate() {
            let node = &graph.nodes[t];
            let real = all
                .iter()
                .find(|r| r.file == node.file)
                .cloned()
                .ok_or(BuildError::Interrupted)?;
            if let Some(link) = &self.opts.out_link {
                // Still under the GC lock: the outputs cannot go away
                // between their registration and their rooting.
                let link = crate::links::numbered(link, n);
                links.extend(crate::links::make_links(
                    &mut session.store(),
                    node,
                    &real,
                    &link,
                )?);
            }
            targets.push(real);
        }
        Ok(BuildReport {
            targets,
            all,
            links,
            locks_written,
        })
    }

    /// `forge build --dry-run`: what building `recipes` would do (fetch,
    /// build, find realised, substitute), found without fetching or
    /// building anything and without writing lock files. `path` inputs and
    /// seeds are hashed and added to the store, as a build would (a
    /// derivation cannot be known without them).
    pub fn plan<P: AsRef<Path>>(&self, recipes: &[P]) -> Result<Vec<Planned>, BuildError> {
        let graph = Graph::load_all(recipes)?;
        let (session, _gc) = self.session(&graph)?;
        let plans = Mutex::new(vec![None; graph.nodes.len()]);
        let states = session.run_jobs(|i| {
            let (planned, real) = session.plan(i)?;
            plans.lock().expect("plans lock")[i] = Some(planned);
            Ok(real)
        });
        session.collect(states)?;
        Ok(plans
            .into_inner()
            .expect("plans lock")
            .into_iter()
            .flatten()
            .collect())
    }

    /// `forge lock`: hashes every `path` input and seed in the graph of
    /// `recipe` (checking those the recipe pins itself), records the pins
    /// of the others in their lock files and writes the files that
    /// changed; builds nothing. Returns the files written.
    pub fn lock(&self, recipe: &Path) -> Result<Vec<PathBuf>, BuildError> {
        let graph = Graph::load(recipe)?;
        let (session, _gc) = self.session(&graph)?;
        let states = session.run_jobs(|i| {
            let node = &graph.nodes[i];
            for (name, input) in &node.recipe.inputs {
                match input {
                    Input::Path { path, hash } => {
                        session.realise_path(i, name, path, hash.as_ref())?;
                    }
                    Input::Seed { name: seed } => {
                        session.realise_seed(i, name, seed)?;
                    }
                    Input::Fetch { .. } | Input::Recipe { .. } => {}
                }
            }
            Ok(Realised::new(node, String::new(), BTreeMap::new(), false))
        });
        let written = session.save_locks()?;
        session.collect(states)?;
        Ok(written)
    }

    /// `forge shell`: builds what the recipe at `recipe` depends on, then
    /// runs `command` (a shell if empty) in the exact sandbox of its
    /// derivation, on the caller's terminal; registers nothing. Returns the
    /// command's exit code.
    pub fn shell(&self, recipe: &Path, command: &[String]) -> Result<i32, BuildError> {
        let graph = Graph::load(recipe)?;
        let (session, _gc) = self.session(&graph)?;
        let code = Mutex::new(None);
        let states = session.run_jobs(|i| {
            if i != graph.first_target() {
                return session.realise(i);
            }
            let drv = session.derivation(i)?;
            *code.lock().expect("shell code lock") =
                Some(session.run_shell(&graph.nodes[i], &drv, command)?);
            let digest = drv.action_digest().to_string();
            Ok(Realised::new(
                &graph.nodes[i],
                digest,
                BTreeMap::new(),
                false,
            ))
        });
        session.save_locks()?;
        session.collect(states)?;
        let code = code.lock().expect("shell code lock").take();
        code.ok_or(BuildError::Interrupted)
    }
}
