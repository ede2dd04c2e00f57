//! `forge build A B …` (several targets in one run) and `forge build
//! --dry-run` (what would happen, with nothing done).

use std::fs;

use crate::build::graph;
use crate::common::Env;

/// The names of the paths in `env`'s store.
fn store_paths(env: &Env) -> String {
    let mut names: Vec<String> = fs::read_dir(env.root().join("store"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join("\n")
}

/// The JSON lines of `out` whose `event` is `event`.
fn events(out: &[u8], event: &str) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

#[test]
fn several_targets_build_in_one_run_sharing_their_dependencies() {
    let env = Env::new();
    graph(&env);
    let out = env
        .forge()
        .args(["build", "--json", "mid", "other", "mid/recipe.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = events(&out.stdout, "result");
    let names: Vec<_> = results.iter().map(|r| r["recipe"].clone()).collect();
    // `mid` named twice is one target.
    assert_eq!(names, ["mid-1", "other-1"]);
    let finished = events(&out.stdout, "finished");
    let leaf_builds = finished
        .iter()
        .filter(|f| f["recipe"] == "leaf-1" && f["built"] == true)
        .count();
    assert_eq!(leaf_builds, 1, "leaf is built once: {finished:?}");
    // One link per target: result, then result-2.
    assert_eq!(
        fs::read_to_string(env.path("result/from-leaf")).unwrap(),
        "leaf-v1\n"
    );
    assert_eq!(fs::read_to_string(env.path("result-2")).unwrap(), "other\n");
    // Plain output: every target's paths, in the order asked.
    let text = env.ok(&["build", "--no-link", "other", "mid"]);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].ends_with("-other-1") && lines[1].ends_with("-mid-1"),
        "{text}"
    );
}

#[test]
fn a_dry_run_says_what_would_be_built_and_builds_nothing() {
    let env = Env::new();
    graph(&env);
    let before = store_paths(&env);
    let text = env.ok(&["build", "--dry-run", "top"]);
    assert!(text.starts_with("would build 4 recipes:\n"), "{text}");
    assert!(
        text.contains("  top-1  (top/recipe.toml, once its inputs are fetched or built)"),
        "{text}"
    );
    // Recipes reached through `../` are named without the detour.
    assert!(text.contains("  leaf-1  (leaf/recipe.toml)"), "{text}");
    assert!(!env.path("result").exists(), "a dry run links nothing");
    let after = store_paths(&env);
    assert!(
        !after.contains("-leaf-1") && !after.contains("-top-1"),
        "a dry run built something:\nbefore: {before}\nafter: {after}"
    );
    // Once part of the graph is built, the plan says so.
    env.ok(&["build", "--no-link", "mid"]);
    let out = env
        .forge()
        .args(["build", "--dry-run", "--json", "top"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let plans: Vec<_> = events(&out.stdout, "planned-recipe")
        .into_iter()
        .map(|p| {
            (
                p["plan"]["recipe"].as_str().unwrap().to_owned(),
                p["plan"]["step"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let step = |name: &str| {
        plans
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("{name} not planned: {plans:?}"))
    };
    assert_eq!(step("leaf-1"), "realised");
    assert_eq!(step("mid-1"), "realised");
    assert_eq!(step("other-1"), "build");
    assert_eq!(step("top-1"), "build-after-inputs");
    assert!(events(&out.stdout, "finished").is_empty());
    assert!(!store_paths(&env).contains("-other-1"));
}
