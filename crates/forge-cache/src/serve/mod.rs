//! `forge cache serve`: a binary cache over HTTP (docs/cache.md,
//! "Serving"), on tokio and axum. The async runtime stays inside this
//! module: callers get the blocking [`run`] (until SIGINT or SIGTERM) and
//! [`Server`] (in a thread of its own, for tests and embedding).
//!
//! The server reads as a list of what it answers, one file each:
//!
//! | request | file |
//! |---|---|
//! | `GET`/`HEAD /<key>`: objects, with `Range` | [`object`] ([`range`], [`fs`]) |
//! | `POST /_forge/narinfos`: many narinfos at once | [`batch`] |
//! | `PUT /<key>`: uploads, with a bearer token | [`upload`] ([`token`]) |
//!
//! What is served is a cache directory ([`Source::Dir`]) or the local
//! store ([`Source::Store`], [`store`]: a private directory that paths are
//! pushed into when first asked for, then served the same way).
//!
//! Around them: a cap on connections (the listener holds a permit per
//! connection), a cap on requests being handled (more are shed with 503),
//! timeouts, a panic guard, and a graceful shutdown that stops accepting,
//! lets in-flight requests finish for [`Limits::shutdown_grace`], then
//! stops. Failures reach a client as a status and a fixed text
//! ([`reply`]); their details go to the log (tracing).

mod batch;
pub(crate) mod fs;
mod listener;
mod object;
pub(crate) mod range;
mod reply;
pub(crate) mod store;
pub(crate) mod token;
mod upload;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use forge_core::cache::CacheInfo;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::CacheError;
use crate::file::FileBackend;
use crate::key::Key;

pub(crate) use batch::parse as batch_body;
pub use store::StoreSource;
pub use token::UploadToken;

/// Bounds on what the server takes on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once; more wait to be accepted.
    pub max_connections: usize,
    /// Requests being handled at once (a streaming download counts until
    /// its headers are sent); more are answered 503 at once.
    pub max_in_flight: usize,
    /// Time to produce a response's head (in `--store` mode this includes
    /// compressing a path the first time it is asked for); then 504.
    pub request_timeout: Duration,
    /// Longest pause in an upload's body before it is dropped.
    pub upload_idle_timeout: Duration,
    /// Largest upload under `nar/`.
    pub max_nar_upload: u64,
    /// Largest upload of any other object (narinfos, realisations).
    pub max_small_upload: u64,
    /// Most digests in one batch query.
    pub max_batch: usize,
    /// How long in-flight requests may run on after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            max_in_flight: 256,
            request_timeout: Duration::from_secs(300),
            upload_idle_timeout: Duration::from_secs(60),
            max_nar_upload: 4 << 30,
            max_small_upload: 1 << 20,
            max_batch: 1000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What is served.
#[derive(Debug, Clone)]
pub enum Source {
    /// A cache directory (what `file://DIR` names).
    Dir(PathBuf),
    /// The local store, through a private cache directory filled on
    /// demand ([`StoreSource`]).
    Store(Box<StoreSource>),
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What is served.
    pub source: Source,
    /// Where to listen (port 0: the kernel chooses; see [`Server::addr`]).
    pub listen: SocketAddr,
    /// Uploads are taken only with this token; `None`: refused (403).
    pub upload_token: Option<UploadToken>,
    /// Answer `nix-cache-info` with this priority rather than the
    /// directory's file (in `--store` mode: rather than
    /// [`DEFAULT_PRIORITY`]).
    pub priority: Option<u32>,
    /// Bounds.
    pub limits: Limits,
}

impl ServeConfig {
    /// Serving the cache directory `dir` on `listen`, read-only, with the
    /// default limits.
    pub fn dir(dir: impl Into<PathBuf>, listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            source: Source::Dir(dir.into()),
            listen,
            upload_token: None,
            priority: None,
            limits: Limits::default(),
        }
    }
}

/// The priority a served cache announces when nothing says otherwise
/// (Nix's default).
pub const DEFAULT_PRIORITY: u32 = CacheInfo::DEFAULT_PRIORITY;

/// What every handler shares.
#[derive(Debug)]
struct Shared {
    /// How logs name the cache.
    name: String,
    root: fs::Root,
    backend: FileBackend,
    token: Option<UploadToken>,
    limits: Limits,
    /// `nix-cache-info` when the server decides it (`--priority`).
    cache_info: Option<String>,
    /// `nix-cache-info` when the directory has none.
    default_cache_info: String,
    /// In `--store` mode: makes what the directory lacks.
    fill: Option<store::Filler>,
}

impl Shared {
    /// The regular file at `key` and its length, made from the store
    /// first in `--store` mode; `None` for a miss. Blocking. The error is
    /// for the log only.
    fn open(&self, key: &Key) -> Result<Option<(std::fs::File, u64)>, String> {
        if let Some(found) = self.root.open(key).map_err(|e| e.to_string())? {
            return Ok(Some(found));
        }
        let Some(fill) = &self.fill else {
            return Ok(None);
        };
        if !fill.fill(key).map_err(|e| e.to_string())? {
            return Ok(None);
        }
        self.root.open(key).map_err(|e| e.to_string())
    }
}

/// The router: one handler per kind of request, then the limits.
fn app(shared: Arc<Shared>) -> Router {
    let limits = shared.limits.clone();
    Router::new()
        .route("/_forge/narinfos", post(batch::narinfos))
        .fallback(object::object)
        .with_state(shared)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("a request handler panicked");
                    reply::fail(StatusCode::INTERNAL_SERVER_ERROR)
                }))
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    reply::fail(StatusCode::SERVICE_UNAVAILABLE)
                }))
                .load_shed()
                .concurrency_limit(limits.max_in_flight),
        )
}

/// Opens what `config` serves and binds its address.
/// A bound listener, its address, and what the handlers share.
type Prepared = (std::net::TcpListener, SocketAddr, Arc<Shared>);

fn prepare(config: ServeConfig) -> Result<Prepared, CacheError> {
    let (dir, name, store) = match config.source {
        Source::Dir(dir) => {
            let name = format!("file://{}", dir.display());
            (dir, name, None)
        }
        Source::Store(store) => {
            let name = format!("the store at {}", store.root.display());
            (store.dir(), name, Some(store))
        }
    };
    let setup = |what: &str| {
        let name = name.clone();
        let what = what.to_owned();
        move |source| CacheError::ServeSetup {
            cache: name,
            what,
            source,
        }
    };
    std::fs::create_dir_all(&dir).map_err(setup("creating the cache directory"))?;
    let root = fs::Root::new(&dir).map_err(setup("opening the cache directory"))?;
    let fill = match &store {
        Some(source) => Some(store::Filler::open(source, root.dir().to_owned()).map_err(
            |source| CacheError::ServeStore {
                cache: name.clone(),
                source: Box::new(source),
            },
        )?),
        None => None,
    };
    let priority = match (&store, config.priority) {
        (_, Some(p)) => Some(p),
        (Some(_), None) => Some(DEFAULT_PRIORITY),
        (None, None) => None,
    };
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| CacheError::Listen {
            cache: name.clone(),
            addr: config.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(setup("setting up the listener"))?;
    let shared = Shared {
        backend: FileBackend::new(root.dir()),
        root,
        token: config.upload_token,
        limits: config.limits,
        cache_info: priority.map(|p| CacheInfo::forge(p).to_text()),
        default_cache_info: CacheInfo::forge(DEFAULT_PRIORITY).to_text(),
        name,
        fill,
    };
    let addr = listener
        .local_addr()
        .map_err(|source| CacheError::ServeSetup {
            cache: shared.name.clone(),
            what: "reading the listening address".to_owned(),
            source,
        })?;
    Ok((listener, addr, Arc::new(shared)))
}

/// Runs the server on a runtime of its own until `stop` resolves, then
/// shuts down gracefully.
fn serve_blocking(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CacheError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("forge-serve")
        .max_blocking_threads(64)
        .build()
        .map_err(|source| CacheError::ServeSetup {
            cache: shared.name.clone(),
            what: "starting the async runtime".to_owned(),
            source,
        })?;
    runtime.block_on(serve(listener, shared, stop))
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CacheError> {
    let name = shared.name.clone();
    let limits = shared.limits.clone();
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|source| CacheError::ServeSetup {
            cache: name.clone(),
            what: "setting up the listener".to_owned(),
            source,
        })?;
    let listener = listener::Limited::new(listener, limits.max_connections);
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let mut graceful = stopped.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
        let _ = stopping.send(true);
    });
    let server = axum::serve(listener, app(shared))
        .with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|s| *s).await;
        })
        .into_future();
    tokio::select! {
        r = server => r.map_err(|source| CacheError::ServeSetup {
            cache: name,
            what: "serving".to_owned(),
            source,
        }),
        () = async {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(limits.shutdown_grace).await;
        } => {
            tracing::warn!(
                "requests still running {:?} after the shutdown signal were cut off",
                limits.shutdown_grace
            );
            Ok(())
        }
    }
}

/// Serves `config` until SIGINT or SIGTERM, then shuts down gracefully
/// and returns. `ready` is told the address once it is bound (with port
/// 0, the one the kernel chose).
pub fn run(config: ServeConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), CacheError> {
    let (listener, addr, shared) = prepare(config)?;
    tracing::info!(
        "serving {} on http://{addr}; uploads {}",
        shared.name,
        if shared.token.is_some() {
            "with the token"
        } else {
            "refused"
        }
    );
    ready(addr);
    serve_blocking(listener, shared, signals())
}

/// Resolves on SIGINT or SIGTERM (never, if the handlers cannot be set).
async fn signals() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// A server running in a thread of its own; stopped (gracefully) by
/// [`Server::stop`] or when dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), CacheError>>>,
}

impl Server {
    /// Binds `config.listen` and starts serving; returns once the port is
    /// bound, so requests can be made at once.
    pub fn start(config: ServeConfig) -> Result<Server, CacheError> {
        let (listener, addr, shared) = prepare(config)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("forge-serve".to_owned())
            .spawn(move || {
                serve_blocking(listener, shared, async move {
                    let _ = stopped.await;
                })
            })
            .map_err(|source| CacheError::ServeSetup {
                cache: format!("http://{addr}"),
                what: "starting the server thread".to_owned(),
                source,
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the cache's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits.
    pub fn stop(mut self) -> Result<(), CacheError> {
        self.shut()
    }

    fn shut(&mut self) -> Result<(), CacheError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                tracing::error!("the server thread panicked");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shut();
    }
}

/// The key a request path names: `/` then a [`Key`], with no
/// percent-encoding (no cache name needs it, so `%2e%2e` and `%2f` are
/// refused rather than decoded) and nothing under `_forge/` (the
/// server's own endpoints).
pub(crate) fn key_of(path: &str) -> Option<Key> {
    let rest = path.strip_prefix('/')?;
    if rest.contains('%') || rest.split('/').next() == Some("_forge") {
        return None;
    }
    Key::new(rest).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_paths_name_keys_or_nothing() {
        assert_eq!(
            key_of("/nix-cache-info").unwrap().as_str(),
            "nix-cache-info"
        );
        assert_eq!(
            key_of("/nar/ab.nar.zst").unwrap().as_str(),
            "nar/ab.nar.zst"
        );
        for bad in [
            "/",
            "",
            "nix-cache-info",
            "/../etc/passwd",
            "/nar/../../x",
            "/%2e%2e/x",
            "/nar%2f..%2fx",
            "//etc/passwd",
            "/_forge/narinfos",
            "/.tmp-x",
        ] {
            assert!(key_of(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        /// Any path: no panic, and a key never leaves the cache.
        #[test]
        fn any_path_names_a_key_inside_or_nothing(p in "[/a-z.%2eEfF_!-]{0,30}") {
            if let Some(k) = key_of(&p) {
                prop_assert!(k.as_str().split('/').all(|c| !c.is_empty() && !c.starts_with('.')));
                prop_assert!(!k.as_str().contains('%'));
            }
        }
    }
}
