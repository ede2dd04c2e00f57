//! The query commands: info, closure, ls, cat, dump, and their JSON forms.

use crate::common::{make_rich_tree, write, Env};

#[test]
fn queries_show_what_was_added() {
    let env = Env::new();
    let tree = env.path("rich");
    make_rich_tree(&tree);
    let p = env.ok(&["store", "add", tree.to_str().unwrap()]);
    let p = p.trim();
    assert!(
        p.starts_with("/forge/store/") && p.ends_with("-rich"),
        "{p}"
    );

    let info = env.ok(&["store", "info", p]);
    for field in [
        "nar-blake3       blake3:",
        "nar-sha256       sha256:",
        "references       (none)",
    ] {
        assert!(info.contains(field), "{info}");
    }
    let ls = env.ok(&["store", "ls", "-l", &format!("{p}/bin")]);
    assert!(ls.contains("-r-xr-xr-x") && ls.contains("tool"), "{ls}");
    assert!(ls.contains("relative -> ../a/b/c/d/deep"), "{ls}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "ls", "--json", "-R", p])).unwrap();
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "unicode/日本語.txt" && e["type"] == "regular"));
    assert_eq!(
        env.ok(&["store", "cat", &format!("{p}/unicode/héllo wörld")]),
        "grüße\n"
    );

    // Via the physical path and via a symlink, as ./result will be.
    let physical = env.root().join("store").join(p.rsplit('/').next().unwrap());
    std::os::unix::fs::symlink(&physical, env.path("result")).unwrap();
    assert_eq!(env.ok(&["store", "cat", "result/a/b/c/d/deep"]), "deep\n");

    // cat refuses to follow a symlink out of the object.
    let out = env.run(&["store", "cat", &format!("{p}/bin/absolute")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symlink to /etc/hostname"));

    // dump | nar ls lists the same tree.
    let nar = env.forge().args(["store", "dump", p]).output().unwrap();
    assert!(nar.status.success());
    std::fs::write(env.path("x.nar"), &nar.stdout).unwrap();
    let listing = env.ok(&["nar", "ls", env.path("x.nar").to_str().unwrap()]);
    assert!(
        listing.contains("bin/dangling -> does/not/exist"),
        "{listing}"
    );
}

#[test]
fn closure_lists_dependencies_first() {
    let env = Env::new();
    let add = |name: &str, text: String| env.add_text(name, text);
    let a = add("a", "base".into());
    let b = add("b", a.clone());
    let c = add("c", format!("{b} {a}"));
    let closure = env.ok(&["store", "closure", &c]);
    assert_eq!(closure, format!("{a}\n{b}\n{c}\n"));
    let json: Vec<String> =
        serde_json::from_str(&env.ok(&["store", "closure", "--json", &b])).unwrap();
    assert_eq!(json, vec![a.clone(), b.clone()]);
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "info", "--json", &a])).unwrap();
    let referrers: Vec<&str> = info[0]["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(referrers.len(), 2);
}

#[test]
fn closed_stdout_is_not_an_error() {
    let env = Env::new();
    let src = env.path("f");
    write(&src, vec![b'x'; 1 << 20]);
    let p = env.ok(&["store", "add", src.to_str().unwrap()]);
    let mut child = env
        .forge()
        .args(["store", "cat", p.trim()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
