//! The action cache in types: derivations by [`ActionDigest`], and
//! realisations `(action digest, output) -> path` (docs/store.md,
//! docs/build.md). The database stores them as text; these are the entry
//! points the build engine uses.

use std::collections::BTreeSet;

use forge_core::derivation::{ActionDigest, Derivation, FetchKey, OutputName};
use forge_core::store_path::StorePath;

use crate::db::Realisation;
use crate::error::Result;
use crate::Store;

impl Store {
    /// Records `drv` in its canonical serialisation with its outputs, under
    /// its action digest; `name` is what `forge` shows for it (the recipe's
    /// `name-version`). Recording it again is a no-op.
    pub fn register_derivation(&mut self, drv: &Derivation, name: &str) -> Result<()> {
        self.db.register_derivation(
            &drv.action_digest().to_string(),
            name,
            &drv.to_canonical_bytes(),
            &drv.outputs,
        )
    }

    /// The path `output` of `digest` realised to, if recorded (and valid:
    /// a collected path's realisation goes with it).
    pub fn realisation(
        &self,
        digest: &ActionDigest,
        output: &OutputName,
    ) -> Result<Option<Realisation>> {
        self.db.realisation(&digest.to_string(), output.as_str())
    }

    /// The paths the outputs of `digest` realised to, for those recorded
    /// (none if the derivation is not known).
    pub fn realised_paths(&self, digest: &ActionDigest) -> Result<Vec<StorePath>> {
        let Some((_, outputs)) = self.db.derivation(&digest.to_string())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for o in outputs {
            if let Some(r) = self.db.realisation(&digest.to_string(), &o)? {
                out.push(r.path);
            }
        }
        Ok(out)
    }

    /// Every output's path if all of `outputs` of `digest` are realised,
    /// else `None`.
    pub fn realisations<'a>(
        &self,
        digest: &ActionDigest,
        outputs: impl IntoIterator<Item = &'a OutputName>,
    ) -> Result<Option<Vec<(OutputName, StorePath)>>> {
        let mut out = Vec::new();
        for o in outputs {
            match self.realisation(digest, o)? {
                Some(r) => out.push((o.clone(), r.path)),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Records that each output of `digest` realised to its path, which
    /// must be valid, in one transaction: all or none. An existing
    /// realisation is kept (the first one wins; the build engine compares
    /// them).
    pub fn register_realisations<'a>(
        &mut self,
        digest: &ActionDigest,
        outputs: impl IntoIterator<Item = (&'a OutputName, &'a StorePath)>,
    ) -> Result<()> {
        let rs: Vec<Realisation> = outputs
            .into_iter()
            .map(|(output, path)| Realisation {
                action_digest: digest.to_string(),
                output: output.to_string(),
                path: path.clone(),
                signatures: BTreeSet::new(),
            })
            .collect();
        self.db.register_realisations(&rs)
    }

    /// The path a fetch realised to, if recorded.
    pub fn fetched(&self, key: &FetchKey) -> Result<Option<StorePath>> {
        Ok(self
            .realisation(&key.action_digest(), &OutputName::out())?
            .map(|r| r.path))
    }

    /// Records that the fetch `key` realised to `path` (valid already).
    pub fn register_fetch(&mut self, key: &FetchKey, path: &StorePath) -> Result<()> {
        self.register_realisations(&key.action_digest(), [(&OutputName::out(), path)])
    }
}

impl Store {
    /// Registers the outputs of a build of `digest` ([`crate::outputs`]:
    /// scanned, content-addressed, rewritten, moved in) with their
    /// realisations, in one transaction.
    pub fn register_build_outputs(
        &mut self,
        digest: &ActionDigest,
        outputs: &[crate::outputs::BuiltOutput],
        input_closure: &BTreeSet<StorePath>,
    ) -> Result<std::collections::BTreeMap<String, crate::outputs::RegisteredOutput>> {
        self.register_outputs(&digest.to_string(), outputs, input_closure)
    }
}
