//! The derivation: the resolved, canonical form of a recipe, and its action digest.
//!
//! A [`Recipe`] is what a person writes: inputs by URL, by path, by name. A
//! [`Derivation`] is what a build *is*: the program to run, its arguments and
//! environment, the exact store paths it may read, the outputs it must
//! produce and the sandbox it needs, with nothing left to look up. Nix calls
//! this a `.drv`. Two builds with equal derivations are the same build, so
//! the hash of a derivation, its [`ActionDigest`], keys the action cache:
//! the store's realisations map (action digest, output) to store paths
//! (docs/build.md, "The realisation algorithm").
//!
//! # From recipe to derivation
//!
//! [`Derivation::from_recipe`] is pure. The build engine first *realises*
//! every input (downloads and checks a fetch, adds a path, finds a seed,
//! builds another recipe) and passes the resulting store paths by input
//! name; this module only assembles:
//!
//! - a `script` becomes builder `/bin/sh` with args `-e -c <script>`; a
//!   `command` becomes builder `command[0]` with the rest as args;
//! - `${input}` references in `env` and `command` become the input's store
//!   path, and every input name is also set in the environment to its path;
//! - outputs are not known before the build, so `${out}` (and every other
//!   output) becomes an *output token*, [`output_token`], a fixed string per
//!   output name like Nix's `builtins.placeholder`. The environment variable
//!   named after each output holds its token too.
//!
//! # Placeholders
//!
//! When the build runs, each output token is replaced by the output's
//! *placeholder*, [`Derivation::placeholder`]: a store path whose digest is a
//! hash of the action digest and the output name, and whose name is the
//! output's final name (`hello-2.12.1`, `hello-2.12.1-doc`). So a
//! placeholder is unique per derivation and output, is a pure function of
//! the derivation (which holds tokens, never output paths, so there is no
//! circularity), and has exactly the length of the final content-addressed
//! path, which lets the engine rewrite it in place after the build
//! (docs/build.md, "Placeholders, references and the content address").
//! [`Derivation::invocation`] gives the program, arguments and
//! environment with the tokens replaced: what the sandbox executes.
//!
//! # Canonical bytes
//!
//! The serialisation is JSON, in a canonical subset: object keys sorted, no
//! insignificant whitespace, strings escaped as `serde_json` escapes them
//! (only `"`, `\` and control characters; everything else as UTF-8),
//! integers only, absent values as `null`, and a `"format":
//! "forge-derivation-v1"` member. JSON rather than Nix's ATerm because every
//! tool (`jq`, any language's standard library) reads it, and because its
//! canonical subset is easy to state; for the ASCII keys used here it
//! agrees with RFC 8785 (JCS). [`Derivation::from_canonical_bytes`]
//! enforces canonicality by re-serialising what it read and requiring the
//! same bytes, so whitespace, reordered keys, redundant escapes and unknown
//! fields are all rejected, and one derivation has exactly one byte string.
//!
//! The action digest is BLAKE3 over `forge:derivation:v1\n` followed by the
//! canonical bytes; the prefix keeps a derivation's digest from ever
//! colliding with the digest of a file that happens to hold the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::base32;
use crate::hash::{Hash, HashAlgo, HashParseError};
use crate::recipe::parse_helpers::{is_output_name, output_store_name};
use crate::recipe::template::{self, is_identifier};
use crate::recipe::{Build, Recipe, DEFAULT_OUTPUT};
use crate::store_path::{StorePath, StorePathError, StorePathName};

mod fetch_key;
mod output_name;

pub use fetch_key::{FetchKey, FETCH_KEY_PREFIX};
pub use output_name::{OutputName, OutputNameError};

/// The value of the `format` member of every canonical derivation.
pub const FORMAT: &str = "forge-derivation-v1";

/// What is hashed before the canonical bytes to make the action digest.
pub const ACTION_DIGEST_PREFIX: &[u8] = b"forge:derivation:v1\n";

/// The interpreter that runs recipe scripts, inside the sandbox.
pub const SHELL: &str = "/bin/sh";

/// The resolved, canonical description of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    /// The recipe's name.
    pub name: String,
    /// The recipe's version.
    pub version: String,
    /// The platform the build runs on, such as `x86_64-linux`.
    pub system: String,
    /// The program to execute, a path inside the sandbox.
    pub builder: String,
    /// Its arguments (without `argv[0]`).
    pub args: Vec<String>,
    /// The environment, beyond the fixed values the sandbox sets.
    pub env: BTreeMap<String, String>,
    /// Every input by name, as a realised store path.
    pub inputs: BTreeMap<String, StorePath>,
    /// Store paths mounted, in this order, as the read-only root filesystem.
    pub root: Vec<StorePath>,
    /// Output names.
    pub outputs: BTreeSet<String>,
    /// For fixed-output derivations: the expected hash of the NAR of `out`.
    pub output_hash: Option<Hash>,
    /// What the sandbox must allow and enforce.
    pub sandbox: SandboxProfile,
}

/// The sandbox a derivation needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxProfile {
    /// Network access (only for fixed-output derivations).
    pub network: bool,
    /// Limit on time without output, in seconds; `None`: the engine's default.
    pub silence_timeout_secs: Option<u64>,
    /// Wall-clock limit in seconds; `None`: the engine's default.
    pub timeout_secs: Option<u64>,
}

/// The identity of a build: BLAKE3 of a derivation's canonical bytes.
///
/// Displays as `blake3:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionDigest(Hash);

impl ActionDigest {
    /// Wraps a BLAKE3 hash; `None` for any other algorithm.
    pub fn from_hash(hash: Hash) -> Option<Self> {
        (hash.algo() == HashAlgo::Blake3).then_some(ActionDigest(hash))
    }

    /// The underlying hash.
    pub fn as_hash(&self) -> &Hash {
        &self.0
    }
}

impl fmt::Display for ActionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ActionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActionDigest({})", self.0)
    }
}

impl FromStr for ActionDigest {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::parse_as(HashAlgo::Blake3, s).map(ActionDigest)
    }
}

/// Why a derivation could not be made or read.
#[derive(Debug, Error)]
pub enum DerivationError {
    /// The recipe declares an input the caller did not resolve.
    #[error("input `{input}` has no resolved store path")]
    MissingInput {
        /// The input's name.
        input: String,
    },
    /// The caller resolved a name the recipe does not declare.
    #[error("resolved input `{input}` is not declared by the recipe")]
    UnknownInput {
        /// The name that was resolved.
        input: String,
    },
    /// The system string is not of the form `<arch>-<os>`.
    #[error(
        "invalid system {system:?} (expected <arch>-<os> such as x86_64-linux, of a-z 0-9 _ -)"
    )]
    InvalidSystem {
        /// The system as given.
        system: String,
    },
    /// A name, or an output's store name, is not a valid store path name.
    #[error("invalid store name {name:?}: {source}")]
    StoreName {
        /// The offending name.
        name: String,
        /// Why.
        source: StorePathError,
    },
    /// A template in `env` or `command` is malformed or names something unknown.
    #[error("{field}: {message}")]
    Template {
        /// Which field (`env FOO`, `command word 2`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The bytes are not JSON of the right shape.
    #[error("derivation is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// The `format` member names another format or version.
    #[error("unsupported derivation format {found:?} (expected {FORMAT:?})")]
    WrongFormat {
        /// The format found.
        found: String,
    },
    /// The bytes parse but are not the canonical encoding of what they hold.
    #[error("derivation is not in canonical form: first difference at byte {offset} (expected sorted keys, no whitespace, minimal escapes)")]
    NotCanonical {
        /// Offset of the first byte that differs from the canonical encoding.
        offset: usize,
    },
    /// The bytes decode to a derivation that breaks a rule.
    #[error("invalid derivation: {reason}")]
    Invalid {
        /// Which rule.
        reason: String,
    },
}

/// The wire form: the same fields plus `format`, declared in sorted key order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    args: Vec<String>,
    builder: String,
    env: BTreeMap<String, String>,
    format: String,
    inputs: BTreeMap<String, StorePath>,
    name: String,
    output_hash: Option<Hash>,
    outputs: BTreeSet<String>,
    root: Vec<StorePath>,
    sandbox: SandboxProfile,
    system: String,
    version: String,
}

/// The token that stands for output `output` inside a derivation: `/`
/// followed by the Nix base32 of BLAKE3(`forge:output-token:v1:<output>`),
/// 53 characters. The same for every derivation, like Nix's
/// `builtins.placeholder`; replaced by [`Derivation::placeholder`] at build
/// time.
pub fn output_token(output: &str) -> String {
    let h = blake3::hash(format!("forge:output-token:v1:{output}").as_bytes());
    format!("/{}", base32::encode(h.as_bytes()))
}

/// The placeholder path of output `output` of the derivation with digest
/// `action`, named `store_name`: its digest is the first 20 bytes of
/// BLAKE3(`forge:placeholder:v1:<action hex>:<output>`).
pub fn placeholder(action: &ActionDigest, output: &str, store_name: StorePathName) -> StorePath {
    let fp = format!("forge:placeholder:v1:{}:{output}", action.0.to_hex());
    StorePath::from_fingerprint(&fp, store_name)
}

/// What the sandbox runs: a derivation's program, arguments and
/// environment with output tokens replaced by placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The environment the derivation sets.
    pub env: BTreeMap<String, String>,
}

fn is_system(s: &str) -> bool {
    let ok_chars = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    s.split_once('-')
        .is_some_and(|(arch, os)| ok_chars(arch) && os.split('-').all(ok_chars))
}

impl Derivation {
    /// Resolves `recipe` against the realised store paths of its inputs
    /// (`resolved`, by input name) for `system`.
    pub fn from_recipe(
        recipe: &Recipe,
        resolved: &BTreeMap<String, StorePath>,
        system: &str,
    ) -> Result<Derivation, DerivationError> {
        if !is_system(system) {
            return Err(DerivationError::InvalidSystem {
                system: system.to_owned(),
            });
        }
        if let Some(input) = recipe.inputs.keys().find(|k| !resolved.contains_key(*k)) {
            return Err(DerivationError::MissingInput {
                input: input.clone(),
            });
        }
        if let Some(input) = resolved.keys().find(|k| !recipe.inputs.contains_key(*k)) {
            return Err(DerivationError::UnknownInput {
                input: input.clone(),
            });
        }
        let lookup = |name: &str| {
            if let Some(p) = resolved.get(name) {
                Some(p.to_string())
            } else if recipe.outputs.iter().any(|o| o == name) {
                Some(output_token(name))
            } else {
                None
            }
        };
        let expand = |field: String, s: &str| {
            template::expand(s, lookup).map_err(|e| DerivationError::Template {
                field,
                message: e.message,
            })
        };
        let (builder, args) = match &recipe.build {
            Build::Script(script) => (
                SHELL.to_owned(),
                vec!["-e".to_owned(), "-c".to_owned(), script.clone()],
            ),
            Build::Command(words) => {
                let mut out = Vec::with_capacity(words.len());
                for (i, w) in words.iter().enumerate() {
                    out.push(expand(format!("command word {}", i + 1), w)?);
                }
                if out.is_empty() {
                    return Err(DerivationError::Invalid {
                        reason: "command is empty".to_owned(),
                    });
                }
                let builder = out.remove(0);
                (builder, out)
            }
        };
        let mut env = BTreeMap::new();
        for (k, v) in &recipe.env {
            env.insert(k.clone(), expand(format!("env {k}"), v)?);
        }
        for (name, path) in resolved {
            env.insert(name.clone(), path.to_string());
        }
        for o in &recipe.outputs {
            env.insert(o.clone(), output_token(o));
        }
        let root = recipe
            .root
            .iter()
            .map(|r| {
                resolved
                    .get(r)
                    .cloned()
                    .ok_or_else(|| DerivationError::MissingInput { input: r.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let drv = Derivation {
            name: recipe.name.to_string(),
            version: recipe.version.clone(),
            system: system.to_owned(),
            builder,
            args,
            env,
            inputs: resolved.clone(),
            root,
            outputs: recipe.outputs.iter().cloned().collect(),
            output_hash: recipe.output_hash,
            sandbox: SandboxProfile {
                network: recipe.sandbox.network,
                timeout_secs: recipe.sandbox.timeout.map(|d| d.as_secs()),
                silence_timeout_secs: recipe.sandbox.silence_timeout.map(|d| d.as_secs()),
            },
        };
        drv.validate()?;
        Ok(drv)
    }

    /// Checks the rules every derivation keeps; [`Derivation::from_recipe`]
    /// and [`Derivation::from_canonical_bytes`] only return derivations that
    /// pass.
    pub fn validate(&self) -> Result<(), DerivationError> {
        let invalid = |reason: String| Err(DerivationError::Invalid { reason });
        if !is_system(&self.system) {
            return Err(DerivationError::InvalidSystem {
                system: self.system.clone(),
            });
        }
        let store_name = |name: String| {
            StorePathName::new(&name).map_err(|source| DerivationError::StoreName { name, source })
        };
        store_name(self.name.clone())?;
        if self.version.is_empty() {
            return invalid("version is empty".to_owned());
        }
        if self.outputs.is_empty() {
            return invalid("no outputs".to_owned());
        }
        for o in &self.outputs {
            if !is_output_name(o) {
                return invalid(format!("invalid output name {o:?}"));
            }
            store_name(output_store_name(&self.name, &self.version, o))?;
        }
        if self.builder.is_empty() {
            return invalid("builder is empty".to_owned());
        }
        let strings = std::iter::once(&self.builder)
            .chain(&self.args)
            .chain(self.env.values());
        if strings.into_iter().any(|s| s.contains('\0')) {
            return invalid("a builder, argument or environment value contains NUL".to_owned());
        }
        for k in self.env.keys().chain(self.inputs.keys()) {
            if !is_identifier(k) {
                return invalid(format!("invalid variable or input name {k:?}"));
            }
        }
        let paths: BTreeSet<&StorePath> = self.inputs.values().collect();
        if let Some(r) = self.root.iter().find(|r| !paths.contains(r)) {
            return invalid(format!("root layer {r} is not an input"));
        }
        if self.output_hash.is_some()
            && (self.outputs.len() != 1 || !self.outputs.contains(DEFAULT_OUTPUT))
        {
            return invalid("a fixed-output derivation has exactly the output `out`".to_owned());
        }
        if self.sandbox.network && self.output_hash.is_none() {
            return invalid("network access without a fixed output hash".to_owned());
        }
        Ok(())
    }

    /// Every store path the build may read (the values of `inputs`).
    pub fn input_paths(&self) -> BTreeSet<StorePath> {
        self.inputs.values().cloned().collect()
    }

    /// Whether the output is pinned by hash.
    pub fn is_fixed_output(&self) -> bool {
        self.output_hash.is_some()
    }

    fn to_wire(&self) -> Wire {
        Wire {
            args: self.args.clone(),
            builder: self.builder.clone(),
            env: self.env.clone(),
            format: FORMAT.to_owned(),
            inputs: self.inputs.clone(),
            name: self.name.clone(),
            output_hash: self.output_hash,
            outputs: self.outputs.clone(),
            root: self.root.clone(),
            sandbox: self.sandbox.clone(),
            system: self.system.clone(),
            version: self.version.clone(),
        }
    }

    /// The canonical bytes: compact JSON with sorted keys (see the module docs).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        // Serialising plain strings, integers and maps with string keys
        // cannot fail.
        serde_json::to_vec(&self.to_wire()).unwrap_or_default()
    }

    /// Reads canonical bytes back, rejecting anything that is not exactly
    /// the canonical encoding of a valid derivation.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Derivation, DerivationError> {
        let wire: Wire = serde_json::from_slice(bytes)?;
        if wire.format != FORMAT {
            return Err(DerivationError::WrongFormat { found: wire.format });
        }
        let drv = Derivation {
            name: wire.name,
            version: wire.version,
            system: wire.system,
            builder: wire.builder,
            args: wire.args,
            env: wire.env,
            inputs: wire.inputs,
            root: wire.root,
            outputs: wire.outputs,
            output_hash: wire.output_hash,
            sandbox: wire.sandbox,
        };
        let again = drv.to_canonical_bytes();
        if again != bytes {
            let offset = again
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(again.len().min(bytes.len()));
            return Err(DerivationError::NotCanonical { offset });
        }
        drv.validate()?;
        Ok(drv)
    }

    /// BLAKE3 over [`ACTION_DIGEST_PREFIX`] and the canonical bytes.
    pub fn action_digest(&self) -> ActionDigest {
        let mut h = blake3::Hasher::new();
        h.update(ACTION_DIGEST_PREFIX);
        h.update(&self.to_canonical_bytes());
        ActionDigest(Hash::new(HashAlgo::Blake3, *h.finalize().as_bytes()))
    }

    /// The store name of output `output`: `name-version` for `out`,
    /// `name-version-output` otherwise; `None` if there is no such output.
    pub fn output_store_name(&self, output: &str) -> Option<StorePathName> {
        if !self.outputs.contains(output) {
            return None;
        }
        StorePathName::new(&output_store_name(&self.name, &self.version, output)).ok()
    }

    /// The placeholder path output `output` is built at; `None` if there is
    /// no such output.
    pub fn placeholder(&self, output: &str) -> Option<StorePath> {
        let name = self.output_store_name(output)?;
        Some(placeholder(&self.action_digest(), output, name))
    }

    /// Every output's placeholder, by output name.
    pub fn placeholders(&self) -> BTreeMap<String, StorePath> {
        let action = self.action_digest();
        self.outputs
            .iter()
            .filter_map(|o| {
                let name = self.output_store_name(o)?;
                Some((o.clone(), placeholder(&action, o, name)))
            })
            .collect()
    }

    /// The program, arguments and environment to run, with every output
    /// token replaced by its placeholder path.
    pub fn invocation(&self) -> Invocation {
        let swaps: Vec<(String, String)> = self
            .placeholders()
            .into_iter()
            .map(|(o, p)| (output_token(&o), p.to_string()))
            .collect();
        let fill = |s: &str| {
            swaps
                .iter()
                .fold(s.to_owned(), |acc, (token, path)| acc.replace(token, path))
        };
        Invocation {
            program: fill(&self.builder),
            args: self.args.iter().map(|a| fill(a)).collect(),
            env: self.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
