//! `path` inputs: a host tree (inside the recipe's repository unless
//! allowed; see [`crate::inputs`]) hashed, checked against its pin (in the
//! recipe or in `recipe.lock`) and added to the store with no references.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::{StorePath, StorePathName};

use crate::error::BuildError;
use crate::session::Session;

impl Session<'_> {
    /// The store path of `path` input `input` of recipe `i` (`rel` to the
    /// recipe's directory), pinned by `pinned` or by the lock file.
    pub fn realise_path(
        &self,
        i: usize,
        input: &str,
        rel: &str,
        pinned: Option<&Hash>,
    ) -> Result<StorePath, BuildError> {
        let node = &self.graph.nodes[i];
        let host = node.dir.join(rel);
        let loc = node.recipe.input_location(input);
        // A symlink names what it points to: that is what is hashed (the
        // source cache resolves it) and must be what is added, or the pin
        // would describe other bytes than the build sees. A dangling one is
        // a missing path.
        let Ok(host) = fs::canonicalize(&host) else {
            return Err(BuildError::MissingPath {
                file: node.file.clone(),
                line: loc.line,
                column: loc.column,
                input: input.to_owned(),
                path: host,
            });
        };
        self.check_host_path(i, input, &host)?;
        let want_sha = pinned.is_some_and(|h| h.algo() == HashAlgo::Sha256);
        let known = self
            .source_hashes
            .lock()
            .expect("source hashes lock")
            .get(&host)
            .cloned();
        let hashed = match known {
            Some(h) => h,
            None => {
                let h = self.store().hash_source(&host)?;
                self.source_hashes
                    .lock()
                    .expect("source hashes lock")
                    .insert(host.clone(), h.clone());
                h
            }
        };
        let (b3, sha) = (hashed.nar_blake3, hashed.nar_sha256);
        let name = StorePathName::sanitize(
            &Path::new(rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.to_owned()),
        );
        if let Some(h) = pinned {
            let actual = if want_sha { sha } else { b3 };
            if &actual != h {
                let hl = node.recipe.input_hash_location(input);
                return Err(BuildError::StaleHash(Box::new(crate::error::StaleHash {
                    file: node.file.clone(),
                    line: hl.line,
                    column: hl.column,
                    kind: "path",
                    input: input.to_owned(),
                    source_path: host.display().to_string(),
                    expected: h.to_hex(),
                    actual: actual.to_hex(),
                    pinned_in: "the recipe".into(),
                    locked: false,
                })));
            }
        } else {
            self.check_pin(i, input, "path", &host.display().to_string(), &b3)?;
        }
        self.add_source(&host, name, &b3)
    }

    /// The repository boundary and the private-file rule for the resolved
    /// `path` input `host` of recipe `i` ([`crate::inputs`]).
    fn check_host_path(&self, i: usize, input: &str, host: &Path) -> Result<(), BuildError> {
        let node = &self.graph.nodes[i];
        let repository = crate::inputs::repository_root(&node.dir);
        let key = (host.to_owned(), repository);
        if self
            .host_paths_ok
            .lock()
            .expect("host paths lock")
            .contains(&key)
        {
            return Ok(());
        }
        crate::inputs::check_path_input(host, &key.1, &self.opts.host_access).map_err(
            |problem| {
                let loc = node.recipe.input_location(input);
                BuildError::HostPath {
                    at: format!(
                        "{}:{}:{}: path input `{input}`",
                        node.file.display(),
                        loc.line,
                        loc.column
                    ),
                    problem,
                }
            },
        )?;
        self.host_paths_ok
            .lock()
            .expect("host paths lock")
            .insert(key);
        Ok(())
    }

    /// Adds a host tree with no references, unless its path is valid.
    pub fn add_source(
        &self,
        host: &Path,
        name: StorePathName,
        b3: &Hash,
    ) -> Result<StorePath, BuildError> {
        let expected = StorePath::content_addressed(name.clone(), b3, &BTreeSet::new(), false);
        let mut store = self.store();
        if store.db().is_valid(&expected)? {
            return Ok(expected);
        }
        let added = store.add_source(host, name, &forge_store::tree::NoProgress)?;
        Ok(added.info.path)
    }
}
