//! `forge __fetch`: one fetch input, as the build engine runs it inside the
//! fixed-output sandbox. Hidden from help: people use recipes.
//!
//! Its arguments and what it reports on stderr are defined once, in
//! [`forge_build::fetch::protocol`]. stdout: one JSON object with what was
//! fetched. On failure the exit code is 1, after a `forge-fetch failed`
//! report, and the error is also printed as any other.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use forge_build::fetch::protocol::{Failure, FetcherArgs, Report};
use forge_build::fetch::{FetchOptions, FetchProgress, FetchSpec, Unpack};

use crate::output::{print_json, CmdResult, Outcome};

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// See forge_build::fetch::protocol::FetcherArgs.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Progress as lines on stderr, at most a few per second.
struct Lines {
    last: Mutex<Option<Instant>>,
}

impl FetchProgress for Lines {
    fn started(&self, _url: &str, t: Option<u64>) {
        eprintln!("{}", Report::Start { total: t }.to_line());
    }
    fn bytes(&self, done: u64, t: Option<u64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let finished = t == Some(done);
        if finished || last.is_none_or(|l| now - l >= Duration::from_millis(250)) {
            *last = Some(now);
            eprintln!("{}", Report::Progress { done, total: t }.to_line());
        }
    }
    fn retrying(&self, _url: &str, attempt: u32, delay: Duration, reason: &str) {
        let report = Report::Retry {
            attempt,
            delay,
            reason: reason.to_owned(),
        };
        eprintln!("{}", report.to_line());
    }
    fn unpacking(&self, kind: Unpack) {
        eprintln!("{}", Report::Unpack { kind }.to_line());
    }
}

#[derive(serde::Serialize)]
struct Fetched {
    url: String,
    hash: String,
    size: u64,
    attempts: u32,
    resumed: bool,
    unpacked: Option<String>,
    stripped: Option<String>,
}

pub fn run(args: FetchArgs) -> CmdResult {
    let result = FetcherArgs::parse(&args.args)
        .map_err(anyhow::Error::from)
        .and_then(|args| fetch(&args));
    if let Err(e) = &result {
        let failure = Failure {
            message: crate::output::describe(e),
            hint: crate::output::hint(e),
        };
        eprintln!("{}", Report::Failed(failure).to_line());
    }
    result
}

fn fetch(args: &FetcherArgs) -> CmdResult {
    let defaults = FetchOptions::default();
    let mut opts = FetchOptions {
        retries: args.retries.unwrap_or(defaults.retries),
        keep_download: args.keep_download,
        ..defaults
    };
    if let Some(t) = args.connect_timeout {
        opts.connect_timeout = t;
    }
    if let Some(t) = args.read_timeout {
        opts.read_timeout = t;
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
    print_json(&Fetched {
        url: args.url.clone(),
        hash: outcome.download.hash.to_string(),
        size: outcome.download.size,
        attempts: outcome.download.attempts,
        resumed: outcome.download.resumed,
        unpacked: args.unpack.map(|k: Unpack| k.to_string()),
        stripped: outcome.unpacked.and_then(|u| u.stripped),
    })?;
    Ok(Outcome::Success)
}
