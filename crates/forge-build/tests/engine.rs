//! The engine's own logic (scheduling, early cutoff, failures,
//! `--keep-going`, cancellation, the build lock) over a fake [`Executor`]
//! that runs nothing: it writes each output itself, so these tests need no
//! kernel sandbox.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forge_build::{BuildError, BuildOptions, BuilderStatus, Engine, ExecContext, Executor};
use forge_build::{BuildRequest, SubstituteError, Substituter};
use forge_core::derivation::{ActionDigest, OutputName};
use forge_core::store_path::StorePath;
use forge_store::ClaimedPath;

/// What the fake does for a recipe (by `name-version`).
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Writes each output: the recipe's name, a salt, and every input path
    /// (so outputs refer to their inputs).
    Write(&'static str),
    /// Writes each output as `Write` does; `out` also names every other
    /// output's placeholder (so it refers to its siblings).
    WriteSiblings,
    /// Writes each output: only this text (whatever the inputs).
    Const(&'static str),
    /// Exits with this code.
    Fail(i32),
    /// Sets the run's cancel flag (as a signal handler would) and reports
    /// the interruption.
    Cancel,
}

#[derive(Default)]
struct Fake {
    acts: Mutex<BTreeMap<String, Act>>,
    /// Every request executed, in order.
    ran: Mutex<Vec<String>>,
    /// Set by `Act::Cancel`.
    cancel: Mutex<Option<Arc<AtomicBool>>>,
    /// How long each execution takes (to make two runs overlap).
    delay: Option<Duration>,
}

impl Fake {
    fn act(&self, name: &str, act: Act) {
        self.acts.lock().unwrap().insert(name.to_owned(), act);
    }
    fn ran(&self) -> Vec<String> {
        self.ran.lock().unwrap().clone()
    }
}

impl Executor for &Fake {
    fn execute(
        &self,
        request: &BuildRequest,
        ctx: &ExecContext<'_>,
    ) -> Result<BuilderStatus, BuildError> {
        self.ran.lock().unwrap().push(request.name.clone());
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        let act = self
            .acts
            .lock()
            .unwrap()
            .get(&request.name)
            .copied()
            .unwrap_or(Act::Write(""));
        match act {
            Act::Write(salt) => {
                for placeholder in request.outputs.values() {
                    let mut text = format!("{} {salt}\n", request.name);
                    for p in &request.inputs {
                        text.push_str(&format!("{p}\n"));
                    }
                    fs::write(ctx.staging.join(placeholder.base_name()), text).unwrap();
                }
                Ok(BuilderStatus::Success)
            }
            Act::WriteSiblings => {
                for (name, placeholder) in &request.outputs {
                    let mut text = format!("{} {name}\n", request.name);
                    if name == "out" {
                        for (other, p) in &request.outputs {
                            if other != "out" {
                                text.push_str(&format!("{p}\n"));
                            }
                        }
                    }
                    fs::write(ctx.staging.join(placeholder.base_name()), text).unwrap();
                }
                Ok(BuilderStatus::Success)
            }
            Act::Const(text) => {
                for placeholder in request.outputs.values() {
                    fs::write(ctx.staging.join(placeholder.base_name()), text).unwrap();
                }
                Ok(BuilderStatus::Success)
            }
            Act::Fail(code) => Ok(BuilderStatus::Failed(code)),
            Act::Cancel => {
                if let Some(c) = &*self.cancel.lock().unwrap() {
                    c.store(true, Ordering::Relaxed);
                }
                Err(BuildError::Interrupted)
            }
        }
    }
}

/// A repository (a `.git` marks it) with recipes, and a store.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/file"), "v1").unwrap();
        World { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Recipe `name` with the inputs `deps` (other recipes), reading
    /// `src/` when `with_src`.
    fn recipe(&self, name: &str, deps: &[&str], with_src: bool) {
        self.recipe_with_outputs(name, deps, with_src, &["out"]);
    }

    fn recipe_with_outputs(&self, name: &str, deps: &[&str], with_src: bool, outputs: &[&str]) {
        let mut inputs = String::new();
        if with_src {
            inputs.push_str("src = { path = \"../src\" }\n");
        }
        for d in deps {
            inputs.push_str(&format!("{d} = {{ recipe = \"../{d}\" }}\n"));
        }
        let text = format!(
            "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\n{inputs}\n[build]\ncommand = [\"/bin/sh\", \"-c\", \"true\"]\noutputs = {outputs:?}\n"
        );
        fs::create_dir_all(self.path(name)).unwrap();
        fs::write(self.path(&format!("{name}/recipe.toml")), text).unwrap();
    }

    fn opts(&self) -> BuildOptions {
        let mut o = BuildOptions::new(PathBuf::from("/nonexistent/forge"));
        o.jobs = 2;
        o
    }

    fn build(
        &self,
        fake: &Fake,
        recipe: &str,
        opts: BuildOptions,
    ) -> Result<forge_build::BuildReport, BuildError> {
        Engine::new(self.path("store"), opts)
            .executor(fake)
            .build(&self.path(recipe))
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| format!("{s}-1")).collect()
}

#[test]
fn a_three_level_graph_builds_dependencies_first_and_once() {
    let w = World::new();
    w.recipe("a", &[], true);
    w.recipe("b1", &["a"], false);
    w.recipe("b2", &["a"], false);
    w.recipe("c", &["b1", "b2"], false);
    let fake = Fake::default();
    let report = w.build(&fake, "c", w.opts()).unwrap();
    let ran = fake.ran();
    assert_eq!(ran.len(), 4, "{ran:?}");
    assert_eq!(ran[0], "a-1");
    assert_eq!(ran[3], "c-1");
    assert_eq!(
        ran[1..3].iter().cloned().collect::<BTreeSet<_>>(),
        names(&["b1", "b2"]).into_iter().collect()
    );
    assert!(report.all.iter().all(|r| r.built));
    // The result refers to its inputs' outputs, as registered.
    let out = &report.targets[0].outputs["out"];
    let store = forge_store::Store::open(w.path("store")).unwrap();
    let info = store.path_info(out).unwrap();
    let b_outputs: BTreeSet<_> = report
        .all
        .iter()
        .filter(|r| r.name.starts_with('b'))
        .map(|r| r.outputs["out"].clone())
        .collect();
    assert!(
        b_outputs.is_subset(&info.references),
        "{:?}",
        info.references
    );
    // A second run is a no-op: nothing executed.
    let again = w.build(&fake, "c", w.opts()).unwrap();
    assert_eq!(fake.ran().len(), 4);
    assert!(again.all.iter().all(|r| !r.built));
    assert_eq!(again.targets[0].outputs, report.targets[0].outputs);
}

#[test]
fn a_dependency_rebuilt_to_the_same_bytes_stops_the_rebuild_there() {
    let w = World::new();
    w.recipe("a", &[], true);
    w.recipe("b", &["a"], false);
    let fake = Fake::default();
    fake.act("a-1", Act::Const("same"));
    let first = w.build(&fake, "b", w.opts()).unwrap();
    assert_eq!(fake.ran(), names(&["a", "b"]));
    // The source changes; `a` rebuilds (new digest) to the same bytes (its
    // output does not depend on the source), so `b`'s derivation is the same.
    fs::write(w.path("src/file"), "v2").unwrap();
    let mut opts = w.opts();
    opts.update_locks = true;
    let second = w.build(&fake, "b", opts).unwrap();
    assert_eq!(fake.ran(), names(&["a", "b", "a"]), "b was not rebuilt");
    assert_eq!(second.targets[0].outputs, first.targets[0].outputs);
    let a = |r: &forge_build::BuildReport| {
        r.all
            .iter()
            .find(|x| x.name == "a-1")
            .unwrap()
            .action_digest
            .clone()
    };
    assert_ne!(a(&first), a(&second));
}

#[test]
fn a_failing_leaf_stops_the_build_unless_keep_going() {
    let w = World::new();
    w.recipe("bad", &[], false);
    w.recipe("good", &[], false);
    w.recipe("top", &["bad", "good"], false);
    let fake = Fake::default();
    fake.act("bad-1", Act::Fail(3));
    let mut opts = w.opts();
    opts.jobs = 1;
    let err = w.build(&fake, "top", opts).unwrap_err();
    match &err {
        BuildError::BuildFailed { name, status, .. } => {
            assert_eq!(name, "bad-1");
            assert_eq!(status, "failed with exit code 3");
        }
        e => panic!("expected the leaf's failure, got {e}"),
    }
    assert!(!fake.ran().contains(&"top-1".to_owned()));

    // With --keep-going: the independent leaf is built, the top is not,
    // and both problems are reported.
    let fake = Fake::default();
    fake.act("bad-1", Act::Fail(3));
    let mut opts = w.opts();
    opts.keep_going = true;
    let err = w.build(&fake, "top", opts).unwrap_err();
    let BuildError::Many(errors) = &err else {
        panic!("expected several errors, got {err}");
    };
    assert_eq!(errors.len(), 2, "{err}");
    assert!(
        matches!(&errors[0], BuildError::BuildFailed { name, .. } if name == "bad-1"),
        "{err}"
    );
    assert!(
        matches!(&errors[1], BuildError::DependencyFailed { name, dependency } if name == "top-1" && dependency == "bad-1"),
        "{err}"
    );
    assert!(fake.ran().contains(&"good-1".to_owned()));
    assert!(!fake.ran().contains(&"top-1".to_owned()));
    // What was built stays built.
    let fake2 = Fake::default();
    w.build(&fake2, "good", w.opts()).unwrap();
    assert!(fake2.ran().is_empty());
}

#[test]
fn cancellation_stops_the_run_and_starts_nothing_more() {
    let w = World::new();
    w.recipe("a", &[], false);
    w.recipe("b", &["a"], false);
    let fake = Fake::default();
    fake.act("a-1", Act::Cancel);
    let cancel = Arc::new(AtomicBool::new(false));
    *fake.cancel.lock().unwrap() = Some(cancel.clone());
    let err = Engine::new(w.path("store"), w.opts())
        .executor(&fake)
        .cancel_on(cancel)
        .build(&w.path("b"))
        .unwrap_err();
    assert!(matches!(err, BuildError::Interrupted), "{err}");
    assert_eq!(fake.ran(), names(&["a"]));
    // Nothing was registered for `a`: the next run builds it.
    let fake = Fake::default();
    w.build(&fake, "b", w.opts()).unwrap();
    assert_eq!(fake.ran(), names(&["a", "b"]));
}

#[test]
fn two_runs_asking_for_one_derivation_build_it_once() {
    let w = World::new();
    w.recipe("a", &[], true);
    let fake = Fake {
        delay: Some(Duration::from_millis(300)),
        ..Fake::default()
    };
    let results: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| w.build(&fake, "a", w.opts()).unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(
        fake.ran(),
        names(&["a"]),
        "the second run waited and found it"
    );
    assert_eq!(results[0].targets[0].outputs, results[1].targets[0].outputs);
    assert_eq!(results.iter().filter(|r| r.targets[0].built).count(), 1);
}

/// A substituter double backed by another store (what a binary cache of
/// that store would serve), optionally failing in the middle of one NAR.
struct FromStore {
    store: Mutex<forge_store::Store>,
    /// The NAR of this path breaks after a few bytes.
    broken: Option<StorePath>,
    /// Paths whose NAR was asked for.
    served: Mutex<Vec<StorePath>>,
}

impl FromStore {
    fn new(root: PathBuf, broken: Option<StorePath>) -> FromStore {
        FromStore {
            store: Mutex::new(forge_store::Store::open(root).unwrap()),
            broken,
            served: Mutex::new(Vec::new()),
        }
    }
}

/// Gives `ok` bytes, then an error.
struct Breaks {
    data: std::io::Cursor<Vec<u8>>,
    ok: u64,
}

impl std::io::Read for Breaks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.position() >= self.ok {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = buf.len().min((self.ok - self.data.position()) as usize);
        self.data.read(&mut buf[..n])
    }
}

impl Substituter for &FromStore {
    fn name(&self) -> &str {
        "test-cache"
    }

    fn realisations(
        &self,
        digest: &ActionDigest,
        outputs: &BTreeSet<String>,
    ) -> Result<Option<BTreeMap<String, StorePath>>, SubstituteError> {
        let store = self.store.lock().unwrap();
        let names: Vec<OutputName> = outputs
            .iter()
            .map(|o| OutputName::new(o).unwrap())
            .collect();
        Ok(store.realisations(digest, &names).unwrap().map(|v| {
            v.into_iter()
                .map(|(o, p)| (o.as_str().to_owned(), p))
                .collect()
        }))
    }

    fn path_info(&self, path: &StorePath) -> Result<Option<ClaimedPath>, SubstituteError> {
        let store = self.store.lock().unwrap();
        Ok(store
            .path_info(path)
            .ok()
            .map(|info| ClaimedPath::from_info(&info)))
    }

    fn nar(&self, path: &StorePath) -> Result<Box<dyn std::io::Read + Send + '_>, SubstituteError> {
        self.served.lock().unwrap().push(path.clone());
        let mut nar = Vec::new();
        self.store.lock().unwrap().dump(path, &mut nar).unwrap();
        if self.broken.as_ref() == Some(path) {
            return Ok(Box::new(Breaks {
                ok: nar.len() as u64 / 2,
                data: std::io::Cursor::new(nar),
            }));
        }
        Ok(Box::new(std::io::Cursor::new(nar)))
    }
}

/// Every valid path of the store at `root` checked, contents included.
fn verify(root: &std::path::Path) -> forge_store::verify::VerifyReport {
    forge_store::Store::open(root)
        .unwrap()
        .verify(&forge_store::verify::VerifyOptions {
            check_contents: true,
            paths: None,
        })
        .unwrap()
}

fn valid(root: &std::path::Path, p: &StorePath) -> bool {
    forge_store::Store::open(root)
        .unwrap()
        .db()
        .is_valid(p)
        .unwrap()
}

#[test]
fn a_substituter_that_has_the_outputs_means_nothing_is_built() {
    let w = World::new();
    w.recipe("a", &[], true);
    w.recipe("b", &["a"], false);
    let fake = Fake::default();
    let first = w.build(&fake, "b", w.opts()).unwrap();
    // A second machine (store), with the first as its cache.
    let cache = FromStore::new(w.path("store"), None);
    let fake2 = Fake::default();
    let second = Engine::new(w.path("store2"), w.opts())
        .executor(&fake2)
        .substituter(&cache)
        .build(&w.path("b"))
        .unwrap();
    assert!(fake2.ran().is_empty(), "built: {:?}", fake2.ran());
    assert_eq!(second.targets[0].outputs, first.targets[0].outputs);
    assert!(second.all.iter().all(|r| !r.built));
    // What came in is whole: it verifies, contents included.
    let report = verify(&w.path("store2"));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.checked >= 3, "src, a and b: {}", report.checked);
    // And the realisations were recorded: without the cache, a no-op.
    let fake3 = Fake::default();
    let third = Engine::new(w.path("store2"), w.opts())
        .executor(&fake3)
        .build(&w.path("b"))
        .unwrap();
    assert!(fake3.ran().is_empty());
    assert_eq!(third.targets[0].outputs, first.targets[0].outputs);
}

#[test]
fn a_substitution_that_fails_midway_registers_nothing_and_the_build_goes_on() {
    let w = World::new();
    w.recipe_with_outputs("m", &[], true, &["out", "dev"]);
    let fake = Fake::default();
    fake.act("m-1", Act::WriteSiblings);
    let first = w.build(&fake, "m", w.opts()).unwrap();
    let (out, dev) = (
        &first.targets[0].outputs["out"],
        &first.targets[0].outputs["dev"],
    );
    let store1 = forge_store::Store::open(w.path("store")).unwrap();
    assert!(store1.path_info(out).unwrap().references.contains(dev));
    drop(store1);
    // The cache breaks in the middle of `out`'s NAR; `dev` (its reference)
    // comes whole. Both are downloaded (in parallel) before either is
    // imported.
    let cache = FromStore::new(w.path("store"), Some(out.clone()));
    let fake2 = Fake::default();
    fake2.act("m-1", Act::Const("built here"));
    let second = Engine::new(w.path("store2"), w.opts())
        .executor(&fake2)
        .substituter(&cache)
        .build(&w.path("m"))
        .unwrap();
    let mut served = cache.served.lock().unwrap().clone();
    served.sort();
    let mut both = vec![dev.clone(), out.clone()];
    both.sort();
    assert_eq!(served, both);
    assert_eq!(
        fake2.ran(),
        names(&["m"]),
        "the build fell back to building"
    );
    assert!(second.targets[0].built);
    assert_ne!(&second.targets[0].outputs["out"], out);
    // Nothing half-registered: the broken path is not valid, the store
    // verifies, no staging directory is left, and the realisation is the
    // local build's.
    let root2 = w.path("store2");
    assert!(!valid(&root2, out));
    let report = verify(&root2);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
    let digest = ActionDigest::from_hash(
        forge_core::hash::Hash::parse(&second.targets[0].action_digest).unwrap(),
    )
    .unwrap();
    let r = forge_store::Store::open(&root2)
        .unwrap()
        .realisation(&digest, &OutputName::out())
        .unwrap()
        .unwrap();
    assert_eq!(&r.path, &second.targets[0].outputs["out"]);
    let tmp: Vec<_> = fs::read_dir(root2.join("tmp"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
}

/// A flag one thread sets and another waits for, with a deadline.
#[derive(Default)]
struct Flag(Mutex<bool>, std::sync::Condvar);

impl Flag {
    fn set(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
    /// Whether it was set within `d`.
    fn wait(&self, d: Duration) -> bool {
        let g = self.0.lock().unwrap();
        let (g, _) = self.1.wait_timeout_while(g, d, |set| !*set).unwrap();
        *g
    }
}

/// Builds one recipe only once `release` is set (failing if it is not
/// set in time); says when it started.
struct Gated<'a> {
    started: &'a Flag,
    release: &'a Flag,
}

impl Executor for Gated<'_> {
    fn execute(
        &self,
        request: &BuildRequest,
        ctx: &ExecContext<'_>,
    ) -> Result<BuilderStatus, BuildError> {
        self.started.set();
        if !self.release.wait(Duration::from_secs(20)) {
            return Ok(BuilderStatus::Failed(99));
        }
        for p in request.outputs.values() {
            fs::write(ctx.staging.join(p.base_name()), &request.name).unwrap();
        }
        Ok(BuilderStatus::Success)
    }
}

/// Sets a flag when a recipe finishes.
struct OnFinished<'a> {
    recipe: &'static str,
    flag: &'a Flag,
}

impl forge_build::Reporter for OnFinished<'_> {
    fn event(&self, event: &forge_build::Event) {
        if let forge_build::Event::Finished { recipe, .. } = event {
            if recipe == self.recipe {
                self.flag.set();
            }
        }
    }
}

#[test]
fn a_job_waiting_for_another_processs_build_does_not_stop_the_others() {
    // Run B builds `x` and holds its build lock until run A has finished
    // `z`. Run A needs `x` (so one of its jobs waits for B's lock) and `z`
    // (which its other job must be able to build and register meanwhile).
    let w = World::new();
    w.recipe("x", &[], false);
    w.recipe("z", &[], false);
    w.recipe("t", &["x", "z"], false);
    let (started, z_done) = (Flag::default(), Flag::default());
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            Engine::new(w.path("store"), w.opts())
                .executor(Gated {
                    started: &started,
                    release: &z_done,
                })
                .build(&w.path("x"))
        });
        assert!(
            started.wait(Duration::from_secs(20)),
            "run B never started x"
        );
        let fake = Fake::default();
        let reporter = OnFinished {
            recipe: "z-1",
            flag: &z_done,
        };
        let a = Engine::new(w.path("store"), w.opts())
            .executor(&fake)
            .reporter(&reporter)
            .build(&w.path("t"));
        let b = b.join().unwrap();
        assert!(b.is_ok(), "run B: {}", b.unwrap_err());
        let a = a.unwrap();
        assert_eq!(fake.ran(), names(&["z", "t"]), "x was built once, by B");
        assert!(a.all.iter().any(|r| r.name == "x-1" && !r.built));
    });
}
