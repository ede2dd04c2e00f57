//! Binary caches end to end (docs/cache.md): a graph built in store A and
//! pushed, then built in an empty store B with the cache as substituter,
//! builds nothing, through every backend (file://, a static server,
//! forge's server, S3); `--dry-run`, `--offline`, `--no-substitute`; and
//! `forge store verify --repair`. Hostile caches are in `cache_hostile`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::{recipe, tools};
use crate::common::{have_tool, Env};

/// A two-recipe graph (`app` keeps `lib`'s path at run time) built in A
/// and pushed to a signed file:// cache.
pub(crate) struct Pushed {
    pub(crate) env: Env,
    pub(crate) cache: PathBuf,
    pub(crate) public_key: String,
    /// `app`'s output path, as A built it.
    pub(crate) app: String,
    /// `lib`'s.
    pub(crate) lib: String,
}

pub(crate) fn pushed() -> Pushed {
    let env = Env::new();
    tools(&env);
    recipe(&env, "lib", &[], "mkdir -p $out; echo lib > $out/data");
    recipe(
        &env,
        "app",
        &["lib"],
        "mkdir -p $out/bin; printf '#!/bin/sh\\ncat %s/data\\n' $lib > $out/bin/app; echo $lib > $out/lib-path",
    );
    let out = env.ok(&["build", "app", "--no-link"]);
    let app = out.trim().to_owned();
    let lib = fs::read_to_string(env.root().join(format!(
        "store/{}/lib-path",
        app.trim_start_matches("/forge/store/")
    )))
    .unwrap()
    .trim()
    .to_owned();
    let sk = env.path("cache.sk");
    let public_key = env
        .ok(&[
            "key",
            "generate",
            "test-cache-1",
            "-o",
            sk.to_str().unwrap(),
        ])
        .trim()
        .to_owned();
    let cache = env.path("cache");
    let url = format!("file://{}", cache.display());
    let json = env.ok(&[
        "push",
        &url,
        "app",
        "--secret-key",
        sk.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    // app and lib (the tools `path` input is not an output: B adds it
    // from the checkout as A did).
    assert_eq!(report["pushed"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["realisations"], 2, "{report}");
    Pushed {
        env,
        cache,
        public_key,
        app,
        lib,
    }
}

/// A `forge` command on another store of the same checkout.
pub(crate) fn on(p: &Pushed, root: &Path) -> Command {
    let mut c = p.env.forge();
    c.env("FORGE_ROOT", root);
    c
}

/// What `forge build app --json` on store `root` did: the events and the
/// result line, and whether it succeeded.
pub(crate) struct Outcome {
    pub(crate) events: Vec<serde_json::Value>,
    pub(crate) stderr: String,
}

impl Outcome {
    pub(crate) fn built(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "build-started")
            .map(|e| e["recipe"].as_str().unwrap().to_owned())
            .collect()
    }
    pub(crate) fn substituted(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "substituting")
            .map(|e| e["recipe"].as_str().unwrap().to_owned())
            .collect()
    }
    pub(crate) fn failures(&self) -> String {
        self.events
            .iter()
            .filter(|e| e["event"] == "substitute-failed")
            .map(|e| e["error"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub(crate) fn result(&self) -> &serde_json::Value {
        self.events
            .iter()
            .find(|e| e["event"] == "result")
            .unwrap_or_else(|| panic!("no result: {}", self.stderr))
    }
}

pub(crate) fn build_on(p: &Pushed, root: &Path, substituters: &str, extra: &[&str]) -> Outcome {
    build_on_with(p, root, substituters, extra, &[])
}

/// [`build_on`] with `envs` set for forge.
pub(crate) fn build_on_with(
    p: &Pushed,
    root: &Path,
    substituters: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Outcome {
    let out = on(p, root)
        .args(["build", "app", "--no-link", "--json", "--substituters"])
        .arg(substituters)
        .args(["--trusted-public-keys", &p.public_key])
        .args(extra)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Outcome { events, stderr }
}

/// B's store is sound: every path's contents match its record.
pub(crate) fn assert_verified(p: &Pushed, root: &Path) {
    let out = on(p, root)
        .args(["store", "verify", "--check-contents"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The NAR hash B records for `path`.
fn nar_hash(p: &Pushed, root: &Path, path: &str) -> String {
    let out = on(p, root)
        .args(["store", "info", "--json", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    v["nar_blake3"]
        .as_str()
        .or(v["nar_hash"].as_str())
        .unwrap_or_else(|| panic!("no NAR hash in {v}"))
        .to_owned()
}

/// Nothing is built on B, and B ends with A's bytes.
pub(crate) fn assert_substituted_whole(p: &Pushed, root: &Path, o: &Outcome) {
    assert_eq!(
        o.built(),
        Vec::<String>::new(),
        "{}\n{}",
        o.failures(),
        o.stderr
    );
    assert_eq!(o.substituted(), ["lib-1", "app-1"], "{}", o.stderr);
    assert_eq!(o.result()["outputs"]["out"], p.app.as_str());
    assert!(o
        .events
        .iter()
        .filter(|e| e["event"] == "finished")
        .all(|e| e["built"] == false));
    assert_verified(p, root);
    assert_eq!(
        nar_hash(p, root, &p.app),
        nar_hash(p, &p.env.root(), &p.app)
    );
    assert_eq!(
        nar_hash(p, root, &p.lib),
        nar_hash(p, &p.env.root(), &p.lib)
    );
}

#[test]
fn a_second_store_builds_nothing_through_a_file_cache_or_a_static_server() {
    let p = pushed();
    let url = format!("file://{}", p.cache.display());
    let b = p.env.path("b-file");
    let o = build_on(&p, &b, &url, &[]);
    assert_substituted_whole(&p, &b, &o);
    // Realised now: a second build asks nobody.
    let again = build_on(&p, &b, &url, &[]);
    assert!(again.substituted().is_empty() && again.built().is_empty());

    // A plain static server over the pushed directory.
    if have_tool("python3") {
        let server = StaticServer::start(&p.cache);
        let b = p.env.path("b-http");
        let o = build_on(&p, &b, &server.url, &[]);
        assert_substituted_whole(&p, &b, &o);
    }
}

#[test]
fn dry_run_offline_and_no_substitute_say_and_do_what_they_mean() {
    let p = pushed();
    let url = format!("file://{}", p.cache.display());
    let b = p.env.path("b");
    let out = on(&p, &b)
        .args(["build", "app", "--dry-run", "--substituters", &url])
        .args(["--trusted-public-keys", &p.public_key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("would substitute 1 recipe") && stdout.contains(&url),
        "{stdout}"
    );
    // Nothing was fetched into B by the dry run.
    assert!(!b
        .join("store")
        .join(p.lib.trim_start_matches("/forge/store/"))
        .exists());
    // --no-substitute builds; --offline keeps file:// caches.
    let o = build_on(&p, &p.env.path("b2"), &url, &["--no-substitute"]);
    assert_eq!(o.built(), ["lib-1", "app-1"]);
    let o = build_on(&p, &p.env.path("b3"), &url, &["--offline"]);
    assert_eq!(o.built(), Vec::<String>::new());
    // A cache without them: built, and said so for each.
    let empty = format!("file://{}", p.env.path("empty-cache").display());
    let o = build_on(&p, &p.env.path("b5"), &empty, &[]);
    assert_eq!(o.built(), ["lib-1", "app-1"]);
    let missed: Vec<_> = o
        .events
        .iter()
        .filter(|e| e["event"] == "not-substituted")
        .map(|e| e["recipe"].as_str().unwrap())
        .collect();
    assert_eq!(missed, ["lib-1", "app-1"]);
    let o = build_on(&p, &p.env.path("b4"), "http://127.0.0.1:9", &["--offline"]);
    assert!(
        o.failures().is_empty(),
        "offline asks no server: {}",
        o.failures()
    );
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

pub(crate) fn digest(path: &str) -> &str {
    &path.trim_start_matches("/forge/store/")[..32]
}

/// Rewrites `field: …` in a narinfo.
pub(crate) fn edit_narinfo(cache: &Path, path: &str, edit: impl Fn(&str) -> Option<String>) {
    let f = cache.join(format!("{}.narinfo", digest(path)));
    let text = fs::read_to_string(&f).unwrap();
    let out: String = text
        .lines()
        .filter_map(|l| edit(l).or_else(|| Some(l.to_owned())))
        .filter(|l| !l.is_empty())
        .map(|l| l + "\n")
        .collect();
    fs::write(&f, out).unwrap();
}

pub(crate) fn nar_file(cache: &Path, path: &str) -> PathBuf {
    let f = cache.join(format!("{}.narinfo", digest(path)));
    let text = fs::read_to_string(f).unwrap();
    let url = text.lines().find_map(|l| l.strip_prefix("URL: ")).unwrap();
    cache.join(url)
}

#[path = "../../crates/forge-cache/tests/conformance/static_server.rs"]
pub(crate) mod static_server;
use static_server::StaticServer;

#[path = "../../crates/forge-cache/tests/conformance/weed.rs"]
#[allow(dead_code)] // the conformance suite uses more of it
mod weed;

/// Through SeaweedFS's S3: pushed from A, substituted into B. As root only:
/// scripts/test installs weed in root's cache directory, which the
/// unprivileged CI user cannot reach (the S3 client runs the same code
/// whoever runs it; the stores as that user are tested through the file
/// and HTTP caches above).
#[test]
fn a_second_store_builds_nothing_through_s3() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: SeaweedFS is installed for root");
        return;
    }
    let Some(mut weed) = weed::Weed::start() else {
        return;
    };
    weed.create_bucket("forge-e2e");
    let p = pushed();
    let url = weed.url("forge-e2e/team");
    let creds = |c: &mut Command| {
        c.env("AWS_ACCESS_KEY_ID", weed::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", weed::SECRET_KEY);
    };
    let mut push = p.env.forge();
    push.args(["push", &url, "app", "--json", "--secret-key"])
        .arg(p.env.path("cache.sk"));
    creds(&mut push);
    let out = push.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pushed"].as_array().unwrap().len(), 2, "{report}");

    let b = p.env.path("b-s3");
    let o = build_on_with(
        &p,
        &b,
        &url,
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", weed::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", weed::SECRET_KEY),
        ],
    );
    assert_substituted_whole(&p, &b, &o);
}

/// `forge store verify --repair`: a damaged path comes back whole from the
/// cache; a cache whose copy is not the recorded one repairs nothing.
#[test]
fn verify_repair_fetches_a_good_copy_and_refuses_another() {
    use std::os::unix::fs::PermissionsExt;
    let p = pushed();
    let physical = p
        .env
        .root()
        .join("store")
        .join(p.app.trim_start_matches("/forge/store/"));
    let damage = || {
        let f = physical.join("lib-path");
        fs::set_permissions(&physical, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&f, "damaged\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
        fs::set_permissions(&physical, fs::Permissions::from_mode(0o555)).unwrap();
    };
    let verify = |extra: &[&str]| {
        p.env
            .forge()
            .args(["store", "verify", "--check-contents"])
            .args(extra)
            .output()
            .unwrap()
    };
    damage();
    assert_eq!(verify(&[]).status.code(), Some(3));

    // A cache whose copy of app differs from the record: refused.
    let bad = p.env.path("cache-bad");
    copy_dir(&p.cache, &bad);
    edit_narinfo(&bad, &p.app, |l| {
        l.starts_with("NarHash: ").then(|| {
            "NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s".to_owned()
        })
    });
    let repair = |cache: &Path| {
        let url = format!("file://{}", cache.display());
        verify(&[
            "--repair",
            "--substituters",
            &url,
            "--trusted-public-keys",
            &p.public_key,
        ])
    };
    let out = repair(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not repair"), "{stderr}");

    // A cache whose narinfo is right but whose NAR is another path's: the
    // store's own check against its record refuses it.
    let swapped = p.env.path("cache-swapped");
    copy_dir(&p.cache, &swapped);
    fs::copy(nar_file(&swapped, &p.lib), nar_file(&swapped, &p.app)).unwrap();
    let out = repair(&swapped);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not repair"), "{stderr}");

    let out = repair(&p.cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("repaired {}", p.app)), "{stderr}");
    assert!(verify(&[]).status.success());
    assert_eq!(
        fs::read_to_string(physical.join("lib-path"))
            .unwrap()
            .trim(),
        p.lib
    );
}

/// Through forge's own server: pushed with the upload token to
/// `forge cache serve --dir`, and A's store served with `--store`.
#[test]
fn a_second_store_builds_nothing_through_forge_s_server() {
    let p = pushed();
    write_token(&p);
    let server =
        crate::cache_serve::serve(&p.env, &["--dir", "served", "--upload-token-file", "token"]);
    let out = p
        .env
        .forge()
        .args(["push", &server.url, "app", "--json", "--secret-key"])
        .arg(p.env.path("cache.sk"))
        .env("FORGE_CACHE_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = p.env.path("b-server");
    let o = build_on(&p, &b, &server.url, &[]);
    assert_substituted_whole(&p, &b, &o);

    // A's store itself, signed on the fly with A's key.
    let sk = p.env.path("cache.sk");
    let live =
        crate::cache_serve::serve(&p.env, &["--store", "--secret-key", sk.to_str().unwrap()]);
    let b = p.env.path("b-live");
    let o = build_on(&p, &b, &live.url, &[]);
    assert_substituted_whole(&p, &b, &o);
}

fn write_token(p: &Pushed) {
    fs::write(p.env.path("token"), "s3cret\n").unwrap();
}
