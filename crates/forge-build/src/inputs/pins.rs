//! Pins in `recipe.lock`: what a `path` input without a hash in the recipe,
//! or a seed, hashed to when it was locked ([`crate::lockfile`]).

use forge_core::hash::Hash;

use crate::error::BuildError;
use crate::event::Event;
use crate::session::Session;

impl Session<'_> {
    /// Compares `actual` with the lock entry of `input` of recipe `i`, and
    /// records it when there is none. A `path` input that changed is
    /// re-pinned (and reported); a seed only with `update_locks`. With
    /// `locked`, any change is an error.
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
        let loc = node.recipe.input_location(input);
        match lock.hash(input, kind) {
            Some(h) if &h == actual => Ok(()),
            Some(h) if self.opts.locked || (kind == "seed" && !self.opts.update_locks) => {
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
                    locked: self.opts.locked,
                })))
            }
            None if self.opts.locked => Err(BuildError::Unpinned {
                file: node.file.clone(),
                line: loc.line,
                column: loc.column,
                kind,
                input: input.to_owned(),
                lock_file: lock.file.clone(),
            }),
            Some(old) => {
                lock.set(input, kind, actual);
                self.reporter.event(&Event::Repinned {
                    recipe: node.recipe.store_name(),
                    input: input.to_owned(),
                    kind: kind.to_owned(),
                    lock_file: lock.file.clone(),
                    new: actual.to_string(),
                    old: old.to_string(),
                });
                Ok(())
            }
            None => {
                lock.set(input, kind, actual);
                Ok(())
            }
        }
    }
}
