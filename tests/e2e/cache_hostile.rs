//! Hostile caches (docs/cache.md, "Substitution"): a copy of a pushed
//! cache with one thing changed (tampered NAR bytes and narinfos, bad or
//! untrusted signatures, lying realisations, truncated files, missing
//! references, oversized objects) and servers that fail or stall. Each is
//! refused with a message naming what was wrong, the second store builds
//! instead, and it verifies clean afterwards.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{
    assert_substituted_whole, assert_verified, build_on, copy_dir, digest, edit_narinfo, nar_file,
    on, pushed, Outcome, Pushed,
};
use crate::common::output_or_hang;

/// Substitution from a cache that `tamper` changed: B builds `app` (and
/// whatever else the damage reaches), the failure names what was wrong,
/// and B's store verifies.
fn refused(p: &Pushed, name: &str, tamper: impl FnOnce(&Path), expect: &str) -> Outcome {
    let copy = p.env.path(&format!("cache-{name}"));
    copy_dir(&p.cache, &copy);
    tamper(&copy);
    let b = p.env.path(&format!("b-{name}"));
    let o = build_on(p, &b, &format!("file://{}", copy.display()), &[]);
    assert!(
        o.built().contains(&"app-1".to_owned()),
        "{name}: app was not built: {}",
        o.stderr
    );
    assert!(
        o.failures().contains(expect),
        "{name}: expected {expect:?} in:\n{}",
        o.failures()
    );
    assert_verified(p, &b);
    o
}

fn realisation_file(cache: &Path) -> Vec<PathBuf> {
    fs::read_dir(cache.join("realisations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn hostile_caches_are_refused_and_the_store_stays_sound() {
    let p = pushed();
    let app = p.app.clone();
    let lib = p.lib.clone();

    // Tampered NAR bytes (the compressed file of app, one byte changed in
    // its middle, size kept).
    refused(
        &p,
        "nar-bytes",
        |c| {
            let f = nar_file(c, &app);
            let mut bytes = fs::read(&f).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55;
            fs::write(&f, bytes).unwrap();
        },
        "the NAR of /forge/store/",
    );
    // The NAR decompressed, its bytes changed, recompressed (a valid
    // file): the store's hash check is what refuses it.
    refused(
        &p,
        "nar-content",
        |c| {
            let f = nar_file(c, &app);
            let mut nar = zstd::decode_all(&fs::read(&f).unwrap()[..]).unwrap();
            let at = find(&nar, b"cat ").expect("the script is in the NAR");
            nar[at] = b'C';
            fs::write(&f, zstd::encode_all(&nar[..], 3).unwrap()).unwrap();
        },
        "hash",
    );
    // A truncated file.
    refused(
        &p,
        "truncated",
        |c| {
            let f = nar_file(c, &app);
            let bytes = fs::read(&f).unwrap();
            fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
        },
        "incomplete frame",
    );
    // Wrong NarHash, wrong NarSize: the signature no longer matches; and
    // unsigned, the store's own checks refuse them.
    let unsigned = |l: &str| l.starts_with("Sig: ").then(String::new);
    refused(
        &p,
        "nar-hash-unsigned",
        |c| {
            edit_narinfo(c, &app, |l| {
                unsigned(l).or_else(|| {
                    l.starts_with("NarHash: ").then(|| {
                        "NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
                            .to_owned()
                    })
                })
            })
        },
        "hash mismatch",
    );
    refused(
        &p,
        "nar-size-unsigned",
        |c| {
            edit_narinfo(c, &app, |l| {
                unsigned(l).or_else(|| {
                    l.strip_prefix("NarSize: ")
                        .map(|n| format!("NarSize: {}", n.parse::<u64>().unwrap() + 8))
                })
            })
        },
        "were claimed",
    );
    // Another path's contents under app's name, with that path's hashes
    // (unsigned): the content address gives it away.
    refused(
        &p,
        "content-address",
        |c| {
            let lib_text = fs::read_to_string(c.join(format!("{}.narinfo", digest(&lib)))).unwrap();
            let forged: String = lib_text
                .lines()
                .filter(|l| !l.starts_with("Sig: "))
                .map(|l| {
                    if l.starts_with("StorePath: ") {
                        format!("StorePath: {app}\n")
                    } else if l.starts_with("References: ") {
                        format!("References: {}\n", lib.trim_start_matches("/forge/store/"))
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            fs::write(c.join(format!("{}.narinfo", digest(&app))), forged).unwrap();
        },
        "is not what its content address says",
    );
    refused(
        &p,
        "nar-hash",
        |c| {
            edit_narinfo(c, &app, |l| {
                l.starts_with("NarHash: ").then(|| {
                    "NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
                        .to_owned()
                })
            })
        },
        "does not match",
    );
    refused(
        &p,
        "nar-size",
        |c| {
            edit_narinfo(c, &app, |l| {
                l.strip_prefix("NarSize: ")
                    .map(|n| format!("NarSize: {}", n.parse::<u64>().unwrap() + 8))
            })
        },
        "does not match",
    );
    // A realisation with its signature removed, changed, or by an
    // untrusted key.
    refused(
        &p,
        "realisation-unsigned",
        |c| {
            for f in realisation_file(c) {
                let mut v: serde_json::Value =
                    serde_json::from_str(&fs::read_to_string(&f).unwrap()).unwrap();
                v["signatures"] = serde_json::json!([]);
                fs::write(&f, v.to_string()).unwrap();
            }
        },
        "no signature",
    );
    refused(
        &p,
        "realisation-bad-signature",
        |c| {
            for f in realisation_file(c) {
                let mut v: serde_json::Value =
                    serde_json::from_str(&fs::read_to_string(&f).unwrap()).unwrap();
                let sig = v["signatures"][0].as_str().unwrap().to_owned();
                let (name, b64) = sig.split_once(':').unwrap();
                let flipped = if b64.starts_with('A') { "B" } else { "A" };
                v["signatures"] = serde_json::json!([format!("{name}:{flipped}{}", &b64[1..])]);
                fs::write(&f, v.to_string()).unwrap();
            }
        },
        "does not match",
    );
    let other = p.env.path("other.sk");
    p.env.ok(&[
        "key",
        "generate",
        "intruder-1",
        "-o",
        other.to_str().unwrap(),
    ]);
    refused(
        &p,
        "realisation-untrusted",
        |c| {
            // Pushed again, signed by a key nobody trusts.
            fs::remove_dir_all(c).unwrap();
            p.env.ok(&[
                "push",
                &format!("file://{}", c.display()),
                "app",
                "--secret-key",
                other.to_str().unwrap(),
            ]);
        },
        "signed by `intruder-1`, none of them a trusted key",
    );
    // The realisation of app points at lib's path, and lib's narinfo and
    // NAR are published under app's name: the content address (and the
    // store path asked for) give it away.
    refused(
        &p,
        "wrong-store-path",
        |c| {
            let app_info = c.join(format!("{}.narinfo", digest(&app)));
            let lib_info = c.join(format!("{}.narinfo", digest(&lib)));
            fs::copy(lib_info, app_info).unwrap();
        },
        "asked for",
    );
    // A narinfo naming a reference the cache lacks (unsigned, so that it
    // is its content address that vouches for it).
    refused(
        &p,
        "missing-reference",
        |c| {
            edit_narinfo(c, &app, |l| {
                if l.starts_with("Sig: ") {
                    Some(String::new())
                } else {
                    l.strip_prefix("References:")
                        .map(|r| format!("References: 00000000000000000000000000000000-ghost-1{r}"))
                }
            })
        },
        "no /forge/store/00000000000000000000000000000000-ghost-1",
    );
    // A narinfo larger than any real one.
    refused(
        &p,
        "oversized",
        |c| {
            let f = c.join(format!("{}.narinfo", digest(&app)));
            let mut text = fs::read_to_string(&f).unwrap();
            text.push_str(&format!("X-Padding: {}\n", "x".repeat(2 << 20)));
            fs::write(f, text).unwrap();
        },
        "larger than",
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_failing_server_is_retried_and_a_stalling_one_times_out() {
    let p = pushed();
    // 500s for the first requests, then the files: the client retries.
    let flaky = FaultServer::start(&p.cache, Fault::FailFirst(2));
    let b = p.env.path("b-flaky");
    let o = build_on(&p, &b, &flaky.url, &[]);
    assert_substituted_whole(&p, &b, &o);
    assert!(flaky.requests() > 2);

    // A server that accepts and never answers: each request times out,
    // the build goes on locally.
    let stall = FaultServer::start(&p.cache, Fault::Stall);
    let b = p.env.path("b-stall");
    let out = output_or_hang(
        on(&p, &b)
            .args([
                "build",
                "app",
                "--no-link",
                "--json",
                "--substituters",
                &stall.url,
            ])
            .args(["--trusted-public-keys", &p.public_key])
            .env("FORGE_CACHE_TIMEOUT", "0.5"),
        Duration::from_secs(300),
        "a build against a stalling substituter",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"event\":\"build-started\",\"recipe\":\"app-1\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("timed out") || stdout.contains("Timed out") || stdout.contains("timeout"),
        "{stdout}"
    );
    assert_verified(&p, &b);
}

#[derive(Clone, Copy)]
enum Fault {
    /// Answer 500 to the first N requests.
    FailFirst(usize),
    /// Read the request and never answer.
    Stall,
}

/// A minimal HTTP/1.0 file server on 127.0.0.1 misbehaving on purpose.
struct FaultServer {
    url: String,
    count: Arc<AtomicUsize>,
}

impl FaultServer {
    fn start(dir: &Path, fault: Fault) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let (dir, c) = (dir.to_owned(), count.clone());
        std::thread::spawn(move || {
            let mut stalled = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let n = c.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_owned();
                let target = parts.next().unwrap_or("/").to_owned();
                match fault {
                    Fault::Stall => {
                        stalled.push(conn);
                        continue;
                    }
                    Fault::FailFirst(k) if n < k => {
                        let _ = conn.write_all(
                            b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                        );
                        continue;
                    }
                    Fault::FailFirst(_) => {}
                }
                let file = dir.join(target.trim_start_matches('/'));
                match fs::File::open(&file).and_then(|mut f| {
                    let mut v = Vec::new();
                    f.read_to_end(&mut v).map(|_| v)
                }) {
                    Ok(body) if file.is_file() => {
                        let head =
                            format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = conn.write_all(head.as_bytes());
                        if method != "HEAD" {
                            let _ = conn.write_all(&body);
                        }
                    }
                    _ => {
                        let _ =
                            conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            }
        });
        FaultServer { url, count }
    }

    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
