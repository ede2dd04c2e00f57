//! Bad input gets errors that name the file, line, path or hash involved.

use std::os::unix::fs::PermissionsExt;

use crate::common::{write, Env};

#[test]
fn corrupted_store_file_is_reported_with_both_hashes() {
    let env = Env::new();
    let src = env.path("tree");
    write(&src.join("data"), "the original bytes");
    let p = env.ok(&["store", "add", src.to_str().unwrap()]);
    let p = p.trim();
    let info: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "info", "--json", p])).unwrap();
    let expected = info[0]["nar_blake3"].as_str().unwrap().to_owned();

    let file = env
        .root()
        .join("store")
        .join(p.rsplit('/').next().unwrap())
        .join("data");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&file, "the tampered bytes").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();

    // Without --check-contents the object is present, so nothing is found.
    assert!(env.run(&["store", "verify"]).status.success());
    let out = env.run(&["store", "verify", "--check-contents"]);
    assert_eq!(out.status.code(), Some(3), "verify must exit 3 on problems");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(p), "{stdout}");
    assert!(stdout.contains(&format!("expected {expected}")), "{stdout}");
    assert!(stdout.contains("found blake3:"), "{stdout}");
    // mtime changed too: reported as not canonical.
    assert!(stdout.contains("/data: not canonical: mtime"), "{stdout}");
}

#[test]
fn store_from_a_newer_forge_is_refused() {
    let env = Env::new();
    env.ok(&["store", "verify"]);
    let db = env.root().join("db/store.sqlite");
    let conn = rusqlite_free_pragma(&db, 99);
    assert!(conn, "could not edit the test database");
    let out = env.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schema version 99"), "{stderr}");
    assert!(stderr.contains("only knows versions up to "), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
}

/// Sets `PRAGMA user_version` with the sqlite3 file format alone: the
/// version is the big-endian u32 at byte offset 60 of the header. (The
/// database is checkpointed on close, so the header is current.)
fn rusqlite_free_pragma(db: &std::path::Path, version: u32) -> bool {
    let Ok(mut bytes) = std::fs::read(db) else {
        return false;
    };
    if bytes.len() < 100 || !bytes.starts_with(b"SQLite format 3\0") {
        return false;
    }
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(db, bytes).is_ok()
}

#[test]
fn not_a_store_path_gets_a_hint() {
    let env = Env::new();
    let out = env.run(&["store", "info", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: /etc/passwd is not in the store"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: name a store path"), "{stderr}");

    let out = env.run(&["store", "info", "/forge/store/eeee-x"]);
    assert_eq!(out.status.code(), Some(1));

    let out = env.run(&["store", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn malformed_recipe_reports_file_line_and_column() {
    let env = Env::new();
    let dir = env.path("recipes/bad");
    write(
        &dir.join("recipe.toml"),
        "[recipe]\nname = \"bad\"\nversion = \"1\"\n\n[inputs]\nsrc = { fetch = \"https://example.org/x.tar.gz\", sha256 = \"abc\" }\n\n[build]\nscript = \"true\"\n",
    );
    let out = env.run(&["recipe", "check", "recipes/bad"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recipes/bad/recipe.toml:6:58: invalid sha256 hash for input `src`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected 64 (hex), 52 (nix base32)"),
        "{stderr}"
    );

    // A TOML syntax error is located too.
    write(
        &dir.join("recipe.toml"),
        "[recipe]\nname = \"x\nversion = \"1\"\n",
    );
    let out = env.run(&["recipe", "check", "--json", "recipes/bad"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["ok"], false);
    assert_eq!(v[0]["error"]["line"], 2);

    // The shipped recipes are fine.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes/hello");
    let out = env.run(&["recipe", "check", repo.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
