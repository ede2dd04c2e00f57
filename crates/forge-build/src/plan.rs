//! `forge build --dry-run`: what a build would do, found without doing it.
//!
//! Each recipe of the graph is taken as far as it can be without fetching
//! or building: its `path` inputs and seeds are hashed and added to the
//! store as a build would (a derivation cannot be known without them; Nix's
//! dry run copies sources too), its `fetch` inputs are looked up by what
//! they fetch, and, if every input is known, its derivation's action digest
//! is looked up in the store and then asked of each substituter (no
//! download). A recipe whose inputs are not all known yet (a dependency
//! that would be built, a download that would be fetched) would be built
//! after them: its derivation, and so whether it is realised, is known
//! only once they are. Lock files are not written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use forge_core::recipe::Input;
use forge_core::store_path::StorePath;
use serde::Serialize;

use crate::error::BuildError;
use crate::report::Realised;
use crate::session::Session;

/// What a build would do with one recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Step {
    /// Every output is realised in the store: nothing to do.
    Realised,
    /// A substituter has every output (named by it).
    Substitute {
        /// The substituter's name (a cache's URL).
        from: String,
    },
    /// Its derivation is known and not realised: it would be built.
    Build,
    /// It would be built once what it needs is fetched or built; whether
    /// its derivation is realised already is known only then.
    BuildAfterInputs,
}

/// One recipe of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// `name-version`.
    pub recipe: String,
    /// The recipe file.
    pub file: PathBuf,
    /// What would happen to it.
    #[serde(flatten)]
    pub step: Step,
    /// Its action digest, when its inputs are all known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_digest: Option<String>,
    /// Its outputs, when realised.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, StorePath>,
    /// The URLs of its `fetch` inputs that would be downloaded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fetches: Vec<String>,
}

impl Session<'_> {
    /// Plans recipe `i`, whose dependencies are planned; the [`Realised`]
    /// returned has outputs only if they are known (realised), so that a
    /// dependent's derivation is computed only from real paths.
    pub fn plan(&self, i: usize) -> Result<(Planned, Realised), BuildError> {
        let node = &self.graph.nodes[i];
        let mut planned = Planned {
            recipe: node.recipe.store_name(),
            file: node.file.clone(),
            step: Step::BuildAfterInputs,
            action_digest: None,
            outputs: BTreeMap::new(),
            fetches: Vec::new(),
        };
        let mut resolved = BTreeMap::new();
        let mut complete = true;
        for (name, input) in &node.recipe.inputs {
            let path = match input {
                Input::Recipe { .. } => self.dependency_output(node, name),
                Input::Path { path, hash } => {
                    Some(self.realise_path(i, name, path, hash.as_ref())?)
                }
                Input::Seed { name: seed } => Some(self.realise_seed(i, name, seed)?),
                Input::Fetch { url, hash, unpack } => {
                    let found = self.fetched_before(url, hash, *unpack)?;
                    if found.is_none() {
                        planned.fetches.push(url.clone());
                    }
                    found
                }
            };
            match path {
                Some(p) => {
                    resolved.insert(name.clone(), p);
                }
                None => complete = false,
            }
        }
        let unknown = Realised::new(node, String::new(), BTreeMap::new(), false);
        if !complete {
            return Ok((planned, unknown));
        }
        let drv = self.derivation_from(i, &resolved)?;
        let digest = drv.action_digest();
        planned.action_digest = Some(digest.to_string());
        if let Some(outputs) = self.lookup(&drv, &digest)? {
            planned.step = Step::Realised;
            planned.outputs = outputs.clone();
            let real = Realised::new(node, digest.to_string(), outputs, false);
            return Ok((planned, real));
        }
        planned.step = Step::Build;
        for s in self.substituters {
            match s.realisations(&digest, &drv.outputs) {
                Ok(Some(found)) if found.keys().eq(drv.outputs.iter()) => {
                    planned.step = Step::Substitute {
                        from: s.name().to_owned(),
                    };
                    break;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("asking {} for {}: {e}", s.name(), planned.recipe),
            }
        }
        Ok((planned, unknown))
    }
}
