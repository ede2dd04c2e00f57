//! `forge copy --to URL PATH…`, `forge push URL RECIPE…`: publishing
//! closures and realisations to a binary cache; and the substitution flags
//! `forge build` takes (docs/cache.md).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use forge_cache::{CacheSubstituter, LookupCache, PushOptions, PushProgress, PushReport};
use forge_core::cache::{Compression, Realisation};
use forge_core::derivation::{ActionDigest, OutputName};
use forge_core::signing::{PublicKey, SecretKey, TrustedKeys};
use forge_core::store_path::StorePath;
use forge_store::Store;
use serde::Serialize;

use crate::output::{human_bytes, CmdResult, Outcome};
use crate::GlobalArgs;

/// How a push compresses and signs.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Sign narinfos and realisations with this secret key (default:
    /// `secret-key-file` in the config file; none: unsigned).
    #[arg(long, value_name = "FILE")]
    secret_key: Option<PathBuf>,
    /// How NARs are compressed: auto (zstd, but a NAR whose first 4 MiB
    /// zstd cannot shrink by 3% is stored as it is), zstd (multi-threaded),
    /// xz or none.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_compression)]
    compression: PushCompression,
    /// NARs compressed and uploaded at once (default: the number of cores,
    /// at least 2, at most 8).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Print what was pushed as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `--compression`: a compression, and whether incompressible NARs are
/// stored as they are.
#[derive(Debug, Clone)]
struct PushCompression {
    compression: Compression,
    raw_if_incompressible: bool,
}

fn parse_compression(s: &str) -> Result<PushCompression, String> {
    let (compression, raw_if_incompressible) = match s {
        "auto" => (Compression::Zstd, true),
        "zstd" => (Compression::Zstd, false),
        "xz" => (Compression::Xz, false),
        "none" => (Compression::None, false),
        _ => return Err("expected auto, zstd, xz or none".to_owned()),
    };
    Ok(PushCompression {
        compression,
        raw_if_incompressible,
    })
}

/// Arguments of `forge copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The cache: file:///dir, http(s)://host/prefix (forge's server, with
    /// a token), s3://bucket/prefix.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Store paths (or links to them, like ./result); their closures are
    /// copied, with the realisations of the builds that made them.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    push: PushArgs,
}

/// Arguments of `forge push`.
#[derive(Debug, Args)]
pub struct PushRecipesArgs {
    /// The cache (as for `forge copy --to`).
    #[arg(value_name = "URL")]
    to: String,
    /// The recipes: built (or substituted) first if they are not realised,
    /// then every output of their graphs is pushed with its realisation.
    #[arg(value_name = "RECIPE", required = true)]
    recipes: Vec<PathBuf>,
    #[command(flatten)]
    push: PushArgs,
    #[command(flatten)]
    substitute: SubstituteArgs,
}

/// Where `forge build` looks for what it need not build.
#[derive(Debug, Clone, Args)]
pub struct SubstituteArgs {
    /// Binary caches to substitute from, in priority order, instead of
    /// `substituters` in the config file (repeatable; a value may hold
    /// several URLs separated by spaces, as Nix's does).
    #[arg(long = "substituters", value_name = "URL", value_delimiter = ' ')]
    substituters: Vec<String>,
    /// Public keys trusted to sign realisations and paths, instead of
    /// `trusted-public-keys` in the config file (repeatable; spaces
    /// separate several).
    #[arg(long = "trusted-public-keys", value_name = "KEY", value_delimiter = ' ', value_parser = parse_public_key)]
    trusted_public_keys: Vec<PublicKey>,
    /// Ask no substituter.
    #[arg(long)]
    no_substitute: bool,
    /// Ask only substituters on this machine (file://).
    #[arg(long)]
    offline: bool,
}

/// The lookup cache beside the store, or none (with a warning) if it
/// cannot be opened: it only saves requests.
fn open_lookups(global: &GlobalArgs) -> Option<Arc<LookupCache>> {
    let file = global.root().join(LOOKUPS_FILE);
    match LookupCache::open(&file) {
        Ok(l) => Some(Arc::new(l)),
        Err(e) => {
            tracing::warn!("not keeping substituters' answers: {e}");
            None
        }
    }
}

/// Where the lookup cache lives, in the store's root.
const LOOKUPS_FILE: &str = "substituter-lookups.sqlite";

fn parse_public_key(s: &str) -> Result<PublicKey, String> {
    PublicKey::parse(s).map_err(|e| e.to_string())
}

impl SubstituteArgs {
    /// The substituters to ask, opened, in priority order.
    pub fn open(&self, global: &GlobalArgs) -> anyhow::Result<Vec<CacheSubstituter>> {
        if self.no_substitute {
            return Ok(Vec::new());
        }
        let settings = global.settings();
        let urls: Vec<String> = if self.substituters.iter().any(|s| !s.is_empty()) {
            self.substituters
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect()
        } else {
            settings.substituters.value.clone()
        };
        let trusted = if self.trusted_public_keys.is_empty() {
            settings.trusted_keys()
        } else {
            TrustedKeys::new(self.trusted_public_keys.iter().cloned())
        };
        let mut out = Vec::new();
        let mut lookups = None;
        for url in urls {
            if self.offline && !url.starts_with("file://") {
                continue;
            }
            let backend =
                forge_cache::open(&url).with_context(|| format!("opening substituter {url}"))?;
            // A local directory answers as fast as the lookup cache would.
            let local = backend.local_dir().is_some();
            let mut s = CacheSubstituter::new(backend, trusted.clone());
            if local {
                out.push(s);
                continue;
            }
            if lookups.is_none() {
                lookups = Some(open_lookups(global));
            }
            if let Some(Some(l)) = &lookups {
                s = s.with_lookups(Arc::clone(l));
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// What `--json` prints for a push.
#[derive(Debug, Serialize)]
struct Pushed<'a> {
    cache: &'a str,
    #[serde(flatten)]
    report: &'a PushReport,
    realisations: usize,
}

/// `forge copy --to URL PATH…`.
pub fn copy(global: &GlobalArgs, args: CopyArgs) -> CmdResult {
    let store = open_store(global)?;
    let mut roots = Vec::new();
    for p in &args.paths {
        let (path, sub) = store.resolve(p)?;
        if !sub.as_os_str().is_empty() {
            anyhow::bail!(
                "{} is inside store path {path}, not a store path itself",
                p.display()
            );
        }
        roots.push(path);
    }
    let closure = store.closure(&roots)?;
    let realisations = realisations_of(&store, &closure)?;
    push(
        global,
        &store,
        &args.to,
        &args.push,
        &closure,
        &realisations,
    )
}

/// `forge push URL RECIPE…`.
pub fn push_recipes(global: &GlobalArgs, args: PushRecipesArgs) -> CmdResult {
    let substituters = args.substitute.open(global)?;
    let report = super::build::build_for_push(global, &args.recipes, substituters)?;
    let store = open_store(global)?;
    let mut outputs = Vec::new();
    let mut realisations = Vec::new();
    for node in &report.all {
        let action: ActionDigest = node
            .action_digest
            .parse()
            .with_context(|| format!("the action digest of {}", node.name))?;
        for (out, path) in &node.outputs {
            outputs.push(path.clone());
            realisations.push(Realisation {
                action,
                output: OutputName::new(out)?,
                path: path.clone(),
                signatures: BTreeSet::new(),
            });
        }
    }
    let closure = store.closure(&outputs)?;
    push(
        global,
        &store,
        &args.to,
        &args.push,
        &closure,
        &realisations,
    )
}

fn open_store(global: &GlobalArgs) -> anyhow::Result<Store> {
    let root = global.root();
    Store::open(&root).with_context(|| format!("opening the store at {}", root.display()))
}

/// The recorded realisations of the builds that made paths of `closure`,
/// for those whose every output is in it.
fn realisations_of(store: &Store, closure: &[StorePath]) -> anyhow::Result<Vec<Realisation>> {
    let have: BTreeSet<&StorePath> = closure.iter().collect();
    let mut derivers = BTreeSet::new();
    for p in closure {
        if let Some(d) = store.path_info(p)?.deriver {
            derivers.insert(d);
        }
    }
    let mut out = Vec::new();
    for d in derivers {
        let Some((_, outputs)) = store.db().derivation(&d)? else {
            continue;
        };
        let Ok(action) = d.parse::<ActionDigest>() else {
            continue;
        };
        let mut rs = Vec::new();
        for o in &outputs {
            match store.db().realisation(&d, o)? {
                Some(r) if have.contains(&r.path) => rs.push(Realisation {
                    action,
                    output: OutputName::new(o)?,
                    path: r.path,
                    signatures: BTreeSet::new(),
                }),
                _ => {
                    rs.clear();
                    break;
                }
            }
        }
        out.extend(rs);
    }
    Ok(out)
}

fn push(
    global: &GlobalArgs,
    store: &Store,
    url: &str,
    args: &PushArgs,
    closure: &[StorePath],
    realisations: &[Realisation],
) -> CmdResult {
    let backend = forge_cache::open(url).with_context(|| format!("opening cache {url}"))?;
    let key_file = args
        .secret_key
        .clone()
        .or_else(|| global.settings().secret_key_file.value.clone());
    let secret_key: Option<SecretKey> = key_file
        .as_deref()
        .map(super::key::read_secret)
        .transpose()?;
    let mut opts = PushOptions {
        compression: args.compression.compression.clone(),
        raw_if_incompressible: args.compression.raw_if_incompressible,
        secret_key,
        ..PushOptions::default()
    };
    if let Some(j) = args.jobs {
        opts.jobs = j.max(1);
    }
    let progress = Progress::new(global.quiet() || args.json);
    let report = forge_cache::push_paths(store, backend.as_ref(), closure, &opts, &progress)?;
    progress.finish();
    let published =
        forge_cache::push_realisations(backend.as_ref(), realisations, opts.secret_key.as_ref())?;
    if args.json {
        crate::output::print_json(&Pushed {
            cache: backend.name(),
            report: &report,
            realisations: published,
        })?;
    } else if !global.quiet() {
        eprintln!(
            "pushed {} paths ({} of NAR, {} uploaded) and {published} realisations to {}; {} were there already",
            report.pushed.len(),
            human_bytes(report.nar_bytes),
            human_bytes(report.file_bytes),
            backend.name(),
            report.present.len(),
        );
    }
    Ok(Outcome::Success)
}

/// A progress bar over paths and bytes, on a terminal only.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    /// Paths to push, and pushed so far.
    total: AtomicUsize,
    done: AtomicUsize,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "pushing [{bar:30}] {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Progress {
            bar,
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl PushProgress for Progress {
    fn missing(&self, paths: usize, nar_bytes: u64) {
        self.total.store(paths, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length(nar_bytes);
            b.set_message(format!("0/{paths} paths"));
        }
    }

    fn pushed(&self, _path: &StorePath, nar_size: u64, _file_size: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            b.inc(nar_size);
            let total = self.total.load(Ordering::Relaxed);
            b.set_message(format!("{done}/{total} paths"));
        }
    }
}
