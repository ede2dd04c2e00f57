//! `fetch` inputs: a download (optionally unpacked) pinned by its hash.
//!
//! A fetch is keyed by *what* is fetched (its hash, how it is unpacked, its
//! name), never by where from, so a mirror is the same fetch and a fetched
//! object is never downloaded again. The download runs in the fixed-output
//! sandbox: forge itself (`forge __fetch`, [`crate::fetch`]) with the
//! network, the host's resolver files and CA bundle, and read-only only the
//! forge binary and the libraries it loads. Its hash is checked again
//! outside the sandbox before the result is added to the store.

use std::fs;
use std::path::{Path, PathBuf};

use forge_core::derivation::FetchKey;
use forge_core::hash::Hash;
use forge_core::store_path::{StorePath, StorePathName};
use forge_sandbox::{Bind, Output, SandboxSpec};
use std::sync::{Arc, Mutex};

use crate::fetch::protocol::{self, Failure, FetcherArgs, Report};

use crate::error::BuildError;
use crate::event::Event;
use crate::log;
use crate::session::Session;

/// The store name and the action-cache key of a fetch: what is fetched
/// (its hash, how it is unpacked, its name), never where from, so a mirror
/// is the same fetch and a fetched object is never downloaded again.
pub fn fetch_key(
    url: &str,
    hash: &Hash,
    unpack: Option<forge_core::recipe::Unpack>,
) -> (String, FetchKey) {
    let name = fetch_name(url, unpack);
    let key = FetchKey::new(hash, unpack, &name);
    (name, key)
}

/// Adds the fetched (and unpacked) `out` to the store as `name` and records
/// it as the fetch `key`: what a recipe's fetch and `forge prefetch` both do
/// once the download is checked.
pub(crate) fn register_fetched(
    store: &mut forge_store::Store,
    out: &Path,
    name: &str,
    key: &FetchKey,
) -> Result<StorePath, forge_store::StoreError> {
    let added = store.add_source(
        out,
        StorePathName::sanitize(name),
        &forge_store::tree::NoProgress,
    )?;
    store.register_fetch(key, &added.info.path)?;
    Ok(added.info.path)
}

impl Session<'_> {
    /// The store path of a `fetch` input if it was fetched before.
    pub(crate) fn fetched_before(
        &self,
        url: &str,
        hash: &Hash,
        unpack: Option<forge_core::recipe::Unpack>,
    ) -> Result<Option<StorePath>, BuildError> {
        let (_, key) = fetch_key(url, hash, unpack);
        Ok(self.store().fetched(&key)?)
    }

    /// The store path of `fetch` input `input` of recipe `i`: looked up by
    /// what is fetched, downloaded in the fixed-output sandbox if missing.
    pub fn realise_fetch(
        &self,
        i: usize,
        input: &str,
        url: &str,
        hash: &Hash,
        unpack: Option<forge_core::recipe::Unpack>,
    ) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let (name, key) = fetch_key(url, hash, unpack);
        if let Some(p) = self.store().fetched(&key)? {
            return Ok(p);
        }
        // One download per object across processes; look again once ours.
        let _lock = self.build_lock(
            &key.action_digest(),
            &node.recipe.store_name(),
            &format!("fetching {url}"),
        )?;
        if let Some(p) = self.store().fetched(&key)? {
            return Ok(p);
        }
        self.reporter.event(&Event::Fetching {
            recipe: node.recipe.store_name(),
            url: url.to_owned(),
        });
        let work = self
            .store()
            .scratch_dir(&format!("fetch-{}", &key.to_hex()[..12]))?;
        let build_dir = work.path().join("build");
        fs::create_dir(&build_dir).map_err(|source| BuildError::Io {
            what: format!("creating {}", build_dir.display()),
            source,
        })?;
        // The fetcher is forge itself, in the fixed-output sandbox: the
        // network, the host's resolv.conf and CA bundle, and read-only only
        // the forge binary and the libraries it loads; nothing else.
        let exe = fs::canonicalize(&self.opts.forge_exe).map_err(|source| BuildError::Io {
            what: format!("resolving {}", self.opts.forge_exe.display()),
            source,
        })?;
        let mut args = FetcherArgs::new(url, *hash, PathBuf::from("/build/out"));
        if let Some(u) = unpack {
            // Keep the archive, to check its hash outside the sandbox too.
            fs::create_dir(build_dir.join("work")).map_err(|source| BuildError::Io {
                what: format!("creating {}", build_dir.join("work").display()),
                source,
            })?;
            args.unpack = Some(u);
            args.work_dir = Some(PathBuf::from("/build/work"));
            args.keep_download = true;
        }
        let command = [exe.display().to_string(), protocol::COMMAND.to_owned()]
            .into_iter()
            .chain(args.to_args())
            .collect();
        let mut spec = self.local.spec_for(command);
        spec.network = true;
        spec.binds.extend(forge_sandbox::spec::network_binds());
        let closure = crate::seed::resolve::executable_closure(&exe).map_err(|source| {
            BuildError::FetcherUnavailable {
                url: url.to_owned(),
                exe: exe.clone(),
                source: Box::new(source),
            }
        })?;
        for f in closure {
            spec.binds.push(Bind {
                host: fs::canonicalize(&f).unwrap_or_else(|_| f.clone()),
                inside: f,
                writable: false,
            });
        }
        // A file:// URL names a host file: that one file is exposed too.
        if let Some(local) = url.strip_prefix("file://") {
            let local = PathBuf::from(local);
            if let Ok(real) = fs::canonicalize(&local) {
                spec.binds.push(Bind {
                    host: real,
                    inside: local,
                    writable: false,
                });
            }
        }
        spec.build_dir = Some(build_dir.clone());
        let log_path = log::log_file(self.layout.root(), &key.to_hex());
        // The fetcher reports what it does in lines of its own
        // ([`protocol::Report`]): progress reaches the reporter through a
        // channel (the log writer owns what it calls), a failure is kept.
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Option<u64>)>();
        let failure = Arc::new(Mutex::new(None));
        let hook: log::LineHook = {
            let failure = failure.clone();
            Box::new(move |line: &str| match Report::parse(line) {
                Some(Report::Progress { done, total }) => {
                    let _ = tx.send((done, total));
                }
                Some(Report::Failed(f)) => {
                    *failure.lock().expect("fetch failure lock") = Some(f);
                }
                _ => {}
            })
        };
        let recipe = node.recipe.store_name();
        let (outcome, tail) = std::thread::scope(|s| {
            s.spawn(|| {
                for (done, total) in rx {
                    self.reporter.event(&Event::FetchProgress {
                        recipe: recipe.clone(),
                        url: url.to_owned(),
                        done,
                        total,
                    });
                }
            });
            self.run_fetcher(&spec, &log_path, &format!("fetch {name}> "), hook)
        })?;
        if outcome.code != Some(0) {
            // The fetcher's own report; or, if it died without one, the
            // last lines it printed.
            let reported = failure.lock().expect("fetch failure lock").take();
            let Failure { message, hint } = reported.unwrap_or_else(|| Failure {
                message: tail
                    .into_iter()
                    .filter(|l| !Report::is_report(l))
                    .collect::<Vec<_>>()
                    .join("\n"),
                hint: None,
            });
            let loc = node.recipe.input_location(input);
            return Err(BuildError::Fetch(Box::new(crate::error::FetchFailed {
                file: node.file.clone(),
                line: loc.line,
                column: loc.column,
                input: input.to_owned(),
                url: url.to_owned(),
                message,
                hint,
            })));
        }
        let out = build_dir.join("out");
        {
            // Check again outside the sandbox: the hash is what makes a
            // download trustworthy. For an archive, the download it was
            // unpacked from (kept with --keep-download).
            let download = if unpack.is_none() {
                out.clone()
            } else {
                build_dir.join("work").join("download")
            };
            let actual = hash_file(&download, hash.algo())?;
            if &actual != hash {
                return Err(BuildError::HashMismatch {
                    what: url.to_owned(),
                    algo: hash.algo().to_string(),
                    expected: hash.to_hex(),
                    actual: actual.to_hex(),
                });
            }
        }
        Ok(register_fetched(&mut self.store(), &out, &name, &key)?)
    }

    /// Runs the fetcher's `spec` with its output captured into the log at
    /// `log_path`, each line handed to `hook`; returns the outcome and the
    /// log's last lines. A cancelled run is [`BuildError::Interrupted`].
    fn run_fetcher(
        &self,
        spec: &SandboxSpec,
        log_path: &Path,
        prefix: &str,
        hook: log::LineHook,
    ) -> Result<(forge_sandbox::Outcome, Vec<String>), BuildError> {
        let (outcome, tail) = self.logged(log_path, prefix, Some(hook), |log| {
            self.local.run(
                spec,
                Output::Capture(Box::new(log.clone())),
                Some(self.cancel.clone()),
            )
        })?;
        if outcome.cancelled {
            return Err(BuildError::Interrupted);
        }
        Ok((outcome, tail))
    }
}

/// The hash of the file at `path`.
fn hash_file(path: &Path, algo: forge_core::hash::HashAlgo) -> Result<Hash, BuildError> {
    let mut f = fs::File::open(path).map_err(|source| BuildError::Io {
        what: format!("reading the download {}", path.display()),
        source,
    })?;
    let mut h = forge_core::hash::Hasher::new(algo);
    std::io::copy(&mut f, &mut h).map_err(|source| BuildError::Io {
        what: format!("hashing the download {}", path.display()),
        source,
    })?;
    Ok(h.finalize())
}

/// The store name of a fetched input: the URL's file name, without the
/// archive extension when it is unpacked.
fn fetch_name(url: &str, unpack: Option<forge_core::recipe::Unpack>) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let base = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let mut name = base.to_owned();
    if unpack.is_some() {
        for ext in [
            ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tar.bz2", ".tbz2", ".tar", ".zip",
            ".whl", ".deb",
        ] {
            if let Some(stem) = name.strip_suffix(ext) {
                name = stem.to_owned();
                break;
            }
        }
    }
    name
}
