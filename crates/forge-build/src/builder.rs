//! Running one build (the derivation builder): a [`BuildRequest`] for the
//! [`Executor`](crate::Executor), the output size limit watched while it
//! runs, the fixed-output hash checked once it is done, and the outputs
//! handed to the store ([`forge_store::outputs`]: scanned for references,
//! content-addressed, rewritten, moved in and registered with their
//! realisations in one transaction), or compared under `--check`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use forge_core::derivation::Derivation;
use forge_core::hash::HashAlgo;
use forge_core::store_path::{StorePath, STORE_DIR};
use forge_store::outputs::BuiltOutput;

use crate::error::BuildError;
use crate::executor::{BuilderStatus, ExecContext};
use crate::graph::Node;
use crate::log::{self, LogWriter};
use crate::request::BuildRequest;
use crate::session::Session;

impl Session<'_> {
    /// The request for `drv` of `node`: its input closure looked up in
    /// the store, the recipe's resources (not part of the derivation).
    pub fn request(&self, node: &Node, drv: &Derivation) -> Result<BuildRequest, BuildError> {
        let mut wanted: Vec<StorePath> = drv.input_paths().into_iter().collect();
        wanted.extend(drv.root.iter().cloned());
        let closure: BTreeSet<StorePath> = self.store().closure(&wanted)?.into_iter().collect();
        let resources = &node.recipe.sandbox.resources;
        Ok(BuildRequest::new(drv, closure, self.opts.cores, resources))
    }

    /// A scratch directory for a build of `request` (removed when dropped)
    /// and, in it, the empty staging directory that stands for
    /// `/forge/store` (and, for `build-dir = "disk"`, the `/build` beside
    /// it).
    pub fn staging(
        &self,
        request: &BuildRequest,
    ) -> Result<(forge_store::ScratchDir, std::path::PathBuf), BuildError> {
        let hex = request.action_digest.as_hash().to_hex();
        let work = self.store().scratch_dir(&format!("build-{}", &hex[..12]))?;
        let staging = work.path().join("store");
        let mut dirs = vec![staging.clone()];
        if request.build_on_disk {
            dirs.push(crate::local::disk_build_dir(&staging));
        }
        for dir in dirs {
            std::fs::create_dir(&dir).map_err(|source| BuildError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
        }
        Ok((work, staging))
    }

    /// Runs the builder of `drv` and registers its outputs. With `previous`
    /// (a `--check` rebuild), compares instead and reports.
    pub fn run_builder(
        &self,
        node: &Node,
        drv: &Derivation,
        previous: Option<&BTreeMap<String, StorePath>>,
    ) -> Result<(BTreeMap<String, StorePath>, Option<bool>), BuildError> {
        let name = node.recipe.store_name();
        let hex = drv.action_digest().as_hash().to_hex();
        let request = self.request(node, drv)?;
        let started = std::time::Instant::now();
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let (_work, staging) = self.staging(&request)?;
        let log_path = match previous {
            Some(_) => log::check_log_file(self.layout.root(), &hex),
            None => log::log_file(self.layout.root(), &hex),
        };
        // This build's own cancel flag: set by the global one, or by the
        // watcher when an output grows past the size limit.
        let cancel = Arc::new(AtomicBool::new(false));
        // Each output, and all the builder wrote to its scratch /forge/store
        // (outputs and anything beside them: the host's disk either way),
        // and a `build-dir = "disk"` /build, the host's disk too (without
        // it there, a recipe could fill the store's disk).
        let disk_build = request.build_on_disk.then(|| {
            (
                "what it wrote to /build".to_owned(),
                crate::local::disk_build_dir(&staging),
            )
        });
        let watched = request
            .outputs
            .iter()
            .map(|(o, ph)| (format!("output `{o}`"), staging.join(ph.base_name())))
            .chain(std::iter::once((
                format!("what it wrote to {STORE_DIR}"),
                staging.clone(),
            )))
            .chain(disk_build)
            .collect::<Vec<_>>();
        let limit = self.opts.max_output_size;
        let watcher = crate::limits::Watcher::start(
            watched.clone(),
            limit,
            cancel.clone(),
            self.cancel.clone(),
        );
        let run = self.execute_logged(&request, &staging, &log_path, &cancel);
        let too_large = |what: String, size: u64, limit: u64| BuildError::OutputTooLarge {
            name: name.clone(),
            what,
            size,
            limit: crate::limits::format_size(limit),
            log: log_path.clone(),
        };
        if let (Some((output, size)), Some(limit)) = (watcher.finish(), limit) {
            if !self.cancel.load(Ordering::Relaxed) {
                return Err(too_large(output, size, limit));
            }
        }
        let (status, tail) = run?;
        if previous.is_none() {
            let record = log::BuildRecord {
                recipe: name.clone(),
                file: node.file.clone(),
                dir: node.dir.clone(),
                action_digest: drv.action_digest().to_string(),
                started: started_at,
                seconds: started.elapsed().as_secs_f64(),
                status: status.describe(),
            };
            if let Err(e) = log::write_record(self.layout.root(), &hex, &record) {
                tracing::warn!("recording the build of {name} beside its log: {e}");
            }
        }
        if status != BuilderStatus::Success {
            return Err(BuildError::BuildFailed {
                name,
                file: node.file.clone(),
                status: status.describe(),
                log: Some(log_path),
                tail,
            });
        }
        if let Some(limit) = limit {
            // Exact, before anything reads the contents.
            for (output, path) in &watched {
                let size = forge_store::tree::apparent_size(path, limit).unwrap_or_else(|p| p);
                if size > limit {
                    return Err(too_large(output.clone(), size, limit));
                }
            }
        }
        let built: Vec<BuiltOutput> = request
            .outputs
            .iter()
            .map(|(o, ph)| BuiltOutput {
                output: o.clone(),
                staged: staging.join(ph.base_name()),
                placeholder: ph.clone(),
            })
            .collect();
        if request.output_hash.is_some() {
            check_fixed_output(&name, &request, &built[0])?;
        }
        if let Some(previous) = previous {
            return self.compare(&name, &built, &log_path, previous);
        }
        let registered = {
            // A fixed output's path comes from its hash alone: it is
            // registered without references (there are none: checked).
            let closure = if request.output_hash.is_some() {
                BTreeSet::new()
            } else {
                request.inputs
            };
            self.store()
                .register_build_outputs(&request.action_digest, &built, &closure)?
        };
        Ok((
            registered
                .into_iter()
                .map(|(o, r)| (o, r.info.path))
                .collect(),
            None,
        ))
    }

    /// Runs `request` on the executor with its output captured into the
    /// log at `log_path`; returns how the builder ended and the log's last
    /// lines. A cancelled run is [`BuildError::Interrupted`].
    fn execute_logged(
        &self,
        request: &BuildRequest,
        staging: &Path,
        log_path: &Path,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(BuilderStatus, Vec<String>), BuildError> {
        let prefix = format!("{}> ", request.name);
        self.logged(log_path, &prefix, None, |log| {
            self.executor.execute(
                request,
                &ExecContext {
                    staging,
                    layout: &self.layout,
                    log,
                    cancel,
                },
            )
        })
    }

    /// Runs `run` with a log at `log_path` (echoed after `prefix` under
    /// `-L`, each line also handed to `hook`), finished whatever `run`
    /// returns; gives `run`'s result and the log's last lines.
    pub fn logged<T>(
        &self,
        log_path: &Path,
        prefix: &str,
        hook: Option<log::LineHook>,
        run: impl FnOnce(&LogWriter) -> Result<T, BuildError>,
    ) -> Result<(T, Vec<String>), BuildError> {
        let log =
            LogWriter::create(log_path, self.log_options(prefix), hook).map_err(|source| {
                BuildError::Io {
                    what: format!("creating log {}", log_path.display()),
                    source,
                }
            })?;
        let result = run(&log);
        let tail = log.finish().map_err(|source| BuildError::Io {
            what: format!("writing log {}", log_path.display()),
            source,
        })?;
        Ok((result?, tail))
    }
}

/// A fixed output must hash to its declared hash and refer to no store
/// path, its own included (its hash is checked before any rewriting, so a
/// fixed output naming its own path could never match what is stored).
/// One pass: the hash, and a scan for its own path and every input's.
fn check_fixed_output(
    name: &str,
    request: &BuildRequest,
    out: &BuiltOutput,
) -> Result<(), BuildError> {
    let expected = request.output_hash.as_ref().expect("a fixed output");
    let sha = expected.algo() == HashAlgo::Sha256;
    let candidates = std::iter::once(&out.placeholder).chain(request.inputs.iter());
    let scan = forge_store::tree::hash_tree(
        &out.staged,
        sha,
        Some(forge_core::refs::RefScanner::new(candidates)),
        &forge_store::tree::NoProgress,
    )?;
    if scan.references.contains(&out.placeholder) {
        return Err(BuildError::SelfReferencingFixedOutput {
            name: name.to_owned(),
        });
    }
    let actual = if sha {
        scan.sha256.expect("asked for sha256")
    } else {
        scan.blake3
    };
    if &actual != expected {
        return Err(BuildError::HashMismatch {
            what: format!("{name}: fixed output"),
            algo: expected.algo().to_string(),
            expected: expected.to_hex(),
            actual: actual.to_hex(),
        });
    }
    // Its path comes from its hash alone and it is registered without
    // references, as in Nix: so it may have none.
    if let Some(reference) = scan.references.iter().next() {
        return Err(BuildError::FixedOutputReferences {
            name: name.to_owned(),
            output: out.output.clone(),
            reference: reference.to_string(),
        });
    }
    Ok(())
}
