//! forge's NAR output against Nix's own `nix-store --dump`, byte for byte.

use std::process::Command;

use crate::common::{have_tool, make_rich_tree, Env};

fn nix_dump(path: &std::path::Path) -> Vec<u8> {
    let out = Command::new("nix-store")
        .arg("--dump")
        .arg(path)
        .output()
        .expect("running nix-store");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn store_add_gives_the_nar_nix_gives() {
    if !have_tool("nix-store") {
        return;
    }
    let env = Env::new();
    let tree = env.path("rich");
    make_rich_tree(&tree);
    let path = env.ok(&["store", "add", tree.to_str().unwrap()]);
    let path = path.trim();
    let ours = env.forge().args(["store", "dump", path]).output().unwrap();
    assert!(ours.status.success());
    let theirs = nix_dump(&tree);
    assert!(
        ours.stdout == theirs,
        "store dump differs from nix-store --dump"
    );

    // The stored copy, dumped by Nix, is the same archive too.
    let physical = env
        .root()
        .join("store")
        .join(path.rsplit('/').next().unwrap());
    assert!(nix_dump(&physical) == theirs);

    // Host-tree serialisation and the hash Nix prints agree.
    let host = env
        .forge()
        .args(["nar", "dump", tree.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(host.stdout == theirs);
    let ours = env.ok(&[
        "hash",
        "path",
        "--algo",
        "sha256",
        "--format",
        "nix32",
        tree.to_str().unwrap(),
    ]);
    let nix = Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(&tree)
        .output()
        .unwrap();
    assert_eq!(
        ours.trim(),
        format!("sha256:{}", String::from_utf8_lossy(&nix.stdout).trim())
    );
    // And the SHA-256 the store recorded is that hash.
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "info", "--json", path])).unwrap();
    let recorded = info[0]["nar_sha256"].as_str().unwrap();
    let hex = env.ok(&["hash", "path", "--algo", "sha256", tree.to_str().unwrap()]);
    assert_eq!(recorded, hex.trim());
}

#[test]
fn single_files_and_symlinks_match_nix() {
    if !have_tool("nix-store") {
        return;
    }
    let env = Env::new();
    let file = env.path("file.txt");
    crate::common::write(&file, "just a file\n");
    let link = env.path("link");
    std::os::unix::fs::symlink("file.txt", &link).unwrap();
    for p in [&file, &link] {
        let ours = env.forge().args(["nar", "dump"]).arg(p).output().unwrap();
        assert!(ours.status.success());
        assert!(ours.stdout == nix_dump(p), "{}", p.display());
    }
}
