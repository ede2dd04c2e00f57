//! `forge build`, `forge log`: realising recipes and reading their logs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use forge_build::{BuildOptions, Engine, Event, Reporter};
use forge_sandbox::Enforcement;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::output::{CmdResult, Outcome};
use crate::GlobalArgs;

/// What host files recipes may reach beyond their repository.
#[derive(Debug, Clone, Args)]
pub struct HostAccessArgs {
    /// Let `path` inputs come from under DIR too (repeatable); by default
    /// they must lie in the recipe's repository.
    #[arg(long = "allow-path", value_name = "DIR")]
    allow_path: Vec<PathBuf>,
    /// Let `path` inputs and seeds import files other users cannot read
    /// (they become world-readable store paths).
    #[arg(long)]
    allow_private: bool,
}

impl HostAccessArgs {
    /// As the engine takes it.
    pub fn to_access(&self) -> forge_build::inputs::HostAccess {
        forge_build::inputs::HostAccess {
            allow_paths: self.allow_path.clone(),
            allow_private: self.allow_private,
        }
    }
}

/// Arguments of `forge build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The recipes: directories holding recipe.toml, or recipe files; all
    /// are built in one run (what they share is built once).
    #[arg(value_name = "RECIPE", required = true)]
    recipes: Vec<PathBuf>,
    /// Say what would be fetched, built, substituted or found realised,
    /// and do none of it (nor write lock files).
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
    /// Builds to run at once (also FORGE_JOBS or `jobs` in the config file;
    /// default: the number of cores).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Cores each build is told it may use, as FORGE_BUILD_CORES (also
    /// FORGE_BUILD_CORES or `cores` in the config file; default: the number
    /// of cores; a recipe's `[sandbox] cores` wins).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Go on building what does not depend on a failed build (also
    /// FORGE_KEEP_GOING=1 or `keep-going` in the config file).
    #[arg(short, long)]
    keep_going: bool,
    /// Re-pin seeds that changed too (in recipe.lock) instead of failing;
    /// `path` inputs are re-pinned anyway unless --locked.
    #[arg(long, conflicts_with = "locked")]
    update_locks: bool,
    /// Refuse any change to a lock file (a changed or unpinned input is an
    /// error), for CI. Also FORGE_LOCKED=1 or `locked` in the config file.
    #[arg(long)]
    locked: bool,
    /// Rebuild the recipe even though it is realised and compare the bytes.
    #[arg(long)]
    check: bool,
    /// With --check: rebuild and compare every recipe of the graph.
    #[arg(long, requires = "check")]
    rebuild_all: bool,
    /// Do not create the ./result symlink.
    #[arg(long, conflicts_with = "out_link")]
    no_link: bool,
    /// Name of the result symlink (other outputs get `-<output>` appended,
    /// the second recipe's link `-2`, and so on).
    #[arg(short, long, value_name = "PATH", default_value = "result")]
    out_link: PathBuf,
    /// Print build logs on stderr as they come.
    #[arg(short = 'L', long)]
    print_build_logs: bool,
    /// Cap of each stored build log (its head and tail are kept); 0: none.
    #[arg(long, env = "FORGE_MAX_LOG_SIZE", value_name = "SIZE", default_value = "16M", value_parser = crate::output::parse_size)]
    max_log_size: u64,
    #[command(flatten)]
    access: HostAccessArgs,
    /// Build even if this kernel cannot enforce every sandbox layer.
    #[arg(long)]
    best_effort: bool,
    /// Print events and the result as JSON lines on stdout.
    #[arg(long)]
    json: bool,
    /// The largest size one output may reach (like 8G, 512M; `none` for no
    /// limit); a build whose output grows past it is stopped.
    #[arg(long, value_name = "SIZE", env = "FORGE_MAX_OUTPUT_SIZE", value_parser = parse_max_size)]
    max_output_size: Option<MaxSize>,
    #[command(flatten)]
    substitute: super::copy::SubstituteArgs,
}

/// A parsed `--max-output-size`: a size, or no limit.
#[derive(Debug, Clone, Copy)]
struct MaxSize(Option<u64>);

fn parse_max_size(text: &str) -> Result<MaxSize, String> {
    crate::output::parse_limit(text).map(MaxSize)
}

/// Arguments of `forge lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The recipe (its whole recipe graph is locked).
    #[arg(value_name = "RECIPE")]
    recipe: PathBuf,
    /// Print the lock files written as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    access: HostAccessArgs,
}

/// Arguments of `forge shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The recipe whose sandbox to enter (its dependencies are built first).
    #[arg(value_name = "RECIPE")]
    recipe: PathBuf,
    /// Enter even if this kernel cannot enforce every sandbox layer.
    #[arg(long)]
    best_effort: bool,
    #[command(flatten)]
    access: HostAccessArgs,
    /// The command to run instead of a shell.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipe: Option<&'a str>,
    #[serde(flatten)]
    extra: serde_json::Value,
}

/// Shows what the engine does: a bar on a terminal, lines otherwise,
/// JSON lines with `--json`.
struct Display {
    bar: Option<ProgressBar>,
    json: bool,
    quiet: bool,
    state: Mutex<(usize, usize)>, // (done, total)
}

impl Display {
    fn new(quiet: bool, json: bool) -> Self {
        let bar = (!quiet && !json && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            b.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Display {
            bar,
            json,
            quiet,
            state: Mutex::new((0, 0)),
        }
    }

    /// Lines only, never a bar: for `forge shell`, whose session owns the
    /// terminal once it starts (a bar would keep redrawing over it).
    fn lines(quiet: bool) -> Self {
        Display {
            bar: None,
            json: false,
            quiet,
            state: Mutex::new((0, 0)),
        }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        // Messages may quote a builder (a failed fetch's last lines).
        let text = crate::terminal::for_stream(&text, std::io::stderr().is_terminal());
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Where `-L` lines go: above the bar, escape sequences neutralised on
    /// a terminal.
    fn echo(&self) -> forge_build::log::Echo {
        let bar = self.bar.clone();
        let tty = std::io::stderr().is_terminal();
        forge_build::log::Echo(Arc::new(move |line: &str| {
            let line = crate::terminal::for_stream(line, tty);
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }))
    }

    /// What is happening now: the bar's message on a terminal, a line
    /// otherwise.
    fn status(&self, text: String) {
        match &self.bar {
            Some(b) => b.set_message(text),
            None => self.line(text),
        }
    }

    fn json(&self, event: &str, recipe: Option<&str>, extra: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(
            &mut out,
            &JsonEvent {
                event,
                recipe,
                extra,
            },
        );
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Reporter for Display {
    fn event(&self, event: &Event) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, event);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
            return;
        }
        let mut st = self.state.lock().expect("display lock");
        match event {
            Event::Planned { total } => {
                st.1 = *total;
                if let Some(b) = &self.bar {
                    b.set_length(*total as u64);
                }
            }
            Event::BuildStarted { recipe } => {
                self.status(format!("building {recipe}"));
            }
            Event::Fetching { url, .. } => {
                self.status(format!("fetching {url}"));
            }
            Event::FetchProgress {
                url, done, total, ..
            } => {
                // On a terminal only: lines would flood a log.
                if let Some(b) = &self.bar {
                    let file = url.rsplit('/').next().unwrap_or(url);
                    let of = total
                        .map(|t| format!(" of {}", crate::output::human_bytes(t)))
                        .unwrap_or_default();
                    b.set_message(format!(
                        "fetching {file}: {}{of}",
                        crate::output::human_bytes(*done)
                    ));
                }
            }
            Event::ImportingSeed { seed, .. } => {
                self.status(format!("importing seed {seed}"));
            }
            Event::Repinned {
                recipe,
                input,
                kind,
                lock_file,
                ..
            } => {
                self.line(format!(
                    "{recipe}: {kind} input `{input}` changed; its pin in {} is updated (--locked refuses this)",
                    lock_file.display()
                ));
            }
            Event::Waiting { recipe, pid, what } => {
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                self.line(format!(
                    "{recipe}: waiting for another forge process {what}{pid}"
                ));
            }
            Event::Substituting { recipe, from } => {
                self.status(format!("substituting {recipe} from {from}"));
            }
            Event::NotSubstituted { recipe, asked } => {
                let caches = if *asked == 1 {
                    "the substituter"
                } else {
                    "any substituter"
                };
                self.line(format!("{recipe}: not in {caches}; building it"));
            }
            Event::SubstituteFailed { recipe, error, .. } => {
                self.line(format!("warning: {recipe}: {error}"));
            }
            Event::Finished {
                recipe,
                built,
                seconds,
                ..
            } => {
                st.0 += 1;
                if let Some(b) = &self.bar {
                    b.set_position(st.0 as u64);
                }
                if *built {
                    self.line(format!("built {recipe} in {seconds:.2}s"));
                }
            }
            // The message itself ends the run, as the `error:` (every
            // failure's, under --keep-going).
            Event::Failed { recipe, .. } => self.line(format!("failed {recipe}")),
            Event::Checked {
                recipe,
                reproducible,
                detail,
            } => {
                if *reproducible {
                    self.line(format!(
                        "{recipe}: reproducible (the rebuild gave the same bytes)"
                    ));
                } else {
                    self.line(format!("{recipe}: NOT reproducible"));
                    for d in detail {
                        self.line(format!("  {d}"));
                    }
                }
            }
        }
    }
}

/// `forge build`.
pub fn build(global: &GlobalArgs, args: BuildArgs) -> CmdResult {
    let exe = std::env::current_exe().context("locating the forge executable")?;
    let mut opts = BuildOptions::new(exe);
    let settings = global.settings();
    opts.jobs = settings.jobs.clone().flag(args.jobs, "--jobs").value.max(1);
    opts.cores = settings
        .cores
        .clone()
        .flag(args.cores, "--cores")
        .value
        .max(1);
    opts.keep_going = settings
        .keep_going
        .clone()
        .flag(args.keep_going.then_some(true), "--keep-going")
        .value;
    opts.update_locks = args.update_locks;
    // --update-locks is a flag, so it wins over `locked` from the
    // environment or a config file.
    opts.locked = !args.update_locks
        && settings
            .locked
            .clone()
            .flag(args.locked.then_some(true), "--locked")
            .value;
    opts.check = args.check;
    opts.rebuild_all = args.rebuild_all;
    opts.max_log_size = args.max_log_size;
    opts.host_access = args.access.to_access();
    if let Some(MaxSize(max)) = args.max_output_size {
        opts.max_output_size = max;
    }
    if args.best_effort {
        opts.enforcement = Enforcement::BestEffort;
    }
    if !args.no_link && !args.check {
        opts.out_link = Some(args.out_link.clone());
    }
    let cancel = crate::signals::cancel_flag()?;
    let display = Display::new(global.quiet(), args.json);
    if args.print_build_logs {
        opts.print_logs = Some(display.echo());
    }
    let mut engine = Engine::new(global.root(), opts)
        .reporter(&display)
        .cancel_on(cancel);
    for sub in args.substitute.open(global)? {
        engine = engine.substituter(sub);
    }
    if args.dry_run {
        let result = engine.plan(&args.recipes);
        display.finish();
        return print_plan(&result?, args.json);
    }
    let result = engine.build_all(&args.recipes);
    display.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            print_failure_tails(&e);
            return Err(e.into());
        }
    };
    if args.json {
        let built: Vec<_> = report
            .all
            .iter()
            .filter(|r| r.built)
            .map(|r| r.name.clone())
            .collect();
        for target in &report.targets {
            let outputs: std::collections::BTreeMap<String, String> = target
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            display.json(
                "result",
                Some(&target.name),
                serde_json::json!({
                    "outputs": outputs,
                    "action_digest": target.action_digest,
                    "built": built,
                    "links": report.links,
                }),
            );
        }
    } else {
        let mut out = std::io::stdout().lock();
        for target in &report.targets {
            for p in target.outputs.values() {
                writeln!(out, "{p}")?;
            }
        }
    }
    if args.check {
        let checked: Vec<_> = report
            .all
            .iter()
            .filter(|r| r.reproducible.is_some())
            .collect();
        let bad: Vec<_> = checked
            .iter()
            .filter(|r| r.reproducible == Some(false))
            .collect();
        if !global.quiet() && !args.json {
            eprintln!(
                "{} of {} reproducible",
                checked.len() - bad.len(),
                checked.len()
            );
            for r in &bad {
                eprintln!("  not reproducible: {} ({})", r.name, r.file.display());
            }
        }
        if !bad.is_empty() {
            return Ok(Outcome::ProblemsFound);
        }
    }
    Ok(Outcome::Success)
}

/// `forge build --dry-run`'s answer: on stdout, what would be fetched,
/// built or substituted, and what is realised already (or one JSON line
/// per recipe with `--json`).
fn print_plan(plan: &[forge_build::Planned], json: bool) -> CmdResult {
    use forge_build::Step;
    let mut out = std::io::stdout().lock();
    if json {
        for p in plan {
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"event": "planned-recipe", "plan": p}),
            )?;
            writeln!(out)?;
        }
        return Ok(Outcome::Success);
    }
    let fetches: Vec<(&str, &str)> = plan
        .iter()
        .flat_map(|p| p.fetches.iter().map(|u| (u.as_str(), p.recipe.as_str())))
        .collect();
    let count = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if !fetches.is_empty() {
        writeln!(
            out,
            "would fetch {}:",
            count(fetches.len(), "download", "downloads")
        )?;
        for (url, recipe) in &fetches {
            writeln!(out, "  {url}  (for {recipe})")?;
        }
    }
    let build: Vec<_> = plan
        .iter()
        .filter(|p| matches!(p.step, Step::Build | Step::BuildAfterInputs))
        .collect();
    if !build.is_empty() {
        writeln!(
            out,
            "would build {}:",
            count(build.len(), "recipe", "recipes")
        )?;
        for p in &build {
            let after = if p.step == Step::BuildAfterInputs {
                ", once its inputs are fetched or built"
            } else {
                ""
            };
            writeln!(out, "  {}  ({}{after})", p.recipe, p.file.display())?;
        }
    }
    let subst: Vec<_> = plan
        .iter()
        .filter_map(|p| match &p.step {
            Step::Substitute { from } => Some((p, from)),
            _ => None,
        })
        .collect();
    if !subst.is_empty() {
        writeln!(
            out,
            "would substitute {}:",
            count(subst.len(), "recipe", "recipes")
        )?;
        for (p, from) in &subst {
            writeln!(out, "  {}  from {from}", p.recipe)?;
        }
    }
    let done: Vec<_> = plan.iter().filter(|p| p.step == Step::Realised).collect();
    if !done.is_empty() {
        writeln!(
            out,
            "realised already ({}):",
            count(done.len(), "recipe", "recipes")
        )?;
        for p in &done {
            let paths: Vec<String> = p.outputs.values().map(|o| o.to_string()).collect();
            writeln!(out, "  {}  {}", p.recipe, paths.join(" "))?;
        }
    }
    Ok(Outcome::Success)
}

fn print_failure_tails(e: &forge_build::BuildError) {
    let tty = std::io::stderr().is_terminal();
    let mut stderr = std::io::stderr().lock();
    let mut show = |e: &forge_build::BuildError| {
        if let forge_build::BuildError::BuildFailed { name, tail, .. } = e {
            if !tail.is_empty() {
                let _ = writeln!(stderr, "last lines of the log of {name}:");
                for l in tail {
                    let _ = writeln!(stderr, "  {}", crate::terminal::for_stream(l, tty));
                }
            }
        }
    };
    match e {
        forge_build::BuildError::Many(v) => v.iter().for_each(&mut show),
        e => show(e),
    }
}

/// Realises `recipes` for `forge push` (building what no substituter has),
/// with the settings' jobs and cores and no result link.
pub fn build_for_push(
    global: &GlobalArgs,
    recipes: &[PathBuf],
    substituters: Vec<forge_cache::CacheSubstituter>,
) -> anyhow::Result<forge_build::BuildReport> {
    let exe = std::env::current_exe().context("locating the forge executable")?;
    let mut opts = BuildOptions::new(exe);
    let settings = global.settings();
    opts.jobs = settings.jobs.value.max(1);
    opts.cores = settings.cores.value.max(1);
    opts.locked = settings.locked.value;
    let display = Display::new(global.quiet(), false);
    let mut engine = Engine::new(global.root(), opts)
        .reporter(&display)
        .cancel_on(crate::signals::cancel_flag()?);
    for sub in substituters {
        engine = engine.substituter(sub);
    }
    let result = engine.build_all(recipes);
    display.finish();
    result.map_err(|e| {
        print_failure_tails(&e);
        e.into()
    })
}

/// `forge lock`: pins every `path` input without a hash and every seed of a
/// recipe graph in the recipes' lock files.
pub fn lock(global: &GlobalArgs, args: LockArgs) -> CmdResult {
    let exe = std::env::current_exe().context("locating the forge executable")?;
    let mut opts = BuildOptions::new(exe);
    opts.update_locks = true;
    opts.host_access = args.access.to_access();
    let locks_written = Engine::new(global.root(), opts).lock(&args.recipe)?;
    if args.json {
        crate::output::print_json(&locks_written)?;
    } else if !global.quiet() {
        if locks_written.is_empty() {
            eprintln!("lock files are up to date");
        }
        for f in &locks_written {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(Outcome::Success)
}

/// `forge shell`: a shell (or `-- COMMAND`) in the exact sandbox of a
/// recipe's derivation, its inputs built and present, for debugging
/// recipes. Exits with the command's exit code.
pub fn shell(global: &GlobalArgs, args: ShellArgs) -> CmdResult {
    let exe = std::env::current_exe().context("locating the forge executable")?;
    let mut opts = BuildOptions::new(exe);
    opts.cores = global.settings().cores.value;
    opts.host_access = args.access.to_access();
    if args.best_effort {
        opts.enforcement = Enforcement::BestEffort;
    }
    let display = Display::lines(global.quiet());
    if args.command.is_empty() && !global.quiet() {
        eprintln!(
            "forge shell: the build's sandbox, once its inputs are built; `{}` is its build command (read it, or run it to build by hand)",
            forge_build::shell::BUILD_SCRIPT
        );
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let result = Engine::new(global.root(), opts)
        .reporter(&display)
        .cancel_on(cancel)
        .shell(&args.recipe, &args.command);
    display.finish();
    Ok(Outcome::Exited(result?))
}
