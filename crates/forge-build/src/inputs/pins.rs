//! Pins in `recipe.lock`: what a `path` input without a hash in the recipe,
//! or a seed, hashed to when it was locked ([`crate::lockfile`]).

use forge_core::hash::Hash;

use crate::error::BuildError;
use crate::session::Session;

impl Session<'_> {
    /// Compares `actual` with the lock entry of `input` of recipe `i`;
    /// records it when there is none (or when updating locks).
    pub fn check_pin(
        &self,
        i: usize,
        input: &str,
        kind: &'static str,
        what: &str,
        actual: &Hash,
    ) -> Result<(), BuildError> {
        let node = &self.graph.nodes[i];
        let mut lock = self.locks[i].lock().expect("lock file lock");
        match lock.hash(input, kind) {
            Some(h) if &h == actual => Ok(()),
            Some(h) if !self.opts.update_locks => {
                let loc = node.recipe.input_location(input);
                Err(BuildError::StaleHash(Box::new(crate::error::StaleHash {
                    file: node.file.clone(),
                    line: loc.line,
                    column: loc.column,
                    kind,
                    input: input.to_owned(),
                    source_path: what.to_owned(),
                    expected: h.to_hex(),
                    actual: actual.to_hex(),
                    pinned_in: "recipe.lock".into(),
                })))
            }
            _ => {
                lock.set(input, kind, actual);
                Ok(())
            }
        }
    }
}
