//! A small HTTP load client for bench/cache.sh: narinfo latency and NAR
//! throughput against any cache server (forge's, nginx), the same client
//! for both so the comparison is of the servers. Blocking ureq agents
//! (keep-alive, one connection per client thread), as forge's own
//! `HttpBackend` uses.
//!
//! ```text
//! http_load get   BASE_URL LIST_FILE REQUESTS CLIENTS
//!     REQUESTS GETs of the keys in LIST_FILE (one a line, taken in turn),
//!     spread over CLIENTS threads; prints one line:
//!     requests=N clients=C errors=0 median_us=… p99_us=… wall_ms=…
//! http_load nar   URL CLIENTS
//!     CLIENTS concurrent full downloads of URL; prints
//!     clients=C bytes=… errors=0 wall_ms=… mib_s=…
//! http_load batch BASE_URL LIST_FILE
//!     forge's batch query: the narinfo keys' digests POSTed to
//!     /_forge/narinfos, 1,000 per request; prints
//!     digests=N found=N errors=0 wall_ms=…
//! ```
//!
//! Any answer but 200 (or a transport error) is counted in `errors`, and
//! the exit code is then 1. Not part of forge: a bench tool.

#![allow(clippy::unwrap_used)] // a bench tool: failing loudly is the point

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(60))
        .max_idle_connections_per_host(4)
        .build()
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: http_load get BASE_URL LIST_FILE REQUESTS CLIENTS\n\
         \x20      http_load nar URL CLIENTS\n\
         \x20      http_load batch BASE_URL LIST_FILE"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let errors = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["get", base, list, requests, clients] => {
            let (Ok(requests), Ok(clients)) = (requests.parse(), clients.parse()) else {
                return usage();
            };
            get(base, &keys(list), requests, clients)
        }
        ["nar", url, clients] => {
            let Ok(clients) = clients.parse() else {
                return usage();
            };
            nar(url, clients)
        }
        ["batch", base, list] => batch(base, &keys(list)),
        _ => return usage(),
    };
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn keys(list: &str) -> Vec<String> {
    let text = std::fs::read_to_string(list).unwrap();
    let keys: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "{list}: no keys");
    keys
}

/// GETs `url` and reads the body to its end (so the connection is kept);
/// the number of bytes, or `None` for a failure.
fn fetch(agent: &ureq::Agent, url: &str, buf: &mut [u8]) -> Option<u64> {
    match agent.get(url).call() {
        Ok(r) if r.status() == 200 => {
            let mut body = r.into_reader();
            let mut n = 0u64;
            loop {
                match body.read(buf) {
                    Ok(0) => return Some(n),
                    Ok(k) => n += k as u64,
                    Err(e) => {
                        eprintln!("GET {url}: {e}");
                        return None;
                    }
                }
            }
        }
        Ok(r) => {
            eprintln!("GET {url}: {}", r.status());
            None
        }
        Err(e) => {
            eprintln!("GET {url}: {e}");
            None
        }
    }
}

fn get(base: &str, keys: &[String], requests: usize, clients: usize) -> usize {
    let keys = Arc::new(keys.to_vec());
    let base = Arc::new(base.trim_end_matches('/').to_owned());
    let clients = clients.max(1);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (keys, base) = (keys.clone(), base.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut buf = vec![0u8; 64 * 1024];
                let mut lat = Vec::with_capacity(requests / clients + 1);
                let mut errors = 0;
                for i in (c..requests).step_by(clients) {
                    let url = format!("{base}/{}", keys[i % keys.len()]);
                    let t = Instant::now();
                    if fetch(&agent, &url, &mut buf).is_none() {
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(requests);
    let mut errors = 0;
    for t in threads {
        let (l, e) = t.join().unwrap();
        lat.extend(l);
        errors += e;
    }
    let wall = start.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    println!(
        "requests={} clients={clients} errors={errors} median_us={} p99_us={} wall_ms={}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        wall.as_millis()
    );
    errors
}

fn nar(url: &str, clients: usize) -> usize {
    let url = Arc::new(url.to_owned());
    let start = Instant::now();
    let threads: Vec<_> = (0..clients.max(1))
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || fetch(&agent(), &url, &mut vec![0u8; 256 * 1024]))
        })
        .collect();
    let (mut bytes, mut errors) = (0u64, 0);
    for t in threads {
        match t.join().unwrap() {
            Some(n) => bytes += n,
            None => errors += 1,
        }
    }
    let wall = start.elapsed();
    println!(
        "clients={clients} bytes={bytes} errors={errors} wall_ms={} mib_s={:.0}",
        wall.as_millis(),
        bytes as f64 / 1_048_576.0 / wall.as_secs_f64()
    );
    errors
}

fn batch(base: &str, keys: &[String]) -> usize {
    let digests: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_suffix(".narinfo"))
        .collect();
    let url = format!("{}/_forge/narinfos", base.trim_end_matches('/'));
    let agent = agent();
    let start = Instant::now();
    let (mut found, mut errors) = (0, 0);
    for chunk in digests.chunks(1000) {
        let body = serde_json::to_string(chunk).unwrap();
        match agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body)
        {
            Ok(r) if r.status() == 200 => {
                let answer: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_reader(r.into_reader()).unwrap();
                found += answer.values().filter(|v| v.is_string()).count();
            }
            Ok(r) => {
                eprintln!("POST {url}: {}", r.status());
                errors += 1;
            }
            Err(e) => {
                eprintln!("POST {url}: {e}");
                errors += 1;
            }
        }
    }
    println!(
        "digests={} found={found} errors={errors} wall_ms={}",
        digests.len(),
        start.elapsed().as_millis()
    );
    errors
}
