//! Garbage collection through the CLI, with a `./result`-style symlink root.

use crate::common::Env;

#[test]
fn gc_honours_direct_and_indirect_roots() {
    let env = Env::new();
    let add = |name: &str, text: String| env.add_text(name, text);
    let dep = add("dep", "a dependency".into());
    let top = add("top", format!("needs {dep}"));
    let other = add("other", "kept by ./result".into());
    let junk = add("junk", "nobody needs me".into());

    env.ok(&["store", "root", "add", &top, "--name", "top"]);
    let physical = env
        .root()
        .join("store")
        .join(other.rsplit('/').next().unwrap());
    std::os::unix::fs::symlink(&physical, env.path("result")).unwrap();
    env.ok(&["store", "root", "add", "--indirect", "result"]);
    let roots = env.ok(&["store", "root", "list"]);
    assert!(
        roots.contains("top ->") && roots.contains("(indirect)"),
        "{roots}"
    );

    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "gc", "--dry-run", "--json"])).unwrap();
    assert_eq!(dry["deleted"][0]["path"], junk.as_str());
    assert_eq!(dry["deleted"].as_array().unwrap().len(), 1);

    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "gc", "--json"])).unwrap();
    assert_eq!(report["deleted"].as_array().unwrap().len(), 1);
    assert_eq!(report["live"], 3);
    for p in [&dep, &top, &other] {
        env.ok(&["store", "info", p]);
    }
    let gone = env.run(&["store", "info", &junk]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("is not a valid path"));

    // Removing the link and the root frees everything.
    std::fs::remove_file(env.path("result")).unwrap();
    env.ok(&["store", "root", "remove", "top"]);
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "gc", "--json"])).unwrap();
    assert_eq!(report["deleted"].as_array().unwrap().len(), 3);
    assert_eq!(report["stale_roots"].as_array().unwrap().len(), 1);
}

/// A recipe with a fetched and a `path` input, built and rooted by
/// `./result` only: without `--keep-outputs` its inputs are garbage, with it
/// (flag or config) they stay.
#[test]
fn keep_outputs_keeps_the_build_inputs_of_rooted_results() {
    let env = Env::new();
    crate::build::tools(&env);
    crate::common::write(&env.path("data.txt"), "fetched data\n");
    let url = format!("file://{}", env.path("data.txt").display());
    let prefetched = env.ok(&["prefetch", &url]);
    let line = prefetched.lines().nth(1).unwrap();
    crate::common::write(
        &env.path("app/recipe.toml"),
        format!(
            "[recipe]\nname = \"app\"\nversion = \"1\"\n\n[inputs]\nsh = {{ path = \"../tools\" }}\n{line}\n\n[build]\ncommand = [\"${{sh}}/sh\", \"-c\", \"cat $src > $out\"]\n"
        ),
    );
    env.ok(&["build", "app"]);
    let result = env.ok(&["store", "closure", "result"]);
    assert_eq!(
        result.lines().count(),
        1,
        "the result refers to nothing: {result}"
    );
    let fetched = serde_json::from_str::<serde_json::Value>(&env.ok(&["prefetch", &url, "--json"]))
        .unwrap()["store_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = |args: &[&str]| -> Vec<String> {
        let report: serde_json::Value =
            serde_json::from_str(&env.ok(&[&["store", "gc", "--json"], args].concat())).unwrap();
        report["deleted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap().to_owned())
            .collect()
    };
    // Without the option, the tarball and the tools are garbage.
    let dry = deleted(&["--dry-run"]);
    assert!(dry.contains(&fetched), "{dry:?}");
    assert_eq!(dry.len(), 2, "the fetched file and tools/: {dry:?}");
    // With it, nothing is.
    assert_eq!(
        deleted(&["--dry-run", "--keep-outputs"]),
        Vec::<String>::new()
    );
    let text = String::from_utf8_lossy(
        &env.run(&["store", "gc", "--dry-run", "--keep-outputs"])
            .stderr,
    )
    .into_owned();
    assert!(text.contains("would delete 0 paths"), "{text}");
    // The config file's `keep-outputs` does the same, and --no-keep-outputs
    // overrides it.
    crate::common::write(
        &env.path("config/forge/config.toml"),
        "keep-outputs = true\n",
    );
    assert_eq!(deleted(&[]), Vec::<String>::new());
    env.ok(&["store", "info", &fetched]);
    assert_eq!(deleted(&["--no-keep-outputs"]).len(), 2);
    let gone = env.run(&["store", "info", &fetched]);
    assert_eq!(gone.status.code(), Some(1));
    env.ok(&["store", "info", result.trim()]);
}
