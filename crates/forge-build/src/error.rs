//! The build engine's error type, and its hints ([`Hint`], rendered by the
//! CLI on a `hint:` line of their own; see [`forge_core::diag`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use forge_core::derivation::DerivationError;
use forge_core::diag::{Hint, Located};
use forge_core::recipe::RecipeError;
use forge_sandbox::SandboxError;
use forge_store::StoreError;
use thiserror::Error;

/// Everything that can stop a build. Each variant names the recipe, input,
/// file or hash involved.
#[derive(Debug, Error)]
pub enum BuildError {
    /// No recipe file where the user pointed.
    #[error("no recipe at {path} (expected a directory holding recipe.toml, or a recipe file)")]
    NoRecipe { path: PathBuf },
    /// A recipe that does not parse.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A `recipe` input whose directory holds no recipe.
    #[error("{}:{line}:{column}: input `{input}`: no recipe at {}", file.display(), path.display())]
    MissingDependency {
        file: PathBuf,
        line: u32,
        column: u32,
        input: String,
        path: PathBuf,
    },
    /// A `recipe` input naming an output the other recipe does not have.
    #[error("{}:{line}:{column}: input `{input}`: the recipe has no output `{output}` (it has: {available})", file.display())]
    UnknownOutput {
        file: PathBuf,
        line: u32,
        column: u32,
        input: String,
        output: String,
        available: String,
    },
    /// Recipes that depend on each other.
    #[error("{}:{line}:{column}: input `{input}`: recipes depend on each other in a cycle: {chain}", file.display())]
    Cycle {
        /// The recipe whose input closes the cycle.
        file: PathBuf,
        line: u32,
        column: u32,
        /// That input.
        input: String,
        /// The recipe files of the cycle, in order, `a -> b -> a`.
        chain: String,
    },
    /// A lock file that does not parse, at its line and column.
    #[error(transparent)]
    BadLockFile(Located),
    /// A `path` or `seed` input whose contents differ from the pinned hash.
    #[error("{0}")]
    StaleHash(Box<StaleHash>),
    /// Under `--locked`: an input with no pin in its lock file.
    #[error("{}:{line}:{column}: {kind} input `{input}` has no pin in {} (--locked)", file.display(), lock_file.display())]
    Unpinned {
        file: PathBuf,
        line: u32,
        column: u32,
        kind: &'static str,
        input: String,
        lock_file: PathBuf,
    },
    /// A path input that does not exist.
    #[error("{}:{line}:{column}: path input `{input}`: {} does not exist", file.display(), path.display())]
    MissingPath {
        file: PathBuf,
        line: u32,
        column: u32,
        input: String,
        path: PathBuf,
    },
    /// A `path` or seed input naming a host file the recipe may not reach
    /// (outside its repository, private, not a regular file).
    #[error("{at}: {problem}")]
    HostPath {
        /// `file:line:col: path input `name`` (or the seed's).
        at: String,
        /// What is wrong.
        problem: crate::inputs::HostPathProblem,
    },
    /// A fixed-output result (or a fetch) that does not match its hash.
    #[error("{what}: hash mismatch:\n    expected {algo} = \"{expected}\"\n    got      {algo} = \"{actual}\"")]
    HashMismatch {
        what: String,
        algo: String,
        expected: String,
        actual: String,
    },
    /// A derivation could not be made from a recipe.
    #[error("{}: {source}", file.display())]
    Derivation {
        file: PathBuf,
        #[source]
        source: DerivationError,
    },
    /// A builder that failed.
    #[error("{name}: builder {status}{}", log.as_ref().map(|l| format!(" (log: {})", l.display())).unwrap_or_default())]
    BuildFailed {
        name: String,
        /// The recipe file.
        file: PathBuf,
        status: String,
        log: Option<PathBuf>,
        /// The last lines of its log.
        tail: Vec<String>,
    },
    /// `--check` of a recipe that was never built.
    #[error("{name} ({}) has not been built yet, so a check has nothing to compare", file.display())]
    NothingToCheck { name: String, file: PathBuf },
    /// A fixed output that contains its own path.
    #[error("{name}: a fixed output must not contain its own store path (its hash is checked on the bytes as built)")]
    SelfReferencingFixedOutput { name: String },
    /// A fixed output that names another store path: it would be stored
    /// without references (its path comes from its hash alone), and the
    /// collector would delete what it points to.
    #[error("{name}: fixed output `{output}` refers to {reference}: a fixed output must not refer to other store paths")]
    FixedOutputReferences {
        name: String,
        output: String,
        reference: String,
    },
    /// An output grew past the output size limit (the build was stopped,
    /// or refused before registration).
    #[error("{name}: {what} exceeds the limit of {limit} (at least {size} bytes; log: {})", log.display())]
    OutputTooLarge {
        name: String,
        /// "output `out`", everything under the scratch store, or a disk `/build`.
        what: String,
        size: u64,
        limit: String,
        log: PathBuf,
    },
    /// A recipe not built because a dependency failed.
    #[error("{name}: not built because {dependency} failed")]
    DependencyFailed { name: String, dependency: String },
    /// The build was interrupted.
    #[error("interrupted")]
    Interrupted,
    /// `forge shell R -- PROGRAM` with a program the sandbox's `PATH` lacks.
    #[error("`{program}` is not on the sandbox's PATH ({path})")]
    NotOnPath { program: String, path: String },
    /// A seed could not be found or imported.
    #[error("{at}: {source}")]
    Seed {
        /// `file:line:col: seed input `name``.
        at: String,
        #[source]
        source: Box<crate::seed::SeedError>,
    },
    /// A fetch failed (what the fetcher reported).
    #[error("{0}")]
    Fetch(Box<FetchFailed>),
    /// The fetcher (forge itself) cannot be exposed in the sandbox: one of
    /// the files the dynamic loader needs to run it is missing.
    #[error("{url}: cannot expose the fetcher {} in the sandbox: {source}", exe.display())]
    FetcherUnavailable {
        url: String,
        exe: PathBuf,
        #[source]
        source: Box<crate::seed::resolve::ClosureError>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sandbox failed to run the builder.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// I/O on a named file.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Several builds failed (`--keep-going`).
    #[error("{} builds failed:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<BuildError>),
}

impl Hint for BuildError {
    /// What the user can do, where there is something to do. Transparent
    /// variants give their inner error's hint, and so does `Seed` (its
    /// `SeedError`'s, also found in the error chain), so that a failure
    /// listed by `--keep-going` or reported as an event keeps its hint. The
    /// store's and the sandbox's errors, and `Many`, give none here.
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            BuildError::Recipe(e) | BuildError::BadLockFile(e) => e.hint(),
            BuildError::StaleHash(s) if s.locked => Some(
                "lock files may not change under --locked (FORGE_LOCKED): if the change is intended, run `forge lock` and commit recipe.lock".into(),
            ),
            BuildError::StaleHash(s) if s.pinned_in == "recipe.lock" => Some(
                "if the change is intended, run `forge lock` (or build with --update-locks)".into(),
            ),
            BuildError::Unpinned { .. } => Some(
                "lock files may not change under --locked (FORGE_LOCKED): run `forge lock` and commit recipe.lock".into(),
            ),
            BuildError::StaleHash(_) => {
                Some("if the change is intended, paste the new hash into the recipe".into())
            }
            BuildError::HashMismatch { .. } => Some(
                "if the new contents are expected, paste the hash forge got into the recipe".into(),
            ),
            BuildError::BuildFailed { file, .. } => Some(
                format!("see the whole log with `forge log {}`", recipe_arg(file)).into(),
            ),
            BuildError::NothingToCheck { file, .. } => Some(
                format!("build it first (`forge build {}`), then check", recipe_arg(file)).into(),
            ),
            BuildError::HostPath { problem, .. } => problem.hint(),
            BuildError::Seed { source, .. } => source.hint(),
            BuildError::Sandbox(e) => e.hint(),
            BuildError::Fetch(f) => f.hint.as_deref().map(Cow::Borrowed),
            BuildError::MissingDependency { .. } => Some(
                "`recipe` names a directory holding recipe.toml, relative to this recipe's directory"
                    .into(),
            ),
            BuildError::NotOnPath { .. } => Some(
                "add an input that provides it, or name it by its absolute path inside the sandbox".into(),
            ),
            BuildError::Cycle { .. } => {
                Some("a recipe cannot depend on itself, directly or through others".into())
            }
            _ => None,
        }
    }
}

/// The details of [`BuildError::StaleHash`].
#[derive(Debug)]
pub struct StaleHash {
    /// The recipe file.
    pub file: PathBuf,
    /// Where the input (or its hash) is written.
    pub line: u32,
    /// Column of that.
    pub column: u32,
    /// `path` or `seed`.
    pub kind: &'static str,
    /// The input's name.
    pub input: String,
    /// The host path or seed it was taken from.
    pub source_path: String,
    /// The pinned hash (hex).
    pub expected: String,
    /// What it hashes to now (hex).
    pub actual: String,
    /// `the recipe` or `recipe.lock`.
    pub pinned_in: String,
    /// Whether lock files were not to change (`--locked`).
    pub locked: bool,
}

impl std::fmt::Display for StaleHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} input `{}` ({}) has changed: it hashes to\n    blake3 = \"{}\"\nbut {} pins\n    blake3 = \"{}\"",
            self.file.display(),
            self.line,
            self.column,
            self.kind,
            self.input,
            self.source_path,
            self.actual,
            self.pinned_in,
            self.expected
        )
    }
}

/// The details of [`BuildError::Fetch`].
#[derive(Debug)]
pub struct FetchFailed {
    /// The recipe file.
    pub file: PathBuf,
    /// Where the input is declared.
    pub line: u32,
    /// Column of that.
    pub column: u32,
    /// The input's name.
    pub input: String,
    /// Its URL.
    pub url: String,
    /// What the fetcher reported.
    pub message: String,
    /// What it suggested.
    pub hint: Option<String>,
}

impl std::fmt::Display for FetchFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: fetch input `{}` ({}) failed:\n{}",
            self.file.display(),
            self.line,
            self.column,
            self.input,
            self.url,
            self.message
        )
    }
}

/// How a command line names the recipe in `file`: its directory when the
/// file is a directory's `recipe.toml`, the file otherwise.
pub fn recipe_arg(file: &Path) -> String {
    match (file.file_name(), file.parent()) {
        (Some(name), Some(dir)) if name == forge_core::recipe::RECIPE_FILE => {
            if dir.as_os_str().is_empty() {
                ".".to_owned()
            } else {
                dir.display().to_string()
            }
        }
        _ => file.display().to_string(),
    }
}
