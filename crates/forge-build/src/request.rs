//! What an [`Executor`](crate::Executor) is asked to run: a [`BuildRequest`],
//! made from a [`Derivation`] and its input closure by a pure function (no
//! I/O), so that every executor (the local sandbox, a remote REAPI worker)
//! runs exactly the same thing.
//!
//! The request holds what the build may see and how it is limited; it says
//! nothing of where store paths live on this host (an executor resolves
//! them through the store's [`Layout`](forge_store::Layout)) nor of the
//! sandbox's fixed environment (`HOME`, `TMPDIR`, … set by every sandbox
//! alike; see docs/sandbox.md).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use forge_core::derivation::{ActionDigest, Derivation};
use forge_core::hash::Hash;
use forge_core::recipe::{BuildDir, Resources};
use forge_core::store_path::{StorePath, STORE_DIR};

/// The variables the engine sets in every build, on top of the sandbox's
/// fixed environment (`forge_sandbox::spec::DEFAULT_ENV`) and the
/// derivation's own (inputs, outputs, `[build] env`).
pub const ENGINE_ENV: [&str; 3] = ["FORGE_BUILD_CORES", "NIX_STORE", "PATH"];

/// Everything an executor needs to run one derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// `name-version`, for messages and log prefixes.
    pub name: String,
    /// The derivation's identity.
    pub action_digest: ActionDigest,
    /// The program (a path inside the sandbox) and its arguments, with
    /// output tokens replaced by placeholder paths.
    pub command: Vec<String>,
    /// The environment the engine sets, on top of the sandbox's fixed one:
    /// `FORGE_BUILD_CORES`, a default `PATH` (each input's `bin`, then
    /// `/usr/bin:/bin`), `NIX_STORE`, then the derivation's own.
    pub env: BTreeMap<String, String>,
    /// The input closure, exposed read-only at the same paths.
    pub inputs: BTreeSet<StorePath>,
    /// Store paths that make the read-only root filesystem, in order.
    pub root_layers: Vec<StorePath>,
    /// Each output's placeholder path: where the builder writes it, under
    /// a writable `/forge/store`.
    pub outputs: BTreeMap<String, StorePath>,
    /// For a fixed-output derivation: the hash its `out` must have.
    pub output_hash: Option<Hash>,
    /// Network access (fixed-output derivations only).
    pub network: bool,
    /// Wall-clock limit.
    pub wall_timeout: Option<Duration>,
    /// Limit on time without output.
    pub silence_timeout: Option<Duration>,
    /// Size of `/build` (a tmpfs); `None`: the sandbox's default.
    pub build_size: Option<u64>,
    /// Size of `/tmp`; `None`: the sandbox's default.
    pub tmp_size: Option<u64>,
    /// `/build` is a directory on the store's disk rather than a tmpfs.
    pub build_on_disk: bool,
    /// Memory limit (as root, through the build's cgroup).
    pub memory: Option<u64>,
}

impl BuildRequest {
    /// The request for `drv`, whose input closure (its inputs, its root
    /// layers and everything they refer to) is `inputs`, telling the build
    /// it may use `cores` cores unless its recipe's `resources` say how
    /// many, with their sizes and memory limit.
    pub fn new(
        drv: &Derivation,
        inputs: BTreeSet<StorePath>,
        cores: usize,
        resources: &Resources,
    ) -> BuildRequest {
        let inv = drv.invocation();
        let mut env = BTreeMap::new();
        let cores = resources.cores.map_or(cores, |n| n as usize);
        env.insert("FORGE_BUILD_CORES".to_owned(), cores.to_string());
        let default_path = drv
            .inputs
            .values()
            .map(|p| format!("{p}/bin"))
            .chain(["/usr/bin".to_owned(), "/bin".to_owned()])
            .collect::<Vec<_>>()
            .join(":");
        env.insert("PATH".to_owned(), default_path);
        env.insert("NIX_STORE".to_owned(), STORE_DIR.to_owned());
        env.extend(inv.env);
        BuildRequest {
            name: format!("{}-{}", drv.name, drv.version),
            action_digest: drv.action_digest(),
            command: std::iter::once(inv.program).chain(inv.args).collect(),
            env,
            inputs,
            root_layers: drv.root.clone(),
            outputs: drv.placeholders(),
            output_hash: drv.output_hash,
            network: drv.sandbox.network,
            wall_timeout: drv.sandbox.timeout_secs.map(Duration::from_secs),
            silence_timeout: drv.sandbox.silence_timeout_secs.map(Duration::from_secs),
            build_size: resources.build_size,
            tmp_size: resources.tmp_size,
            build_on_disk: resources.build_dir == BuildDir::Disk,
            memory: resources.memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ENGINE_ENV;
    use forge_core::recipe::RESERVED_ENV;

    /// An input named after a variable forge sets would be overwritten (or
    /// overwrite it): every one of them is reserved.
    #[test]
    fn every_variable_forge_sets_is_reserved() {
        for (k, _) in forge_sandbox::spec::DEFAULT_ENV {
            assert!(RESERVED_ENV.contains(&k), "{k} is set by the sandbox");
        }
        for k in ENGINE_ENV {
            assert!(RESERVED_ENV.contains(&k), "{k} is set by the engine");
        }
    }
}
