//! `forge`: the command-line front end.
//!
//! This crate owns everything a person sees: argument parsing (clap derive),
//! output formats (human text on stdout, `--json` for tools), logging on
//! stderr (tracing, `-v`/`-q`), and the mapping of errors to messages with
//! `hint:` lines and to exit codes. It composes the library crates and does
//! not reimplement their logic.
//!
//! Exit codes are decided here only, by [`exit_code`], from what a command
//! returned (the same table is in docs/cli.md):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success; also when stdout is closed early (`forge store cat P \| head`), and `--help`, `--version` |
//! | 1 | the operation failed; the message says why |
//! | 2 | the command line is wrong (unknown command or flag, missing argument) |
//! | 3 | a check ran and found problems (`forge store verify`, `forge recipe check`, `forge sandbox check`, `forge build --check` finding a non-reproducible output) |
//! | 130, 143 | `forge build` interrupted by SIGINT (Ctrl-C) or SIGTERM: 128 + the signal, after `error: interrupted` |
//! | any | `forge sandbox run`, `forge shell`, `forge run`: the command's own exit code, or 128 + the signal that ended it (137 at a timeout); 1 (with the reason) if the sandbox (or `forge run`'s view) could not be set up or the command not started |
//!
//! The table is not for `forge sandbox __exec` (internal: forge re-executed
//! as a sandbox monitor, like `forge-sandbox-exec`): it exits with the
//! monitor's own status, which only the forge that started it reads.

mod cmd;
mod config;
mod output;
mod progress;
mod signals;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use forge_core::config::{Setting, Settings};
use output::{CmdResult, Outcome};

/// forge: hermetic builds into an immutable, content-addressed store.
#[derive(Debug, Parser)]
#[command(name = "forge", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Physical root of the store (also FORGE_ROOT, or `root` in the config
    /// file; default: /var/lib/forge as root, $XDG_DATA_HOME/forge otherwise).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr (no progress display either).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// The configuration files and environment, read in `main`.
    #[arg(skip)]
    loaded: Option<config::Loaded>,
}

impl GlobalArgs {
    /// Whether `-q` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// The store root to use.
    pub fn root(&self) -> PathBuf {
        self.root_setting().value
    }

    /// The store root and where it came from (`--root` over the settings).
    pub fn root_setting(&self) -> Setting<PathBuf> {
        let flag = self.root.clone().filter(|r| !r.as_os_str().is_empty());
        self.settings().root.clone().flag(flag, "--root")
    }

    /// The settings of the config files and the environment (each command
    /// applies its own flags over them).
    pub fn settings(&self) -> &Settings {
        static DEFAULTS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
        match &self.loaded {
            Some(l) => &l.settings,
            None => DEFAULTS.get_or_init(|| {
                Settings::defaults(&forge_core::config::Defaults {
                    cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                    root: forge_store::layout::default_root(),
                })
            }),
        }
    }

    /// The config files read, in the order applied.
    pub fn config_files(&self) -> &[PathBuf] {
        self.loaded.as_ref().map_or(&[], |l| &l.files)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a recipe and everything it depends on; print the output paths.
    Build(cmd::build::BuildArgs),
    /// Enter the sandbox of a recipe (its inputs built and present) with a
    /// shell, or run `-- COMMAND` there; nothing is registered.
    Shell(cmd::build::ShellArgs),
    /// Pin the `path` inputs and seeds of a recipe graph in its lock files.
    Lock(cmd::build::LockArgs),
    /// Print the build log of a store path or of a recipe's last build.
    Log(cmd::log::LogArgs),
    /// Run a built output on this host, with the store mounted at
    /// /forge/store (a view of the host, not a sandbox).
    Run(cmd::run::RunArgs),
    /// Add to, query, verify and collect the store.
    #[command(subcommand)]
    Store(cmd::store::StoreCommand),
    /// Hash files and trees the way the store does.
    #[command(subcommand)]
    Hash(cmd::hash::HashCommand),
    /// Serialise host trees as NAR and inspect NAR archives.
    #[command(subcommand)]
    Nar(cmd::nar::NarCommand),
    /// Check recipes.
    #[command(subcommand)]
    Recipe(cmd::recipe::RecipeCommand),
    /// Try the build sandbox by hand.
    #[command(subcommand)]
    Sandbox(cmd::sandbox::SandboxCommand),
    /// Download a URL into the store once and print the input line a
    /// recipe takes for it (with its sha256).
    Prefetch(cmd::prefetch::PrefetchArgs),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Copy store paths' closures (and the realisations of the builds
    /// that made them) to a binary cache.
    Copy(cmd::copy::CopyArgs),
    /// Build recipes if need be and push every output of their graphs,
    /// with its realisation, to a binary cache.
    Push(cmd::copy::PushRecipesArgs),
    /// Serve binary caches.
    #[command(subcommand)]
    Cache(cmd::cache::CacheCommand),
    /// Make and read the keys binary caches are signed with.
    #[command(subcommand)]
    Key(cmd::key::KeyCommand),
    /// Print a shell completion script (bash, zsh, fish…) on stdout.
    Completions(cmd::docs::CompletionsArgs),
    /// Print forge's manual page (roff) on stdout, or write every page
    /// into a directory.
    Man(cmd::docs::ManArgs),
    /// Internal: fetch one input (run by the build engine in the
    /// fixed-output sandbox).
    #[command(name = "__fetch", hide = true)]
    Fetch(cmd::fetch::FetchArgs),
}

fn init_logging(global: &GlobalArgs) {
    let default = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FORGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A usage error on stderr, or `--help` / `--version` on stdout.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(&cli.global);
    // Only commands that use a setting read the configuration, so that a
    // mistake in a config file stops what it would change and nothing else
    // (hashing, NAR tools, recipe checks, generated text; the fetcher runs
    // in a sandbox with no config files).
    let reads_config = !matches!(
        cli.command,
        Command::Fetch(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Sandbox(_)
            | Command::Hash(_)
            | Command::Nar(_)
            | Command::Recipe(_)
            | Command::Key(_)
    );
    if reads_config {
        match config::load() {
            Ok(l) => cli.global.loaded = Some(l),
            Err(e) => return exit_code(Err(e)),
        }
    }
    let result = match cli.command {
        Command::Build(a) => cmd::build::build(&cli.global, a),
        Command::Log(a) => cmd::log::log(&cli.global, a),
        Command::Lock(a) => cmd::build::lock(&cli.global, a),
        Command::Run(a) => cmd::run::run(&cli.global, a),
        Command::Shell(a) => cmd::build::shell(&cli.global, a),
        Command::Store(c) => cmd::store::run(&cli.global, c),
        Command::Hash(c) => cmd::hash::run(&cli.global, c),
        Command::Nar(c) => cmd::nar::run(c),
        Command::Recipe(c) => cmd::recipe::run(c),
        Command::Sandbox(c) => cmd::sandbox::run(c),
        Command::Fetch(a) => cmd::fetch::run(a),
        Command::Prefetch(a) => cmd::prefetch::run(&cli.global, a),
        Command::Config(c) => cmd::config::run(&cli.global, c),
        Command::Key(c) => cmd::key::run(c),
        Command::Copy(a) => cmd::copy::copy(&cli.global, a),
        Command::Push(a) => cmd::copy::push_recipes(&cli.global, a),
        Command::Cache(c) => cmd::cache::run(&cli.global, c),
        Command::Completions(a) => cmd::docs::completions(Cli::command(), a),
        Command::Man(a) => cmd::docs::man(Cli::command(), a),
    };
    exit_code(result)
}

/// The exit code for how a command ended (the table in the crate docs).
fn exit_code(result: CmdResult) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(3),
        // A wait status is 0..=255, or 128 + a signal number: the clamp
        // only keeps the type honest.
        Ok(Outcome::Exited(code)) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
        // Whoever closed stdout (`| head`) has read all they wanted.
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::report_error(&err);
            match (interrupted(&err), signals::received()) {
                (true, Some(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(130)),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Whether `err` is a run stopped by a signal.
fn interrupted(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<forge_build::BuildError>(),
        Some(forge_build::BuildError::Interrupted)
    )
}
