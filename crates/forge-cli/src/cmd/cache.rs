//! `forge cache …`: binary caches (docs/cache.md). `forge cache serve`
//! serves a cache directory or the local store over HTTP with
//! `forge_cache::serve`; this
//! module turns the flags into its `ServeConfig`, reads the token file,
//! and prints the URL once the port is bound.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use forge_cache::serve::{self, Limits, ServeConfig, Source, StoreSource, UploadToken};

use crate::output::{parse_size, CmdResult, Outcome};
use crate::GlobalArgs;

/// `forge cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Serve a binary cache over HTTP until SIGINT or SIGTERM (then finish
    /// in-flight requests and stop); print its URL on stdout once it
    /// listens.
    Serve(ServeArgs),
}

/// `forge cache serve`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["dir", "store"])))]
pub struct ServeArgs {
    /// The cache directory to serve (what `file://DIR` names; created if
    /// missing).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Serve the local store (`--root`): each path is published into a
    /// private cache directory when first asked for (its NAR compressed
    /// once), then served from there.
    #[arg(long)]
    store: bool,
    /// With --store: the private cache directory (default:
    /// `<root>/serve-cache`).
    #[arg(long, value_name = "DIR", conflicts_with = "dir")]
    cache_dir: Option<PathBuf>,
    /// With --store: sign narinfos and realisations with this secret key
    /// (default: `secret-key-file` in the config file; none: unsigned).
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    secret_key: Option<PathBuf>,
    /// Where to listen; port 0 lets the system choose (the URL printed
    /// says which).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Take uploads (`PUT`, as `forge copy --to http://…` makes them with
    /// FORGE_CACHE_TOKEN) that carry `Authorization: Bearer <the token in
    /// FILE>`; without it uploads are refused.
    #[arg(long, value_name = "FILE")]
    upload_token_file: Option<PathBuf>,
    /// Answer `nix-cache-info` with this priority (lower is preferred).
    #[arg(long, value_name = "N")]
    priority: Option<u32>,
    /// The largest NAR upload.
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    max_nar_upload: u64,
    /// The most connections open at once (more wait).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
}

/// Runs a `forge cache` command.
pub fn run(global: &GlobalArgs, cmd: CacheCommand) -> CmdResult {
    match cmd {
        CacheCommand::Serve(a) => serve_cmd(global, a),
    }
}

fn serve_cmd(global: &GlobalArgs, a: ServeArgs) -> CmdResult {
    let upload_token = a
        .upload_token_file
        .as_deref()
        .map(UploadToken::from_file)
        .transpose()?;
    let source = match a.dir {
        Some(dir) => Source::Dir(dir),
        None => {
            let key_file = a
                .secret_key
                .or_else(|| global.settings().secret_key_file.value.clone());
            let secret_key = key_file
                .as_deref()
                .map(super::key::read_secret)
                .transpose()?;
            Source::Store(Box::new(StoreSource {
                root: global.root(),
                cache_dir: a.cache_dir,
                secret_key,
            }))
        }
    };
    if !a.listen.ip().is_loopback() {
        tracing::warn!(
            "listening on {}, beyond this machine: plain HTTP, so the upload token travels in the clear",
            a.listen
        );
    }
    let config = ServeConfig {
        source,
        listen: a.listen,
        upload_token,
        priority: a.priority,
        limits: Limits {
            max_nar_upload: a.max_nar_upload,
            max_connections: a.max_connections,
            ..Limits::default()
        },
    };
    serve::run(config, |addr| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}");
        let _ = out.flush();
    })?;
    Ok(Outcome::Success)
}
