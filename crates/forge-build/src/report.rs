//! What a run of the engine gives back: each recipe's [`Realised`]
//! outputs, and the [`BuildReport`] of [`Engine::build`](crate::Engine::build).

use std::collections::BTreeMap;
use std::path::PathBuf;

use forge_core::store_path::StorePath;

use crate::graph::Node;

/// What one recipe realised to.
#[derive(Debug, Clone)]
pub struct Realised {
    /// The recipe file.
    pub file: PathBuf,
    /// `name-version`.
    pub name: String,
    /// The action digest (`blake3:<hex>`).
    pub action_digest: String,
    /// Output paths by output name.
    pub outputs: BTreeMap<String, StorePath>,
    /// Whether the builder ran in this invocation.
    pub built: bool,
    /// For `--check`: whether the rebuild gave the same bytes.
    pub reproducible: Option<bool>,
}

impl Realised {
    pub(crate) fn new(
        node: &Node,
        action_digest: String,
        outputs: BTreeMap<String, StorePath>,
        built: bool,
    ) -> Realised {
        Realised {
            file: node.file.clone(),
            name: node.recipe.store_name(),
            action_digest,
            outputs,
            built,
            reproducible: None,
        }
    }
}

/// The result of [`Engine::build_all`](crate::Engine::build_all).
#[derive(Debug)]
pub struct BuildReport {
    /// The requested recipes, in the order asked.
    pub targets: Vec<Realised>,
    /// Every recipe in the graph, dependencies first.
    pub all: Vec<Realised>,
    /// The result symlinks created (absolute).
    pub links: Vec<PathBuf>,
    /// The lock files written.
    pub locks_written: Vec<PathBuf>,
}
