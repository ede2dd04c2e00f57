//! Many `forge` processes on one store at once.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::common::{write, Env};

#[test]
fn parallel_adds_of_same_and_different_trees_all_succeed() {
    let env = Env::new();
    let shared = env.path("shared");
    for i in 0..200 {
        write(&shared.join(format!("f{i}")), format!("shared {i}\n"));
    }
    write(&shared.join("big"), vec![1u8; 4 << 20]);
    let mut children = Vec::new();
    for n in 0..8 {
        let src = if n % 2 == 0 {
            shared.clone()
        } else {
            let own = env.path(&format!("own{n}"));
            write(&own.join("f"), format!("own {n}\n"));
            write(&own.join("big"), vec![n as u8; 2 << 20]);
            own
        };
        let child = env
            .forge()
            .args(["store", "add"])
            .arg(&src)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((n, child));
    }
    let mut shared_paths = BTreeSet::new();
    let mut all = BTreeSet::new();
    for (n, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "process {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        if n % 2 == 0 {
            shared_paths.insert(p.clone());
        }
        all.insert(p);
    }
    assert_eq!(
        shared_paths.len(),
        1,
        "one tree, one path: {shared_paths:?}"
    );
    assert_eq!(all.len(), 5);
    let out = env.run(&["store", "verify", "--check-contents", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checked"], 5);
    assert!(report["leftovers"].as_array().unwrap().is_empty());
}

#[test]
fn gc_and_adds_running_together_keep_the_store_consistent() {
    let env = Env::new();
    let mut children = Vec::new();
    for n in 0..6 {
        let src = env.path(&format!("t{n}"));
        write(&src.join("f"), vec![n as u8; 1 << 20]);
        let args: Vec<String> = if n % 3 == 2 {
            vec!["store".into(), "gc".into()]
        } else {
            vec!["store".into(), "add".into(), src.display().to_string()]
        };
        children.push(
            env.forge()
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = env.run(&["store", "verify", "--check-contents"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_crowd_opening_a_fresh_store_all_succeed() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("f"), "x");
    for round in 0..30 {
        let root = env.path(&format!("fresh{round}"));
        let children: Vec<_> = (0..6)
            .map(|_| {
                env.forge()
                    .env("FORGE_ROOT", &root)
                    .args(["store", "add"])
                    .arg(&src)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
