//! A suite's indices fetched from a fake Debian archive served on
//! 127.0.0.1 and signed by a throwaway key: what is verified, what is
//! cached, and every way a mirror can lie.
//!
//! Needs `gpg` (to sign) and `gpgv` (what forge runs); skipped with a
//! message without them, a failure when FORGE_REQUIRE_ORACLES=1.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use forge_build::debian::archive::{fetch_suite, SuiteSource};
use forge_build::debian::DebianError;
use forge_build::fetch::{FetchError, NoProgress};
use forge_core::hash::HashAlgo;
use forge_store::Store;

mod common;
use common::{ok, reply, Server};

/// Seconds since 1970 the tests call "now": 2026-12-01.
const NOW: u64 = 1_796_083_200;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("FORGE_REQUIRE_ORACLES").is_none(),
            "{tool} is missing and FORGE_REQUIRE_ORACLES is set"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A GnuPG home with one signing key, and its public keyring file.
struct Signer {
    home: PathBuf,
    keyring: PathBuf,
}

impl Signer {
    fn new(dir: &Path, name: &str) -> Signer {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .arg("--batch")
                .arg("--homedir")
                .arg(&home)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        gpg(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{name} <{name}@test.invalid>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let keyring = dir.join(format!("{name}.gpg"));
        gpg(&["--export", "-o", keyring.to_str().unwrap()]);
        Signer { home, keyring }
    }

    /// `text` clearsigned.
    fn clearsign(&self, text: &str) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .arg("--batch")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--digest-algo", "SHA256", "--clearsign"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }
}

const PACKAGES: &str = "\
Package: hello
Version: 2.10-3
Architecture: amd64
Depends: libc6 (>= 2.34)
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53000
SHA256: 0000000000000000000000000000000000000000000000000000000000000001

Package: libc6
Version: 2.36-9+deb12u10
Architecture: amd64
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb
Size: 2757000
SHA256: 0000000000000000000000000000000000000000000000000000000000000002
";

fn xz(text: &str) -> Vec<u8> {
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// A Release for `suite` listing `index` as main's Packages.xz.
fn release(suite: &str, valid_until: &str, index: &[u8]) -> String {
    let sha = HashAlgo::Sha256.digest(index).to_hex();
    format!(
        "Origin: Test\nLabel: Test\nSuite: {suite}\nCodename: {suite}\n\
         Date: Sat, 10 May 2025 08:52:04 UTC\nValid-Until: {valid_until}\n\
         Acquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\n\
         Description: a test archive\nSHA256:\n {sha} {} main/binary-amd64/Packages.xz\n",
        index.len()
    )
}

/// An archive served from a map of paths to bytes (changeable between
/// fetches); every request is logged by the server.
struct Archive {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    server: Server,
}

impl Archive {
    fn start() -> Archive {
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let served = Arc::clone(&files);
        let server = Server::start(move |_, req| match served.lock().unwrap().get(&req.path) {
            Some(body) => ok(body),
            None => reply("404 Not Found", &[], b"", 0),
        });
        Archive { files, server }
    }

    fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), bytes);
    }

    /// Publishes `suite` signed by `signer`, with `index` by hash.
    fn publish(&self, suite: &str, signer: &Signer, valid_until: &str, index: &[u8]) {
        let sha = HashAlgo::Sha256.digest(index).to_hex();
        self.put(
            &format!("/debian/dists/{suite}/InRelease"),
            signer.clearsign(&release(suite, valid_until, index)),
        );
        self.put(
            &format!("/debian/dists/{suite}/main/binary-amd64/by-hash/SHA256/{sha}"),
            index.to_vec(),
        );
    }

    fn source(&self, suite: &str, keyring: &Path) -> SuiteSource {
        SuiteSource {
            uri: self.server.url("/debian"),
            suite: suite.to_owned(),
            components: vec!["main".to_owned()],
            keyring: keyring.to_owned(),
        }
    }

    fn fetched(&self, what: &str) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path.contains(what))
            .count()
    }
}

#[test]
fn a_signed_suite_is_fetched_by_hash_once_and_every_lie_is_refused() {
    if !have("gpg") || !have("gpgv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive_key = Signer::new(dir.path(), "archive");
    let intruder = Signer::new(dir.path(), "intruder");
    let mut store = Store::open(dir.path().join("root")).unwrap();
    let archive = Archive::start();
    let index = xz(PACKAGES);
    let future = "Sat, 10 May 2036 08:52:04 UTC";
    archive.publish("test-sec", &archive_key, future, &index);
    let src = archive.source("test-sec", &archive_key.keyring);

    // Verified, fetched by the hash the signed Release lists, decompressed.
    let got = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, PACKAGES);
    assert_eq!(got[0].sha256, HashAlgo::Sha256.digest(&index));
    assert!(!got[0].cached);
    assert_eq!(archive.fetched("/by-hash/SHA256/"), 1);
    // Again: only the InRelease is downloaded; the index is the store's.
    let again = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap();
    assert!(again[0].cached);
    assert_eq!(again[0].text, PACKAGES);
    assert_eq!(archive.fetched("/by-hash/SHA256/"), 1);
    assert_eq!(archive.fetched("/InRelease"), 2);

    // Unsigned text around the signed part, naming another index: ignored,
    // because only what gpgv verified is read.
    let other = xz("Package: evil\n");
    let other_sha = HashAlgo::Sha256.digest(&other).to_hex();
    let signed = archive_key.clearsign(&release("test-sec", future, &index));
    let mut wrapped = format!(
        "SHA256:\n {other_sha} {} main/binary-amd64/Packages.xz\n\n",
        other.len()
    )
    .into_bytes();
    wrapped.extend_from_slice(&signed);
    wrapped.extend_from_slice(
        format!("SHA256:\n {other_sha} 1 main/binary-amd64/Packages.xz\n").as_bytes(),
    );
    archive.put("/debian/dists/test-sec/InRelease", wrapped);
    let got = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap();
    assert_eq!(got[0].text, PACKAGES);

    // Signed by a key outside the keyring.
    archive.publish("test-sec", &intruder, future, &index);
    let err = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");
    assert!(
        err.to_string().contains("/dists/test-sec/InRelease"),
        "{err}"
    );

    // The signed text changed after signing.
    let mut tampered = archive_key.clearsign(&release("test-sec", future, &index));
    let at = tampered.windows(6).position(|w| w == b"Origin").unwrap();
    tampered[at] = b'X';
    archive.put("/debian/dists/test-sec/InRelease", tampered);
    let err = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap_err();
    assert!(matches!(err, DebianError::BadSignature { .. }), "{err}");

    // Another suite's Release (validly signed) served under this suite's name.
    archive.put(
        "/debian/dists/test-sec/InRelease",
        archive_key.clearsign(&release("test", future, &index)),
    );
    let err = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap_err();
    assert!(matches!(err, DebianError::WrongSuite { .. }), "{err}");

    // A replayed Release past its Valid-Until.
    archive.publish(
        "test-sec",
        &archive_key,
        "Sat, 10 May 2025 09:52:04 UTC",
        &index,
    );
    let err = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap_err();
    assert!(matches!(err, DebianError::Expired { .. }), "{err}");

    // An index whose bytes are not the ones the Release lists.
    let fresh = xz(&PACKAGES.replace("2.10-3", "2.10-4"));
    archive.publish("test-sec", &archive_key, future, &fresh);
    let sha = HashAlgo::Sha256.digest(&fresh).to_hex();
    archive.put(
        &format!("/debian/dists/test-sec/main/binary-amd64/by-hash/SHA256/{sha}"),
        other,
    );
    let err = fetch_suite(&mut store, &src, "amd64", NOW, &NoProgress).unwrap_err();
    assert!(
        matches!(&err, DebianError::Fetch(f) if matches!(**f, FetchError::HashMismatch { .. })),
        "{err}"
    );
}
