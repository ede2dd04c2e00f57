//! The recipe a person writes, and its TOML parser.
//!
//! A recipe lives in `recipes/NAME/recipe.toml`. It says what to build
//! (`[recipe]`), from what (`[inputs]`, every one pinned by a hash or by
//! name), how (`[build]`), with which sandbox needs (`[sandbox]`) and, for
//! fixed-output recipes, what the result must hash to (`[output]`):
//!
//! ```toml
//! [recipe]
//! name = "hello"
//! version = "2.12.1"
//!
//! [inputs]
//! src = { fetch = "https://ftp.gnu.org/gnu/hello/hello-2.12.1.tar.gz", sha256 = "8d99142afd92576f30b0cd7cb42a8dc6809998bc5d607d88761f512e26c7db20", unpack = "tar.gz" }
//! busybox = { seed = "busybox" }
//!
//! [build]
//! root = ["busybox"]
//! script = "cd $src && ./configure --prefix=$out && make install"
//! ```
//!
//! The full reference, with every key and every rule, is `docs/recipes.md`;
//! its examples are tests.
//!
//! # How parsing works
//!
//! [`Recipe::parse`] takes the text and the file's path (used only in
//! messages; this crate reads no files). It deserialises the TOML into
//! private "raw" structs whose every field is wrapped in
//! [`serde_spanned::Spanned`], so each value remembers the bytes it came
//! from, and which reject unknown keys (`parse`). A second pass validates
//! the raw values (names, hashes, URLs, references between sections) and
//! builds the model, one function per table (`validate`). Every failure on either pass becomes one [`RecipeError`] with the
//! file, line and column; when a recipe has several problems, the one that
//! comes first in the file is reported.
//!
//! # The model
//!
//! [`Recipe`] is plain data: maps are [`BTreeMap`]s, so two recipes that
//! differ only in the order keys were written are equal. Where things were
//! written is kept apart, in a [`SourceMap`], so later stages (a hash
//! mismatch found while fetching) can still point at the line, while
//! equality ignores it. [`Recipe::to_toml`] prints the canonical text of a
//! recipe; parsing it gives back an equal recipe, which is what `forge fmt`
//! relies on.

mod duration;
mod emit;
mod parse;
pub mod script;
pub mod size;
/// Name rules shared with [`crate::derivation`].
pub(crate) mod parse_helpers {
    pub(crate) use super::parse::{is_output_name, output_store_name};
}
pub(crate) mod template;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::hash::Hash;
use crate::store_path::StorePathName;

use crate::diag::Location;

/// A problem in a recipe, at a line and column of its file: the shared
/// [`Located`](crate::diag::Located) error (its hint through
/// [`Hint`](crate::diag::Hint)).
pub type RecipeError = crate::diag::Located;
/// What sort of problem a [`RecipeError`] reports.
pub type RecipeErrorKind = crate::diag::Kind;

/// The name of the output every recipe has unless it lists others.
pub const DEFAULT_OUTPUT: &str = "out";

/// The file a recipe directory holds.
pub const RECIPE_FILE: &str = "recipe.toml";

/// Whether `name` may name an input: `[A-Za-z_][A-Za-z0-9_]*` and not one
/// of [`RESERVED_ENV`] (the rules a recipe's `[inputs]` are checked with).
pub fn is_input_name(name: &str) -> bool {
    template::is_identifier(name) && !RESERVED_ENV.contains(&name)
}

/// Environment variables forge sets itself in every build; inputs cannot be
/// named after them and `[build] env` cannot override them (`PATH` is the
/// exception for `env`: a recipe may set its own search path).
/// (`forge_build`'s tests check that every variable the sandbox and the
/// engine set is listed.)
pub const RESERVED_ENV: &[&str] = &[
    "FORGE_BUILD_CORES",
    "HOME",
    "LANG",
    "LC_ALL",
    "NIX_STORE",
    "PATH",
    "PWD",
    "SOURCE_DATE_EPOCH",
    "TEMP",
    "TEMPDIR",
    "TERM",
    "TMP",
    "TMPDIR",
    "TZ",
];

/// A parsed, validated recipe.
///
/// Equality compares what the recipe means and ignores [`Recipe::source`].
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The package name, a valid store path name.
    pub name: StorePathName,
    /// The version; `name-version` is a valid store path name.
    pub version: String,
    /// One line for humans.
    pub description: Option<String>,
    /// Every input, by name. Names match `[A-Za-z_][A-Za-z0-9_]*`.
    pub inputs: BTreeMap<String, Input>,
    /// Input names mounted, in this order, as the read-only root filesystem.
    pub root: Vec<String>,
    /// What runs in the sandbox.
    pub build: Build,
    /// Extra environment; values may hold `${input}` / `${output}` references.
    pub env: BTreeMap<String, String>,
    /// Output names, unique, `[a-z][a-z0-9_]*`; the first is the default.
    pub outputs: Vec<String>,
    /// What the build needs from the sandbox.
    pub sandbox: SandboxNeeds,
    /// For fixed-output recipes: the hash of the NAR of the `out` output.
    pub output_hash: Option<Hash>,
    /// Where things were written.
    pub source: SourceMap,
}

impl PartialEq for Recipe {
    fn eq(&self, other: &Self) -> bool {
        // Destructure so that a new field cannot be forgotten here.
        let Recipe {
            name,
            version,
            description,
            inputs,
            root,
            build,
            env,
            outputs,
            sandbox,
            output_hash,
            source: _,
        } = self;
        *name == other.name
            && *version == other.version
            && *description == other.description
            && *inputs == other.inputs
            && *root == other.root
            && *build == other.build
            && *env == other.env
            && *outputs == other.outputs
            && *sandbox == other.sandbox
            && *output_hash == other.output_hash
    }
}

impl Eq for Recipe {}

/// One input of a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file downloaded from `url`; `hash` is the hash of the file as
    /// downloaded (before unpacking), the number publishers list.
    Fetch {
        /// An `http`, `https` or `file` URL.
        url: String,
        /// The pinned hash of the downloaded bytes.
        hash: Hash,
        /// How to unpack the file into a tree; `None` keeps the file as is.
        unpack: Option<Unpack>,
    },
    /// A file or directory next to the recipe.
    Path {
        /// Relative to the recipe's directory.
        path: String,
        /// The hash of the path's NAR; when absent, the lock file has it.
        hash: Option<Hash>,
    },
    /// A bootstrap seed, declared and hashed elsewhere, by name.
    Seed {
        /// The seed's name.
        name: String,
    },
    /// An output of another recipe.
    Recipe {
        /// The other recipe's directory, relative to this recipe's directory.
        dir: String,
        /// Which of its outputs; `out` unless written.
        output: String,
    },
}

impl Input {
    /// The key that selects this kind in TOML: `fetch`, `path`, `seed` or `recipe`.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Fetch { .. } => "fetch",
            Input::Path { .. } => "path",
            Input::Seed { .. } => "seed",
            Input::Recipe { .. } => "recipe",
        }
    }

    /// The pinned hash, for the kinds that carry one in the recipe.
    pub fn hash(&self) -> Option<&Hash> {
        match self {
            Input::Fetch { hash, .. } => Some(hash),
            Input::Path { hash, .. } => hash.as_ref(),
            Input::Seed { .. } | Input::Recipe { .. } => None,
        }
    }
}

/// How a fetched file is unpacked into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unpack {
    /// An uncompressed tar archive.
    Tar,
    /// tar + gzip.
    TarGz,
    /// tar + xz.
    TarXz,
    /// tar + zstd.
    TarZst,
    /// tar + bzip2.
    TarBz2,
    /// A zip archive.
    Zip,
    /// A Python wheel (a zip archive with a wheel's layout).
    Whl,
    /// A Debian package (an `ar` archive holding `data.tar.*`).
    Deb,
}

impl Unpack {
    /// Every format, in the order the docs list them.
    pub const ALL: [Unpack; 8] = [
        Unpack::Tar,
        Unpack::TarGz,
        Unpack::TarXz,
        Unpack::TarZst,
        Unpack::TarBz2,
        Unpack::Zip,
        Unpack::Whl,
        Unpack::Deb,
    ];

    /// The name written in recipes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unpack::Tar => "tar",
            Unpack::TarGz => "tar.gz",
            Unpack::TarXz => "tar.xz",
            Unpack::TarZst => "tar.zst",
            Unpack::TarBz2 => "tar.bz2",
            Unpack::Zip => "zip",
            Unpack::Whl => "whl",
            Unpack::Deb => "deb",
        }
    }

    /// The canonical format for a common alias (`tgz` is `tar.gz`), so that
    /// errors can suggest it.
    pub fn from_alias(s: &str) -> Option<Unpack> {
        Some(match s {
            "tgz" | "tar.gzip" | "gz" => Unpack::TarGz,
            "txz" | "xz" => Unpack::TarXz,
            "tzst" | "tar.zstd" | "zst" | "zstd" => Unpack::TarZst,
            "tbz" | "tbz2" | "tar.bzip2" | "bz2" => Unpack::TarBz2,
            "wheel" => Unpack::Whl,
            _ => return None,
        })
    }
}

impl fmt::Display for Unpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Unpack::from_str`]: names the formats forge knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown unpack format {0:?} (expected one of tar, tar.gz, tar.xz, tar.zst, tar.bz2, zip, whl, deb)")]
pub struct UnknownUnpack(pub String);

impl FromStr for Unpack {
    type Err = UnknownUnpack;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unpack::ALL
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| UnknownUnpack(s.to_owned()))
    }
}

/// What runs in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Build {
    /// A script run by `/bin/sh -e` (from the root layers); the shell expands
    /// `$src`, `$out` and friends from the environment.
    Script(String),
    /// A program and its arguments, run without a shell; words may hold
    /// `${input}` / `${output}` references. Never empty.
    Command(Vec<String>),
}

/// What a build needs from the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxNeeds {
    /// Network access; only fixed-output recipes may have it.
    pub network: bool,
    /// Wall-clock limit (whole seconds); `None` leaves it to the engine.
    pub timeout: Option<Duration>,
    /// Limit on time without output (whole seconds); `None` leaves it to the engine.
    pub silence_timeout: Option<Duration>,
    /// What the build may use of the machine (not part of its derivation).
    pub resources: Resources,
}

/// What a build may use of the machine: sizes, cores, memory. None of it
/// is part of the derivation (none can change a correct build's output;
/// docs/build.md, "Resources").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// Size of `/build` in bytes (a tmpfs); `None`: the engine's default.
    pub build_size: Option<u64>,
    /// Size of `/tmp` in bytes; `None`: the engine's default.
    pub tmp_size: Option<u64>,
    /// What `/build` is.
    pub build_dir: BuildDir,
    /// Cores the build is told it may use (`FORGE_BUILD_CORES`); `None`:
    /// the engine's (`--cores`).
    pub cores: Option<u32>,
    /// Memory limit in bytes (as root, through the build's cgroup).
    pub memory: Option<u64>,
}

/// What backs a build's `/build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildDir {
    /// A tmpfs (memory), `build-size` large.
    #[default]
    Tmpfs,
    /// A directory on the store's disk, removed after the build.
    Disk,
}

/// Where the parts of a recipe were written, for errors found after parsing.
///
/// A recipe built in code has an empty source map; lookups then fall back to
/// line 1, column 1 of [`SourceMap::file`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// The file name given to [`Recipe::parse`].
    pub file: String,
    /// Where each input's table starts, by input name.
    pub inputs: BTreeMap<String, Location>,
    /// Where each input's hash value is, by input name.
    pub input_hashes: BTreeMap<String, Location>,
    /// Where the `[output]` hash value is.
    pub output_hash: Option<Location>,
    /// Where `[build] script` or `command` is written (the value), else
    /// where `[build]` starts.
    pub run: Location,
    /// Where `[build] root` is written, when it is.
    pub root: Option<Location>,
    /// The `script` value as written in the file (quotes and escapes
    /// included), for locating what is inside it ([`SourceMap::in_script`]).
    pub script: Option<String>,
}

impl SourceMap {
    /// Where the `nth` (0-based) occurrence of `token` inside the script's
    /// value is written; the start of the value when the text as written
    /// does not have it (an escape spelled it differently).
    pub fn in_script(&self, token: &str, nth: usize) -> Location {
        let Some(raw) = &self.script else {
            return self.run;
        };
        let Some((offset, _)) = raw
            .match_indices(token)
            .nth(nth)
            .or_else(|| raw.match_indices(token).next())
        else {
            return self.run;
        };
        let at = Location::of_offset(raw, offset);
        if at.line == 1 {
            Location {
                line: self.run.line,
                column: self.run.column + at.column - 1,
            }
        } else {
            Location {
                line: self.run.line + at.line - 1,
                column: at.column,
            }
        }
    }
}

impl Recipe {
    /// Parses and validates the text of a recipe. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Recipe, RecipeError> {
        parse::parse(text, file)
    }

    /// The canonical TOML text of this recipe: fixed section and key order,
    /// hashes in lowercase hex, durations in canonical form, defaults left
    /// out. [`Recipe::parse`] gives back an equal recipe.
    pub fn to_toml(&self) -> String {
        emit::to_toml(self)
    }

    /// Whether the recipe pins its output by hash (and so may use the network).
    pub fn is_fixed_output(&self) -> bool {
        self.output_hash.is_some()
    }

    /// `name-version`, the store name of the `out` output.
    pub fn store_name(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Where input `name` was declared (line 1, column 1 when unknown).
    pub fn input_location(&self, name: &str) -> Location {
        self.source
            .inputs
            .get(name)
            .copied()
            .unwrap_or(Location::START)
    }

    /// Where input `name`'s hash was written, else where the input was declared.
    pub fn input_hash_location(&self, name: &str) -> Location {
        self.source
            .input_hashes
            .get(name)
            .copied()
            .unwrap_or_else(|| self.input_location(name))
    }

    /// An error at `location` of this recipe's file, for later stages.
    pub fn error_at(
        &self,
        location: Location,
        kind: RecipeErrorKind,
        message: impl Into<String>,
    ) -> RecipeError {
        RecipeError::new(&self.source.file, location, kind, message)
    }
}

#[cfg(test)]
pub(crate) mod tests;
