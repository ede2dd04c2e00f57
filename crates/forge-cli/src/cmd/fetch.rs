//! `forge __fetch`: one fetch input, as the build engine runs it inside the
//! fixed-output sandbox. Hidden from help: people use recipes.
//!
//! stdout: one JSON object with what was fetched. stderr: progress lines
//! for the engine to parse, each `forge-fetch <event> <fields…>`:
//!
//! ```text
//! forge-fetch start <total bytes or ->
//! forge-fetch progress <bytes done> <total bytes or ->
//! forge-fetch retry <attempt> <delay in ms> <reason>
//! forge-fetch unpack <kind>
//! ```
//!
//! On failure the exit code is 1 and the error (with its hint) is on stderr.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use forge_build::fetch::{FetchOptions, FetchProgress, FetchSpec, Unpack};
use forge_core::hash::Hash;

use crate::output::{print_json, CmdResult, Outcome};

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The URL (https, http or file).
    #[arg(long)]
    url: String,
    /// The expected hash of the file, with its algorithm (`sha256:…`,
    /// `blake3:…` or SRI).
    #[arg(long, value_parser = parse_hash)]
    hash: Hash,
    /// Unpack the file into a directory at --out.
    #[arg(long, value_parser = parse_unpack)]
    unpack: Option<Unpack>,
    /// Where the result goes; must not exist.
    #[arg(long)]
    out: PathBuf,
    /// Where the download is kept meanwhile (default: a fresh directory
    /// next to --out, removed afterwards).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// With --unpack, keep the download at `<work-dir>/download`.
    #[arg(long, requires = "work_dir")]
    keep_download: bool,
    /// Retries for transient failures.
    #[arg(long, default_value_t = FetchOptions::default().retries)]
    retries: u32,
    /// Connect timeout in seconds.
    #[arg(long, value_name = "SECONDS")]
    connect_timeout: Option<u64>,
    /// Read timeout in seconds.
    #[arg(long, value_name = "SECONDS")]
    read_timeout: Option<u64>,
}

fn parse_hash(s: &str) -> Result<Hash, String> {
    Hash::parse(s).map_err(|e| e.to_string())
}

fn parse_unpack(s: &str) -> Result<Unpack, String> {
    s.parse::<Unpack>().map_err(|e| e.to_string())
}

/// Progress as lines on stderr, at most a few per second.
struct Lines {
    last: Mutex<Option<Instant>>,
}

fn total(t: Option<u64>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

impl FetchProgress for Lines {
    fn started(&self, _url: &str, t: Option<u64>) {
        eprintln!("forge-fetch start {}", total(t));
    }
    fn bytes(&self, done: u64, t: Option<u64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let finished = t == Some(done);
        if finished || last.is_none_or(|l| now - l >= Duration::from_millis(250)) {
            *last = Some(now);
            eprintln!("forge-fetch progress {done} {}", total(t));
        }
    }
    fn retrying(&self, _url: &str, attempt: u32, delay: Duration, reason: &str) {
        eprintln!(
            "forge-fetch retry {attempt} {} {}",
            delay.as_millis(),
            reason.replace('\n', " ")
        );
    }
    fn unpacking(&self, kind: Unpack) {
        eprintln!("forge-fetch unpack {kind}");
    }
}

#[derive(serde::Serialize)]
struct Report {
    url: String,
    hash: String,
    size: u64,
    attempts: u32,
    resumed: bool,
    unpacked: Option<String>,
    stripped: Option<String>,
}

pub fn run(args: FetchArgs) -> CmdResult {
    let mut opts = FetchOptions {
        retries: args.retries,
        keep_download: args.keep_download,
        ..FetchOptions::default()
    };
    if let Some(s) = args.connect_timeout {
        opts.connect_timeout = Duration::from_secs(s);
    }
    if let Some(s) = args.read_timeout {
        opts.read_timeout = Duration::from_secs(s);
    }
    let spec = FetchSpec {
        url: args.url.clone(),
        hash: args.hash,
        unpack: args.unpack,
    };
    let (work_dir, owned) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => {
            let parent = match args.out.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let d = parent.join(format!(".forge-fetch-{}", std::process::id()));
            std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
            (d, true)
        }
    };
    let progress = Lines {
        last: Mutex::new(None),
    };
    let result = forge_build::fetch::fetch(&spec, &work_dir, &args.out, &progress, &opts);
    if owned {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let outcome = result?;
    print_json(&Report {
        url: args.url,
        hash: outcome.download.hash.to_string(),
        size: outcome.download.size,
        attempts: outcome.download.attempts,
        resumed: outcome.download.resumed,
        unpacked: args.unpack.map(|k| k.to_string()),
        stripped: outcome.unpacked.and_then(|u| u.stripped),
    })?;
    Ok(Outcome::Success)
}
