//! `forge cache serve` (forge_cache::serve) from outside: each test starts
//! a server in-process on 127.0.0.1, port 0, over a fresh directory, and
//! speaks raw HTTP/1.1 to it (a client library would normalise the
//! hostile paths these tests send). The server stops when its handle is
//! dropped.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use forge_cache::serve::{ServeConfig, Server, UploadToken};
use forge_cache::{Backend, CacheError, HttpBackend, Key};

const DIGEST: &str = "0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s";
const MISSING: &str = "1rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s";
const SECRET: &[u8] = b"TOPSECRET outside the cache";
const TOKEN: &str = "upload-token-1";

/// A cache directory with one of each object, a secret file beside it,
/// and symlinks planted in it that point at the secret.
struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    cache: PathBuf,
    nar: Vec<u8>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_owned();
    let cache = base.join("cache");
    let outside = base.join("outside");
    std::fs::create_dir_all(cache.join("nar")).unwrap();
    std::fs::create_dir_all(cache.join("realisations")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), SECRET).unwrap();
    std::fs::write(
        cache.join("nix-cache-info"),
        "StoreDir: /forge/store\nPriority: 41\n",
    )
    .unwrap();
    std::fs::write(cache.join(format!("{DIGEST}.narinfo")), "StorePath: x\n").unwrap();
    let nar: Vec<u8> = (0..1_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(cache.join("nar/abc.nar"), &nar).unwrap();
    std::fs::write(cache.join("realisations/ab!out.doi"), "{}").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), cache.join("leak.narinfo")).unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("evil")).unwrap();
    nix_mkfifo(&cache.join("fifo.narinfo"));
    Fixture {
        _tmp: tmp,
        base,
        cache,
        nar,
    }
}

fn nix_mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn start(f: &Fixture, token: bool, tweak: impl FnOnce(&mut ServeConfig)) -> Server {
    let mut config = ServeConfig::dir(&f.cache, "127.0.0.1:0".parse().unwrap());
    if token {
        config.upload_token = Some(UploadToken::new(TOKEN).unwrap());
    }
    tweak(&mut config);
    Server::start(config).unwrap()
}

/// A response: status, headers (lowercase names), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body` on a new connection, and reads the answer to the end.
fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{head}\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    s.write_all(body).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    parse(&all)
}

fn parse(all: &[u8]) -> Reply {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(all)));
    let head = String::from_utf8(all[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: all[end + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    raw(addr, &format!("GET {path} HTTP/1.1"), b"")
}

/// A failure's body is a short fixed text: no host path, no secret, no
/// OS error.
fn assert_generic(r: &Reply, f: &Fixture) {
    let body = String::from_utf8_lossy(&r.body);
    assert!(r.body.len() < 64, "{body}");
    assert!(!body.contains(f.base.to_str().unwrap()), "{body}");
    assert!(!body.contains("TOPSECRET"), "{body}");
    assert!(!body.contains("os error"), "{body}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
}

#[test]
fn traversal_attempts_never_reach_outside_the_cache() {
    let f = fixture();
    let server = start(&f, false, |_| {});
    for path in [
        "/../outside/secret",
        "/nar/../../outside/secret",
        "/%2e%2e/outside/secret",
        "/%2E%2E%2Foutside%2Fsecret",
        "/nar%2f..%2f..%2foutside%2fsecret",
        "/.%2e/outside/secret",
        "/..%2foutside/secret",
        "//etc/passwd",
        "/nar/%2e%2e/%2e%2e/outside/secret",
        "/leak.narinfo",
        "/evil/secret",
        "/fifo.narinfo",
        "/nar",
        "/.",
        "/_forge/secret",
    ] {
        let r = get(server.addr(), path);
        assert!(matches!(r.status, 400 | 404), "{path}: {r:?}");
        assert_generic(&r, &f);
    }
    // The same holds for HEAD and for the batch query.
    let r = raw(server.addr(), "HEAD /leak.narinfo HTTP/1.1", b"");
    assert_eq!(r.status, 404);
    let r = batch(server.addr(), br#"["../leak"]"#);
    assert_eq!(r.status, 400);
}

#[test]
fn objects_have_their_content_types_and_cache_policies() {
    let f = fixture();
    let server = start(&f, false, |_| {});
    let r = get(server.addr(), "/nix-cache-info");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"StoreDir: /forge/store\nPriority: 41\n");
    assert_eq!(r.header("content-type"), Some("text/x-nix-cache-info"));
    let r = get(server.addr(), &format!("/{DIGEST}.narinfo"));
    assert_eq!(r.header("content-type"), Some("text/x-nix-narinfo"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let r = get(server.addr(), "/nar/abc.nar");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, f.nar, "streamed whole");
    assert_eq!(r.header("content-type"), Some("application/x-nix-nar"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let r = get(server.addr(), "/realisations/ab!out.doi");
    assert_eq!(r.header("content-type"), Some("application/json"));
    // HEAD: the headers of GET, no body.
    let r = raw(server.addr(), "HEAD /nar/abc.nar HTTP/1.1", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000000"));
    assert!(r.body.is_empty());
    // Misses.
    let r = get(server.addr(), &format!("/{MISSING}.narinfo"));
    assert_eq!((r.status, &r.body[..]), (404, &b"not found\n"[..]));
    assert_generic(&r, &f);
    let r = raw(server.addr(), "DELETE /nar/abc.nar HTTP/1.1", b"");
    assert_eq!(r.status, 405);
    assert_generic(&r, &f);
}

#[test]
fn the_priority_flag_answers_nix_cache_info() {
    let f = fixture();
    let server = start(&f, false, |c| c.priority = Some(7));
    let r = get(server.addr(), "/nix-cache-info");
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "StoreDir: /forge/store\nWantMassQuery: 1\nPriority: 7\n"
    );
    // A directory without the file still answers one.
    std::fs::remove_file(f.cache.join("nix-cache-info")).unwrap();
    let plain = start(&f, false, |_| {});
    let r = get(plain.addr(), "/nix-cache-info");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.body).unwrap().contains("Priority: 50"));
}

#[test]
fn range_requests_answer_one_range() {
    let f = fixture();
    let server = start(&f, false, |_| {});
    let range = |spec: &str| {
        raw(
            server.addr(),
            &format!("GET /nar/abc.nar HTTP/1.1\r\nRange: {spec}"),
            b"",
        )
    };
    let r = range("bytes=10-19");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000000"));
    assert_eq!(r.body, &f.nar[10..20]);
    let r = range("bytes=-5");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &f.nar[999_995..]);
    let r = range("bytes=999990-");
    assert_eq!(r.body, &f.nar[999_990..]);
    let r = range("bytes=1000000-");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000000"));
    assert_generic(&r, &f);
    // Several ranges: the whole object.
    let r = range("bytes=0-1,5-6");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), f.nar.len());
}

#[test]
fn small_objects_sent_from_memory_answer_as_files_do() {
    // Objects outside nar/ up to 64 KiB are read whole when opened;
    // Range, HEAD and misses must answer as for a streamed file.
    let f = fixture();
    let text = "StorePath: x\n".repeat(100);
    std::fs::write(f.cache.join(format!("{DIGEST}.narinfo")), &text).unwrap();
    let big = "y".repeat(64 * 1024 + 1);
    std::fs::write(f.cache.join(format!("{MISSING}.narinfo")), &big).unwrap();
    let server = start(&f, false, |_| {});
    let path = format!("/{DIGEST}.narinfo");
    assert_eq!(get(server.addr(), &path).body, text.as_bytes());
    assert_eq!(
        get(server.addr(), &format!("/{MISSING}.narinfo")).body,
        big.as_bytes(),
        "streamed"
    );
    let r = raw(
        server.addr(),
        &format!("GET {path} HTTP/1.1\r\nRange: bytes=3-9"),
        b"",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 3-9/1300"));
    assert_eq!(r.body, &text.as_bytes()[3..10]);
    let r = raw(
        server.addr(),
        &format!("GET {path} HTTP/1.1\r\nRange: bytes=-4"),
        b"",
    );
    assert_eq!(r.body, &text.as_bytes()[1296..]);
    let r = raw(
        server.addr(),
        &format!("GET {path} HTTP/1.1\r\nRange: bytes=1300-"),
        b"",
    );
    assert_eq!(r.status, 416);
    let r = raw(server.addr(), &format!("HEAD {path} HTTP/1.1"), b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("1300")));
    assert!(r.body.is_empty());
    let r = get(server.addr(), "/realisations/ab!out.doi");
    assert_eq!((r.status, &r.body[..]), (200, &b"{}"[..]));
    std::fs::remove_file(f.cache.join(format!("{DIGEST}.narinfo"))).unwrap();
    assert_eq!(get(server.addr(), &path).status, 404);
}

fn batch(addr: SocketAddr, body: &[u8]) -> Reply {
    raw(
        addr,
        &format!(
            "POST /_forge/narinfos HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
            body.len()
        ),
        body,
    )
}

#[test]
fn the_batch_query_answers_many_digests_at_once() {
    let f = fixture();
    let server = start(&f, false, |_| {});
    let r = batch(
        server.addr(),
        format!(r#"["{DIGEST}","{MISSING}"]"#).as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let map: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(map[DIGEST], "StorePath: x\n");
    assert!(map[MISSING].is_null());
    assert_eq!(map.as_object().unwrap().len(), 2);
    for bad in [&b"not json"[..], b"{\"a\":1}", b"[\"short\"]"] {
        let r = batch(server.addr(), bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        assert_generic(&r, &f);
    }
    let many = serde_json::to_vec(&vec![DIGEST; 1001]).unwrap();
    let r = batch(server.addr(), &many);
    assert_eq!(r.status, 413);
    assert_generic(&r, &f);
    let r = get(server.addr(), "/_forge/narinfos");
    assert_eq!(r.status, 405);
}

fn put(addr: SocketAddr, path: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    let auth = auth.map_or(String::new(), |a| format!("\r\nAuthorization: {a}"));
    raw(
        addr,
        &format!(
            "PUT {path} HTTP/1.1\r\nContent-Length: {}{auth}",
            body.len()
        ),
        body,
    )
}

#[test]
fn uploads_need_the_token() {
    let f = fixture();
    let closed = start(&f, false, |_| {});
    let r = put(
        closed.addr(),
        "/new.narinfo",
        Some(&format!("Bearer {TOKEN}")),
        b"x",
    );
    assert_eq!(r.status, 403);
    assert_generic(&r, &f);
    let open = start(&f, true, |_| {});
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dXBsb2FkLXRva2VuLTE="),
    ] {
        let r = put(open.addr(), "/new.narinfo", auth, b"x");
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_generic(&r, &f);
    }
    assert!(!f.cache.join("new.narinfo").exists());
    let r = put(
        open.addr(),
        "/new.narinfo",
        Some(&format!("Bearer {TOKEN}")),
        b"hello",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        std::fs::read(f.cache.join("new.narinfo")).unwrap(),
        b"hello"
    );
    // Traversal in an upload's name is refused like a read's.
    let r = put(
        open.addr(),
        "/../outside/x",
        Some(&format!("Bearer {TOKEN}")),
        b"x",
    );
    assert_eq!(r.status, 400);
    // Through a planted symlink: refused, and the answer says nothing of why.
    let r = put(
        open.addr(),
        "/evil/x",
        Some(&format!("Bearer {TOKEN}")),
        b"x",
    );
    assert_eq!(r.status, 500);
    assert_eq!(r.body, b"internal error\n");
    assert_generic(&r, &f);
    assert!(!f.base.join("outside/x").exists());
}

#[test]
fn uploads_over_the_limit_are_refused_and_leave_nothing() {
    let f = fixture();
    let server = start(&f, true, |c| {
        c.limits.max_small_upload = 1000;
        c.limits.max_nar_upload = 100_000;
    });
    let auth = format!("Bearer {TOKEN}");
    // Said by Content-Length.
    let r = put(server.addr(), "/big.narinfo", Some(&auth), &[b'x'; 1001]);
    assert_eq!(r.status, 413);
    assert_generic(&r, &f);
    // Found while streaming (chunked, no length): through HttpBackend.
    let b = HttpBackend::new(&server.url()).unwrap().with_token(TOKEN);
    let err = b
        .put(
            &Key::new("nar/big.nar").unwrap(),
            &mut &vec![7u8; 300_000][..],
        )
        .unwrap_err();
    assert!(
        matches!(err, CacheError::Status { status: 413, .. })
            || matches!(err, CacheError::Transport { .. }),
        "{err}"
    );
    assert!(!f.cache.join("nar/big.nar").exists());
    assert!(!f.cache.join("big.narinfo").exists());
    let tmp: Vec<_> = std::fs::read_dir(f.cache.join("nar"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    // Within the limit, it is stored.
    let n = b
        .put(
            &Key::new("nar/ok.nar").unwrap(),
            &mut &vec![7u8; 99_000][..],
        )
        .unwrap();
    assert_eq!(n, 99_000);
    assert_eq!(
        std::fs::read(f.cache.join("nar/ok.nar")).unwrap().len(),
        99_000
    );
}

#[test]
fn a_shutdown_lets_an_in_flight_download_finish_and_stops_accepting() {
    let f = fixture();
    let server = start(&f, false, |_| {});
    let addr = server.addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /nar/abc.nar HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 1024];
    let n = s.read(&mut first).unwrap();
    assert!(n > 0);
    let stopper = std::thread::spawn(move || server.stop());
    let mut rest = first[..n].to_vec();
    s.read_to_end(&mut rest).unwrap();
    let r = parse(&rest);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, f.nar, "the download finished whole");
    stopper.join().unwrap().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_one() {
    let f = fixture();
    let server = start(&f, false, |c| c.limits.max_connections = 2);
    let idle: Vec<_> = (0..2)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut third = TcpStream::connect(server.addr()).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    write!(
        third,
        "GET /nix-cache-info HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(third.read(&mut buf).is_err(), "answered beyond the cap");
    drop(idle);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut all = Vec::new();
    third.read_to_end(&mut all).unwrap();
    assert_eq!(parse(&all).status, 200);
}
