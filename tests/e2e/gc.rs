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
