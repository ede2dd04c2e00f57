//! `forge store …`: the store's commands.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use forge_core::store_path::{StorePath, StorePathName};
use forge_store::browse::{BrowseError, EntryKind, Located};
use forge_store::gc::GcOptions;
use forge_store::verify::VerifyOptions;
use forge_store::{RootKind, Store};
use serde::Serialize;

use crate::output::{format_time, human_bytes, parse_size, print_json, CmdResult, Outcome};
use crate::progress::Bar;
use crate::GlobalArgs;

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print machine-readable JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy files or trees into the store by content and print their paths.
    Add {
        /// Files or directories to add.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Store path name (default: the file name, sanitised).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show what the store records about paths.
    Info {
        /// Store paths (logical, physical, or a symlink such as ./result).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Print the closure of paths (everything they refer to, transitively),
    /// dependencies first.
    Closure {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Check that the store matches its database.
    Verify {
        /// Only these paths (default: all).
        paths: Vec<PathBuf>,
        /// Re-hash every object and check its metadata (reads everything).
        #[arg(long)]
        check_contents: bool,
        /// Replace each damaged path with a good copy from a substituter
        /// (the NAR must be exactly the one recorded), then check it again.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        substitute: super::copy::SubstituteArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Write the NAR serialisation of a path to stdout.
    Dump { path: PathBuf },
    /// Print a file inside a store path.
    Cat {
        /// A store path, or a file inside one (`/forge/store/…-x/bin/hello`).
        path: PathBuf,
    },
    /// List a directory inside a store path.
    Ls {
        path: PathBuf,
        /// Long listing: modes, sizes, symlink targets.
        #[arg(short, long)]
        long: bool,
        /// Recurse into directories.
        #[arg(short = 'R', long)]
        recursive: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Manage garbage-collector roots.
    #[command(subcommand)]
    Root(RootCommand),
    /// Delete paths that no root keeps alive.
    Gc {
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop after freeing this much (e.g. 500M, 2G).
        #[arg(long, value_parser = parse_size, value_name = "SIZE")]
        max_freed: Option<u64>,
        /// Keep the build-time inputs of what roots keep (sources, fetched
        /// tarballs, the derivations' inputs), so the next build does not
        /// fetch or build them again; also `keep-outputs` in the config file.
        #[arg(long, overrides_with = "no_keep_outputs")]
        keep_outputs: bool,
        /// Collect build-time inputs even if the config file keeps them.
        #[arg(long, overrides_with = "keep_outputs")]
        no_keep_outputs: bool,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Root a store path under a name, or root a symlink (--indirect).
    Add {
        /// The store path, or with --indirect the symlink to root.
        path: PathBuf,
        /// Name of a direct root (default: the store path itself).
        #[arg(long, conflicts_with = "indirect")]
        name: Option<String>,
        /// Root the symlink itself: whatever it points to stays alive while
        /// it exists (as `./result` does).
        #[arg(long)]
        indirect: bool,
    },
    /// Remove a root by name (an indirect root's name is its link path).
    Remove { name: String },
    /// List the roots.
    List {
        #[command(flatten)]
        json: JsonArg,
    },
}

fn open(global: &GlobalArgs) -> anyhow::Result<Store> {
    let root = global.root();
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

/// Resolves an argument that must name a whole store path.
fn resolve_whole(store: &Store, arg: &Path) -> anyhow::Result<StorePath> {
    let (path, sub) = resolve_valid(store, arg)?;
    if !sub.as_os_str().is_empty() {
        bail!(
            "{} names a file inside {path}; this command takes a whole store path",
            arg.display()
        );
    }
    Ok(path)
}

fn resolve_valid(store: &Store, arg: &Path) -> anyhow::Result<(StorePath, PathBuf)> {
    let (path, sub) = store.resolve(arg)?;
    if !store.db().is_valid(&path)? {
        return Err(forge_store::StoreError::NotValid(path).into());
    }
    Ok((path, sub))
}

pub fn run(global: &GlobalArgs, cmd: StoreCommand) -> CmdResult {
    match cmd {
        StoreCommand::Add { paths, name, json } => add(global, &paths, name, json.json),
        StoreCommand::Info { paths, json } => info(global, &paths, json.json),
        StoreCommand::Closure { paths, json } => closure(global, &paths, json.json),
        StoreCommand::Verify {
            paths,
            check_contents,
            repair,
            substitute,
            json,
        } => verify(
            global,
            &paths,
            check_contents,
            repair.then_some(&substitute),
            json.json,
        ),
        StoreCommand::Dump { path } => dump(global, &path),
        StoreCommand::Cat { path } => cat(global, &path),
        StoreCommand::Ls {
            path,
            long,
            recursive,
            json,
        } => ls(global, &path, long, recursive, json.json),
        StoreCommand::Root(c) => root(global, c),
        StoreCommand::Gc {
            dry_run,
            max_freed,
            keep_outputs,
            no_keep_outputs,
            json,
        } => {
            let keep = crate::config::flag_pair(keep_outputs, no_keep_outputs);
            let keep_outputs = global
                .settings()
                .keep_outputs
                .clone()
                .flag(keep, "--keep-outputs")
                .value;
            gc(global, dry_run, max_freed, keep_outputs, json.json)
        }
    }
}

fn add(global: &GlobalArgs, paths: &[PathBuf], name: Option<String>, json: bool) -> CmdResult {
    if name.is_some() && paths.len() > 1 {
        bail!("--name applies to one path, but {} were given", paths.len());
    }
    let name = name.map(|n| StorePathName::new(&n)).transpose()?;
    let mut store = open(global)?;
    // Held across all the additions, so that no collection can remove a path
    // we printed before the last one is added.
    let _gc = store.lock_against_gc()?;
    let mut outcomes = Vec::new();
    for p in paths {
        let bar = Bar::new(&format!("adding {}", p.display()), global.quiet());
        let res = store.add_path(p, name.clone(), &bar);
        bar.finish();
        let outcome = res.with_context(|| format!("adding {}", p.display()))?;
        tracing::info!(
            path = %outcome.info.path,
            already_valid = outcome.already_valid,
            "added {}",
            p.display()
        );
        if !json {
            println!("{}", outcome.info.path);
        }
        outcomes.push(outcome);
    }
    if json {
        print_json(&outcomes)?;
    }
    Ok(Outcome::Success)
}

#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(flatten)]
    info: &'a forge_store::PathInfo,
    physical: PathBuf,
    referrers: Vec<StorePath>,
}

fn info(global: &GlobalArgs, paths: &[PathBuf], json: bool) -> CmdResult {
    let store = open(global)?;
    let mut out = Vec::new();
    for arg in paths {
        let path = resolve_whole(&store, arg)?;
        let info = store.path_info(&path)?;
        let referrers = store.db().referrers(&path)?.into_iter().collect();
        out.push((info, store.physical(&path), referrers));
    }
    if json {
        let v: Vec<_> = out
            .iter()
            .map(|(info, physical, referrers)| InfoJson {
                info,
                physical: physical.clone(),
                referrers: Vec::clone(referrers),
            })
            .collect();
        print_json(&v)?;
        return Ok(Outcome::Success);
    }
    let mut stdout = io::stdout().lock();
    for (i, (info, physical, referrers)) in out.iter().enumerate() {
        if i > 0 {
            writeln!(stdout)?;
        }
        let list = |v: &mut dyn Iterator<Item = String>| {
            let items: Vec<String> = v.collect();
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join("\n                 ")
            }
        };
        writeln!(stdout, "path             {}", info.path)?;
        writeln!(stdout, "physical         {}", physical.display())?;
        writeln!(stdout, "nar-blake3       {}", info.nar_blake3)?;
        writeln!(stdout, "nar-sha256       {}", info.nar_sha256)?;
        writeln!(
            stdout,
            "nar-size         {} ({})",
            info.nar_size,
            human_bytes(info.nar_size)
        )?;
        writeln!(
            stdout,
            "registered       {}",
            format_time(info.registered_at)
        )?;
        writeln!(
            stdout,
            "deriver          {}",
            info.deriver.as_deref().unwrap_or("(none)")
        )?;
        writeln!(
            stdout,
            "content-address  {}",
            info.content_address.as_deref().unwrap_or("(none)")
        )?;
        let mut refs: Vec<String> = info.references.iter().map(|p| p.to_string()).collect();
        if info.self_reference {
            refs.insert(0, format!("{} (self)", info.path));
        }
        writeln!(stdout, "references       {}", list(&mut refs.into_iter()))?;
        writeln!(
            stdout,
            "referrers        {}",
            list(&mut referrers.iter().map(|p| p.to_string()))
        )?;
        writeln!(
            stdout,
            "signatures       {}",
            list(&mut info.signatures.iter().cloned())
        )?;
    }
    Ok(Outcome::Success)
}

fn closure(global: &GlobalArgs, paths: &[PathBuf], json: bool) -> CmdResult {
    let store = open(global)?;
    let mut roots = Vec::new();
    for arg in paths {
        roots.push(resolve_whole(&store, arg)?);
    }
    let closure = store.closure(&roots)?;
    if json {
        print_json(&closure)?;
    } else {
        let mut stdout = io::BufWriter::new(io::stdout().lock());
        for p in closure {
            writeln!(stdout, "{p}")?;
        }
        stdout.flush()?;
    }
    Ok(Outcome::Success)
}

fn verify(
    global: &GlobalArgs,
    paths: &[PathBuf],
    check_contents: bool,
    repair: Option<&super::copy::SubstituteArgs>,
    json: bool,
) -> CmdResult {
    let mut store = open(global)?;
    let selected = if paths.is_empty() {
        None
    } else {
        let mut v = Vec::new();
        for arg in paths {
            v.push(resolve_whole(&store, arg)?);
        }
        Some(v)
    };
    let mut report = store.verify(&VerifyOptions {
        check_contents,
        paths: selected,
    })?;
    let mut repaired = Vec::new();
    if let Some(args) = repair {
        let damaged: std::collections::BTreeSet<_> =
            report.problems.iter().map(|p| p.path().clone()).collect();
        if !damaged.is_empty() {
            let substituters = args.open(global)?;
            if substituters.is_empty() {
                bail!("--repair needs a substituter to fetch good copies from (--substituters URL, or `substituters` in the config file)");
            }
            for path in &damaged {
                match repair_path(&mut store, &substituters, path) {
                    Ok(from) => {
                        if !json {
                            eprintln!("repaired {path} from {from}");
                        }
                        repaired.push(path.clone());
                    }
                    Err(why) => eprintln!("warning: could not repair {path}: {why}"),
                }
            }
            // What is left, checked again.
            if !repaired.is_empty() {
                let again = store.verify(&VerifyOptions {
                    check_contents: true,
                    paths: Some(repaired.clone()),
                })?;
                let still: std::collections::BTreeSet<_> =
                    again.problems.iter().map(|p| p.path().clone()).collect();
                report
                    .problems
                    .retain(|p| !repaired.contains(p.path()) || still.contains(p.path()));
            }
        }
    }
    if json {
        print_json(&report)?;
    } else {
        for p in &report.problems {
            println!("{p}");
        }
        for l in &report.leftovers {
            tracing::info!("invalid leftover in the store directory: {l} (gc removes it)");
        }
        eprintln!(
            "checked {} path{}{}: {} problem{}",
            report.checked,
            if report.checked == 1 { "" } else { "s" },
            if check_contents {
                " (contents re-hashed)"
            } else {
                ""
            },
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" },
        );
    }
    Ok(if report.is_clean() {
        Outcome::Success
    } else {
        Outcome::ProblemsFound
    })
}

/// Brings a good copy of `path` from the first substituter that has one;
/// returns its name, or why none could.
fn repair_path(
    store: &mut Store,
    substituters: &[forge_cache::CacheSubstituter],
    path: &StorePath,
) -> Result<String, String> {
    use forge_build::Substituter;
    let recorded = store.path_info(path).map_err(|e| e.to_string())?;
    let mut why = Vec::new();
    for s in substituters {
        match s.path_info(path) {
            Ok(Some(claim)) if claim.nar_sha256 == Some(recorded.nar_sha256) => {}
            Ok(Some(_)) => {
                why.push(format!(
                    "{}: its copy is not the one recorded here",
                    s.name()
                ));
                continue;
            }
            Ok(None) => {
                why.push(format!("{}: not there", s.name()));
                continue;
            }
            Err(e) => {
                why.push(e.to_string());
                continue;
            }
        }
        let result = s
            .nar(path)
            .map_err(|e| e.to_string())
            .and_then(|nar| store.repair_from_nar(nar, path).map_err(|e| e.to_string()));
        match result {
            Ok(()) => return Ok(s.name().to_owned()),
            Err(e) => why.push(format!("{}: {e}", s.name())),
        }
    }
    Err(if why.is_empty() {
        "no substituter".to_owned()
    } else {
        why.join("; ")
    })
}

fn dump(global: &GlobalArgs, arg: &Path) -> CmdResult {
    let store = open(global)?;
    let path = resolve_whole(&store, arg)?;
    let stdout = io::stdout();
    if stdout.is_terminal() {
        bail!("refusing to write a binary NAR to a terminal; redirect stdout (forge store dump {} > out.nar)", arg.display());
    }
    store.dump(&path, stdout.lock())?;
    Ok(Outcome::Success)
}

/// Locates `arg`, a store path or a file inside one ([`Store::locate`]).
fn locate(store: &Store, arg: &Path) -> anyhow::Result<(PathBuf, fs::Metadata)> {
    let (path, sub) = resolve_valid(store, arg)?;
    match store.locate(&path, &sub) {
        Ok(l) => Ok((l.physical, l.meta)),
        Err(BrowseError::NotPlain) => bail!(
            "{}: only plain components may follow the store path",
            arg.display()
        ),
        Err(e) => Err(e.into()),
    }
}

fn cat(global: &GlobalArgs, arg: &Path) -> CmdResult {
    let store = open(global)?;
    let (physical, meta) = locate(&store, arg)?;
    if meta.file_type().is_symlink() {
        bail!(
            "{} is a symlink to {}; name its target instead",
            arg.display(),
            fs::read_link(&physical)?.display()
        );
    }
    if !meta.is_file() {
        bail!("{} is a directory; use `forge store ls`", arg.display());
    }
    let mut f = fs::File::open(&physical).with_context(|| format!("opening {}", arg.display()))?;
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stdout.write_all(&buf[..n])?;
    }
    stdout.flush()?;
    Ok(Outcome::Success)
}

fn ls(global: &GlobalArgs, arg: &Path, long: bool, recursive: bool, json: bool) -> CmdResult {
    let store = open(global)?;
    let (physical, meta) = locate(&store, arg)?;
    let entries = store.list(&Located { physical, meta }, recursive)?;
    if json {
        print_json(&entries)?;
        return Ok(Outcome::Success);
    }
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for e in &entries {
        if long {
            let mode = match (e.kind, e.executable) {
                (EntryKind::Directory, _) => "dr-xr-xr-x",
                (EntryKind::Symlink, _) => "lrwxrwxrwx",
                (_, true) => "-r-xr-xr-x",
                _ => "-r--r--r--",
            };
            let size = e.size.map(|s| s.to_string()).unwrap_or_default();
            match &e.target {
                Some(t) => writeln!(stdout, "{mode} {size:>12} {} -> {t}", e.name)?,
                None => writeln!(stdout, "{mode} {size:>12} {}", e.name)?,
            }
        } else if e.kind == EntryKind::Directory {
            writeln!(stdout, "{}/", e.name)?;
        } else {
            writeln!(stdout, "{}", e.name)?;
        }
    }
    stdout.flush()?;
    Ok(Outcome::Success)
}

fn root(global: &GlobalArgs, cmd: RootCommand) -> CmdResult {
    let mut store = open(global)?;
    match cmd {
        RootCommand::Add {
            path,
            name,
            indirect,
        } => {
            if indirect {
                let link = store.add_indirect_root(&path)?;
                eprintln!("rooted {} (indirect)", link.display());
            } else {
                let p = resolve_whole(&store, &path)?;
                let name = name.unwrap_or_else(|| p.to_string());
                store.add_root(&name, &p)?;
                eprintln!("rooted {p} as {name:?}");
            }
        }
        RootCommand::Remove { name } => {
            store.remove_root(&name)?;
            eprintln!("removed root {name:?}");
        }
        RootCommand::List { json } => {
            let roots = store.db().roots()?;
            if json.json {
                print_json(&roots)?;
            } else {
                for r in roots {
                    match r.kind {
                        RootKind::Direct => println!(
                            "{} -> {}",
                            r.name,
                            r.path.map(|p| p.to_string()).unwrap_or_default()
                        ),
                        RootKind::Indirect => {
                            let target = store
                                .resolve(Path::new(&r.name))
                                .map(|(p, _)| p.to_string())
                                .unwrap_or_else(|_| "(stale: link gone)".into());
                            println!("{} -> {} (indirect)", r.name, target);
                        }
                    }
                }
            }
        }
    }
    Ok(Outcome::Success)
}

fn gc(
    global: &GlobalArgs,
    dry_run: bool,
    max_freed: Option<u64>,
    keep_outputs: bool,
    json: bool,
) -> CmdResult {
    let mut store = open(global)?;
    let quiet = global.quiet();
    let report = store.gc(
        &GcOptions {
            dry_run,
            max_freed,
            keep_outputs,
        },
        |pids| {
            if quiet {
                return;
            }
            let list = pids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            match pids.len() {
                0 => eprintln!("gc: waiting for the running builds to finish"),
                1 => eprintln!("gc: waiting for 1 running build (pid {list}) to finish"),
                n => eprintln!("gc: waiting for {n} running builds (pids {list}) to finish"),
            }
        },
    )?;
    if json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    for d in &report.deleted {
        writeln!(stdout, "{}", d.path)?;
    }
    stdout.flush()?;
    for r in &report.stale_roots {
        if dry_run {
            eprintln!("would drop stale root {r} (its link is gone)");
        } else {
            eprintln!("dropped stale root {r} (its link is gone)");
        }
    }
    for e in &report.errors {
        tracing::warn!("could not remove: {e} (the next collection retries)");
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    eprintln!(
        "{verb} {} path{} ({} NAR{}); {} live path{} kept by {} root{}",
        report.deleted.len(),
        if report.deleted.len() == 1 { "" } else { "s" },
        human_bytes(report.freed_nar_bytes),
        if dry_run {
            String::new()
        } else {
            format!(", {} on disk", human_bytes(report.freed_disk_bytes))
        },
        report.live,
        if report.live == 1 { "" } else { "s" },
        report.roots,
        if report.roots == 1 { "" } else { "s" },
    );
    Ok(Outcome::Success)
}
