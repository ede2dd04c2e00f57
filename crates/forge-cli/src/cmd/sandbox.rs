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
        /// A host directory (in practice a store path) that forms part of a
        /// read-only root filesystem: its bin, usr, lib… appear at /bin,
        /// /usr, /lib… (repeatable; earlier layers win where they overlap).
        #[arg(long = "root-layer", value_name = "DIR")]
        root_layer: Vec<PathBuf>,
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
    /// Run a real sandbox on this kernel and print which layers it enforced.
    /// Exits 3 if any layer is missing (builds would refuse to run).
    Check {
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Internal: does nothing, successfully (what `check` runs inside).
    #[command(name = "__noop", hide = true)]
    Noop,
    /// Internal: the sandbox monitor process (started by forge itself).
    #[command(name = "__exec", hide = true)]
    Exec { spec: PathBuf, outcome: PathBuf },
}

pub fn run(cmd: SandboxCommand) -> CmdResult {
    match cmd {
        SandboxCommand::Run {
            ro,
            rw,
            root_layer,
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
            for dir in root_layer {
                spec.root_layers.push(
                    std::path::absolute(&dir)
                        .with_context(|| format!("resolving {}", dir.display()))?,
                );
            }
            for kv in env {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--env takes NAME=VALUE, got {kv:?}");
                };
                spec.env.insert(k.to_owned(), v.to_owned());
            }
            spec.network = net;
            if net {
                // As the fixed-output profile: the host's resolver
                // configuration and CA bundle, nothing else.
                spec.binds.extend(forge_sandbox::spec::network_binds());
            }
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
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
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
        SandboxCommand::Check { json } => check(json),
        SandboxCommand::Noop => Ok(Outcome::Success),
        SandboxCommand::Exec { spec, outcome } => {
            std::process::exit(forge_sandbox::monitor_main(&spec, &outcome));
        }
    }
}

#[derive(serde::Serialize)]
struct CheckReport {
    /// Whether a full sandbox (every namespace, pivot_root, exec) ran.
    sandbox_ran: bool,
    /// Why not, if it did not.
    error: Option<String>,
    /// Namespaces the sandbox creates.
    namespaces: Vec<&'static str>,
    /// What the in-process layers enforced in that run.
    enforced: Option<forge_sandbox::harden::HardenReport>,
    /// Whether builds run in hard mode (the default) on this kernel.
    hard_mode_ok: bool,
}

fn check(json: bool) -> CmdResult {
    let exe = std::env::current_exe().context("finding the forge binary")?;
    let mut spec = SandboxSpec::new(vec![
        exe.display().to_string(),
        "sandbox".into(),
        "__noop".into(),
    ]);
    spec.enforcement = forge_sandbox::Enforcement::BestEffort;
    // forge itself and the libraries it links against, read-only.
    for p in [
        exe.as_path(),
        "/lib".as_ref(),
        "/lib64".as_ref(),
        "/usr/lib".as_ref(),
    ] {
        if let Ok(real) = std::fs::canonicalize(p) {
            if !spec.binds.iter().any(|b| b.host == real) {
                spec.binds.push(Bind {
                    host: real.clone(),
                    inside: p.to_path_buf(),
                    writable: false,
                });
            }
        }
    }
    let result = forge_sandbox::run_via(&exe, &["sandbox", "__exec"], &spec);
    let (ran, error, enforced) = match result {
        Ok(o) if o.code == Some(0) => (true, None, o.enforced),
        Ok(o) => (
            false,
            Some(format!("the probe exited with {}", o.exit_code())),
            o.enforced,
        ),
        Err(e) => (false, Some(e.to_string()), None),
    };
    let hard_mode_ok = ran
        && enforced.as_ref().is_some_and(|r| {
            matches!(
                r.landlock,
                forge_sandbox::harden::LandlockStatus::FullyEnforced { .. }
            ) && r.seccomp
                && r.capabilities_dropped
                && r.no_new_privs
        });
    let report = CheckReport {
        sandbox_ran: ran,
        error,
        namespaces: vec!["user", "mount", "pid", "net", "uts", "ipc", "cgroup"],
        enforced,
        hard_mode_ok,
    };
    if json {
        crate::output::print_json(&report)?;
    } else {
        let yes = |b: bool| if b { "yes" } else { "NO" };
        println!(
            "namespaces     {} ({})",
            yes(report.sandbox_ran),
            report.namespaces.join(", ")
        );
        println!("pivot_root     {}", yes(report.sandbox_ran));
        if let Some(e) = &report.error {
            println!("error          {e}");
        }
        if let Some(r) = &report.enforced {
            let landlock = match &r.landlock {
                forge_sandbox::harden::LandlockStatus::FullyEnforced { abi } => {
                    format!("fully enforced (ABI {abi})")
                }
                forge_sandbox::harden::LandlockStatus::PartiallyEnforced { abi, missing } => {
                    format!("PARTIAL (ABI {abi}; missing: {})", missing.join(", "))
                }
                forge_sandbox::harden::LandlockStatus::NotEnforced { reason } => {
                    format!("NOT ENFORCED ({reason})")
                }
            };
            println!("landlock       {landlock}");
            println!("seccomp        {}", yes(r.seccomp));
            println!(
                "capabilities   {}",
                if r.capabilities_dropped {
                    "all dropped"
                } else {
                    "NOT all dropped"
                }
            );
            println!("no_new_privs   {}", yes(r.no_new_privs));
        }
        println!(
            "hard mode      {}",
            if report.hard_mode_ok {
                "builds run (every layer enforced)"
            } else {
                "builds REFUSE to run here (use best-effort mode)"
            }
        );
    }
    Ok(if report.hard_mode_ok {
        Outcome::Success
    } else {
        Outcome::ProblemsFound
    })
}
