//! Crash safety: a `forge store add` killed at any moment never leaves the
//! database claiming a path whose contents are wrong, and never leaves
//! anything that stops the next attempt.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{write, Env};

fn verify_clean(env: &Env) {
    let out = env.run(&["store", "verify", "--check-contents", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && report["problems"].as_array().unwrap().is_empty(),
        "store not clean after crash: {report:#}"
    );
}

fn make_tree(env: &Env, name: &str, salt: u64) -> std::path::PathBuf {
    let root = env.path(name);
    for i in 0..150 {
        write(
            &root.join(format!("d{}/f{i}", i % 10)),
            format!("{salt}-{i}\n").repeat(20),
        );
    }
    write(&root.join("large"), vec![(salt % 251) as u8; 6 << 20]);
    root
}

#[test]
fn killed_at_each_failpoint_the_store_stays_consistent() {
    for point in ["add-after-copy", "add-after-rename", "add-after-commit"] {
        let env = Env::new();
        let tree = make_tree(&env, "t", 1);
        let out = env
            .forge()
            .args(["store", "add"])
            .arg(&tree)
            .env("FORGE_FAILPOINTS", point)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: forge was not killed"
        );
        verify_clean(&env);
        let path = env.ok(&["store", "add", tree.to_str().unwrap()]);
        let info: serde_json::Value =
            serde_json::from_str(&env.ok(&["store", "info", "--json", path.trim()])).unwrap();
        assert_eq!(info[0]["path"], path.trim());
        verify_clean(&env);
        // Whatever the crash left is garbage the collector can remove.
        env.ok(&["store", "gc"]);
        let entries: Vec<_> = std::fs::read_dir(env.root().join("store"))
            .unwrap()
            .collect();
        assert!(entries.is_empty(), "{point}: gc left {entries:?}");
        assert_eq!(
            std::fs::read_dir(env.root().join("tmp")).unwrap().count(),
            0
        );
    }
}

/// xorshift64*: a fixed-seed generator so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn sigkill_at_random_moments_never_corrupts_the_store() {
    let env = Env::new();
    // How long an uninterrupted add takes here, to spread the kills over it.
    let probe = make_tree(&env, "probe", 0);
    let start = Instant::now();
    env.ok(&["store", "add", probe.to_str().unwrap()]);
    let mut span = start.elapsed().as_micros().max(2_000) as u64;

    let seed = std::env::var("FORGE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f04e);
    let mut rng = Rng(seed);
    let iterations = 30;
    let mut killed = 0;
    for i in 0..iterations {
        let tree = make_tree(&env, &format!("t{i}"), i + 1);
        let mut child = env
            .forge()
            .args(["store", "add"])
            .arg(&tree)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.next() % (span * 12 / 10);
        std::thread::sleep(Duration::from_micros(delay));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        verify_clean(&env);
        // The next attempt is never blocked by what the crash left. Its
        // duration (a full copy either way) keeps `span` in step with the
        // machine's load, so the kills keep landing mid-operation.
        let start = Instant::now();
        env.ok(&["store", "add", tree.to_str().unwrap()]);
        span = (span * 3 + start.elapsed().as_micros() as u64) / 4;
    }
    eprintln!("seed {seed:#x}: {killed}/{iterations} adds killed mid-flight");
    assert!(
        killed > iterations / 4,
        "too few kills landed mid-operation ({killed})"
    );
    verify_clean(&env);
    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "verify", "--json"])).unwrap();
    assert_eq!(report["checked"], iterations + 1);
}
