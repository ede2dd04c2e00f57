//! `forge recipe check`: everything about a recipe that can be found out
//! short of building it (docs/recipes.md, "Checking recipes").
//!
//! [`check`] takes what a user typed (a recipe directory, its
//! `recipe.toml`, or something else that is then [`Checked::NotARecipe`])
//! and returns every problem it finds, each a [`Finding`] with its file,
//! line and column, a [`Severity`] and a typed [`Problem`] (whose hint is
//! data, [`Hint`]), so that the CLI renders them and keeps going:
//!
//! - the recipe parses (forge-core's validation);
//! - `path` inputs exist and are ones a build would read
//!   ([`crate::inputs::check_path_input`]);
//! - `recipe` inputs exist, and the graph loads ([`Graph::load`]: no
//!   cycle, outputs that exist, dependencies that parse);
//! - seeds exist (with "did you mean" and the known seeds) and their
//!   declarations parse;
//! - the program the build runs is in its root layers (`command`, [`NotFound`]);
//! - the script expands no variable nothing sets (`vars`, [`Undeclared`], a warning).

mod command;
mod vars;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use forge_core::diag::{did_you_mean, Hint, Located, Location};
use forge_core::recipe::{Input, Recipe};

use crate::error::BuildError;
use crate::graph::{Graph, RECIPE_FILE};
use crate::inputs::{HostAccess, HostPathProblem};
use crate::seed::SeedError;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The build would fail (or not start): `forge recipe check` exits 3.
    Error,
    /// Probably a mistake, but the build may work.
    Warning,
}

/// One problem, where it is.
#[derive(Debug)]
pub struct Finding {
    /// The file, as the user would name it.
    pub file: String,
    /// Where in it.
    pub location: Location,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub problem: Problem,
}

impl Finding {
    /// Two findings with the same key are the same problem, found from two
    /// recipes (a dependency's, a cycle's): a caller checking several
    /// recipes shows it once.
    pub fn key(&self) -> String {
        if let Problem::Graph(BuildError::Cycle { chain, .. }) = &self.problem {
            let mut files: Vec<&str> = chain.split(" -> ").collect();
            files.sort_unstable();
            files.dedup();
            return format!("cycle {}", files.join(" "));
        }
        format!("{}:{}: {}", self.file, self.location, self.problem)
    }
}

/// `a/../b` as `b`, `./a` as `a` (for messages: a symlink `a` would make
/// it wrong, and a recipe directory that is one is rare).
fn lexical_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// A graph error with its paths as [`lexical_normal`] writes them.
fn normalised(e: BuildError) -> BuildError {
    let n = |p: PathBuf| lexical_normal(&p);
    match e {
        BuildError::Cycle {
            file,
            line,
            column,
            input,
            chain,
        } => BuildError::Cycle {
            file: n(file),
            line,
            column,
            input,
            chain: chain
                .split(" -> ")
                .map(|f| lexical_normal(Path::new(f)).display().to_string())
                .collect::<Vec<_>>()
                .join(" -> "),
        },
        BuildError::MissingDependency {
            file,
            line,
            column,
            input,
            path,
        } => BuildError::MissingDependency {
            file: n(file),
            line,
            column,
            input,
            path: n(path),
        },
        BuildError::UnknownOutput {
            file,
            line,
            column,
            input,
            output,
            available,
        } => BuildError::UnknownOutput {
            file: n(file),
            line,
            column,
            input,
            output,
            available,
        },
        e => e,
    }
}

/// What [`check`] found wrong. Display is the message (without the
/// location); [`Hint`] says what to do.
#[derive(Debug)]
pub enum Problem {
    /// The file does not parse, or a file of the graph does not.
    Recipe(Located),
    /// The recipe file cannot be read (a FIFO, no permission…).
    Unreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `path` input that does not exist.
    MissingPath {
        /// The input.
        input: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A `path` input a build would refuse to read.
    HostPath {
        /// The input.
        input: String,
        /// Why.
        problem: HostPathProblem,
    },
    /// Loading the recipe graph failed: a `recipe` input with no recipe, an
    /// output the other recipe lacks, a cycle, a dependency that does not
    /// parse.
    Graph(BuildError),
    /// A seed that no declaration above the recipe declares.
    UnknownSeed {
        /// The input.
        input: String,
        /// The seed's name.
        seed: String,
        /// Where the search started.
        dir: PathBuf,
        /// Every seed the recipe could name.
        known: Vec<String>,
    },
    /// A seed whose declaration is wrong.
    Seed {
        /// The input.
        input: String,
        /// What is wrong.
        source: SeedError,
    },
    /// The program the build runs is in none of its root layers.
    CommandNotFound(NotFound),
    /// The script expands a variable that nothing sets.
    UndeclaredVariable(Undeclared),
}

pub use command::NotFound;
pub use vars::{forge_variables, Undeclared};

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Recipe(e) => f.write_str(&e.message),
            Problem::Unreadable { file, source } => {
                write!(f, "cannot read {}: {source}", file.display())
            }
            Problem::MissingPath { input, path } => write!(
                f,
                "path input `{input}`: {} does not exist",
                path.display()
            ),
            Problem::HostPath { input, problem } => write!(f, "path input `{input}`: {problem}"),
            Problem::Graph(e) => match e {
                // These carry the location, which the finding has too.
                BuildError::MissingDependency { input, path, .. } => {
                    write!(f, "recipe input `{input}`: no recipe at {}", path.display())
                }
                BuildError::UnknownOutput {
                    input,
                    output,
                    available,
                    ..
                } => write!(
                    f,
                    "recipe input `{input}`: the recipe has no output `{output}` (it has: {available})"
                ),
                BuildError::Cycle { input, chain, .. } => write!(
                    f,
                    "recipe input `{input}`: recipes depend on each other in a cycle: {chain}"
                ),
                BuildError::Recipe(e) => f.write_str(&e.message),
                e => write!(f, "{e}"),
            },
            Problem::UnknownSeed {
                input, seed, dir, ..
            } => write!(
                f,
                "seed input `{input}`: no seed named `{seed}` ({}/{seed}.toml is in neither {} nor a parent directory)",
                crate::seed::SEEDS_DIR,
                dir.display()
            ),
            Problem::Seed { input, source } => write!(f, "seed input `{input}`: {source}"),
            Problem::CommandNotFound(n) => write!(f, "{n}"),
            Problem::UndeclaredVariable(u) => write!(f, "{u}"),
        }
    }
}

impl Hint for Problem {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            Problem::Recipe(e) => e.hint(),
            Problem::Unreadable { .. } => None,
            Problem::MissingPath { .. } => Some(
                "create it, or correct `path` (it is relative to the recipe's directory)".into(),
            ),
            Problem::HostPath { problem, .. } => problem.hint(),
            Problem::Graph(e) => e.hint(),
            Problem::UnknownSeed { seed, known, .. } => {
                let list = quoted(known);
                Some(match did_you_mean(seed, &strs(known)) {
                    Some(best) => format!("did you mean `{best}`? known seeds: {list}").into(),
                    None if known.is_empty() => format!(
                        "no seeds are declared here; declare it in {}/{seed}.toml (see recipes/seeds/README.md)",
                        crate::seed::SEEDS_DIR
                    )
                    .into(),
                    None => format!(
                        "known seeds: {list}; or declare it in {}/{seed}.toml",
                        crate::seed::SEEDS_DIR
                    )
                    .into(),
                })
            }
            Problem::Seed { source, .. } => source.hint(),
            Problem::CommandNotFound(n) => Some(n.hint().into()),
            Problem::UndeclaredVariable(u) => Some(u.hint().into()),
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `a`, `b`, `c` (or `none`).
pub(crate) fn quoted<S: AsRef<str>>(v: &[S]) -> String {
    if v.is_empty() {
        return "none".to_owned();
    }
    v.iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What [`check`] made of one argument.
#[derive(Debug)]
pub enum Checked {
    /// Not a recipe (a directory without `recipe.toml`, a file that is not
    /// TOML): skipped, not an error.
    NotARecipe,
    /// A recipe file, checked.
    Recipe {
        /// The file, as the user would name it.
        file: String,
        /// Its name and version, when it parses.
        name: Option<(String, String)>,
        /// What was found, in file order (errors before warnings at one
        /// place).
        findings: Vec<Finding>,
    },
}

/// Checks the recipe at `arg` (see the module docs).
pub fn check(arg: &Path, access: &HostAccess) -> Checked {
    let file = if arg.is_dir() {
        let f = arg.join(RECIPE_FILE);
        if std::fs::symlink_metadata(&f).is_err() {
            return Checked::NotARecipe;
        }
        f
    } else if arg.file_name().is_some_and(|n| n == RECIPE_FILE)
        || arg.extension().is_some_and(|e| e == "toml")
        || std::fs::symlink_metadata(arg).is_err()
    {
        arg.to_owned()
    } else {
        return Checked::NotARecipe;
    };
    let shown = file.display().to_string();
    let mut out = Vec::new();
    let found = |location: Location, severity: Severity, problem: Problem| Finding {
        file: shown.clone(),
        location,
        severity,
        problem,
    };
    let text = match crate::inputs::read_regular_string(&file) {
        Ok(t) => t,
        Err(source) => {
            let problem = if source.kind() == std::io::ErrorKind::NotFound {
                Problem::Graph(BuildError::NoRecipe {
                    path: arg.to_owned(),
                })
            } else {
                Problem::Unreadable {
                    file: file.clone(),
                    source,
                }
            };
            out.push(found(Location::START, Severity::Error, problem));
            return Checked::Recipe {
                file: shown,
                name: None,
                findings: out,
            };
        }
    };
    let recipe = match Recipe::parse(&text, &shown) {
        Ok(r) => r,
        Err(e) => {
            out.push(found(e.location(), Severity::Error, Problem::Recipe(e)));
            return Checked::Recipe {
                file: shown,
                name: None,
                findings: out,
            };
        }
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let cx = Context {
        recipe: &recipe,
        dir: &dir,
        access,
    };
    for (loc, severity, problem) in cx.inputs() {
        out.push(found(loc, severity, problem));
    }
    let deps_exist = !out.iter().any(|f| {
        matches!(
            f.problem,
            Problem::Graph(BuildError::MissingDependency { .. })
        )
    });
    if deps_exist
        && recipe
            .inputs
            .values()
            .any(|i| matches!(i, Input::Recipe { .. }))
    {
        if let Err(e) = Graph::load(&file) {
            let e = normalised(e);
            let (at, loc) = graph_location(&e, &shown);
            out.push(Finding {
                file: at,
                location: loc,
                severity: Severity::Error,
                problem: Problem::Graph(e),
            });
        }
    }
    for (loc, severity, problem) in command::check(&cx).into_iter().chain(vars::check(&recipe)) {
        out.push(found(loc, severity, problem));
    }
    out.sort_by_key(|f| (f.file != shown, f.location, f.severity));
    Checked::Recipe {
        file: shown,
        name: Some((recipe.name.to_string(), recipe.version.clone())),
        findings: out,
    }
}

/// The file and location a graph error points at.
fn graph_location(e: &BuildError, default: &str) -> (String, Location) {
    let at = |file: &Path, line: u32, column: u32| {
        (file.display().to_string(), Location { line, column })
    };
    match e {
        BuildError::MissingDependency {
            file, line, column, ..
        }
        | BuildError::UnknownOutput {
            file, line, column, ..
        }
        | BuildError::Cycle {
            file, line, column, ..
        } => at(file, *line, *column),
        BuildError::Recipe(l) | BuildError::BadLockFile(l) => (l.file.clone(), l.location()),
        _ => (default.to_owned(), Location::START),
    }
}

/// What the checks of one recipe share.
pub(crate) struct Context<'a> {
    pub(crate) recipe: &'a Recipe,
    /// The recipe's directory, as given.
    pub(crate) dir: &'a Path,
    pub(crate) access: &'a HostAccess,
}

type Found = (Location, Severity, Problem);

impl Context<'_> {
    /// The problems of each input on its own.
    fn inputs(&self) -> Vec<Found> {
        let mut out = Vec::new();
        let repository = std::fs::canonicalize(self.dir)
            .ok()
            .map(|d| crate::inputs::repository_root(&d));
        for (name, input) in &self.recipe.inputs {
            let loc = self.recipe.input_location(name);
            let mut err = |p| out.push((loc, Severity::Error, p));
            match input {
                Input::Path { path, .. } => {
                    let joined = self.dir.join(path);
                    match std::fs::canonicalize(&joined) {
                        Err(_) => err(Problem::MissingPath {
                            input: name.clone(),
                            path: joined,
                        }),
                        Ok(host) => {
                            if let Some(repo) = &repository {
                                if let Err(problem) =
                                    crate::inputs::check_path_input(&host, repo, self.access)
                                {
                                    err(Problem::HostPath {
                                        input: name.clone(),
                                        problem,
                                    });
                                }
                            }
                        }
                    }
                }
                Input::Recipe { dir: rel, .. } => {
                    let sub = self.dir.join(rel).join(RECIPE_FILE);
                    if std::fs::symlink_metadata(&sub).is_err() {
                        err(Problem::Graph(BuildError::MissingDependency {
                            file: PathBuf::from(&self.recipe.source.file),
                            line: loc.line,
                            column: loc.column,
                            input: name.clone(),
                            path: lexical_normal(&sub),
                        }));
                    }
                }
                Input::Seed { name: seed } => {
                    if let Err(e) = self.seed(seed) {
                        err(match e {
                            SeedError::NotFound { start, .. } => Problem::UnknownSeed {
                                input: name.clone(),
                                seed: seed.clone(),
                                dir: start,
                                known: crate::seed::known_seeds(self.dir),
                            },
                            source => Problem::Seed {
                                input: name.clone(),
                                source,
                            },
                        });
                    }
                }
                Input::Fetch { .. } => {}
            }
        }
        out
    }

    /// The declaration of seed `name`.
    pub(crate) fn seed(&self, name: &str) -> Result<crate::seed::SeedDecl, SeedError> {
        let file = crate::seed::find_seed(self.dir, name)?;
        crate::seed::load(&file)
    }
}
