//! `forge build --check` (the derivation check): a realised derivation is
//! built again and its outputs compared with the recorded ones. A rebuild
//! that differs is kept at `<root>/check/<path>.check` (made as canonical as
//! a store object, without special files) beside its log, and the
//! differences are reported ([`Event::Checked`]); nothing is registered.

pub mod diff;

use std::collections::BTreeMap;
use std::path::Path;

use forge_core::store_path::StorePath;
use forge_store::outputs::BuiltOutput;

pub use self::diff::{diff_trees, first_difference_in, COMPARE_BUFFER};
use crate::error::BuildError;
use crate::event::Event;
use crate::session::Session;

impl Session<'_> {
    /// `--check`: the rebuild's outputs against the realised ones.
    pub fn compare(
        &self,
        name: &str,
        built: &[BuiltOutput],
        log: &Path,
        previous: &BTreeMap<String, StorePath>,
    ) -> Result<(BTreeMap<String, StorePath>, Option<bool>), BuildError> {
        let mut detail = Vec::new();
        let mut same = true;
        // Every output's placeholder (an output may name its siblings) maps
        // to the recorded path, so that only real differences remain.
        let pairs: Vec<(&str, &str)> = built
            .iter()
            .map(|b| (b.placeholder.hash_part(), previous[&b.output].hash_part()))
            .collect();
        for b in built {
            let old = &previous[&b.output];
            let old_physical = self.layout.physical(old);
            let diffs =
                diff_trees(&old_physical, &b.staged, &pairs).map_err(|source| BuildError::Io {
                    what: format!("comparing {} with its rebuild", old),
                    source,
                })?;
            if !diffs.is_empty() {
                same = false;
                let (kept, removed) = self.state.keep_check(&b.staged, old)?;
                detail.push(format!(
                    "output `{}` differs from {old} (rebuild kept at {}, its log at {}):",
                    b.output,
                    kept.display(),
                    log.display()
                ));
                detail.extend(diffs.into_iter().map(|d| format!("  {d}")));
                detail.extend(
                    removed
                        .into_iter()
                        .map(|(p, kind)| format!("  {}: a {kind}, not kept", p.display())),
                );
            }
        }
        self.reporter.event(&Event::Checked {
            recipe: name.to_owned(),
            reproducible: same,
            detail,
        });
        Ok((previous.clone(), Some(same)))
    }
}
