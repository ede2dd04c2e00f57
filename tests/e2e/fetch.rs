//! `forge __fetch`, the hidden command the engine runs in the fixed-output
//! sandbox: a file:// fetch with and without unpacking, and its failures.

use crate::common::{write, Env};

fn sha256_of(env: &Env, path: &std::path::Path) -> String {
    let out = env.ok(&["hash", "file", "--algo", "sha256", path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn fetch_a_file_url_and_report_on_stdout() {
    let env = Env::new();
    let src = env.path("src/data.bin");
    write(&src, b"some bytes to fetch");
    let hash = sha256_of(&env, &src);
    let url = format!("file://{}", src.display());
    let out = env.path("out");
    let stdout = env.ok(&[
        "__fetch",
        "--url",
        &url,
        "--hash",
        &hash,
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["hash"], hash.as_str());
    assert_eq!(report["size"], 19);
    assert_eq!(std::fs::read(&out).unwrap(), b"some bytes to fetch");
}

#[test]
fn fetch_unpacks_a_tarball() {
    let env = Env::new();
    // A tarball of one directory, made with the tar tool.
    let tree = env.path("tree/pkg-1.0");
    write(&tree.join("README"), "hi\n");
    let tarball = env.path("pkg.tar");
    let status = std::process::Command::new("tar")
        .args(["-cf", tarball.to_str().unwrap(), "-C"])
        .arg(env.path("tree"))
        .arg("pkg-1.0")
        .status();
    let Ok(status) = status else {
        eprintln!("skipping: no tar command");
        return;
    };
    assert!(status.success());
    let hash = sha256_of(&env, &tarball);
    let out = env.path("out");
    env.ok(&[
        "__fetch",
        "--url",
        &format!("file://{}", tarball.display()),
        "--hash",
        &hash,
        "--unpack",
        "tar",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("README")).unwrap(), b"hi\n");
    // The work directory next to --out is gone.
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".forge-fetch"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn fetch_mismatch_fails_with_both_hashes_and_leaves_nothing() {
    let env = Env::new();
    let src = env.path("src/data.bin");
    write(&src, b"actual");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let out = env.path("out");
    let o = env.run(&[
        "__fetch",
        "--url",
        &format!("file://{}", src.display()),
        "--hash",
        &wrong,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("hash mismatch"), "{stderr}");
    assert!(
        stderr.contains(&format!("sha256 = \"{}\"", "0".repeat(64))),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn fetch_is_hidden_from_help() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    assert!(!help.contains("__fetch"), "{help}");
}
