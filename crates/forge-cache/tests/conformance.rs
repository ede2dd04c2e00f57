//! One suite over every backend: what a cache must do whatever stores it.
//! Each backend is set up over a fresh cache; read-only backends read what
//! a writable one wrote underneath them (a static server over a pushed
//! directory).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Read;
use std::process::{Command, Stdio};

use forge_cache::serve::{ServeConfig, Server, UploadToken};
use forge_cache::{open, Backend, CacheError, FileBackend, HttpBackend, Key, S3Backend};

#[path = "conformance/weed.rs"]
mod weed;

#[path = "conformance/static_server.rs"]
mod static_server;
use static_server::StaticServer;

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

fn read_all(b: &dyn Backend, k: &Key) -> Option<Vec<u8>> {
    b.get(k).unwrap().map(|mut r| {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

/// Bytes no two offsets of which repeat in step with a part size.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// What every backend answers: objects written underneath it (by
/// `writer`) are read back byte for byte, by stream and whole; missing
/// ones are `None`/false, not errors; a size limit holds.
fn reads(b: &dyn Backend, writer: &dyn Backend) {
    let small = key("nix-cache-info");
    let nested = key("nar/0a1b2c.nar.zst");
    let big = key("nar/big.nar");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // Larger than two of S3's upload parts, and not a multiple of one:
    // the S3 backend uploads it in three parts.
    let huge = key("nar/huge.nar");
    let huge_bytes = pattern(2 * forge_cache::S3_PART_SIZE + 1_234_567, 7);
    let empty = key("nar/empty.nar");
    writer
        .put(&small, &mut &b"StoreDir: /forge/store\n"[..])
        .unwrap();
    writer.put(&nested, &mut &b"\x28\xb5\x2f\xfd"[..]).unwrap();
    assert_eq!(
        writer.put(&big, &mut &bytes[..]).unwrap(),
        bytes.len() as u64
    );

    assert_eq!(
        writer.put(&huge, &mut &huge_bytes[..]).unwrap(),
        huge_bytes.len() as u64
    );
    assert_eq!(writer.put(&empty, &mut &b""[..]).unwrap(), 0);

    assert!(b.exists(&small).unwrap(), "{}", b.name());
    assert!(b.exists(&nested).unwrap());
    assert!(!b.exists(&key("missing.narinfo")).unwrap());
    assert!(!b.exists(&key("nar/missing.nar")).unwrap());
    assert_eq!(read_all(b, &small).unwrap(), b"StoreDir: /forge/store\n");
    assert_eq!(read_all(b, &nested).unwrap(), b"\x28\xb5\x2f\xfd");
    assert_eq!(
        read_all(b, &big).unwrap(),
        bytes,
        "a large object streams whole"
    );
    // Compared without a multi-megabyte diff on failure.
    let got = read_all(b, &huge).unwrap();
    assert!(got == huge_bytes, "{}: {} bytes back", b.name(), got.len());
    assert_eq!(read_all(b, &empty).unwrap(), b"");
    assert!(b.get(&key("missing.narinfo")).unwrap().is_none());
    assert_eq!(
        b.get_small(&small, 1024).unwrap().unwrap(),
        b"StoreDir: /forge/store\n"
    );
    assert!(b
        .get_small(&key("missing.narinfo"), 1024)
        .unwrap()
        .is_none());
    let err = b.get_small(&big, 1024).unwrap_err();
    assert!(
        err.to_string().contains("larger than 1024 bytes"),
        "{}: {err}",
        b.name()
    );
    // Replacing an object: the new bytes, whole.
    writer
        .put(&small, &mut &b"StoreDir: /forge/store\nPriority: 30\n"[..])
        .unwrap();
    assert_eq!(
        read_all(b, &small).unwrap(),
        b"StoreDir: /forge/store\nPriority: 30\n"
    );
}

/// A source that yields `ok` bytes and then fails.
struct Failing {
    ok: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::other("the source broke"));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(b'x');
        self.ok -= n;
        Ok(n)
    }
}

/// What every writable backend does: a write whose source fails (in a
/// small object, or after more than an upload part of a large one)
/// leaves no object, or the old one, never part of the new.
fn writes(b: &dyn Backend) {
    let old = key("nar/kept.nar");
    b.put(&old, &mut &b"old"[..]).unwrap();
    for ok in [10, forge_cache::S3_PART_SIZE + 10] {
        let err = b.put(&old, &mut Failing { ok }).unwrap_err();
        assert!(err.to_string().contains("the source broke"), "{err}");
        assert_eq!(read_all(b, &old).unwrap(), b"old", "{}", b.name());
        let new = key("nar/never.nar");
        assert!(b.put(&new, &mut Failing { ok }).is_err());
        assert!(!b.exists(&new).unwrap(), "{}", b.name());
    }
}

#[test]
fn a_directory_cache_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let b = FileBackend::new(dir.path().join("cache"));
    reads(&b, &b);
    writes(&b);
    // No temporary file is left beside the objects.
    let leftovers: Vec<_> = walk(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Chosen by URL, it is the same cache.
    let by_url = open(&format!("file://{}", dir.path().join("cache").display())).unwrap();
    assert!(by_url.exists(&key("nix-cache-info")).unwrap());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_static_http_server_over_a_pushed_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let pushed = FileBackend::new(dir.path());
    let server = StaticServer::start(dir.path());
    let b = open(&format!("{}/", server.url)).unwrap();
    reads(b.as_ref(), &pushed);
    // A plain server is read-only, and says so.
    let err = b.put(&key("x"), &mut &b"x"[..]).unwrap_err();
    assert!(matches!(err, CacheError::ReadOnly { .. }), "{err}");
    // A server that is gone is an error naming the cache, not a miss.
    let url = server.url.clone();
    drop(server);
    let gone = open(&url).unwrap();
    let err = gone.exists(&key("nix-cache-info")).unwrap_err();
    assert!(matches!(err, CacheError::Transport { .. }), "{err}");
    assert!(err.to_string().starts_with(&url), "{err}");
}

/// forge's own server (in-process, port 0) over a directory.
fn forge_server(dir: &std::path::Path, token: Option<&str>) -> Server {
    let mut config = ServeConfig::dir(dir, "127.0.0.1:0".parse().unwrap());
    config.upload_token = token.map(|t| UploadToken::new(t).unwrap());
    Server::start(config).unwrap()
}

#[test]
fn forge_s_server_over_a_pushed_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let pushed = FileBackend::new(dir.path());
    let server = forge_server(dir.path(), None);
    let b = HttpBackend::new(&server.url()).unwrap();
    reads(&b, &pushed);
    // Without a token the backend does not try to write; with one the
    // server refuses it, since it takes no uploads.
    let err = b.put(&key("x"), &mut &b"x"[..]).unwrap_err();
    assert!(matches!(err, CacheError::ReadOnly { .. }), "{err}");
    let err = b
        .with_token("t")
        .put(&key("x"), &mut &b"x"[..])
        .unwrap_err();
    assert!(
        matches!(err, CacheError::Status { status: 403, .. }),
        "{err}"
    );
}

#[test]
fn forge_s_server_written_through_with_a_token_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let server = forge_server(&dir.path().join("cache"), Some("s3cret"));
    // Writes and reads both over HTTP.
    let b = HttpBackend::new(&server.url())
        .unwrap()
        .with_token("s3cret");
    reads(&b, &b);
    // What was written is the directory's, published whole.
    let local = FileBackend::new(dir.path().join("cache"));
    assert_eq!(
        read_all(&local, &key("nix-cache-info")).unwrap(),
        b"StoreDir: /forge/store\nPriority: 30\n"
    );
    let leftovers: Vec<_> = walk(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A wrong token is an error naming the status, and writes nothing.
    let wrong = HttpBackend::new(&server.url()).unwrap().with_token("guess");
    let err = wrong.put(&key("y"), &mut &b"y"[..]).unwrap_err();
    assert!(
        matches!(err, CacheError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(!local.exists(&key("y")).unwrap());
}

#[test]
fn urls_choose_the_backend_or_say_why_not() {
    for (url, why) in [
        (
            "cache",
            "no scheme (expected file://, http://, https:// or s3://)",
        ),
        (
            "ftp://host/x",
            "unsupported scheme (expected file://, http://, https:// or s3://)",
        ),
        (
            "s3://bucket/prefix?endpont=http://127.0.0.1:1",
            "unknown query parameter `endpont` (known: endpoint, region)",
        ),
        (
            "s3://Bucket",
            "`Bucket` is not a bucket name (3 to 63 lowercase letters, digits, `.` and `-`)",
        ),
        ("http://", "no host"),
        ("http://host/x?y=1", "a cache URL has no query or fragment"),
    ] {
        match open(url) {
            Err(CacheError::BadUrl { reason, .. }) => assert_eq!(reason, why, "{url}"),
            Err(e) => panic!("{url}: {e}"),
            Ok(b) => panic!("{url}: opened {}", b.name()),
        }
    }
}

/// A server that fails the first `FAILS` requests for `/flaky` with a 500,
/// always fails `/broken`, and counts what it was asked.
const FLAKY_SERVER: &str = r#"
import http.server, sys
count = {}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        n = count.get(self.path, 0) + 1
        count[self.path] = n
        if self.path == "/count/flaky":
            body = str(count.get("/flaky", 0)).encode()
        elif self.path == "/count/broken":
            body = str(count.get("/broken", 0)).encode()
        elif self.path == "/flaky" and n <= 2 or self.path == "/broken":
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
        elif self.path == "/flaky":
            body = b"recovered"
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("Serving HTTP on 127.0.0.1 port %d (x)" % s.server_port, flush=True)
s.serve_forever()
"#;

#[test]
fn an_http_cache_retries_server_errors_and_then_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("flaky.py");
    std::fs::write(&script, FLAKY_SERVER).unwrap();
    let child = Command::new("python3")
        .arg("-u")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = StaticServer::serving(child);
    let b = open(&server.url).unwrap();
    // Two 500s, then the object.
    assert_eq!(read_all(b.as_ref(), &key("flaky")).unwrap(), b"recovered");
    assert_eq!(read_all(b.as_ref(), &key("count/flaky")).unwrap(), b"3");
    // Always 500: every attempt made, then an error naming the status.
    let err = b.get(&key("broken")).err().unwrap();
    assert!(
        matches!(err, CacheError::Status { status: 500, .. }),
        "{err}"
    );
    assert_eq!(
        read_all(b.as_ref(), &key("count/broken")).unwrap(),
        forge_cache::HTTP_ATTEMPTS.to_string().as_bytes()
    );
    // A 404 is an answer, not an error.
    assert!(b.get(&key("missing")).unwrap().is_none());
}

#[test]
fn an_s3_bucket_conforms() {
    let Some(mut weed) = weed::Weed::start() else {
        return;
    };
    eprintln!("weed answered S3 in {:?}", weed.started_in);
    weed.create_bucket("forge-cache");
    let b = S3Backend::with_env(
        &weed.url("forge-cache/team/x86_64"),
        &weed::env(weed::SECRET_KEY),
    )
    .unwrap();
    let t = std::time::Instant::now();
    reads(&b, &b);
    writes(&b);
    eprintln!("the S3 conformance checks took {:?}", t.elapsed());
    // The prefix is where the objects are: the bucket's root is another
    // cache, without them.
    let root = S3Backend::with_env(&weed.url("forge-cache"), &weed::env(weed::SECRET_KEY)).unwrap();
    assert!(!root.exists(&key("nix-cache-info")).unwrap());
    assert!(root.exists(&key("team/x86_64/nix-cache-info")).unwrap());
}

#[test]
fn an_s3_cache_with_a_wrong_secret_or_no_bucket_says_so() {
    let Some(mut weed) = weed::Weed::start() else {
        return;
    };
    weed.create_bucket("forge-cache");
    let good =
        S3Backend::with_env(&weed.url("forge-cache/p"), &weed::env(weed::SECRET_KEY)).unwrap();
    good.put(
        &key("nix-cache-info"),
        &mut &b"StoreDir: /forge/store\n"[..],
    )
    .unwrap();

    // A wrong secret: refused (not hanging in retries), naming the cache
    // and the object, for reads, existence checks and writes.
    let url = weed.url("forge-cache/p");
    let wrong = S3Backend::with_env(&url, &weed::env("not-the-secret")).unwrap();
    let k = key("nix-cache-info");
    let errors = within_or_hang("a refused S3 request", {
        let k = k.clone();
        move || {
            [
                wrong.get(&k).err().unwrap(),
                wrong.exists(&k).unwrap_err(),
                wrong.put(&k, &mut &b"x"[..]).unwrap_err(),
                wrong
                    .put(
                        &key("nar/big.nar"),
                        &mut &pattern(forge_cache::S3_PART_SIZE + 1, 3)[..],
                    )
                    .unwrap_err(),
            ]
        }
    });
    for err in &errors {
        assert!(matches!(err, CacheError::Denied { .. }), "{err}");
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("{url}: ")), "{shown}");
        assert!(shown.contains(": access denied ("), "{shown}");
    }
    assert!(
        errors[0]
            .to_string()
            .contains("nix-cache-info: access denied (SignatureDoesNotMatch)"),
        "{}",
        errors[0]
    );
    // The good object is untouched.
    assert_eq!(read_all(&good, &k).unwrap(), b"StoreDir: /forge/store\n");

    // A bucket that does not exist: an error naming it, not a miss.
    let url = weed.url("no-such-bucket/p");
    let none = S3Backend::with_env(&url, &weed::env(weed::SECRET_KEY)).unwrap();
    for err in [
        none.get(&k).err().unwrap(),
        none.exists(&k).unwrap_err(),
        none.put(&k, &mut &b"x"[..]).unwrap_err(),
    ] {
        assert_eq!(
            err.to_string(),
            format!("{url}: there is no bucket `no-such-bucket`")
        );
    }
}

/// Runs `f` on a thread and returns what it returns, or fails the test,
/// naming `what`, if it has not returned within five minutes: a guard
/// against hanging, not a speed check.
fn within_or_hang<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(300))
        .unwrap_or_else(|_| panic!("{what}: no answer after 5 minutes"))
}
