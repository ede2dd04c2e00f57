//! `forge recipe check`: everything short of building (docs/recipes.md,
//! "Checking recipes"), each problem at its file, line and column, with
//! its hint; it keeps going over many recipes and skips what is not one.

use std::path::Path;

use crate::common::{write, Env};

const BUSYBOX: &str = "[seed]\nname = \"busybox\"\npaths = [\"/bin/busybox\"]\n\n[seed.links]\n\"/bin/sh\" = \"busybox\"\n";

/// A project with the busybox seed and a recipe `name` with these inputs,
/// build lines (after `[build]`).
fn recipe(env: &Env, name: &str, inputs: &str, build: &str) {
    write(&env.path("recipes/seeds/busybox.toml"), BUSYBOX);
    write(
        &env.path(&format!("recipes/{name}/recipe.toml")),
        format!("[recipe]\nname = \"{name}\"\nversion = \"1\"\n\n[inputs]\n{inputs}\n[build]\n{build}\n"),
    );
}

fn check(env: &Env, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["recipe", "check"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_recipes_pass_as_recipes_readme_says() {
    // `forge recipe check recipes/*`, as the shell expands it in the repo.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args: Vec<String> = std::fs::read_dir(repo.join("recipes"))
        .unwrap()
        .map(|e| format!("recipes/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    args.sort();
    let out = std::process::Command::new(crate::common::forge_bin())
        .args(["recipe", "check"])
        .args(&args)
        .current_dir(&repo)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("skipped recipes/README.md: not a recipe\n"),
        "{err}"
    );
    assert!(
        err.contains("recipes/hello/recipe.toml: ok (hello 1.0)\n"),
        "{err}"
    );
    assert!(!err.contains("warning:"), "{err}");
}

#[test]
fn a_missing_path_input_is_an_error() {
    let env = Env::new();
    recipe(
        &env,
        "p",
        "src = { path = \"srcc\" }\nsh = { seed = \"busybox\" }\n",
        "root = [\"sh\"]\nscript = \"cp -r $src $out\"",
    );
    std::fs::create_dir_all(env.path("recipes/p/src")).unwrap();
    let (code, err) = check(&env, &["recipes/p"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("error: recipes/p/recipe.toml:6:16: path input `src`: recipes/p/srcc does not exist\nhint: create it, or correct `path` (it is relative to the recipe's directory)\n"),
        "{err}"
    );
}

#[test]
fn an_unknown_seed_gets_a_did_you_mean_and_the_known_seeds() {
    let env = Env::new();
    recipe(
        &env,
        "s",
        "sh = { seed = \"busybx\" }\n",
        "root = [\"sh\"]\nscript = \"true\"",
    );
    write(
        &env.path("recipes/seeds/gcc.toml"),
        "[seed]\nname = \"gcc\"\npaths = [\"/usr/bin/gcc\"]\n",
    );
    let (code, err) = check(&env, &["recipes/s"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("error: recipes/s/recipe.toml:6:15: seed input `sh`: no seed named `busybx` (recipes/seeds/busybx.toml is in neither "),
        "{err}"
    );
    assert!(
        err.contains("hint: did you mean `busybox`? known seeds: `busybox`, `gcc`\n"),
        "{err}"
    );
    // Nothing close: the list alone.
    recipe(
        &env,
        "s",
        "sh = { seed = \"python3\" }\n",
        "root = [\"sh\"]\nscript = \"true\"",
    );
    let (_, err) = check(&env, &["recipes/s"]);
    assert!(
        err.contains(
            "hint: known seeds: `busybox`, `gcc`; or declare it in recipes/seeds/python3.toml\n"
        ),
        "{err}"
    );
}

#[test]
fn an_undeclared_variable_is_a_warning_with_the_known_names() {
    let env = Env::new();
    recipe(
        &env,
        "v",
        "src = { path = \"x\" }\nsh = { seed = \"busybox\" }\n",
        "root = [\"sh\"]\nscript = \"\"\"\nfor f in a b; do echo \"$f\"; done\nn=$(cat $srcc)\necho \"$n ${LABEL:-} $HOME $1\" > $out\n\"\"\"",
    );
    write(&env.path("recipes/v/x"), "x");
    let (code, err) = check(&env, &["recipes/v"]);
    assert_eq!(code, Some(0), "only a warning: {err}");
    assert!(
        err.contains("warning: recipes/v/recipe.toml:13:9: the script expands `$srcc`, which is not an input, an output or a variable forge or the script sets (it expands to nothing)\n"),
        "{err}"
    );
    assert!(
        err.contains("hint: did you mean `$src`? inputs, outputs and env: `out`, `sh`, `src`; forge sets FORGE_BUILD_CORES, HOME, LANG, LC_ALL, NIX_STORE, PATH, SOURCE_DATE_EPOCH, TEMPDIR, TERM, TMP, TMPDIR, TZ\n"),
        "{err}"
    );
    assert_eq!(
        err.matches("warning:").count(),
        1,
        "f, n, LABEL:-, HOME, $1 are fine: {err}"
    );
    assert!(
        err.contains("recipes/v/recipe.toml: ok (v 1), 1 warning\n"),
        "{err}"
    );
}

#[test]
fn a_build_without_a_shell_in_its_root_is_reported_before_it_runs() {
    let env = Env::new();
    recipe(&env, "nosh", "", "script = \"echo hi > $out\"");
    let (code, err) = check(&env, &["recipes/nosh"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("error: recipes/nosh/recipe.toml:8:10: `script` runs /bin/sh -e, but the recipe has no root layer ([build] root), so the sandbox's / has no /bin/sh\nhint: give the build a root filesystem that has /bin/sh: busybox = { seed = \"busybox\" } in [inputs] and root = [\"busybox\"] in [build]\n"),
        "{err}"
    );
    // A command the seed does not have (busybox has no applet links).
    recipe(
        &env,
        "cat",
        "sh = { seed = \"busybox\" }\n",
        "root = [\"sh\"]\ncommand = [\"/bin/cat\", \"x\"]",
    );
    let (code, err) = check(&env, &["recipes/cat"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("recipes/cat/recipe.toml:10:11: `command` runs /bin/cat, which none of the root layers has (root: `sh`)\n"),
        "{err}"
    );
    // With the shell: fine.
    recipe(
        &env,
        "sh",
        "sh = { seed = \"busybox\" }\n",
        "root = [\"sh\"]\nscript = \"echo hi > $out\"",
    );
    let (code, err) = check(&env, &["recipes/sh"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_recipe_cycle_names_its_recipes_in_order() {
    let env = Env::new();
    let sh = "root = [\"sh\"]\nscript = \"true\"";
    recipe(
        &env,
        "x",
        "y = { recipe = \"../y\" }\nsh = { seed = \"busybox\" }\n",
        sh,
    );
    recipe(
        &env,
        "y",
        "x = { recipe = \"../x\" }\nsh = { seed = \"busybox\" }\n",
        sh,
    );
    let (code, err) = check(&env, &["recipes/x", "recipes/y"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("error: recipes/y/recipe.toml:6:16: recipe input `x`: recipes depend on each other in a cycle: recipes/x/recipe.toml -> recipes/y/recipe.toml -> recipes/x/recipe.toml\n"),
        "{err}"
    );
    assert_eq!(err.matches("cycle").count(), 1, "reported once: {err}");
    // A recipe input with no recipe.
    recipe(
        &env,
        "z",
        "w = { recipe = \"../w\" }\nsh = { seed = \"busybox\" }\n",
        sh,
    );
    let (_, err) = check(&env, &["recipes/z"]);
    assert!(
        err.contains("error: recipes/z/recipe.toml:6:16: recipe input `w`: no recipe at recipes/w/recipe.toml\n"),
        "{err}"
    );
}

#[test]
fn keeps_going_over_bad_recipes_and_skips_what_is_not_one() {
    let env = Env::new();
    recipe(&env, "bad1", "", "script = \"true\"");
    recipe(
        &env,
        "bad2",
        "src = { path = \"gone\" }\n",
        "script = \"true\"",
    );
    recipe(
        &env,
        "good",
        "sh = { seed = \"busybox\" }\n",
        "root = [\"sh\"]\nscript = \"true\"",
    );
    write(&env.path("recipes/README.md"), "# recipes\n");
    let (code, err) = check(
        &env,
        &[
            "recipes/README.md",
            "recipes/bad1",
            "recipes/seeds",
            "recipes/bad2",
            "recipes/good",
        ],
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("skipped recipes/README.md: not a recipe\n"),
        "{err}"
    );
    assert!(
        err.contains("skipped recipes/seeds: not a recipe\n"),
        "{err}"
    );
    assert!(err.contains("error: recipes/bad1/recipe.toml:"), "{err}");
    assert_eq!(
        err.matches("error: recipes/bad2/recipe.toml:").count(),
        2,
        "{err}"
    );
    assert!(
        err.contains("recipes/good/recipe.toml: ok (good 1)\n"),
        "{err}"
    );

    let out = env.run(&[
        "recipe",
        "check",
        "--json",
        "recipes/README.md",
        "recipes/bad2",
        "recipes/good",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["skipped"], "not a recipe");
    assert_eq!(v[1]["ok"], false);
    let problems = v[1]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems
        .iter()
        .all(|p| p["severity"] == "error" && p["line"].is_u64()));
    assert_eq!(v[2]["ok"], true);
    assert_eq!(v[2]["problems"].as_array().unwrap().len(), 0);
}
