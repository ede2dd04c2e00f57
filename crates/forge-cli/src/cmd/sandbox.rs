//! `forge sandbox …`: trying the build sandbox by hand.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use forge_sandbox::{Bind, Profile, RunOptions, Sandbox, SandboxSpec};

use crate::output::{CmdResult, Outcome};

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run a command in the build sandbox. Each --ro/--rw host path appears
    /// at the same path inside, read-only or writable; nothing else of the
    /// host does. The command's exit status passes through. Its output is
    /// relayed to forge's, and forge's stdin to it unless that is a
    /// terminal (then its stdin is empty): it never gets forge's terminal
    /// or any other descriptor of the caller.
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
        /// The sandbox profile: hermetic (the default), fixed-output, or
        /// the path of a profile file (see `forge sandbox profiles`).
        #[arg(long, value_name = "NAME|PATH.toml", conflicts_with = "net")]
        profile: Option<String>,
        /// Shorthand for --profile fixed-output: the host's network, its
        /// resolver configuration and CA bundle.
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
    /// Print the built-in sandbox profiles (sandbox/profiles/*.toml).
    Profiles {
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Print one profile's TOML instead of the summary.
        #[arg(long, value_name = "NAME")]
        show: Option<String>,
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
            profile,
            net,
            timeout,
            silence_timeout,
            max_processes,
            tmp_size,
            best_effort,
            env,
            command,
        } => {
            let profile = match (&profile, net) {
                (Some(p), _) => Profile::resolve(p)?,
                (None, true) => Profile::fixed_output().clone(),
                (None, false) => Profile::hermetic().clone(),
            };
            let mut spec = profile.spec(command);
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
            if let Some(t) = timeout {
                spec.limits.wall_timeout = Some(Duration::from_secs(t));
            }
            if let Some(t) = silence_timeout {
                spec.limits.silence_timeout = Some(Duration::from_secs(t));
            }
            let (wall, silence) = (spec.limits.wall_timeout, spec.limits.silence_timeout);
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
            let outcome = Sandbox::new(&exe).run(&spec, RunOptions::default())?;
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            if outcome.timed_out {
                eprintln!(
                    "error: killed after the {}s timeout (every process in the sandbox is gone)",
                    wall.unwrap_or_default().as_secs()
                );
            }
            if outcome.silent_too_long {
                eprintln!(
                    "error: killed after {}s without output (every process in the sandbox is gone)",
                    silence.unwrap_or_default().as_secs()
                );
            }
            Ok(Outcome::Exited(outcome.exit_code()))
        }
        SandboxCommand::Check { json } => check(json),
        SandboxCommand::Profiles { json, show } => profiles(json, show),
        SandboxCommand::Noop => Ok(Outcome::Success),
        SandboxCommand::Exec { spec, outcome } => {
            std::process::exit(forge_sandbox::monitor::main(&spec, &outcome));
        }
    }
}

fn profiles(json: bool, show: Option<String>) -> CmdResult {
    if let Some(name) = show {
        // A built-in profile's file as written, comments included.
        match name.as_str() {
            "hermetic" => print!("{}", forge_sandbox::profile::HERMETIC_TOML),
            "fixed-output" => print!("{}", forge_sandbox::profile::FIXED_OUTPUT_TOML),
            other => print!("{}", Profile::resolve(other)?.to_toml()),
        }
        return Ok(Outcome::Success);
    }
    if json {
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            file: &'a str,
            #[serde(flatten)]
            profile: &'a Profile,
        }
        let all: Vec<Entry> = Profile::builtins()
            .into_iter()
            .map(|(profile, file)| Entry { file, profile })
            .collect();
        crate::output::print_json(&all)?;
        return Ok(Outcome::Success);
    }
    for (p, file) in Profile::builtins() {
        let l = &p.limits;
        println!("{}  ({file})", p.name);
        println!("  {}", p.description);
        println!(
            "  network {}, host files {}, hostname {}, uid/gid {}/{}, {} enforcement",
            if p.network { "yes" } else { "no" },
            if p.host_files.is_empty() {
                "none".to_owned()
            } else {
                p.host_files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            p.hostname,
            p.uid,
            p.gid,
            match p.enforcement {
                forge_sandbox::Enforcement::Hard => "hard",
                forge_sandbox::Enforcement::BestEffort => "best-effort",
            }
        );
        println!(
            "  limits: {} processes, {} open files, /tmp {}, timeout {}, silence timeout {}",
            l.max_processes,
            l.max_open_files,
            crate::output::human_bytes(l.tmp_size),
            l.wall_timeout
                .map_or("none".into(), |d| format!("{}s", d.as_secs())),
            l.silence_timeout
                .map_or("none".into(), |d| format!("{}s", d.as_secs())),
        );
        let env: Vec<String> = p.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  env: {}", env.join(" "));
    }
    Ok(Outcome::Success)
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
    let result = Sandbox::new(&exe).run(&spec, RunOptions::default());
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
