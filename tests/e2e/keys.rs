//! `forge key generate` and `forge key public`: Nix's key formats, files
//! only their owner reads, and what a bad key file says.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::{have_tool, write, Env};

/// A public key as `forge key` prints it: `name:base64` of 32 bytes.
fn assert_public_key(text: &str, name: &str) {
    let (n, b64) = text.trim().split_once(':').unwrap();
    assert_eq!(n, name);
    assert_eq!(b64.len(), 44, "{text}");
    assert!(b64.ends_with('='), "{text}");
}

#[test]
fn generate_writes_a_private_key_and_public_prints_the_same() {
    let env = Env::new();
    let sk = env.path("keys/cache.sk");
    fs::create_dir_all(sk.parent().unwrap()).unwrap();
    let public = env.ok(&[
        "key",
        "generate",
        "cache.example.org-1",
        "-o",
        sk.to_str().unwrap(),
    ]);
    assert_public_key(&public, "cache.example.org-1");
    let mode = fs::metadata(&sk).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Nix's format: name, `:`, 88 base64 characters (64 bytes), no newline.
    let text = fs::read_to_string(&sk).unwrap();
    assert!(text.starts_with("cache.example.org-1:"), "{text}");
    assert_eq!(text.len(), "cache.example.org-1:".len() + 88);
    assert_eq!(env.ok(&["key", "public", sk.to_str().unwrap()]), public);

    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["key", "public", "--json", sk.to_str().unwrap()])).unwrap();
    assert_eq!(json["name"], "cache.example.org-1");
    assert_eq!(json["public_key"], public.trim());
    assert_eq!(json["secret_key_file"], sk.to_str().unwrap());

    // Two keys are never the same.
    let other = env.path("keys/other.sk");
    let public2 = env.ok(&[
        "key",
        "generate",
        "cache.example.org-1",
        "-o",
        other.to_str().unwrap(),
    ]);
    assert_ne!(public, public2);
}

#[test]
fn an_existing_file_is_kept_unless_forced() {
    let env = Env::new();
    let sk = env.path("cache.sk");
    let first = env.ok(&["key", "generate", "c-1", "-o", sk.to_str().unwrap()]);
    let before = fs::read(&sk).unwrap();
    let out = env.run(&["key", "generate", "c-1", "-o", sk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} already exists", sk.display())) && err.contains("--force"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read(&sk).unwrap(), before);

    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "key",
        "generate",
        "c-2",
        "-o",
        sk.to_str().unwrap(),
        "--force",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["name"], "c-2");
    assert_ne!(json["public_key"], first.trim());
    assert_eq!(
        fs::metadata(&sk).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        env.ok(&["key", "public", sk.to_str().unwrap()]).trim(),
        json["public_key"]
    );
    // Nothing left beside it.
    assert_eq!(
        fs::read_dir(env.dir.path()).unwrap().count(),
        2,
        "cache.sk and .git only"
    );
}

#[test]
fn a_bad_name_is_refused_before_any_file_is_written() {
    let env = Env::new();
    let sk = env.path("cache.sk");
    let out = env.run(&["key", "generate", "has space", "-o", sk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("whitespace"));
    assert!(!sk.exists());
}

#[test]
fn a_corrupt_or_wrong_key_file_names_the_file_and_the_problem() {
    let env = Env::new();
    let cases: &[(&str, &str)] = &[
        ("garbage\n", "has no `:`"),
        ("k-1:!!!!", "not valid base64"),
        (
            "k-1:ws/0vW8CQHWh36rHlTEdNo9fpw1WACYX+wK5EhC98MQ=",
            "32 bytes after base64 decoding, expected 64",
        ),
        (":AAAA", "empty name"),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let file = env.path(&format!("bad-{i}.sk"));
        write(&file, text);
        let out = env.run(&["key", "public", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("reading the secret key file {}", file.display()))
                && err.contains(why),
            "{text}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    // The public key in the secret's place gets a hint saying so.
    let err = String::from_utf8_lossy(
        &env.run(&["key", "public", env.path("bad-2.sk").to_str().unwrap()])
            .stderr,
    )
    .into_owned();
    assert!(err.contains("hint: this is a public key"), "{err}");
    let missing = env.path("missing.sk");
    let out = env.run(&["key", "public", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&missing.display().to_string()));
}

/// `nix ARGS…` with the new CLI enabled, `stdin` from a file, or panics.
fn nix(args: &[&str], stdin: Option<&std::path::Path>) -> String {
    let mut c = Command::new("nix");
    c.args(["--extra-experimental-features", "nix-command"])
        .args(args);
    if let Some(f) = stdin {
        c.stdin(fs::File::open(f).unwrap());
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "nix {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Nix's `nix key` (2.6 and later) rather than `nix-store
/// --generate-binary-cache-key`, which opens the store and so fails for a
/// user without access to Nix's daemon; the files are the same
/// (crates/forge-core/tests/golden/keys holds one nix-store made).
#[test]
fn a_key_nix_made_gives_nix_public_key() {
    if !have_tool("nix") {
        return;
    }
    let env = Env::new();
    let sk = env.path("nix.sk");
    write(
        &sk,
        nix(
            &["key", "generate-secret", "--key-name", "nix-made-1"],
            None,
        ),
    );
    fs::set_permissions(&sk, fs::Permissions::from_mode(0o600)).unwrap();
    let nix_public = nix(&["key", "convert-secret-to-public"], Some(&sk));
    let ours = env.ok(&["key", "public", sk.to_str().unwrap()]);
    assert_eq!(ours.trim(), nix_public.trim());

    // And the other way: Nix reads forge's key file and derives the same
    // public key.
    let forge_sk = env.path("forge.sk");
    let forge_public = env.ok(&[
        "key",
        "generate",
        "forge-made-1",
        "-o",
        forge_sk.to_str().unwrap(),
    ]);
    let theirs = nix(&["key", "convert-secret-to-public"], Some(&forge_sk));
    assert_eq!(theirs.trim(), forge_public.trim());
}

#[test]
fn trusted_public_keys_are_checked_when_the_config_is_read() {
    let env = Env::new();
    let sk = env.path("c.sk");
    let public = env.ok(&["key", "generate", "c-1", "-o", sk.to_str().unwrap()]);
    let config = env.path("config/forge/config.toml");
    write(
        &config,
        format!("trusted-public-keys = [\n  \"{}\",\n]\n", public.trim()),
    );
    let shown = env.ok(&["config", "show"]);
    assert!(
        shown.contains(&format!(
            "trusted-public-keys = [\"{}\"]  # {}",
            public.trim(),
            config.display()
        )),
        "{shown}"
    );
    // A secret key pasted by mistake: an error at its line, not repeated.
    let secret = fs::read_to_string(&sk).unwrap();
    write(
        &config,
        format!(
            "trusted-public-keys = [\n  \"{}\",\n  \"{secret}\",\n]\n",
            public.trim()
        ),
    );
    let out = env.run(&["config", "show"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:", config.display()))
            && err.contains("public key `c-1`: 64 bytes after base64 decoding, expected 32"),
        "{err}"
    );
    assert!(!err.contains(&secret[5..]), "{err}");
}
