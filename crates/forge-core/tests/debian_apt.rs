//! forge's Debian resolver against apt itself, on this host's apt lists.
//!
//! Reads `/var/lib/apt/lists/*_Packages.lz4` (decompressed with apt's own
//! `apt-helper cat-file`), checks each against the SHA-256 its verified
//! `InRelease` lists, resolves several package sets, and compares the names
//! and versions with `apt-get install --simulate --no-install-recommends`
//! from an empty status. Skipped when apt or the lists are missing, unless
//! FORGE_REQUIRE_ORACLES=1 (as in CI).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use forge_core::debian::{packages, resolve, signed_text, IndexId, Release, Request, Universe};
use sha2::{Digest, Sha256};

const LISTS: &str = "/var/lib/apt/lists";
const APT_HELPER: &str = "/usr/lib/apt/apt-helper";

/// The suites in apt's sources order, as (list file prefix, index name).
const SUITES: &[(&str, &str)] = &[
    (
        "deb.debian.org_debian_dists_bookworm_",
        "bookworm/main/amd64",
    ),
    (
        "deb.debian.org_debian_dists_bookworm-updates_",
        "bookworm-updates/main/amd64",
    ),
    (
        "deb.debian.org_debian-security_dists_bookworm-security_",
        "bookworm-security/main/amd64",
    ),
];

fn oracle_present(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var("FORGE_REQUIRE_ORACLES").as_deref() != Ok("1"),
            "{what} is required (FORGE_REQUIRE_ORACLES=1) but missing"
        );
        eprintln!("skipping: {what} not installed");
    }
    present
}

fn list(prefix: &str, rest: &str) -> PathBuf {
    Path::new(LISTS).join(format!("{prefix}{rest}"))
}

fn cat_file(path: &Path) -> String {
    let out = Command::new(APT_HELPER)
        .arg("cat-file")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "apt-helper cat-file {}",
        path.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

fn universe() -> Universe {
    let mut u = Universe::new();
    for (prefix, id) in SUITES {
        let inrelease = std::fs::read_to_string(list(prefix, "InRelease")).unwrap();
        let release = Release::parse(&signed_text(&inrelease).unwrap()).unwrap();
        let text = cat_file(&list(prefix, "main_binary-amd64_Packages.lz4"));
        let listed = release.file("main/binary-amd64/Packages").unwrap();
        assert_eq!(listed.size, text.len() as u64, "{id}: size");
        assert_eq!(
            <[u8; 32]>::from(Sha256::digest(text.as_bytes())),
            listed.sha256,
            "{id}: sha256"
        );
        let pkgs = packages::parse(&text).unwrap();
        assert!(!pkgs.is_empty());
        u.add_index(IndexId((*id).to_owned()), pkgs);
    }
    u
}

/// `Inst name (version ...)` lines of apt's simulation.
fn apt(pkgs: &[&str]) -> BTreeSet<(String, String)> {
    let out = Command::new("apt-get")
        .args(["install", "--simulate", "--no-install-recommends"])
        .args([
            "-o",
            "Dir::State::status=/dev/null",
            "-o",
            "Debug::NoLocking=1",
        ])
        .args(pkgs)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apt-get failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| {
            let (name, rest) = l.split_once(" (").unwrap();
            let version = rest.split_whitespace().next().unwrap();
            (name.to_owned(), version.to_owned())
        })
        .collect()
}

fn forge(u: &Universe, pkgs: &[&str]) -> BTreeSet<(String, String)> {
    let reqs: Vec<Request> = pkgs.iter().map(|p| p.parse().unwrap()).collect();
    let r = resolve(u, &reqs, "amd64").unwrap_or_else(|e| panic!("{pkgs:?}: {e}"));
    for c in &r.packages {
        assert!(c.filename.starts_with("pool/") && c.size > 0, "{c:?}");
    }
    r.packages
        .into_iter()
        .map(|c| (c.name, c.version.to_string()))
        .collect()
}

#[test]
fn resolves_the_same_closure_as_apt() {
    let apt_present = Path::new(APT_HELPER).exists()
        && Command::new("apt-get")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    let lists_present = SUITES.iter().all(|(p, _)| {
        list(p, "InRelease").exists() && list(p, "main_binary-amd64_Packages.lz4").exists()
    });
    if !oracle_present("apt and its bookworm lists", apt_present && lists_present) {
        return;
    }
    let u = universe();
    let sets: &[&[&str]] = &[
        &["gcc-12", "libc6-dev", "make"],
        &["python3.11"],
        &["build-essential"],
        &["rustc-web", "cargo-web"],
        &[
            "coreutils",
            "sed",
            "grep",
            "findutils",
            "tar",
            "gzip",
            "patch",
            "diffutils",
        ],
        &[
            "gcc-12",
            "binutils",
            "make",
            "coreutils",
            "sed",
            "grep",
            "findutils",
            "tar",
            "gzip",
            "patch",
            "diffutils",
        ],
        &["python3", "python3-venv", "python3-pip"],
        &["git", "curl"],
        // A virtual mail-transport-agent, Provides with versions, a large closure.
        &["bsd-mailx"],
        &["devscripts"],
        &["nodejs", "npm"],
        &["libgtk-3-dev"],
        // A pinned older version from another suite.
        &[
            "rustc-web=1.85.0+dfsg3-1~deb12u3",
            "libstd-rust-web-dev=1.85.0+dfsg3-1~deb12u3",
            "libstd-rust-web-1.85=1.85.0+dfsg3-1~deb12u3",
        ],
    ];
    let mut failures = Vec::new();
    for set in sets {
        let (want, got) = (apt(set), forge(&u, set));
        if want != got {
            let only_apt: Vec<_> = want.difference(&got).collect();
            let only_forge: Vec<_> = got.difference(&want).collect();
            failures.push(format!(
                "{set:?}: only apt {only_apt:?}, only forge {only_forge:?}"
            ));
        } else {
            eprintln!("{set:?}: {} packages, same as apt", want.len());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Pinning rustc-web alone leaves its `=` dependency on the newer
    // candidate: apt gives up, and so does forge, naming the dependency.
    let req: Request = "rustc-web=1.85.0+dfsg3-1~deb12u3".parse().unwrap();
    let e = resolve(&u, &[req], "amd64").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsatisfiable dependency: rustc-web -> libstd-rust-web-dev (= 1.85.0+dfsg3-1~deb12u3)"
    );
}
