//! Downloads against a real local HTTP server with scripted responses:
//! hashes, mismatches, retries, resume, and `file://` URLs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{ok, reply, Server};

use forge_build::fetch::{
    download, fetch, part_path, FetchError, FetchOptions, FetchProgress, FetchSpec, NoProgress,
    Unpack,
};
use forge_core::hash::{Hash, HashAlgo};

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn fast() -> FetchOptions {
    FetchOptions {
        retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        proxy_from_env: false,
        ..FetchOptions::default()
    }
}

fn sha256(b: &[u8]) -> Hash {
    HashAlgo::Sha256.digest(b)
}

/// Records every progress call.
#[derive(Default)]
struct Recorder {
    bytes: Mutex<Vec<(u64, Option<u64>)>>,
    retries: Mutex<Vec<(u32, String)>>,
}

impl FetchProgress for Recorder {
    fn bytes(&self, done: u64, total: Option<u64>) {
        self.bytes.lock().unwrap().push((done, total));
    }
    fn retrying(&self, _url: &str, attempt: u32, _delay: Duration, reason: &str) {
        self.retries
            .lock()
            .unwrap()
            .push((attempt, reason.to_owned()));
    }
}

/// The error as the CLI shows it: the message, then the hint's line.
fn shown(e: &(impl std::fmt::Display + forge_core::diag::Hint)) -> String {
    match e.hint() {
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

fn assert_nothing_left(dest: &Path) {
    assert!(!dest.exists(), "{} must not exist", dest.display());
    assert!(!part_path(dest).exists(), "no .part may be left");
}

#[test]
fn happy_path_sha256() {
    let body = payload(300_000);
    let b = body.clone();
    let server = Server::start(move |_, _| ok(&b));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let rec = Recorder::default();
    let d = download(
        &server.url("/f.tar.gz"),
        &sha256(&body),
        &dest,
        &rec,
        &fast(),
    )
    .unwrap();
    assert_eq!(fs_read(&dest), body);
    assert_eq!((d.size, d.attempts, d.resumed), (300_000, 1, false));
    assert_eq!(d.hash, sha256(&body));
    assert!(!part_path(&dest).exists());
    let last = *rec.bytes.lock().unwrap().last().unwrap();
    assert_eq!(last, (300_000, Some(300_000)));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/f.tar.gz");
    assert_eq!(reqs[0].header("range"), None);
    assert_eq!(
        reqs[0].header("accept-encoding"),
        None,
        "compression would change the hashed bytes"
    );
}

#[test]
fn happy_path_blake3_through_fetch() {
    let body = payload(10_000);
    let b = body.clone();
    let server = Server::start(move |_, _| ok(&b));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = FetchSpec {
        url: server.url("/x"),
        hash: HashAlgo::Blake3.digest(&body),
        unpack: None,
    };
    let o = fetch(&spec, dir.path(), &out, &NoProgress, &fast()).unwrap();
    assert_eq!(o.download.hash.algo(), HashAlgo::Blake3);
    assert!(o.unpacked.is_none());
    assert_eq!(fs_read(&out), body);
    // The work dir keeps nothing.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["out"]);
}

#[test]
fn sha512_pins_verify_and_a_wrong_one_names_both_hashes() {
    // npm publishes sha512 (`integrity = "sha512-…"`): a fetch pinned by it
    // hashes the body with sha512.
    let body = payload(20_000);
    let b = body.clone();
    let server = Server::start(move |_, _| ok(&b));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let pin = HashAlgo::Sha512.digest(&body);
    let d = download(&server.url("/p.tgz"), &pin, &dest, &NoProgress, &fast()).unwrap();
    assert_eq!(d.hash, pin);
    assert_eq!(fs_read(&dest), body);
    let wrong = HashAlgo::Sha512.digest(b"other");
    let dest2 = dir.path().join("file2");
    let e = download(&server.url("/p.tgz"), &wrong, &dest2, &NoProgress, &fast()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("expected: sha512 = \"{}\"", wrong.to_hex())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("got:      sha512 = \"{}\"", pin.to_hex())),
        "{msg}"
    );
    assert_nothing_left(&dest2);
}

#[test]
fn fetch_unpacks() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, "src-1.0/a", &b"hi"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    let body = gz.finish().unwrap();
    let b = body.clone();
    let server = Server::start(move |_, _| ok(&b));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = FetchSpec {
        url: server.url("/src-1.0.tar.gz"),
        hash: sha256(&body),
        unpack: Some(Unpack::TarGz),
    };
    let o = fetch(&spec, dir.path(), &out, &NoProgress, &fast()).unwrap();
    assert_eq!(o.unpacked.unwrap().stripped.as_deref(), Some("src-1.0"));
    assert_eq!(fs_read(&out.join("a")), b"hi");
    assert!(!dir.path().join("download").exists());
    // Kept on request, for the engine to hash outside the sandbox.
    let out2 = dir.path().join("out2");
    let keep = FetchOptions {
        keep_download: true,
        ..fast()
    };
    fetch(&spec, dir.path(), &out2, &NoProgress, &keep).unwrap();
    assert_eq!(fs_read(&dir.path().join("download")), body);
}

#[test]
fn mismatch_leaves_nothing_and_prints_pasteable_hashes() {
    let body = payload(5000);
    let b = body.clone();
    let server = Server::start(move |_, _| ok(&b));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let expected = sha256(b"something else");
    let e = download(&server.url("/f"), &expected, &dest, &NoProgress, &fast()).unwrap_err();
    let FetchError::HashMismatch {
        url,
        expected: exp,
        actual,
    } = &e
    else {
        panic!("wanted a mismatch, got {e}");
    };
    assert_eq!(url, &server.url("/f"));
    assert_eq!((**exp, **actual), (expected, sha256(&body)));
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("expected: sha256 = \"{}\"", expected.to_hex())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "got:      sha256 = \"{}\"",
            sha256(&body).to_hex()
        )),
        "{msg}"
    );
    assert!(shown(&e).contains("\nhint: "), "{msg}");
    assert_nothing_left(&dest);
    assert_eq!(server.requests().len(), 1, "a mismatch is not retried");
}

#[test]
fn not_found_is_not_retried_and_names_the_url() {
    let server = Server::start(|_, _| reply("404 Not Found", &[], b"nope", 4));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let url = server.url("/missing.tar.gz");
    let e = download(&url, &sha256(b""), &dest, &NoProgress, &fast()).unwrap_err();
    assert!(
        matches!(&e, FetchError::HttpStatus { status: 404, url: u, .. } if *u == url),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
    assert_eq!(server.requests().len(), 1);
    assert_nothing_left(&dest);

    let server = Server::start(|_, _| reply("403 Forbidden", &[], b"", 0));
    let e = download(&server.url("/x"), &sha256(b""), &dest, &NoProgress, &fast()).unwrap_err();
    assert!(
        matches!(e, FetchError::HttpStatus { status: 403, .. }),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn dropped_connection_resumes_with_range() {
    let body = payload(200_000);
    let half = 77_777;
    let b = body.clone();
    let server = Server::start(move |i, req| {
        let h = [
            ("Accept-Ranges", "bytes".to_owned()),
            ("ETag", "\"v1\"".to_owned()),
        ];
        if i == 0 {
            // The full length is announced; the connection drops early.
            return reply("200 OK", &h, &b, half);
        }
        let range = req.header("range").unwrap_or_default();
        let from: usize = range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let cr = format!("bytes {from}-{}/{}", b.len() - 1, b.len());
        let mut h = h.to_vec();
        h.push(("Content-Range", cr));
        reply("206 Partial Content", &h, &b[from..], b.len() - from)
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let rec = Recorder::default();
    let d = download(&server.url("/big"), &sha256(&body), &dest, &rec, &fast()).unwrap();
    assert_eq!(fs_read(&dest), body);
    assert_eq!((d.attempts, d.resumed, d.size), (2, true, 200_000));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("range"), None);
    assert_eq!(
        reqs[1].header("range"),
        Some(format!("bytes={half}-").as_str())
    );
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""));
    assert_eq!(rec.retries.lock().unwrap().len(), 1);
    // Progress counted the resumed part from where it left off.
    let bytes = rec.bytes.lock().unwrap();
    assert_eq!(*bytes.last().unwrap(), (200_000, Some(200_000)));
    assert!(!part_path(&dest).exists());
}

#[test]
fn resumed_bytes_are_hashed_whole() {
    // The second response continues the file with wrong bytes: the hash,
    // computed over the part on disk and the new bytes, must catch it.
    let body = payload(50_000);
    let b = body.clone();
    let server = Server::start(move |i, _| {
        let h = [("Accept-Ranges", "bytes".to_owned())];
        if i == 0 {
            return reply("200 OK", &h, &b, 10_000);
        }
        let mut h = h.to_vec();
        h.push(("Content-Range", format!("bytes 10000-49999/{}", b.len())));
        let wrong = vec![0u8; 40_000];
        reply("206 Partial Content", &h, &wrong, wrong.len())
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let e = download(
        &server.url("/f"),
        &sha256(&body),
        &dest,
        &NoProgress,
        &fast(),
    )
    .unwrap_err();
    let mut spliced = body[..10_000].to_vec();
    spliced.extend_from_slice(&[0u8; 40_000]);
    assert!(
        matches!(&e, FetchError::HashMismatch { actual, .. } if **actual == sha256(&spliced)),
        "{e}"
    );
    assert_nothing_left(&dest);
}

#[test]
fn without_range_support_it_restarts_from_zero() {
    let body = payload(100_000);
    let b = body.clone();
    let server = Server::start(move |i, _| {
        if i == 0 {
            reply("200 OK", &[], &b, 30_000)
        } else {
            ok(&b)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let d = download(
        &server.url("/f"),
        &sha256(&body),
        &dest,
        &NoProgress,
        &fast(),
    )
    .unwrap();
    assert_eq!(fs_read(&dest), body);
    assert_eq!((d.attempts, d.resumed), (2, false));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("range"), None);
}

#[test]
fn a_206_for_another_range_restarts_from_zero() {
    let body = payload(40_000);
    let b = body.clone();
    let server = Server::start(move |i, _| {
        let h = [("Accept-Ranges", "bytes".to_owned())];
        match i {
            0 => reply("200 OK", &h, &b, 1000),
            // Claims to start at 0 although we asked for 1000-.
            1 => {
                let mut h = h.to_vec();
                h.push(("Content-Range", format!("bytes 0-39999/{}", b.len())));
                reply("206 Partial Content", &h, &b, b.len())
            }
            _ => reply("200 OK", &h, &b, b.len()),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let d = download(
        &server.url("/f"),
        &sha256(&body),
        &dest,
        &NoProgress,
        &fast(),
    )
    .unwrap();
    assert_eq!(fs_read(&dest), body);
    assert!(!d.resumed);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[1].header("range").is_some());
    assert_eq!(reqs[2].header("range"), None);
}

#[test]
fn service_unavailable_then_ok_is_retried() {
    let body = payload(1000);
    let b = body.clone();
    let server = Server::start(move |i, _| {
        if i == 0 {
            reply("503 Service Unavailable", &[], b"busy", 4)
        } else {
            ok(&b)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let rec = Recorder::default();
    let d = download(&server.url("/f"), &sha256(&body), &dest, &rec, &fast()).unwrap();
    assert_eq!(d.attempts, 2);
    assert_eq!(fs_read(&dest), body);
    let retries = rec.retries.lock().unwrap();
    assert_eq!(retries.len(), 1);
    assert!(retries[0].1.contains("503"), "{:?}", retries[0]);
}

#[test]
fn gives_up_after_the_retries() {
    let server = Server::start(|_, _| reply("429 Too Many Requests", &[], b"", 0));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let opts = FetchOptions {
        retries: 2,
        ..fast()
    };
    let e = download(&server.url("/f"), &sha256(b""), &dest, &NoProgress, &opts).unwrap_err();
    assert!(matches!(e, FetchError::GaveUp { attempts: 3, .. }), "{e}");
    assert!(e.to_string().contains("429"), "{e}");
    assert_eq!(server.requests().len(), 3);
    assert_nothing_left(&dest);
}

#[test]
fn a_silent_server_times_out_and_is_retried() {
    let body = payload(2000);
    let b = body.clone();
    let server = Server::start(move |i, _| {
        if i == 0 {
            // Say nothing for longer than the read timeout.
            std::thread::sleep(Duration::from_millis(800));
        }
        ok(&b)
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let opts = FetchOptions {
        read_timeout: Duration::from_millis(200),
        ..fast()
    };
    let rec = Recorder::default();
    let d = download(&server.url("/slow"), &sha256(&body), &dest, &rec, &opts).unwrap();
    assert_eq!(d.attempts, 2);
    assert_eq!(fs_read(&dest), body);
    let retries = rec.retries.lock().unwrap();
    assert!(
        retries[0].1.to_lowercase().contains("timed out") || retries[0].1.contains("timeout"),
        "{:?}",
        retries[0]
    );
}

#[test]
fn connection_refused_is_transient() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("file");
    let opts = FetchOptions {
        retries: 1,
        ..fast()
    };
    let url = format!("http://127.0.0.1:{port}/f");
    let e = download(&url, &sha256(b""), &dest, &NoProgress, &opts).unwrap_err();
    assert!(matches!(e, FetchError::GaveUp { attempts: 2, .. }), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
}

#[test]
fn file_urls() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("some file.bin");
    let body = payload(70_000);
    std::fs::write(&src, &body).unwrap();
    let url = format!("file://{}", src.to_str().unwrap().replace(' ', "%20"));
    let dest = dir.path().join("dest");
    let d = download(&url, &sha256(&body), &dest, &NoProgress, &fast()).unwrap();
    assert_eq!((d.size, d.attempts), (70_000, 1));
    assert_eq!(fs_read(&dest), body);

    let dest2 = dir.path().join("dest2");
    let e = download(&url, &sha256(b"x"), &dest2, &NoProgress, &fast()).unwrap_err();
    assert!(matches!(e, FetchError::HashMismatch { .. }), "{e}");
    assert_nothing_left(&dest2);

    let missing = format!("file://{}/nope", dir.path().display());
    let e = download(&missing, &sha256(b""), &dest2, &NoProgress, &fast()).unwrap_err();
    assert!(matches!(e, FetchError::ReadFile { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    assert_nothing_left(&dest2);
}

#[test]
fn bad_urls() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    for url in ["ftp://example.org/x", "example.org/x", "file://relative/x"] {
        let e = download(url, &sha256(b""), &dest, &NoProgress, &fast()).unwrap_err();
        assert!(matches!(e, FetchError::BadUrl { .. }), "{url}: {e}");
        assert!(e.to_string().contains(url), "{e}");
    }
}

fn fs_read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}
