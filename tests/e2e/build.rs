//! `forge build`: graphs, no-op rebuilds, early cutoff, pins, failures,
//! crashes, concurrency, `--check`, GC roots and reference scanning.
//!
//! The recipes here use one `path` input, `tools/`, holding a copy of
//! busybox named `sh` (busybox runs its applets from the shell), so they
//! depend on nothing else of the host.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{forge_bin, write, Env};

/// Sets up `tools/sh` in `env`.
pub(crate) fn tools(env: &Env) {
    let sh = env.path("tools/sh");
    fs::create_dir_all(sh.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &sh).expect("busybox-static is installed (scripts/test installs it)");
    fs::set_permissions(&sh, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes recipe `name` depending on the recipes `deps` (each also an
/// input of that name), running `script`.
pub(crate) fn recipe(env: &Env, name: &str, deps: &[&str], script: &str) {
    let mut inputs = String::from("sh = { path = \"../tools\" }\n");
    for d in deps {
        inputs.push_str(&format!("{d} = {{ recipe = \"../{d}\" }}\n"));
    }
    let text = format!(
        "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\n{inputs}\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", '''{script}''']\n"
    );
    write(&env.path(&format!("{name}/recipe.toml")), text);
}

/// Starts `forge build name` and returns once its builder has printed
/// `started` (seen through `forge log`). The caller waits for the child.
#[allow(clippy::zombie_processes)] // returned to the caller, who reaps it
pub(crate) fn start_build(env: &Env, name: &str) -> std::process::Child {
    let mut child = env
        .forge()
        .args(["build", name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = env.forge().args(["log", name]).output().unwrap();
        if String::from_utf8_lossy(&log.stdout).contains("started") {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the builder never started");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Built {
    outputs: Vec<String>,
    built: BTreeSet<String>,
}

/// Builds `name` with `--json`; asserts success.
fn build(env: &Env, name: &str, extra: &[&str]) -> Built {
    let out = env
        .forge()
        .args(["build", "--json", name])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forge build {name} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_result(&String::from_utf8(out.stdout).unwrap())
}

fn parse_result(stdout: &str) -> Built {
    let result: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result event in {stdout}"));
    Built {
        outputs: result["outputs"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        built: result["built"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().trim_end_matches("-1").to_owned())
            .collect(),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A graph: top <- mid <- leaf, top <- other.
pub(crate) fn graph(env: &Env) {
    tools(env);
    recipe(env, "leaf", &[], "echo leaf-v1 > $out");
    recipe(
        env,
        "mid",
        &["leaf"],
        "mkdir $out; cat $leaf > $out/from-leaf",
    );
    recipe(env, "other", &[], "echo other > $out");
    recipe(
        env,
        "top",
        &["mid", "other"],
        "mkdir $out; cat $mid/from-leaf $other > $out/all",
    );
}

#[test]
fn a_three_level_graph_builds_and_a_rebuild_is_a_no_op() {
    let env = Env::new();
    graph(&env);
    let first = build(&env, "top", &[]);
    assert_eq!(first.built, set(&["leaf", "mid", "other", "top"]));
    let out = &first.outputs[0];
    let result = env.path("result");
    assert_eq!(
        fs::read_to_string(result.join("all")).unwrap(),
        "leaf-v1\nother\n"
    );
    assert!(
        out.starts_with("/forge/store/") && out.ends_with("-top-1"),
        "{out}"
    );
    // The result is canonical and read-only.
    let mode = fs::metadata(result.join("all"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);
    let again = build(&env, "top", &[]);
    assert!(again.built.is_empty(), "rebuilt {:?}", again.built);
    assert_eq!(again.outputs, first.outputs);
}

#[test]
fn early_cutoff_rebuilds_exactly_what_changed() {
    let env = Env::new();
    graph(&env);
    let first = build(&env, "top", &[]);
    // Same output bytes, different derivation: only the leaf runs.
    recipe(&env, "leaf", &[], "echo leaf-v1 > $out # reworded");
    let second = build(&env, "top", &[]);
    assert_eq!(second.built, set(&["leaf"]));
    assert_eq!(second.outputs, first.outputs);
    // Different bytes: the leaf and its dependents, not `other`.
    recipe(&env, "leaf", &[], "echo leaf-v2 > $out");
    let third = build(&env, "top", &[]);
    assert_eq!(third.built, set(&["leaf", "mid", "top"]));
    assert_ne!(third.outputs, first.outputs);
    assert_eq!(
        fs::read_to_string(env.path("result/all")).unwrap(),
        "leaf-v2\nother\n"
    );
}

#[test]
fn identical_outputs_share_one_store_path() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "a", &[], "echo same > $out");
    recipe(&env, "b", &[], "printf 'same\\n' > $out");
    // Same name too: content addresses include the name.
    let ta = fs::read_to_string(env.path("a/recipe.toml")).unwrap();
    let tb = fs::read_to_string(env.path("b/recipe.toml")).unwrap();
    write(
        &env.path("b/recipe.toml"),
        tb.replace("name = \"b\"", "name = \"a\""),
    );
    assert_ne!(ta, fs::read_to_string(env.path("b/recipe.toml")).unwrap());
    let a = build(&env, "a", &["--no-link"]);
    let b = build(&env, "b", &["--no-link"]);
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(b.built, set(&["a"]), "b's builder ran (as recipe name a)");
}

#[test]
fn references_are_exactly_the_embedded_inputs() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "quiet", &[], "echo no paths here > $out");
    recipe(&env, "named", &[], "echo named > $out");
    recipe(
        &env,
        "user",
        &["quiet", "named"],
        "mkdir $out; echo $named > $out/path-of-named; echo $out > $out/self; cat $quiet > $out/copy",
    );
    let user = build(&env, "user", &[]);
    let out = &user.outputs[0];
    let named = env.ok(&["build", "--no-link", "named"]).trim().to_owned();
    let quiet = env.ok(&["build", "--no-link", "quiet"]).trim().to_owned();
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "info", "--json", "result"])).unwrap();
    let info = &info[0];
    assert_eq!(info["self_reference"], true);
    let refs: BTreeSet<String> = info["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // The output names `named` and itself; it copied `quiet`'s bytes but
    // not its path; the tools were used but not embedded.
    assert_eq!(refs, [named.clone()].into_iter().collect());
    let closure: BTreeSet<String> = env
        .ok(&["store", "closure", "result"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(closure, [named, out.clone()].into_iter().collect());
    // The self-reference was rewritten to the final path.
    assert_eq!(
        fs::read_to_string(env.path("result/self")).unwrap().trim(),
        out
    );
    let q: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "info", "--json", &quiet])).unwrap();
    assert_eq!(q[0]["references"].as_array().unwrap().len(), 0);
    assert_eq!(q[0]["self_reference"], false);
}

#[test]
fn a_stale_path_hash_is_refused_with_the_new_hash() {
    let env = Env::new();
    tools(&env);
    write(&env.path("pinned/data.txt"), "v1\n");
    let hash = env.ok(&[
        "hash",
        "path",
        env.path("pinned/data.txt").to_str().unwrap(),
    ]);
    let hash = hash.split_whitespace().next().unwrap().to_owned();
    let text = format!(
        "[recipe]\nname = \"pinned\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\ndata = {{ path = \"data.txt\", blake3 = \"{hash}\" }}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"cat $data > $out\"]\n"
    );
    write(&env.path("pinned/recipe.toml"), &text);
    build(&env, "pinned", &[]);
    write(&env.path("pinned/data.txt"), "v2\n");
    let out = env.run(&["build", "pinned"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let new = env.ok(&[
        "hash",
        "path",
        env.path("pinned/data.txt").to_str().unwrap(),
    ]);
    let new_hex = new
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("blake3:");
    assert!(err.contains("pinned/recipe.toml:7:"), "{err}");
    assert!(err.contains(&format!("blake3 = \"{new_hex}\"")), "{err}");
    assert!(
        err.contains("hint: if the change is intended, paste"),
        "{err}"
    );
}

#[test]
fn an_edited_path_input_is_re_pinned_unless_locked() {
    let env = Env::new();
    tools(&env);
    write(&env.path("locked/data.txt"), "v1\n");
    let text = "[recipe]\nname = \"locked\"\nversion = \"1\"\n\n[inputs]\nsh = { path = \"../tools\" }\ndata = { path = \"data.txt\" }\n\n[build]\ncommand = [\"${sh}/sh\", \"-c\", \"cat $data > $out\"]\n";
    write(&env.path("locked/recipe.toml"), text);
    build(&env, "locked", &[]);
    let lock = fs::read_to_string(env.path("locked/recipe.lock")).unwrap();
    assert!(
        lock.contains("[inputs.data]") && lock.contains("[inputs.sh]"),
        "{lock}"
    );
    // Editing your own source: the build goes on, and says it re-pinned.
    write(&env.path("locked/data.txt"), "v2\n");
    let out = env.run(&["build", "locked"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        err.matches("path input `data` changed; its pin in").count(),
        1,
        "{err}"
    );
    assert!(err.contains("locked/recipe.lock is updated"), "{err}");
    assert_eq!(fs::read_to_string(env.path("result")).unwrap(), "v2\n");
    let repinned = fs::read_to_string(env.path("locked/recipe.lock")).unwrap();
    assert_ne!(repinned, lock);
    // Unchanged since: nothing to say.
    let out = env.run(&["build", "locked"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("changed"));
    // --locked (CI): a change is an error, and the lock file stays as it was.
    write(&env.path("locked/data.txt"), "v3\n");
    for locked in [
        env.forge()
            .args(["build", "--locked", "locked"])
            .output()
            .unwrap(),
        env.forge()
            .env("FORGE_LOCKED", "1")
            .args(["build", "locked"])
            .output()
            .unwrap(),
    ] {
        let err = String::from_utf8_lossy(&locked.stderr);
        assert_eq!(locked.status.code(), Some(1), "{err}");
        assert!(err.contains("but recipe.lock pins"), "{err}");
        assert!(
            err.contains("hint: lock files may not change under --locked"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(env.path("locked/recipe.lock")).unwrap(),
            repinned
        );
    }
    // --locked with an input that has no pin yet: an error too.
    fs::remove_file(env.path("locked/recipe.lock")).unwrap();
    let out = env.run(&["build", "--locked", "locked"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("has no pin in"), "{err}");
    assert!(!env.path("locked/recipe.lock").exists());
    // --update-locks still re-pins everything.
    build(&env, "locked", &["--update-locks"]);
    assert_eq!(fs::read_to_string(env.path("result")).unwrap(), "v3\n");
}

#[test]
fn cyclic_recipes_are_reported_as_a_chain() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "x", &["y"], "true");
    recipe(&env, "y", &["z"], "true");
    recipe(&env, "z", &["x"], "true");
    let out = env.run(&["build", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        // Named as the user would (`x/../y` is `y`).
        err.contains("cycle: x/recipe.toml -> y/recipe.toml -> z/recipe.toml -> x/recipe.toml"),
        "{err}"
    );
}

#[test]
fn a_failing_build_shows_its_log_tail_and_leaves_the_store_clean() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "broken",
        &[],
        "echo compiling; echo 'error: the widget is missing' >&2; mkdir $out; echo partial > $out/x; exit 7",
    );
    let out = env.run(&["build", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken-1: builder failed with exit code 7"),
        "{err}"
    );
    assert!(err.contains("last lines of the log of broken-1:"), "{err}");
    assert!(err.contains("  error: the widget is missing"), "{err}");
    // Only the tools input is valid; the partial output went nowhere.
    let valid = fs::read_dir(env.root().join("store")).unwrap().count();
    assert_eq!(valid, 1, "only the tools input is in the store");
    assert_eq!(fs::read_dir(env.root().join("tmp")).unwrap().count(), 0);
    assert!(!env.path("result").exists());
    env.ok(&["store", "verify", "--check-contents"]);
    // The whole log is kept and found by recipe.
    let log = env.ok(&["log", "broken"]);
    assert_eq!(log, "compiling\nerror: the widget is missing\n");
}

#[test]
fn sigkill_mid_build_then_rebuild_succeeds() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "slow",
        &[],
        "mkdir $out; echo started; echo a > $out/a; sleep 30; echo b > $out/b",
    );
    let mut child = start_build(&env, "slow");
    child.kill().unwrap();
    child.wait().unwrap();
    // The sandbox died with forge (no builder left behind).
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["store", "verify", "--check-contents"]);
    recipe(
        &env,
        "slow",
        &[],
        "mkdir $out; echo a > $out/a; echo b > $out/b",
    );
    let b = build(&env, "slow", &[]);
    assert_eq!(b.built, set(&["slow"]));
    assert_eq!(fs::read_to_string(env.path("result/b")).unwrap(), "b\n");
    env.ok(&["store", "verify", "--check-contents"]);
}

#[test]
fn two_concurrent_builds_build_each_derivation_once() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "base", &[], "sleep 1; echo base > $out");
    recipe(
        &env,
        "left",
        &["base"],
        "cat $base > $out; echo left >> $out",
    );
    recipe(
        &env,
        "right",
        &["base"],
        "cat $base > $out; echo right >> $out",
    );
    recipe(&env, "both", &["left", "right"], "cat $left $right > $out");
    let spawn = |link: &str| {
        env.forge()
            .args(["build", "--json", "-o", link, "both"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("r1"), spawn("r2"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let (ra, rb) = (
        parse_result(&String::from_utf8_lossy(&a.stdout)),
        parse_result(&String::from_utf8_lossy(&b.stdout)),
    );
    assert_eq!(ra.outputs, rb.outputs);
    assert!(
        ra.built.is_disjoint(&rb.built),
        "{:?} and {:?}",
        ra.built,
        rb.built
    );
    let all: BTreeSet<String> = ra.built.union(&rb.built).cloned().collect();
    assert_eq!(all, set(&["base", "left", "right", "both"]));
}

#[test]
fn check_finds_a_non_deterministic_recipe() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "stable", &[], "mkdir $out; echo same > $out/f");
    recipe(
        &env,
        "clock",
        &[],
        "mkdir $out; echo same > $out/f; cat /proc/sys/kernel/random/uuid > $out/stamp; echo run-$(cat $out/stamp)",
    );
    // Nothing to compare yet: refused, not silently built.
    let never = env.run(&["build", "--check", "stable"]);
    let err = String::from_utf8_lossy(&never.stderr);
    assert_eq!(never.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stable-1 (stable/recipe.toml) has not been built yet"),
        "{err}"
    );
    build(&env, "stable", &["--no-link"]);
    build(&env, "clock", &["--no-link"]);
    let first_log = env.ok(&["log", "clock"]);
    assert!(first_log.contains("run-"), "{first_log}");
    let ok = env.run(&["build", "--check", "stable"]);
    let err = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{err}");
    assert!(err.contains("1 of 1 reproducible"), "{err}");
    let bad = env.run(&["build", "--check", "clock"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(err.contains("clock-1: NOT reproducible"), "{err}");
    assert!(
        err.contains(
            "stamp: 37 bytes in the first build, 37 in the rebuild; first difference at byte"
        ),
        "{err}"
    );
    assert!(
        !err.contains("  f:"),
        "the stable file is not reported: {err}"
    );
    assert!(err.contains("0 of 1 reproducible"), "{err}");
    // The rebuild is kept for inspection, its log beside the build's, which
    // stays the log of what was registered (a check overwrote it).
    assert!(err.contains("rebuild kept at"), "{err}");
    assert_eq!(env.ok(&["log", "clock"]), first_log);
    assert!(err.contains(".check.log.zst"), "{err}");
    // Over a whole graph: every recipe rebuilt and compared, offenders listed.
    recipe(
        &env,
        "both",
        &["stable", "clock"],
        "cat $stable/f $clock/f > $out",
    );
    build(&env, "both", &["--no-link"]);
    let all = env.run(&["build", "--check", "--rebuild-all", "both"]);
    let err = String::from_utf8_lossy(&all.stderr);
    assert_eq!(all.status.code(), Some(3), "{err}");
    assert!(err.contains("2 of 3 reproducible"), "{err}");
    assert!(err.contains("not reproducible: clock-1 ("), "{err}");
    assert!(!err.contains("not reproducible: stable-1"), "{err}");
}

#[test]
fn gc_keeps_result_closures() {
    let env = Env::new();
    graph(&env);
    build(&env, "top", &[]);
    let closure = env.ok(&["store", "closure", "result"]);
    env.ok(&["store", "gc"]);
    for p in closure.lines() {
        env.ok(&["store", "info", p]);
    }
    env.ok(&["store", "verify", "--check-contents"]);
    fs::remove_file(env.path("result")).unwrap();
    env.ok(&["store", "gc"]);
    let left = fs::read_dir(env.root().join("store")).unwrap().count();
    assert_eq!(left, 0, "everything unrooted was collected");
}

#[test]
fn two_store_roots_and_two_users_give_identical_paths() {
    let env = Env::new();
    graph(&env);
    let a = build(&env, "top", &["--no-link"]);
    let b = {
        let out = Command::new(forge_bin())
            .env("FORGE_ROOT", env.path("second-root"))
            .current_dir(env.dir.path())
            .args(["build", "--json", "--no-link", "top"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_result(&String::from_utf8_lossy(&out.stdout))
    };
    assert_eq!(a.outputs, b.outputs);
    let dump = |root: &Path, p: &str| {
        Command::new(forge_bin())
            .env("FORGE_ROOT", root)
            .args(["store", "dump", p])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(
        dump(&env.root(), &a.outputs[0]),
        dump(&env.path("second-root"), &b.outputs[0])
    );
    // As root, also as the unprivileged CI user when it exists.
    let is_root = nix::unistd::geteuid().is_root();
    let user_exists = Command::new("id")
        .arg("forge-ci")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if is_root && user_exists {
        let shared = tempfile::Builder::new()
            .prefix("forge-e2e-user-")
            .tempdir()
            .unwrap();
        fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o777)).unwrap();
        // A repository, so that `../tools` is inside it.
        fs::create_dir(shared.path().join(".git")).unwrap();
        let status = Command::new("cp")
            .args(["-r"])
            .arg(env.path("tools"))
            .arg(env.path("leaf"))
            .arg(env.path("mid"))
            .arg(env.path("other"))
            .arg(env.path("top"))
            .arg(shared.path())
            .status()
            .unwrap();
        assert!(status.success());
        let _ = Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(shared.path())
            .status();
        let out = Command::new("runuser")
            .args(["-u", "forge-ci", "--"])
            .arg(forge_bin())
            .args(["build", "--json", "--no-link"])
            .arg(shared.path().join("top"))
            .env("FORGE_ROOT", shared.path().join("user-root"))
            .current_dir(shared.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = parse_result(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            a.outputs, c.outputs,
            "the unprivileged user got other paths"
        );
    }
}

#[test]
fn seeds_are_imported_locked_and_a_changed_host_is_refused() {
    let env = Env::new();
    // Seeds copy only what every user may read already: the "host" here
    // is the test's directory, so it must be searchable by others.
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // A seed taken from a "host" directory this test controls.
    let host = env.path("host/opt/tool");
    fs::create_dir_all(host.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &host).unwrap();
    let decl = format!(
        "[seed]\nname = \"tool\"\npaths = [\"{}\"]\n\n[seed.links]\n\"{}/sh\" = \"tool\"\n",
        host.display(),
        host.parent().unwrap().display()
    );
    write(&env.path("recipes/seeds/tool.toml"), decl);
    let prefix = host.parent().unwrap().display().to_string();
    write(
        &env.path("recipes/app/recipe.toml"),
        format!(
            "[recipe]\nname = \"app\"\nversion = \"1\"\n\n[inputs]\nt = {{ seed = \"tool\" }}\n\n[build]\ncommand = [\"${{t}}{prefix}/sh\", \"-c\", \"echo from-seed > $out\"]\n"
        ),
    );
    // Outside the system's directories: a seed needs --allow-path there.
    let hostdir = env.path("host");
    let allow = ["--allow-path", hostdir.to_str().unwrap()];
    let first = build(&env, "recipes/app", &allow);
    assert_eq!(first.built, set(&["app"]));
    assert_eq!(
        fs::read_to_string(env.path("result")).unwrap(),
        "from-seed\n"
    );
    let lock = fs::read_to_string(env.path("recipes/app/recipe.lock")).unwrap();
    assert!(lock.contains("[inputs.t]\nkind = \"seed\""), "{lock}");
    // The output does not embed the seed's path, so it does not keep it.
    let closure = env.ok(&["store", "closure", "result"]);
    assert_eq!(closure.lines().count(), 1, "{closure}");
    // The seed's tree: the file at its host path, and the link.
    let seed = fs::read_dir(env.root().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-seed-tool"))
        .expect("the seed is in the store");
    let inside = seed.join(host.strip_prefix("/").unwrap());
    assert_eq!(
        fs::read(&inside).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        fs::read_link(inside.parent().unwrap().join("sh")).unwrap(),
        Path::new("tool")
    );
    // The host changes: the seed no longer matches its lock.
    fs::write(&host, b"#!/bin/sh\nnot busybox\n").unwrap();
    let out = env.run(&["build", "recipes/app", allow[0], allow[1]]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("seed input `t`"), "{err}");
    assert!(err.contains("but recipe.lock pins"), "{err}");
}

#[test]
fn shell_enters_the_recipes_sandbox() {
    let env = Env::new();
    let sh = env.path("shtools/bin/sh");
    fs::create_dir_all(sh.parent().unwrap()).unwrap();
    fs::copy("/bin/busybox", &sh).unwrap();
    write(
        &env.path("dbg/recipe.toml"),
        "[recipe]\nname = \"dbg\"\nversion = \"1\"\n\n[inputs]\nsh = { path = \"../shtools\" }\n\n[build]\ncommand = [\"${sh}/bin/sh\", \"-c\", \"echo x > $out\"]\n",
    );
    let mut child = env
        .forge()
        .args(["shell", "dbg"])
        .env("SECRET_TOKEN", "hunter2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo in-shell $out; pwd; ls /forge/store; echo $SECRET_TOKEN; exit 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("in-shell /forge/store/") && lines[0].ends_with("-dbg-1"),
        "{stdout}"
    );
    assert_eq!(lines[1], "/build");
    assert!(
        lines[2].ends_with("-shtools"),
        "only the input is in the store: {stdout}"
    );
    assert_eq!(
        lines[3], "",
        "the host's environment does not leak in: {stdout}"
    );
    assert_eq!(lines.len(), 4, "{stdout}");
    // Nothing was built or registered.
    assert_eq!(fs::read_dir(env.root().join("store")).unwrap().count(), 1);
}

/// Processes whose command line contains `marker`.
pub(crate) fn processes_with(marker: &str) -> Vec<String> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(marker).then_some(cmd)
        })
        .collect()
}

#[test]
fn sigterm_cancels_cleanly() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "fast", &[], "echo fast > $out");
    recipe(
        &env,
        "hang",
        &["fast"],
        "mkdir $out; echo started; sleep 4243; echo never > $out/x",
    );
    let child = start_build(&env, "hang");
    assert!(!processes_with("sleep 4243").is_empty());
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "cancelling took {:?}",
        t.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // 128 + SIGTERM, as a shell reports a process the signal ended.
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("error: interrupted"), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        processes_with("sleep 4243"),
        Vec::<String>::new(),
        "a builder survived"
    );
    // `fast` was registered before the interruption; nothing of `hang` was.
    let names: Vec<String> = fs::read_dir(env.root().join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("-fast-1")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("hang")), "{names:?}");
    assert_eq!(
        fs::read_dir(env.root().join("tmp")).unwrap().count(),
        0,
        "scratch left behind"
    );
    env.ok(&["store", "verify", "--check-contents"]);
}

#[test]
fn keep_going_builds_what_does_not_depend_on_a_failure() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "bad", &[], "exit 3");
    recipe(&env, "needs_bad", &["bad"], "cat $bad > $out");
    recipe(&env, "good", &[], "sleep 1; echo good > $out");
    recipe(
        &env,
        "root",
        &["needs_bad", "good"],
        "cat $needs_bad $good > $out",
    );
    // Without --keep-going the first failure stops new builds.
    let out = env.run(&["build", "-j1", "root"]);
    assert_eq!(out.status.code(), Some(1));
    let with = env.run(&["build", "--keep-going", "-j1", "root"]);
    let err = String::from_utf8_lossy(&with.stderr);
    assert_eq!(with.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad-1: builder failed with exit code 3"),
        "{err}"
    );
    assert!(
        err.contains("needs_bad-1: not built because bad-1 failed"),
        "{err}"
    );
    assert!(err.contains("root-1: not built because"), "{err}");
    // `good` was built despite the failure.
    let good = build(&env, "good", &["--no-link"]);
    assert!(
        good.built.is_empty(),
        "good was already built by --keep-going"
    );
}

/// A `fetch` recipe for `file` (a file:// URL) pinned to `sha256`.
fn fetch_recipe(env: &Env, name: &str, file: &Path, sha256: &str, unpack: Option<&str>) {
    let unpack = unpack
        .map(|u| format!(", unpack = \"{u}\""))
        .unwrap_or_default();
    write(
        &env.path(&format!("{name}/recipe.toml")),
        format!(
            "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\nsrc = {{ fetch = \"file://{}\", sha256 = \"{sha256}\"{unpack} }}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"cp -r $src $out\"]\n",
            file.display()
        ),
    );
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn fetches_are_checked_unpacked_and_never_repeated() {
    let env = Env::new();
    tools(&env);
    // A tarball with a single top-level directory.
    let tarball = crate::common::demo_tarball(&env);
    let sha = sha256_hex(&tarball);
    fetch_recipe(&env, "unpacked", &tarball, &sha, Some("tar.gz"));
    let out = env.run(&["build", "--json", "unpacked"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"event\":\"fetching\""), "{stdout}");
    assert_eq!(
        fs::read_to_string(env.path("result/hello.txt")).unwrap(),
        "hi from a tarball\n"
    );
    // Another recipe with the same pinned file: no download, even though
    // the file is gone from where the URL points.
    fs::rename(&tarball, env.path("moved.tar.gz")).unwrap();
    fetch_recipe(&env, "again", &tarball, &sha, Some("tar.gz"));
    let out = env.run(&["build", "--json", "again"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("\"event\":\"fetching\""),
        "downloaded again: {stdout}"
    );
}

#[test]
fn a_fetch_hash_mismatch_shows_both_hashes_and_registers_nothing() {
    let env = Env::new();
    tools(&env);
    let file = env.path("data.bin");
    write(&file, "the real bytes\n");
    let actual = sha256_hex(&file);
    let wrong = "0".repeat(64);
    fetch_recipe(&env, "mismatch", &file, &wrong, None);
    let out = env.run(&["build", "mismatch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mismatch/recipe.toml:7:"), "{err}");
    assert!(err.contains(&format!("sha256 = \"{wrong}\"")), "{err}");
    assert!(err.contains(&format!("sha256 = \"{actual}\"")), "{err}");
    // Only the tools input made it into the store.
    let names: Vec<String> = fs::read_dir(env.root().join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-tools"), "{names:?}");
    // With the right hash it builds.
    fetch_recipe(&env, "mismatch", &file, &actual, None);
    build(&env, "mismatch", &[]);
    assert_eq!(
        fs::read_to_string(env.path("result")).unwrap(),
        "the real bytes\n"
    );
}

#[test]
fn a_fixed_output_recipe_is_checked_against_its_declared_hash() {
    let env = Env::new();
    tools(&env);
    write(&env.path("expected"), "pinned bytes\n");
    let sha = env.ok(&[
        "hash",
        "path",
        "--algo",
        "sha256",
        env.path("expected").to_str().unwrap(),
    ]);
    let sha = sha.trim().trim_start_matches("sha256:").to_owned();
    let fixed = |name: &str, text: &str, hash: &str| {
        write(
            &env.path(&format!("{name}/recipe.toml")),
            format!(
                "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"echo {text} > $out\"]\n\n[sandbox]\nnetwork = true\n\n[output]\nsha256 = \"{hash}\"\n"
            ),
        );
    };
    fixed("fo", "pinned bytes", &sha);
    let out = build(&env, "fo", &[]);
    assert_eq!(out.built, set(&["fo"]));
    assert_eq!(
        fs::read_to_string(env.path("result")).unwrap(),
        "pinned bytes\n"
    );
    // A fixed output naming its own path is refused.
    write(
        &env.path("selfref/recipe.toml"),
        "[recipe]\nname = \"selfref\"\nversion = \"1\"\n\n[inputs]\nsh = { path = \"../tools\" }\n\n[build]\ncommand = [\"${sh}/sh\", \"-c\", \"echo $out > $out\"]\n\n[output]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    );
    let bad = env.run(&["build", "selfref"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a fixed output must not contain its own store path"),
        "{err}"
    );
    // Different bytes under the same pin: refused, both hashes shown.
    fixed("fo2", "other bytes", &sha);
    let bad = env.run(&["build", "fo2"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(err.contains("fo2-1: fixed output: hash mismatch"), "{err}");
    assert!(
        err.contains(&format!("expected sha256 = \"{sha}\"")),
        "{err}"
    );
    assert!(!env
        .path("result")
        .read_link()
        .unwrap()
        .to_string_lossy()
        .contains("fo2"));
}

/// Writes a recipe with several outputs running `script`.
fn multi_recipe(env: &Env, name: &str, outputs: &[&str], script: &str) {
    let outs: Vec<String> = outputs.iter().map(|o| format!("\"{o}\"")).collect();
    let text = format!(
        "[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n\n[build]\noutputs = [{}]\ncommand = [\"${{sh}}/sh\", \"-c\", '''{script}''']\n",
        outs.join(", ")
    );
    write(&env.path(&format!("{name}/recipe.toml")), text);
}

#[test]
fn check_maps_every_output_placeholder_and_file_names() {
    let env = Env::new();
    tools(&env);
    // `out` names `dev` and itself, in contents, a symlink and a file name.
    multi_recipe(
        &env,
        "pair",
        &["out", "dev"],
        "mkdir $dev $out; echo dev > $dev/h; echo $dev > $out/dev-path; \
         ln -s $dev/h $out/link; touch $out/$(basename $out)",
    );
    build(&env, "pair", &["--no-link"]);
    let out = env.run(&["build", "--check", "pair"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 of 1 reproducible"), "{err}");
}

#[test]
fn a_symlinked_path_input_is_stored_as_what_was_hashed() {
    let env = Env::new();
    tools(&env);
    write(&env.path("linked/real/data.txt"), "payload\n");
    std::os::unix::fs::symlink("real", env.path("linked/src")).unwrap();
    let text = "[recipe]\nname = \"linked\"\nversion = \"1\"\n\n[inputs]\nsh = { path = \"../tools\" }\nsrc = { path = \"src\" }\n\n[build]\ncommand = [\"${sh}/sh\", \"-c\", \"cat $src/data.txt > $out\"]\n";
    write(&env.path("linked/recipe.toml"), text);
    build(&env, "linked", &[]);
    assert_eq!(fs::read_to_string(env.path("result")).unwrap(), "payload\n");
    // The pin is the hash of what the build saw.
    let lock = fs::read_to_string(env.path("linked/recipe.lock")).unwrap();
    let hash = env.ok(&["hash", "path", env.path("linked/real").to_str().unwrap()]);
    let hex = hash
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("blake3:");
    assert!(lock.contains(hex), "{lock}\n{hash}");
}

#[test]
fn scratch_directories_of_a_killed_build_are_swept_by_the_next_build() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "slow", &[], "mkdir $out; echo started; sleep 30");
    let mut child = env
        .forge()
        .args(["build", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = env.forge().args(["log", "slow"]).output().unwrap();
        if String::from_utf8_lossy(&started.stdout).contains("started") {
            break;
        }
        assert!(Instant::now() < deadline, "the builder never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let scratch = |env: &Env| -> Vec<String> {
        fs::read_dir(env.root().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        !scratch(&env).is_empty(),
        "the killed build left its scratch"
    );
    // A build that adds nothing new to the store still sweeps.
    recipe(&env, "quick", &[], "echo quick > $out");
    build(&env, "quick", &["--no-link"]);
    assert_eq!(scratch(&env), Vec::<String>::new());
}

#[test]
fn an_entry_named_after_its_own_output_is_registered_sorted() {
    let env = Env::new();
    tools(&env);
    // Siblings whose names fall between any placeholder and any final
    // digest, so that renaming the self-named entry changes its place in
    // the directory's order.
    recipe(
        &env,
        "selfname",
        &[],
        "A='0 1 2 3 4 5 6 7 8 9 a b c d f g h i j k l m n p q r s v w x y z'; \
         mkdir $out; for a in $A; do touch \"$out/$a~\"; for b in $A; do touch \"$out/$a$b~\"; done; done; \
         echo self > $out/$(basename $out)",
    );
    let b = build(&env, "selfname", &[]);
    let out = &b.outputs[0];
    let base = out.trim_start_matches("/forge/store/");
    assert_eq!(
        fs::read_to_string(env.path("result").join(base)).unwrap(),
        "self\n"
    );
    env.ok(&["store", "verify", "--check-contents"]);
}

#[test]
fn outputs_are_canonicalised_in_place_whatever_the_builder_left() {
    let env = Env::new();
    tools(&env);
    recipe(
        &env,
        "messy",
        &[],
        "mkdir -p $out/locked/deeper; echo x > $out/locked/deeper/f; chmod 600 $out/locked/deeper/f; \
         echo y > $out/tool; chmod 700 $out/tool; chmod 000 $out/locked/deeper; chmod 0 $out/locked",
    );
    build(&env, "messy", &[]);
    let result = env.path("result");
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&result.join("locked")), 0o555);
    assert_eq!(mode(&result.join("locked/deeper")), 0o555);
    assert_eq!(mode(&result.join("locked/deeper/f")), 0o444);
    assert_eq!(mode(&result.join("tool")), 0o555);
    assert_eq!(
        fs::read_to_string(result.join("locked/deeper/f")).unwrap(),
        "x\n"
    );
    env.ok(&["store", "verify", "--check-contents"]);
    // A FIFO cannot be stored: the build fails and registers nothing.
    recipe(&env, "fifo", &[], "mkdir $out; mkfifo $out/pipe");
    let out = env.run(&["build", "--no-link", "fifo"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot add a FIFO to the store"), "{err}");
    assert!(!fs::read_dir(env.root().join("store")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with("-fifo-1")));
    assert_eq!(fs::read_dir(env.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_build_waiting_for_another_forge_says_so() {
    let env = Env::new();
    tools(&env);
    recipe(&env, "slow", &[], "echo started; sleep 2; echo done > $out");
    let first = start_build(&env, "slow");
    let pid = first.id();
    // The second finds the derivation's build lock taken, says whose, waits,
    // and then uses the first's result.
    let second = env.run(&["build", "slow", "-o", "second"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "slow-1: waiting for another forge process building slow-1 (pid {pid})"
        )),
        "{err}"
    );
    assert!(!err.contains("built slow-1"), "built twice: {err}");
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(env.path("second")).unwrap(), "done\n");
}
