//! `forge sandbox …`: trying the build sandbox by hand.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use forge_sandbox::{Bind, SandboxSpec};

use crate::output::{CmdResult, Outcome};

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run a command in the build sandbox. Each --ro/--rw host path appears
    /// at the same path inside, read-only or writable; nothing else of the
    /// host does. The command's exit status passes through.
    Run {
        /// Expose a host path read-only (repeatable).
        #[arg(long = "ro", value_name = "PATH")]
        ro: Vec<PathBuf>,
        /// Expose a host path writable (repeatable).
        #[arg(long = "rw", value_name = "PATH")]
        rw: Vec<PathBuf>,
        /// Share the host's network (as fixed-output fetches do).
        #[arg(long)]
        net: bool,
        /// Kill everything after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Kill everything after this many seconds without output.
        #[arg(long, value_name = "SECONDS")]
        silence_timeout: Option<u64>,
        /// Most processes the build may have at once.
        #[arg(long, value_name = "N")]
        max_processes: Option<u64>,
        /// Size of the sandbox's /tmp and /build tmpfs (e.g. 64M, 1G).
        #[arg(long, value_parser = crate::output::parse_size, value_name = "SIZE")]
        tmp_size: Option<u64>,
        /// Run even if this kernel cannot enforce every layer (reports what
        /// was missing) instead of refusing.
        #[arg(long)]
        best_effort: bool,
        /// Set an environment variable inside (repeatable, NAME=VALUE).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// The program (an absolute path inside) and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Internal: the sandbox monitor process (started by forge itself).
    #[command(name = "__exec", hide = true)]
    Exec { spec: PathBuf, outcome: PathBuf },
}

pub fn run(cmd: SandboxCommand) -> CmdResult {
    match cmd {
        SandboxCommand::Run {
            ro,
            rw,
            net,
            timeout,
            silence_timeout,
            max_processes,
            tmp_size,
            best_effort,
            env,
            command,
        } => {
            let mut spec = SandboxSpec::new(command);
            for (paths, writable) in [(ro, false), (rw, true)] {
                for p in paths {
                    let abs = std::path::absolute(&p)
                        .with_context(|| format!("resolving {}", p.display()))?;
                    spec.binds.push(Bind {
                        host: abs.clone(),
                        inside: abs,
                        writable,
                    });
                }
            }
            for kv in env {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--env takes NAME=VALUE, got {kv:?}");
                };
                spec.env.insert(k.to_owned(), v.to_owned());
            }
            spec.network = net;
            spec.limits.wall_timeout = timeout.map(Duration::from_secs);
            spec.limits.silence_timeout = silence_timeout.map(Duration::from_secs);
            if let Some(n) = max_processes {
                spec.limits.max_processes = n;
            }
            if let Some(n) = tmp_size {
                spec.limits.tmp_size = n;
            }
            if best_effort {
                spec.enforcement = forge_sandbox::Enforcement::BestEffort;
            }
            let exe = std::env::current_exe().context("finding the forge binary")?;
            let outcome = forge_sandbox::run_via(&exe, &["sandbox", "__exec"], &spec)?;
            if outcome.timed_out {
                eprintln!(
                    "error: killed after the {}s timeout (every process in the sandbox is gone)",
                    timeout.unwrap_or_default()
                );
            }
            if outcome.silent_too_long {
                eprintln!(
                    "error: killed after {}s without output (every process in the sandbox is gone)",
                    silence_timeout.unwrap_or_default()
                );
            }
            let code = outcome.exit_code();
            if code == 0 {
                Ok(Outcome::Success)
            } else {
                std::process::exit(code.clamp(0, 255));
            }
        }
        SandboxCommand::Exec { spec, outcome } => {
            std::process::exit(forge_sandbox::monitor_main(&spec, &outcome));
        }
    }
}
