//! Realising one recipe (the derivation goal): its inputs become store
//! paths, they and the recipe make a [`Derivation`], and its outputs are
//! found, substituted or built, in that order. docs/build.md describes the
//! algorithm; this module is its code:
//!
//! 1. **Inputs** ([`crate::inputs`]): a `recipe` input is the realised
//!    output of that recipe (the scheduler ran it first); `path`, `seed`
//!    and `fetch` inputs are realised by their own modules.
//! 2. **Lookup**: the derivation's action digest keys the realisations
//!    table; if every output is realised (and valid), nothing runs. That
//!    is the no-op rebuild and the early cutoff (a dependency rebuilt to
//!    identical bytes has the same path, so the dependent's derivation,
//!    and digest, are unchanged).
//! 3. **Substitution** ([`crate::substitute`]): each substituter is asked
//!    for the realisation before any lock is taken or anything built.
//! 4. **Lock**: under a per-digest lock (a second `forge` building the same
//!    derivation waits, then finds it realised), the lookup is repeated.
//! 5. **Build** ([`crate::builder`]): the executor runs the builder and the
//!    store registers the outputs, or `--check` compares them
//!    ([`crate::check`]).

use std::collections::BTreeMap;
use std::time::Instant;

use forge_core::derivation::{ActionDigest, Derivation, OutputName};
use forge_core::recipe::Input;
use forge_core::store_path::StorePath;

use crate::error::BuildError;
use crate::event::Event;
use crate::graph::Node;
use crate::log;
use crate::report::Realised;
use crate::session::Session;

impl Session<'_> {
    /// Realises recipe `i`, whose dependencies are realised.
    pub fn realise(&self, i: usize) -> Result<Realised, BuildError> {
        let started = Instant::now();
        let node = &self.graph.nodes[i];
        let drv = self.derivation(i)?;
        let digest = drv.action_digest();
        let checking =
            self.opts.check && (self.opts.rebuild_all || self.graph.targets.contains(&i));
        let known = self.lookup(&drv, &digest)?;
        if let (Some(outputs), false) = (&known, checking) {
            return Ok(self.finished(node, &digest, outputs.clone(), false, started));
        }
        if !checking {
            if let Some(outputs) = self.substitute(node, &drv) {
                return Ok(self.finished(node, &digest, outputs, false, started));
            }
        }
        // One builder per derivation across processes.
        let name = node.recipe.store_name();
        let _build_lock = self.build_lock(&digest, &name, &format!("building {name}"))?;
        let known = match known {
            Some(k) => Some(k),
            None => self.lookup(&drv, &digest)?,
        };
        if let (Some(outputs), false) = (&known, checking) {
            return Ok(self.finished(node, &digest, outputs.clone(), false, started));
        }
        if checking && known.is_none() {
            return Err(BuildError::NothingToCheck {
                name: node.recipe.store_name(),
                file: node.file.clone(),
            });
        }
        self.store()
            .register_derivation(&drv, &node.recipe.store_name())?;
        self.reporter.event(&Event::BuildStarted {
            recipe: node.recipe.store_name(),
        });
        let (outputs, reproducible) = self.run_builder(node, &drv, known.as_ref())?;
        let mut real = self.finished(node, &digest, outputs, true, started);
        real.reproducible = reproducible;
        Ok(real)
    }

    /// Recipe `i`'s inputs realised and made, with the recipe, into its
    /// derivation (recorded as the recipe's latest for `forge log`).
    pub fn derivation(&self, i: usize) -> Result<Derivation, BuildError> {
        let node = &self.graph.nodes[i];
        let mut resolved = BTreeMap::new();
        for (name, input) in &node.recipe.inputs {
            let path = match input {
                Input::Recipe { .. } => self.recipe_input(node, name)?,
                Input::Path { path, hash } => self.realise_path(i, name, path, hash.as_ref())?,
                Input::Seed { name: seed } => self.realise_seed(i, name, seed)?,
                Input::Fetch { url, hash, unpack } => {
                    self.realise_fetch(i, name, url, hash, *unpack)?
                }
            };
            resolved.insert(name.clone(), path);
        }
        let drv = self.derivation_from(i, &resolved)?;
        let hex = drv.action_digest().as_hash().to_hex();
        let _ = log::record_recipe(self.layout.root(), &node.dir, &hex);
        Ok(drv)
    }

    /// Recipe `i`'s derivation, its inputs resolved to `resolved`.
    pub(crate) fn derivation_from(
        &self,
        i: usize,
        resolved: &BTreeMap<String, StorePath>,
    ) -> Result<Derivation, BuildError> {
        let node = &self.graph.nodes[i];
        Derivation::from_recipe(&node.recipe, resolved, &self.opts.system).map_err(|source| {
            BuildError::Derivation {
                file: node.file.clone(),
                source,
            }
        })
    }

    /// The output a `recipe` input `name` of `node` names, realised before.
    fn recipe_input(&self, node: &Node, name: &str) -> Result<StorePath, BuildError> {
        self.dependency_output(node, name)
            .ok_or(BuildError::Interrupted)
    }

    /// The path of the output that `recipe` input `name` of `node` names,
    /// if its recipe's result is known (and has it).
    pub(crate) fn dependency_output(&self, node: &Node, name: &str) -> Option<StorePath> {
        let (_, dep, output) = node
            .deps
            .iter()
            .find(|(n, _, _)| n == name)
            .expect("graph has every recipe input");
        let results = self.results.lock().expect("results lock");
        results[*dep]
            .as_ref()
            .and_then(|r| r.outputs.get(output))
            .cloned()
    }

    /// Every output's realisation, if all are recorded and valid.
    pub fn lookup(
        &self,
        drv: &Derivation,
        digest: &ActionDigest,
    ) -> Result<Option<BTreeMap<String, StorePath>>, BuildError> {
        let outputs = output_names(drv);
        let found = self.store().realisations(digest, &outputs)?;
        Ok(found.map(|v| {
            v.into_iter()
                .map(|(o, p)| (o.as_str().to_owned(), p))
                .collect()
        }))
    }

    /// `node`'s result, reported as finished.
    fn finished(
        &self,
        node: &Node,
        digest: &ActionDigest,
        outputs: BTreeMap<String, StorePath>,
        built: bool,
        started: Instant,
    ) -> Realised {
        let real = Realised::new(node, digest.to_string(), outputs, built);
        self.reporter.event(&Event::Finished {
            recipe: real.name.clone(),
            built: real.built,
            outputs: real.outputs.clone(),
            seconds: started.elapsed().as_secs_f64(),
        });
        real
    }
}

/// The output names of `drv`, typed.
pub(crate) fn output_names(drv: &Derivation) -> Vec<OutputName> {
    drv.outputs
        .iter()
        .map(|o| {
            // `Derivation::validate` checks them by the same rule.
            OutputName::new(o).expect("a derivation's outputs have valid names")
        })
        .collect()
}
