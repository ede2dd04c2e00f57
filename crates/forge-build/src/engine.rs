//! Realising a recipe graph: inputs, derivations, sandboxed builds,
//! content-addressed outputs.
//!
//! For each recipe, dependencies first and up to `jobs` at once
//! ([`crate::schedule`]):
//!
//! 1. **Inputs** become store paths: a `recipe` input is the realised
//!    output of that recipe; a `path` input is hashed and checked against
//!    its pin (recipe or `recipe.lock`) and added; a `seed` is assembled
//!    from the host and checked against `recipe.lock`; a `fetch` is looked
//!    up by its pinned hash and downloaded (in the fixed-output sandbox)
//!    only if it is not in the store yet.
//! 2. The recipe and those paths make a [`Derivation`]; its action digest
//!    keys the realisations table. If every output is realised (and valid),
//!    nothing runs: that is the no-op rebuild, and the early cutoff (a
//!    dependency rebuilt to identical bytes has the same path, so the
//!    dependent's derivation, and digest, are unchanged).
//! 3. Otherwise, under a per-digest lock (a second `forge` building the same
//!    derivation waits, then finds it realised), the builder runs in the
//!    sandbox with the input closure read-only under `/forge/store`, the
//!    outputs at their placeholder paths, its log captured.
//! 4. The outputs are registered ([`forge_store::outputs`]): scanned for
//!    references, content-addressed with self-references masked, rewritten,
//!    moved into the store, and registered with their realisations in one
//!    transaction.
//!
//! The whole run holds the store's GC lock shared, so nothing it reads or
//! makes can be collected before the caller has rooted it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forge_core::derivation::Derivation;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::recipe::Input;
use forge_core::store_path::{StorePath, StorePathName, STORE_DIR};
use forge_sandbox::{Bind, Enforcement, SandboxSpec};
use forge_store::lock::{FileLock, LockMode};
use forge_store::outputs::BuiltOutput;
use forge_store::Store;

use crate::error::BuildError;
use crate::graph::{Graph, Node};
use crate::log::{self, LogWriter};
use crate::schedule::{self, JobState};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Builds at once.
    pub jobs: usize,
    /// Go on with independent recipes after a failure.
    pub keep_going: bool,
    /// Re-pin `path` and `seed` inputs whose contents changed instead of failing.
    pub update_locks: bool,
    /// Rebuild the requested recipe even if realised, and compare.
    pub check: bool,
    /// With `check`: every recipe in the graph, not only the requested one.
    pub rebuild_all: bool,
    /// The `forge` executable (the sandbox monitor and fetcher re-execute it).
    pub forge_exe: PathBuf,
    /// The system builds are for.
    pub system: String,
    /// Hard or best-effort sandbox.
    pub enforcement: Enforcement,
    /// Cores each build is told it may use (`FORGE_BUILD_CORES`).
    pub cores: usize,
    /// Hand each line of the build logs, as it comes, to this (`-L`).
    pub print_logs: Option<log::Echo>,
    /// The cap of each stored build log, in bytes (0: none).
    pub max_log_size: u64,
    /// Create this symlink (and `<link>-<output>` for the other outputs) to
    /// the result, registered as an indirect GC root.
    pub out_link: Option<PathBuf>,
    /// Only (re)compute the pins of `path` and `seed` inputs and write the
    /// lock files (`forge lock`); build nothing.
    pub lock_only: bool,
    /// What host files `path` inputs and seeds may reach beyond the
    /// defaults (`--allow-path`, `--allow-private`; see [`crate::inputs`]).
    pub host_access: crate::inputs::HostAccess,
    /// `forge shell`: build the dependencies, then run this command (a
    /// shell if empty) in the requested recipe's sandbox instead of its
    /// builder.
    pub shell: Option<Vec<String>>,
    /// The largest apparent size (file and symlink sizes added up, about
    /// the NAR size) one output may have; `None`: no limit. Checked while
    /// the builder runs (about every second; the build is stopped) and
    /// exactly once it is done, before anything is hashed or registered.
    pub max_output_size: Option<u64>,
}

impl BuildOptions {
    /// Defaults for this machine, re-executing `forge_exe`.
    pub fn new(forge_exe: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        BuildOptions {
            jobs: cores,
            keep_going: false,
            update_locks: false,
            check: false,
            rebuild_all: false,
            forge_exe,
            system: default_system(),
            enforcement: Enforcement::Hard,
            cores,
            print_logs: None,
            max_log_size: log::DEFAULT_MAX_LOG_SIZE,
            out_link: None,
            lock_only: false,
            host_access: crate::inputs::HostAccess::default(),
            shell: None,
            max_output_size: Some(crate::limits::DEFAULT_MAX_OUTPUT_SIZE),
        }
    }
}

/// `<arch>-linux` for this build of forge.
pub fn default_system() -> String {
    format!("{}-linux", std::env::consts::ARCH)
}

/// What a reporter hears about.
#[derive(Debug, Clone)]
pub enum Event {
    /// The graph is loaded: this many recipes.
    Planned { total: usize },
    /// A recipe's builder started.
    BuildStarted { recipe: String },
    /// An input is being fetched.
    Fetching { recipe: String, url: String },
    /// Bytes of a fetch so far, and in all when the server said.
    FetchProgress {
        recipe: String,
        url: String,
        done: u64,
        total: Option<u64>,
    },
    /// A seed is being imported.
    ImportingSeed { recipe: String, seed: String },
    /// A recipe is realised (`built` false: it was already).
    Finished {
        recipe: String,
        built: bool,
        outputs: BTreeMap<String, StorePath>,
        seconds: f64,
    },
    /// A recipe failed.
    Failed { recipe: String, message: String },
    /// A `--check` rebuild compared.
    Checked {
        recipe: String,
        reproducible: bool,
        detail: Vec<String>,
    },
}

/// Receives [`Event`]s (the CLI draws progress from them).
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// A reporter that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: &Event) {}
}

/// What one recipe realised to.
#[derive(Debug, Clone)]
pub struct Realised {
    /// The recipe file.
    pub file: PathBuf,
    /// `name-version`.
    pub name: String,
    /// The action digest.
    pub action_digest: String,
    /// Output paths by output name.
    pub outputs: BTreeMap<String, StorePath>,
    /// Whether the builder ran in this invocation.
    pub built: bool,
    /// For `--check`: whether the rebuild gave the same bytes.
    pub reproducible: Option<bool>,
    /// For `forge shell`: the exit code of the command.
    pub shell_status: Option<i32>,
}

/// The result of [`build`].
#[derive(Debug)]
pub struct BuildReport {
    /// The requested recipe.
    pub root: Realised,
    /// Every recipe in the graph, dependencies first.
    pub all: Vec<Realised>,
    /// The result symlinks created (absolute).
    pub links: Vec<PathBuf>,
    /// The lock files written.
    pub locks_written: Vec<PathBuf>,
}

struct Ctx<'a> {
    store: Mutex<Store>,
    root: PathBuf,
    graph: &'a Graph,
    locks: Vec<Mutex<crate::lockfile::LockFile>>,
    results: Mutex<Vec<Option<Realised>>>,
    opts: &'a BuildOptions,
    reporter: &'a dyn Reporter,
    cancel: Arc<AtomicBool>,
    /// Host trees hashed in this run (one `tools/` shared by 200 recipes
    /// is looked at once).
    source_hashes: Mutex<std::collections::HashMap<PathBuf, forge_store::SourceHash>>,
    /// (host path, repository) pairs found acceptable as `path` inputs.
    host_paths_ok: Mutex<BTreeSet<(PathBuf, PathBuf)>>,
}

/// Builds the recipe at `recipe` (directory or file) in the store at
/// `store_root`. `cancel`, when set by a signal handler, kills running
/// builders and stops.
pub fn build(
    store_root: &Path,
    recipe: &Path,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
    cancel: Arc<AtomicBool>,
) -> Result<BuildReport, BuildError> {
    let graph = Graph::load(recipe)?;
    let store = Store::open(store_root)?;
    let _gc = store.lock_against_gc()?;
    // Scratch directories of builds that died (SIGKILL, power loss) would
    // otherwise stay until something is added to the store or collected.
    store.remove_stale_staging()?;
    let root = store.layout().root().to_owned();
    reporter.event(&Event::Planned {
        total: graph.nodes.len(),
    });
    let ctx = Ctx {
        store: Mutex::new(store),
        root,
        locks: graph
            .nodes
            .iter()
            .map(|n| Mutex::new(n.lock.clone()))
            .collect(),
        graph: &graph,
        results: Mutex::new(vec![None; graph.nodes.len()]),
        opts,
        reporter,
        cancel: cancel.clone(),
        source_hashes: Mutex::new(std::collections::HashMap::new()),
        host_paths_ok: Mutex::new(BTreeSet::new()),
    };
    let deps: Vec<Vec<usize>> = graph
        .nodes
        .iter()
        .map(|n| {
            let mut d: Vec<usize> = n.deps.iter().map(|(_, i, _)| *i).collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let states = schedule::run(&deps, opts.jobs, opts.keep_going, &cancel, |i| {
        let r = ctx.realise(i);
        match &r {
            Ok(real) => {
                ctx.results.lock().expect("results lock")[i] = Some(real.clone());
            }
            Err(e) => ctx.reporter.event(&Event::Failed {
                recipe: ctx.graph.nodes[i].recipe.store_name(),
                message: e.to_string(),
            }),
        }
        r
    });
    // Lock files: save what changed, even if something failed later.
    let mut locks_written = Vec::new();
    for (l, node) in ctx.locks.iter().zip(&graph.nodes) {
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
        // One writer at a time per lock file (save merges with what is on
        // disk now, so a concurrent re-pin is not undone).
        let guard_dir = ctx.root.join("locks").join("recipe-locks");
        fs::create_dir_all(&guard_dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", guard_dir.display()),
            source,
        })?;
        let key = blake3::hash(l.file.as_os_str().as_encoded_bytes());
        let _guard = FileLock::acquire(&guard_dir.join(&key.to_hex()[..32]), LockMode::Exclusive)?;
        if l.save()? {
            locks_written.push(l.file.clone());
        }
    }
    let mut errors = Vec::new();
    let mut all = Vec::new();
    for (i, st) in states.into_iter().enumerate() {
        match st {
            JobState::Done(r) => all.push(r),
            JobState::Failed(e) => errors.push(e),
            JobState::Skipped(Some(dep)) if opts.keep_going => {
                errors.push(BuildError::DependencyFailed {
                    name: graph.nodes[i].recipe.store_name(),
                    dependency: graph.nodes[dep].recipe.store_name(),
                })
            }
            JobState::Skipped(_) => {}
        }
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(BuildError::Interrupted);
    }
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(BuildError::Many(errors)),
    }
    let root = all
        .iter()
        .find(|r| r.file == graph.nodes[graph.root].file)
        .cloned()
        .ok_or(BuildError::Interrupted)?;
    let mut links = Vec::new();
    if let (Some(link), false, None) = (&opts.out_link, opts.lock_only, &opts.shell) {
        // Still under the GC lock taken above: the outputs cannot go away
        // between their registration and their rooting.
        let node = &graph.nodes[graph.root];
        let mut store = ctx.store.lock().expect("store lock");
        for output in &node.recipe.outputs {
            let Some(path) = root.outputs.get(output) else {
                continue;
            };
            let l = if *output == node.recipe.outputs[0] {
                link.clone()
            } else {
                let mut s = link.as_os_str().to_owned();
                s.push(format!("-{output}"));
                PathBuf::from(s)
            };
            replace_symlink(&store.physical(path), &l)?;
            links.push(store.add_indirect_root(&l)?);
        }
    }
    Ok(BuildReport {
        root,
        all,
        links,
        locks_written,
    })
}

/// Points `link` at `target`, replacing an existing symlink atomically.
fn replace_symlink(target: &Path, link: &Path) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        what: format!("creating {}", link.display()),
        source,
    };
    if let Ok(meta) = fs::symlink_metadata(link) {
        if !meta.file_type().is_symlink() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a symlink; remove it or choose another --out-link",
            )));
        }
    }
    let mut tmp = link.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io)?;
    fs::rename(&tmp, link).map_err(io)
}

impl Ctx<'_> {
    fn realise(&self, i: usize) -> Result<Realised, BuildError> {
        let started = Instant::now();
        let node = &self.graph.nodes[i];
        let mut resolved = BTreeMap::new();
        for (name, input) in &node.recipe.inputs {
            if self.opts.lock_only {
                match input {
                    Input::Path { path, hash } => {
                        self.realise_path(i, name, path, hash.as_ref())?;
                    }
                    Input::Seed { name: seed } => {
                        self.realise_seed(i, name, seed)?;
                    }
                    Input::Fetch { .. } | Input::Recipe { .. } => {}
                }
                continue;
            }
            let path = match input {
                Input::Recipe { .. } => {
                    let (_, dep, output) = node
                        .deps
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .expect("graph has every recipe input");
                    let results = self.results.lock().expect("results lock");
                    results[*dep]
                        .as_ref()
                        .and_then(|r| r.outputs.get(output))
                        .cloned()
                        .ok_or(BuildError::Interrupted)?
                }
                Input::Path { path, hash } => self.realise_path(i, name, path, hash.as_ref())?,
                Input::Seed { name: seed } => self.realise_seed(i, name, seed)?,
                Input::Fetch { url, hash, unpack } => {
                    self.realise_fetch(i, name, url, hash, *unpack)?
                }
            };
            resolved.insert(name.clone(), path);
        }
        if self.opts.lock_only {
            return Ok(self.realised(node, "", BTreeMap::new(), false));
        }
        let drv = Derivation::from_recipe(&node.recipe, &resolved, &self.opts.system).map_err(
            |source| BuildError::Derivation {
                file: node.file.clone(),
                source,
            },
        )?;
        let digest = drv.action_digest();
        let hex = digest.as_hash().to_hex();
        let _ = log::record_recipe(&self.root, &node.dir, &hex);
        if let (Some(cmd), true) = (&self.opts.shell, i == self.graph.root) {
            let code = self.run_shell(&drv, &hex, cmd)?;
            let mut real = self.realised(node, &digest.to_string(), BTreeMap::new(), false);
            real.shell_status = Some(code);
            return Ok(real);
        }
        let checking = self.opts.check && (self.opts.rebuild_all || i == self.graph.root);
        let known = self.lookup(&drv, &digest.to_string())?;
        if let (Some(outputs), false) = (&known, checking) {
            let real = self.realised(node, &digest.to_string(), outputs.clone(), false);
            self.finished(&real, started);
            return Ok(real);
        }
        // One builder per derivation across processes.
        let _build_lock = self.build_lock(&hex)?;
        let known = match known {
            Some(k) => Some(k),
            None => self.lookup(&drv, &digest.to_string())?,
        };
        if let (Some(outputs), false) = (&known, checking) {
            let real = self.realised(node, &digest.to_string(), outputs.clone(), false);
            self.finished(&real, started);
            return Ok(real);
        }
        if checking && known.is_none() {
            return Err(BuildError::NothingToCheck {
                name: node.recipe.store_name(),
                file: node.file.clone(),
            });
        }
        {
            let mut store = self.store.lock().expect("store lock");
            store.db_mut().register_derivation(
                &digest.to_string(),
                &node.recipe.store_name(),
                &drv.to_canonical_bytes(),
                &drv.outputs,
            )?;
        }
        self.reporter.event(&Event::BuildStarted {
            recipe: node.recipe.store_name(),
        });
        let outputs = self.run_builder(node, &drv, &hex, known.as_ref())?;
        let mut real = self.realised(node, &digest.to_string(), outputs.0, true);
        real.reproducible = outputs.1;
        self.finished(&real, started);
        Ok(real)
    }

    fn realised(
        &self,
        node: &Node,
        digest: &str,
        outputs: BTreeMap<String, StorePath>,
        built: bool,
    ) -> Realised {
        Realised {
            file: node.file.clone(),
            name: node.recipe.store_name(),
            action_digest: digest.to_owned(),
            outputs,
            built,
            reproducible: None,
            shell_status: None,
        }
    }

    fn finished(&self, real: &Realised, started: Instant) {
        self.reporter.event(&Event::Finished {
            recipe: real.name.clone(),
            built: real.built,
            outputs: real.outputs.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    /// Every output's realisation, if all are recorded and valid.
    fn lookup(
        &self,
        drv: &Derivation,
        digest: &str,
    ) -> Result<Option<BTreeMap<String, StorePath>>, BuildError> {
        let store = self.store.lock().expect("store lock");
        let mut out = BTreeMap::new();
        for o in &drv.outputs {
            match store.db().realisation(digest, o)? {
                Some(r) => {
                    out.insert(o.clone(), r.path);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// The sandbox of `drv`: the input closure read-only under a writable
    /// scratch `/forge/store` (in `work`), root layers, environment, limits.
    /// Returns the spec, the scratch store directory and the input closure.
    fn sandbox_spec(
        &self,
        drv: &Derivation,
        work: &forge_store::ScratchDir,
    ) -> Result<(SandboxSpec, PathBuf, BTreeSet<StorePath>), BuildError> {
        let (input_closure, layers) = {
            let store = self.store.lock().expect("store lock");
            let mut wanted: Vec<StorePath> = drv.input_paths().into_iter().collect();
            wanted.extend(drv.root.iter().cloned());
            let closure: BTreeSet<StorePath> = store.closure(&wanted)?.into_iter().collect();
            let layers: Vec<PathBuf> = drv.root.iter().map(|p| store.physical(p)).collect();
            (closure, layers)
        };
        let store_dir = work.path().join("store");
        fs::create_dir(&store_dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", store_dir.display()),
            source,
        })?;
        let inv = drv.invocation();
        let mut spec = SandboxSpec::new(
            std::iter::once(inv.program.clone())
                .chain(inv.args.iter().cloned())
                .collect(),
        );
        spec.enforcement = self.opts.enforcement;
        spec.env
            .insert("FORGE_BUILD_CORES".into(), self.opts.cores.to_string());
        let default_path = drv
            .inputs
            .values()
            .map(|p| format!("{p}/bin"))
            .chain(["/usr/bin".to_owned(), "/bin".to_owned()])
            .collect::<Vec<_>>()
            .join(":");
        spec.env.insert("PATH".into(), default_path);
        spec.env.insert("NIX_STORE".into(), STORE_DIR.into());
        for (k, v) in inv.env {
            spec.env.insert(k, v);
        }
        spec.binds.push(Bind {
            host: store_dir.clone(),
            inside: PathBuf::from(STORE_DIR),
            writable: true,
        });
        {
            let store = self.store.lock().expect("store lock");
            for p in &input_closure {
                spec.binds.push(Bind {
                    host: store.physical(p),
                    inside: PathBuf::from(p.to_string()),
                    writable: false,
                });
            }
        }
        spec.root_layers = layers;
        if drv.sandbox.network {
            spec.network = true;
            spec.binds.extend(forge_sandbox::spec::network_binds());
        }
        spec.limits.wall_timeout = drv.sandbox.timeout_secs.map(Duration::from_secs);
        spec.limits.silence_timeout = drv.sandbox.silence_timeout_secs.map(Duration::from_secs);
        Ok((spec, store_dir, input_closure))
    }

    /// Takes `<root>/locks/builds/<key>` exclusively: one builder (or
    /// downloader) per derivation across processes.
    fn build_lock(&self, key: &str) -> Result<FileLock, BuildError> {
        let dir = self.root.join("locks").join("builds");
        fs::create_dir_all(&dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        Ok(FileLock::acquire(&dir.join(key), LockMode::Exclusive)?)
    }

    /// Runs `spec` with its output captured into the log at `log_path`
    /// (echoed with `prefix` under `-L`); returns the outcome and the log's
    /// last lines. A cancelled run is [`BuildError::Interrupted`].
    fn run_logged(
        &self,
        spec: &SandboxSpec,
        log_path: &Path,
        prefix: &str,
        hook: Option<log::LineHook>,
    ) -> Result<(forge_sandbox::Outcome, Vec<String>), BuildError> {
        self.run_logged_cancel(spec, log_path, prefix, hook, self.cancel.clone())
    }

    /// [`Ctx::run_logged`], killed when `cancel` is set.
    fn run_logged_cancel(
        &self,
        spec: &SandboxSpec,
        log_path: &Path,
        prefix: &str,
        hook: Option<log::LineHook>,
        cancel: Arc<AtomicBool>,
    ) -> Result<(forge_sandbox::Outcome, Vec<String>), BuildError> {
        let log =
            LogWriter::with_hook(log_path, self.log_options(prefix), hook).map_err(|source| {
                BuildError::Io {
                    what: format!("creating log {}", log_path.display()),
                    source,
                }
            })?;
        let (monitor, args) = forge_sandbox::monitor_program(&self.opts.forge_exe);
        let outcome = forge_sandbox::run_via_with(
            &monitor,
            &args,
            spec,
            forge_sandbox::RunOptions {
                output: forge_sandbox::Output::Capture(Box::new(log.clone())),
                cancel: Some(cancel),
            },
        );
        let tail = log.finish().map_err(|source| BuildError::Io {
            what: format!("writing log {}", log_path.display()),
            source,
        })?;
        let outcome = outcome?;
        if outcome.cancelled {
            return Err(BuildError::Interrupted);
        }
        Ok((outcome, tail))
    }

    /// How the logs of this run are written.
    fn log_options(&self, prefix: &str) -> log::LogOptions {
        log::LogOptions {
            echo: self.opts.print_logs.clone(),
            prefix: prefix.to_owned(),
            max_size: self.opts.max_log_size,
        }
    }

    /// `forge shell`: `command` (default: a shell) in the exact sandbox of
    /// `drv`, on the caller's terminal; nothing is registered. Returns the
    /// command's exit code.
    fn run_shell(
        &self,
        drv: &Derivation,
        hex: &str,
        command: &[String],
    ) -> Result<i32, BuildError> {
        let work = self
            .store
            .lock()
            .expect("store lock")
            .scratch_dir(&format!("build-{}", &hex[..12]))?;
        let (mut spec, _, _) = self.sandbox_spec(drv, &work)?;
        spec.command = if command.is_empty() {
            // The root layers' /bin/sh, or the first input that has one.
            let store = self.store.lock().expect("store lock");
            let from_input = drv
                .inputs
                .values()
                .find(|p| store.physical(p).join("bin/sh").exists())
                .map(|p| format!("{p}/bin/sh"));
            vec![from_input.unwrap_or_else(|| "/bin/sh".into())]
        } else {
            command.to_vec()
        };
        spec.limits.wall_timeout = None;
        spec.limits.silence_timeout = None;
        spec.env
            .insert("PS1".into(), format!("[forge shell {}] $ ", drv.name));
        let (monitor, args) = forge_sandbox::monitor_program(&self.opts.forge_exe);
        // A pty of forge's own when run from a terminal, never the caller's.
        let outcome = forge_sandbox::run_via_with(
            &monitor,
            &args,
            &spec,
            forge_sandbox::RunOptions {
                output: forge_sandbox::Output::Terminal,
                cancel: None,
            },
        )?;
        Ok(outcome.exit_code())
    }

    /// Runs the builder and registers its outputs. With `previous` (a
    /// `--check` rebuild), compares instead and reports.
    fn run_builder(
        &self,
        node: &Node,
        drv: &Derivation,
        hex: &str,
        previous: Option<&BTreeMap<String, StorePath>>,
    ) -> Result<(BTreeMap<String, StorePath>, Option<bool>), BuildError> {
        let name = node.recipe.store_name();
        let work = self
            .store
            .lock()
            .expect("store lock")
            .scratch_dir(&format!("build-{}", &hex[..12]))?;
        let (spec, store_dir, input_closure) = self.sandbox_spec(drv, &work)?;
        let placeholders = drv.placeholders();
        let log_path = match previous {
            Some(_) => log::check_log_file(&self.root, hex),
            None => log::log_file(&self.root, hex),
        };
        // This build's own cancel flag: set by the global one, or by the
        // watcher when an output grows past the size limit.
        let cancel = Arc::new(AtomicBool::new(false));
        // Each output, and all the builder wrote to its scratch /forge/store
        // (outputs and anything beside them: the host's disk either way).
        let watched = placeholders
            .iter()
            .map(|(o, ph)| (format!("output `{o}`"), store_dir.join(ph.base_name())))
            .chain(std::iter::once((
                format!("what it wrote to {STORE_DIR}"),
                store_dir.clone(),
            )))
            .collect::<Vec<_>>();
        let limit = self.opts.max_output_size;
        let watcher = crate::limits::Watcher::start(
            watched.clone(),
            limit,
            cancel.clone(),
            self.cancel.clone(),
        );
        let run = self.run_logged_cancel(&spec, &log_path, &format!("{name}> "), None, cancel);
        let too_large = |what: String, size: u64, limit: u64| BuildError::OutputTooLarge {
            name: name.clone(),
            what,
            size,
            limit: crate::limits::format_size(limit),
            log: log_path.clone(),
        };
        if let (Some((output, size)), Some(limit)) = (watcher.finish(), limit) {
            if !self.cancel.load(Ordering::Relaxed) {
                return Err(too_large(output, size, limit));
            }
        }
        let (outcome, tail) = run?;
        if outcome.code == Some(0) {
            if let Some(limit) = limit {
                // Exact, before anything reads the contents.
                for (output, path) in &watched {
                    let size = forge_store::tree::apparent_size(path, limit).unwrap_or_else(|p| p);
                    if size > limit {
                        return Err(too_large(output.clone(), size, limit));
                    }
                }
            }
        }
        if outcome.code != Some(0) {
            let status = if outcome.timed_out {
                "timed out".to_owned()
            } else if outcome.silent_too_long {
                "was silent too long and was killed".to_owned()
            } else if let Some(c) = outcome.code {
                format!("failed with exit code {c}")
            } else {
                format!("was killed by signal {}", outcome.signal.unwrap_or(0))
            };
            return Err(BuildError::BuildFailed {
                name,
                status,
                log: Some(log_path),
                tail,
            });
        }
        let built: Vec<BuiltOutput> = placeholders
            .iter()
            .map(|(o, ph)| BuiltOutput {
                output: o.clone(),
                staged: store_dir.join(ph.base_name()),
                placeholder: ph.clone(),
            })
            .collect();
        if let Some(expected) = &drv.output_hash {
            let staged = &built[0].staged;
            // One pass: the hash, and a scan for its own path (its hash is
            // checked before any rewriting, so a fixed output naming its own
            // path could never match what is stored) and for every input's.
            let candidates = std::iter::once(&built[0].placeholder).chain(input_closure.iter());
            let scan = forge_store::tree::hash_tree(
                staged,
                expected.algo() == HashAlgo::Sha256,
                Some(forge_core::refs::RefScanner::new(candidates)),
            )?;
            if scan.references.contains(&built[0].placeholder) {
                return Err(BuildError::SelfReferencingFixedOutput { name });
            }
            let actual = if expected.algo() == HashAlgo::Sha256 {
                scan.sha256.expect("asked for sha256")
            } else {
                scan.blake3
            };
            if &actual != expected {
                return Err(BuildError::HashMismatch {
                    what: format!("{name}: fixed output"),
                    algo: expected.algo().to_string(),
                    expected: expected.to_hex(),
                    actual: actual.to_hex(),
                });
            }
            // Its path comes from its hash alone and it is registered
            // without references, as in Nix: so it may have none.
            if let Some(reference) = scan.references.iter().next() {
                return Err(BuildError::FixedOutputReferences {
                    name,
                    output: built[0].output.clone(),
                    reference: reference.to_string(),
                });
            }
        }
        if let Some(previous) = previous {
            return self.compare(&name, &built, &log_path, previous);
        }
        let registered = {
            let mut store = self.store.lock().expect("store lock");
            let closure = if drv.output_hash.is_some() {
                BTreeSet::new()
            } else {
                input_closure
            };
            store.register_outputs(&drv.action_digest().to_string(), &built, &closure)?
        };
        Ok((
            registered
                .into_iter()
                .map(|(o, r)| (o, r.info.path))
                .collect(),
            None,
        ))
    }

    /// `--check`: the rebuild's outputs against the realised ones.
    fn compare(
        &self,
        name: &str,
        built: &[BuiltOutput],
        log: &Path,
        previous: &BTreeMap<String, StorePath>,
    ) -> Result<(BTreeMap<String, StorePath>, Option<bool>), BuildError> {
        let mut detail = Vec::new();
        let mut same = true;
        // Every output's placeholder (an output may name its siblings) maps
        // to the recorded path, so that only real differences remain.
        let pairs: Vec<(&str, &str)> = built
            .iter()
            .map(|b| (b.placeholder.hash_part(), previous[&b.output].hash_part()))
            .collect();
        for b in built {
            let old = &previous[&b.output];
            let old_physical = self.store.lock().expect("store lock").physical(old);
            let diffs =
                crate::check::diff_trees(&old_physical, &b.staged, &pairs).map_err(|source| {
                    BuildError::Io {
                        what: format!("comparing {} with its rebuild", old),
                        source,
                    }
                })?;
            if !diffs.is_empty() {
                same = false;
                let (kept, removed) = self.keep_check_tree(&b.staged, old)?;
                detail.push(format!(
                    "output `{}` differs from {old} (rebuild kept at {}, its log at {}):",
                    b.output,
                    kept.display(),
                    log.display()
                ));
                detail.extend(diffs.into_iter().map(|d| format!("  {d}")));
                detail.extend(
                    removed
                        .into_iter()
                        .map(|(p, kind)| format!("  {}: a {kind}, not kept", p.display())),
                );
            }
        }
        self.reporter.event(&Event::Checked {
            recipe: name.to_owned(),
            reproducible: same,
            detail,
        });
        Ok((previous.clone(), Some(same)))
    }

    /// Moves a `--check` rebuild to `<root>/check/<path>.check`, as canonical
    /// as a store object (modes 0444/0555, mtime 1, no set-id bits, no
    /// extended attributes), without its special files, which are removed
    /// and returned (relative path, kind): nothing a builder leaves there
    /// is a FIFO to block on, a world-writable directory or a set-id file.
    fn keep_check_tree(
        &self,
        staged: &Path,
        old: &StorePath,
    ) -> Result<(PathBuf, Vec<Removed>), BuildError> {
        let dir = self.root.join("check");
        fs::create_dir_all(&dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        let dest = dir.join(format!("{}.check", old.base_name()));
        if fs::symlink_metadata(&dest).is_ok() {
            let _ = forge_store::tree::remove_tree(&dest);
        }
        fs::rename(staged, &dest).map_err(|source| BuildError::Io {
            what: format!("keeping the rebuild at {}", dest.display()),
            source,
        })?;
        let mut removed = Vec::new();
        remove_special_files(&dest, Path::new(""), &mut removed).map_err(|source| {
            BuildError::Io {
                what: format!("removing special files from {}", dest.display()),
                source,
            }
        })?;
        // (Unless the output itself was a special file, now gone.)
        if fs::symlink_metadata(&dest).is_ok() {
            forge_store::tree::canonicalise_in_place(&dest, usize::MAX)?;
        }
        Ok((dest, removed))
    }

    fn realise_path(
        &self,
        i: usize,
        input: &str,
        rel: &str,
        pinned: Option<&Hash>,
    ) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let host = node.dir.join(rel);
        let loc = node.recipe.input_location(input);
        // A symlink names what it points to: that is what is hashed (the
        // source cache resolves it) and must be what is added, or the pin
        // would describe other bytes than the build sees. A dangling one is
        // a missing path.
        let Ok(host) = fs::canonicalize(&host) else {
            return Err(BuildError::MissingPath {
                file: node.file.clone(),
                line: loc.line,
                column: loc.column,
                input: input.to_owned(),
                path: host,
            });
        };
        self.check_host_path(i, input, &host)?;
        let want_sha = pinned.is_some_and(|h| h.algo() == HashAlgo::Sha256);
        let known = self
            .source_hashes
            .lock()
            .expect("source hashes lock")
            .get(&host)
            .cloned();
        let hashed = match known {
            Some(h) => h,
            None => {
                let h = self.store.lock().expect("store lock").hash_source(&host)?;
                self.source_hashes
                    .lock()
                    .expect("source hashes lock")
                    .insert(host.clone(), h.clone());
                h
            }
        };
        let (b3, sha) = (hashed.nar_blake3, Some(hashed.nar_sha256));
        let name = StorePathName::sanitize(
            &Path::new(rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.to_owned()),
        );
        if let Some(h) = pinned {
            let actual = if want_sha { sha.expect("asked") } else { b3 };
            if &actual != h {
                let hl = node.recipe.input_hash_location(input);
                return Err(BuildError::StaleHash(Box::new(crate::error::StaleHash {
                    file: node.file.clone(),
                    line: hl.line,
                    column: hl.column,
                    kind: "path",
                    input: input.to_owned(),
                    source_path: host.display().to_string(),
                    expected: h.to_hex(),
                    actual: actual.to_hex(),
                    pinned_in: "the recipe".into(),
                })));
            }
        } else {
            self.check_lock(i, input, "path", &host.display().to_string(), &b3)?;
        }
        self.add_source(&host, name, &b3)
    }

    /// The repository boundary and the private-file rule for the resolved
    /// `path` input `host` of recipe `i` ([`crate::inputs`]).
    fn check_host_path(&self, i: usize, input: &str, host: &Path) -> Result<(), BuildError> {
        let node = &self.graph.nodes[i];
        let repository = crate::inputs::repository_root(&node.dir);
        let key = (host.to_owned(), repository);
        if self
            .host_paths_ok
            .lock()
            .expect("host paths lock")
            .contains(&key)
        {
            return Ok(());
        }
        crate::inputs::check_path_input(host, &key.1, &self.opts.host_access).map_err(
            |problem| {
                let loc = node.recipe.input_location(input);
                BuildError::HostPath {
                    at: format!(
                        "{}:{}:{}: path input `{input}`",
                        node.file.display(),
                        loc.line,
                        loc.column
                    ),
                    problem,
                }
            },
        )?;
        self.host_paths_ok
            .lock()
            .expect("host paths lock")
            .insert(key);
        Ok(())
    }

    /// Compares `actual` with the lock entry of `input`; records it when
    /// there is none (or when updating locks).
    fn check_lock(
        &self,
        i: usize,
        input: &str,
        kind: &'static str,
        what: &str,
        actual: &Hash,
    ) -> Result<(), BuildError> {
        let node = &self.graph.nodes[i];
        let mut lock = self.locks[i].lock().expect("lock file lock");
        match lock.hash(input, kind) {
            Some(h) if &h == actual => Ok(()),
            Some(h) if !self.opts.update_locks => {
                let loc = node.recipe.input_location(input);
                Err(BuildError::StaleHash(Box::new(crate::error::StaleHash {
                    file: node.file.clone(),
                    line: loc.line,
                    column: loc.column,
                    kind,
                    input: input.to_owned(),
                    source_path: what.to_owned(),
                    expected: h.to_hex(),
                    actual: actual.to_hex(),
                    pinned_in: "recipe.lock".into(),
                })))
            }
            _ => {
                lock.set(input, kind, actual);
                Ok(())
            }
        }
    }

    /// Adds a host tree with no references, unless its path is valid.
    fn add_source(
        &self,
        host: &Path,
        name: StorePathName,
        b3: &Hash,
    ) -> Result<StorePath, BuildError> {
        let expected = StorePath::content_addressed(name.clone(), b3, &BTreeSet::new(), false);
        let mut store = self.store.lock().expect("store lock");
        if store.db().is_valid(&expected)? {
            return Ok(expected);
        }
        let added = store.add_source(host, name, &forge_store::tree::NoProgress)?;
        Ok(added.info.path)
    }

    fn realise_seed(&self, i: usize, input: &str, seed: &str) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let seed_err = |e: crate::seed::SeedError| {
            let loc = node.recipe.input_location(input);
            if let crate::seed::SeedError::Private { seed_file, problem } = e {
                return BuildError::HostPath {
                    at: format!(
                        "{}:{}:{}: seed input `{input}` ({})",
                        node.file.display(),
                        loc.line,
                        loc.column,
                        seed_file.display()
                    ),
                    problem,
                };
            }
            BuildError::Seed(format!(
                "{}:{}:{}: seed input `{input}`: {e}",
                node.file.display(),
                loc.line,
                loc.column
            ))
        };
        let file = crate::seed::find_seed(&node.dir, seed).map_err(seed_err)?;
        let text = crate::inputs::read_regular(&file).map_err(|source| BuildError::Io {
            what: format!("reading {}", file.display()),
            source,
        })?;
        let (path, hash) = match self.cached_seed(&file, &text)? {
            Some(hit) => hit,
            None => {
                self.reporter.event(&Event::ImportingSeed {
                    recipe: node.recipe.store_name(),
                    seed: seed.to_owned(),
                });
                let decl = crate::seed::load(&file).map_err(seed_err)?;
                let (path, manifest) = {
                    let mut store = self.store.lock().expect("store lock");
                    crate::seed::import(&mut store, &decl, &self.opts.host_access)
                        .map_err(seed_err)?
                };
                let hash = self
                    .store
                    .lock()
                    .expect("store lock")
                    .path_info(&path)?
                    .nar_blake3;
                self.remember_seed(&file, &text, &manifest, &hash);
                (path, hash)
            }
        };
        self.check_lock(i, input, "seed", &file.display().to_string(), &hash)?;
        Ok(path)
    }

    /// Where the seed cache entry of the declaration `file` lives.
    fn seed_cache_file(&self, file: &Path) -> PathBuf {
        let abs = fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        // v2: entries also watch the directories a reassembly would look in.
        // v3: entries are made only by imports that passed the seed trust
        // rule (older ones may hold private host files).
        let mut key = blake3::Hasher::new();
        key.update(b"forge:seed-cache:v3\0");
        key.update(abs.as_os_str().as_encoded_bytes());
        let key = key.finalize();
        self.root
            .join("cache")
            .join("seeds")
            .join(format!("{}.json", &key.to_hex()[..32]))
    }

    /// A seed imported before from the same declaration and unchanged host
    /// files (by an lstat fingerprint of every file its manifest lists),
    /// whose store path is still valid: no need to assemble it again.
    fn cached_seed(
        &self,
        file: &Path,
        text: &[u8],
    ) -> Result<Option<(StorePath, Hash)>, BuildError> {
        let Ok(bytes) = fs::read(self.seed_cache_file(file)) else {
            return Ok(None);
        };
        let Ok(entry) = serde_json::from_slice::<SeedCacheEntry>(&bytes) else {
            return Ok(None);
        };
        if entry.declaration != blake3::hash(text).to_hex().as_str() {
            return Ok(None);
        }
        let Some(fp) = host_fingerprint(&entry.files) else {
            return Ok(None);
        };
        if fp != entry.fingerprint {
            return Ok(None);
        }
        // The seed trust rule holds for a cached import too (it may have
        // been made with --allow-private): anything private means a real
        // import, which checks and explains.
        if crate::inputs::check_seed_places(
            entry.files.iter().map(PathBuf::as_path),
            &self.opts.host_access.allow_paths,
        )
        .is_err()
        {
            return Ok(None);
        }
        if !self.opts.host_access.allow_private {
            let present: Vec<(PathBuf, bool)> = entry
                .files
                .iter()
                .filter_map(|p| {
                    let m = fs::symlink_metadata(p).ok()?;
                    Some((p.clone(), m.file_type().is_symlink()))
                })
                .collect();
            if crate::inputs::check_seed_paths(present.iter().map(|(p, l)| (p.as_path(), *l)))
                .is_err()
            {
                return Ok(None);
            }
        }
        let (Ok(path), Ok(hash)) = (
            StorePath::parse(&entry.path),
            Hash::parse_as(HashAlgo::Blake3, &entry.nar_blake3),
        ) else {
            return Ok(None);
        };
        let valid = self
            .store
            .lock()
            .expect("store lock")
            .db()
            .is_valid(&path)?;
        Ok(valid.then_some((path, hash)))
    }

    fn remember_seed(
        &self,
        file: &Path,
        text: &[u8],
        manifest: &crate::seed::SeedManifest,
        hash: &Hash,
    ) {
        let files = seed_watch_list(manifest.entries.iter().map(|e| e.path.clone()));
        let Some(fingerprint) = host_fingerprint(&files) else {
            return;
        };
        let name = StorePathName::new(&format!("seed-{}", manifest.seed));
        let Ok(name) = name else { return };
        let path = StorePath::content_addressed(name, hash, &BTreeSet::new(), false);
        let entry = SeedCacheEntry {
            declaration: blake3::hash(text).to_hex().to_string(),
            files,
            fingerprint,
            path: path.to_string(),
            nar_blake3: hash.to_hex(),
        };
        let cache = self.seed_cache_file(file);
        // Only an optimisation: failures to write it are ignored.
        if let Some(dir) = cache.parent() {
            let _ = fs::create_dir_all(dir);
        }
        if let Ok(json) = serde_json::to_vec(&entry) {
            let tmp = cache.with_extension(format!("tmp-{}", std::process::id()));
            if fs::write(&tmp, json).is_ok() {
                let _ = fs::rename(&tmp, &cache);
            }
        }
    }

    fn realise_fetch(
        &self,
        i: usize,
        input: &str,
        url: &str,
        hash: &Hash,
        unpack: Option<forge_core::recipe::Unpack>,
    ) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let name = fetch_name(url, unpack);
        // The action-cache key of a fetch: what is fetched (its hash, how it
        // is unpacked, its name), never where from, so a mirror is the same
        // fetch and a fetched object is never downloaded again.
        let key = blake3::hash(
            format!(
                "forge:fetch:v1\n{hash}\n{}\n{name}",
                unpack.map_or("none", |u| u.as_str())
            )
            .as_bytes(),
        );
        let digest = format!("blake3:{}", key.to_hex());
        let fetched = || -> Result<Option<StorePath>, BuildError> {
            let store = self.store.lock().expect("store lock");
            Ok(store.db().realisation(&digest, "out")?.map(|r| r.path))
        };
        if let Some(p) = fetched()? {
            return Ok(p);
        }
        // One download per object across processes; look again once ours.
        let _lock = self.build_lock(key.to_hex().as_str())?;
        if let Some(p) = fetched()? {
            return Ok(p);
        }
        self.reporter.event(&Event::Fetching {
            recipe: node.recipe.store_name(),
            url: url.to_owned(),
        });
        let work = self
            .store
            .lock()
            .expect("store lock")
            .scratch_dir(&format!("fetch-{}", &key.to_hex()[..12]))?;
        let build_dir = work.path().join("build");
        fs::create_dir(&build_dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", build_dir.display()),
            source,
        })?;
        // The fetcher is forge itself, in the fixed-output sandbox: the
        // network, the host's resolv.conf and CA bundle, and read-only only
        // the forge binary and the libraries it loads; nothing else.
        let exe = fs::canonicalize(&self.opts.forge_exe).map_err(|source| BuildError::Io {
            what: format!("resolving {}", self.opts.forge_exe.display()),
            source,
        })?;
        let mut command = vec![
            exe.display().to_string(),
            "__fetch".to_owned(),
            "--url".to_owned(),
            url.to_owned(),
            "--hash".to_owned(),
            hash.to_string(),
            "--out".to_owned(),
            "/build/out".to_owned(),
        ];
        if let Some(u) = unpack {
            // Keep the archive, to check its hash outside the sandbox too.
            fs::create_dir(build_dir.join("work")).map_err(|source| BuildError::Io {
                what: format!("creating {}", build_dir.join("work").display()),
                source,
            })?;
            command.extend([
                "--unpack".to_owned(),
                u.as_str().to_owned(),
                "--work-dir".to_owned(),
                "/build/work".to_owned(),
                "--keep-download".to_owned(),
            ]);
        }
        let mut spec = SandboxSpec::new(command);
        spec.enforcement = self.opts.enforcement;
        spec.network = true;
        spec.binds.extend(forge_sandbox::spec::network_binds());
        for f in executable_closure(&exe).map_err(|e| {
            BuildError::Fetch(format!(
                "{url}: cannot expose the fetcher {} in the sandbox: {e}",
                exe.display()
            ))
        })? {
            spec.binds.push(Bind {
                host: fs::canonicalize(&f).unwrap_or_else(|_| f.clone()),
                inside: f,
                writable: false,
            });
        }
        // A file:// URL names a host file: that one file is exposed too.
        if let Some(local) = url.strip_prefix("file://") {
            let local = PathBuf::from(local);
            if let Ok(real) = fs::canonicalize(&local) {
                spec.binds.push(Bind {
                    host: real,
                    inside: local,
                    writable: false,
                });
            }
        }
        spec.build_dir = Some(build_dir.clone());
        let log_path = log::log_file(&self.root, &key.to_hex());
        // The fetcher reports progress as `forge-fetch progress DONE TOTAL`
        // lines; they reach the reporter through a channel, as the log
        // writer must own what it calls.
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Option<u64>)>();
        let hook: log::LineHook = Box::new(move |line: &str| {
            if let Some(p) = parse_fetch_progress(line) {
                let _ = tx.send(p);
            }
        });
        let recipe = node.recipe.store_name();
        let (outcome, tail) = std::thread::scope(|s| {
            s.spawn(|| {
                for (done, total) in rx {
                    self.reporter.event(&Event::FetchProgress {
                        recipe: recipe.clone(),
                        url: url.to_owned(),
                        done,
                        total,
                    });
                }
            });
            self.run_logged(&spec, &log_path, &format!("fetch {name}> "), Some(hook))
        })?;
        if outcome.code != Some(0) {
            // The fetcher's own message (with its hint) is the useful part.
            let message: Vec<String> = tail
                .into_iter()
                .filter(|l| !l.starts_with("forge-fetch "))
                .collect();
            let loc = node.recipe.input_location(input);
            return Err(BuildError::Fetch(format!(
                "{}:{}:{}: fetch input `{input}` ({url}) failed:\n{}",
                node.file.display(),
                loc.line,
                loc.column,
                message.join("\n")
            )));
        }
        let out = build_dir.join("out");
        {
            // Check again outside the sandbox: the hash is what makes a
            // download trustworthy. For an archive, the download it was
            // unpacked from (kept with --keep-download).
            let download = if unpack.is_none() {
                out.clone()
            } else {
                build_dir.join("work").join("download")
            };
            let actual = {
                use std::io::Read;
                let mut f = fs::File::open(&download).map_err(|source| BuildError::Io {
                    what: format!("reading the download {}", download.display()),
                    source,
                })?;
                let mut h = forge_core::hash::Hasher::new(hash.algo());
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf).map_err(|source| BuildError::Io {
                        what: format!("hashing the download {}", download.display()),
                        source,
                    })?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                h.finalize()
            };
            if &actual != hash {
                return Err(BuildError::HashMismatch {
                    what: url.to_owned(),
                    algo: hash.algo().to_string(),
                    expected: hash.to_hex(),
                    actual: actual.to_hex(),
                });
            }
        }
        let store_name = StorePathName::sanitize(&name);
        let mut store = self.store.lock().expect("store lock");
        let added = store.add_source(&out, store_name, &forge_store::tree::NoProgress)?;
        store
            .db_mut()
            .register_realisation(&forge_store::Realisation {
                action_digest: digest,
                output: "out".into(),
                path: added.info.path.clone(),
                signatures: BTreeSet::new(),
            })?;
        Ok(added.info.path)
    }
}

/// A special file removed from a kept `--check` rebuild: (path relative to
/// the output, kind).
type Removed = (PathBuf, &'static str);

/// Unlinks every FIFO, socket and device under `path` (never following a
/// symlink); records each as (path relative to the top, kind).
fn remove_special_files(
    path: &Path,
    rel: &Path,
    removed: &mut Vec<Removed>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        // Whatever mode the builder left: readable while it is walked
        // (canonicalised right after).
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(path)? {
            let name = entry?.file_name();
            remove_special_files(&path.join(&name), &rel.join(&name), removed)?;
        }
    } else if !ft.is_file() && !ft.is_symlink() {
        fs::remove_file(path)?;
        let shown = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        removed.push((shown.to_owned(), forge_store::tree::kind_name(ft)));
    }
    Ok(())
}

/// `forge-fetch progress <done> <total or ->` (see `forge __fetch`).
fn parse_fetch_progress(line: &str) -> Option<(u64, Option<u64>)> {
    let mut words = line.strip_prefix("forge-fetch progress ")?.split(' ');
    let done = words.next()?.parse().ok()?;
    let total = words.next()?.parse().ok();
    Some((done, total))
}

/// The store name of a fetched input: the URL's file name, without the
/// archive extension when it is unpacked.
fn fetch_name(url: &str, unpack: Option<forge_core::recipe::Unpack>) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let base = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let mut name = base.to_owned();
    if unpack.is_some() {
        for ext in [
            ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tar.bz2", ".tbz2", ".tar", ".zip",
            ".whl", ".deb",
        ] {
            if let Some(stem) = name.strip_suffix(ext) {
                name = stem.to_owned();
                break;
            }
        }
    }
    name
}

/// An executable and every file the dynamic loader needs to run it (its
/// interpreter and DT_NEEDED closure, resolved like ld.so on this host).
fn executable_closure(exe: &Path) -> Result<Vec<PathBuf>, String> {
    use crate::seed::resolve::{LibrarySearch, Wanted};
    let mut search = LibrarySearch::new(Path::new("/"));
    let mut seen = BTreeSet::new();
    let mut queue = vec![exe.to_owned()];
    while let Some(f) = queue.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        let bytes = fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let info =
            crate::seed::ElfInfo::parse(&bytes).map_err(|e| format!("{}: {e}", f.display()))?;
        if let Some(interp) = &info.interpreter {
            queue.push(PathBuf::from(interp));
        }
        let wanted = Wanted {
            class: info.class,
            endian: info.endian,
            machine: info.machine,
        };
        for name in &info.needed {
            let found = search
                .find(name, &[], &[], &wanted)
                .ok_or_else(|| format!("{} needs {name}, which is not found", f.display()))?;
            queue.push(found);
        }
    }
    Ok(seen.into_iter().collect())
}

/// What `<root>/cache/seeds/<key>.json` remembers of a seed import.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SeedCacheEntry {
    /// BLAKE3 of the declaration file's text.
    declaration: String,
    /// Every host path the manifest listed.
    files: Vec<PathBuf>,
    /// [`host_fingerprint`] of those, at import time.
    fingerprint: String,
    /// The store path the seed was imported as.
    path: String,
    /// Its NAR hash.
    nar_blake3: String,
}

/// What a seed's cache entry must watch: every host path its manifest
/// lists, the directory of each (an entry created there, such as the target
/// of a symlink that dangled, or a library that now shadows another, changes
/// it), and the dynamic loader's configuration and search directories,
/// where a new library would be found first on reassembly.
fn seed_watch_list(manifest: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    for p in manifest {
        if let Some(parent) = p.parent() {
            out.insert(parent.to_owned());
        }
        out.insert(p);
    }
    let mut search = crate::seed::resolve::LibrarySearch::new(Path::new("/"));
    out.extend(search.conf_dirs().iter().cloned());
    for f in ["/etc/ld.so.conf", "/etc/ld.so.conf.d"] {
        out.insert(PathBuf::from(f));
    }
    if let Ok(d) = fs::read_dir("/etc/ld.so.conf.d") {
        out.extend(d.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    out.into_iter().collect()
}

/// An lstat fingerprint of host files (type, size, mode, inode, device,
/// mtime, ctime; a missing one counts as such); `None` if one changed in the
/// last seconds.
fn host_fingerprint(files: &[PathBuf]) -> Option<String> {
    fingerprint_at(files, unix_now())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// [`host_fingerprint`] as of `now` (seconds since the epoch).
fn fingerprint_at(files: &[PathBuf], now: i64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        let Ok(m) = fs::symlink_metadata(f) else {
            h.update(b"missing\0");
            continue;
        };
        if m.ctime() >= now - 2 || m.mtime() >= now - 2 {
            return None;
        }
        forge_store::source::hash_metadata(&mut h, &m);
    }
    Some(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_cache_watches_the_directories_of_its_files() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        fs::create_dir(&bin).unwrap();
        fs::write(bin.join("tool"), "x").unwrap();
        let list = seed_watch_list([bin.join("tool")].into_iter());
        assert!(list.contains(&bin), "{list:?}");
        assert!(list.contains(&PathBuf::from("/etc/ld.so.conf")), "{list:?}");
        // As if a while later (changes just made are never cached).
        let later = unix_now() + 100;
        let before = fingerprint_at(&list, later).expect("old enough");
        assert_eq!(host_fingerprint(&list), None, "just changed: not cached");
        // A file appearing next to a listed one (the target of a symlink
        // that dangled, a library that now comes first) is a change.
        fs::write(bin.join("appeared"), "y").unwrap();
        let after = fingerprint_at(&list, later).expect("old enough");
        assert_ne!(before, after);
        // A missing path is part of the fingerprint, not a reason to fail.
        let with_missing = vec![d.path().join("nope")];
        assert!(fingerprint_at(&with_missing, later).is_some());
    }
}
