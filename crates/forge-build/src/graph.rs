//! Loading the recipes asked for and every recipe they depend on.
//!
//! A recipe is named by its directory (`recipes/hello`, holding
//! `recipe.toml`) or by the file itself. `recipe` inputs name other recipes
//! by a directory relative to the recipe's own directory. [`Graph::load`]
//! follows them depth-first, parses each recipe once (directories are
//! compared after resolving symlinks), and reports a cycle as the chain of
//! recipes that forms it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use forge_core::recipe::{Input, Recipe};

use crate::error::BuildError;
use crate::lockfile::LockFile;

pub use forge_core::recipe::RECIPE_FILE;

/// One recipe in the graph.
#[derive(Debug)]
pub struct Node {
    /// The recipe's directory, canonical.
    pub dir: PathBuf,
    /// The recipe file, as the user would write it (for messages).
    pub file: PathBuf,
    /// The parsed recipe.
    pub recipe: Recipe,
    /// Its lock file.
    pub lock: LockFile,
    /// For each `recipe` input: (input name, index of that recipe, output).
    pub deps: Vec<(String, usize, String)>,
}

/// The recipes asked for and their recipe dependencies, dependencies
/// before dependents.
#[derive(Debug)]
pub struct Graph {
    /// The recipes; every node's dependencies have smaller indices.
    pub nodes: Vec<Node>,
    /// The indices of the recipes that were asked for, in the order asked
    /// (one recipe named twice is one target).
    pub targets: Vec<usize>,
}

/// Whether a command-line argument names a recipe (a directory holding a
/// recipe file, or a `.toml` file) rather than a store path or a link.
pub fn is_recipe_arg(arg: &Path) -> bool {
    arg.join(RECIPE_FILE).is_file() || arg.extension().is_some_and(|e| e == "toml")
}

/// Splits what a user typed into (directory, recipe file).
pub fn locate(arg: &Path) -> Result<(PathBuf, PathBuf), BuildError> {
    let file = if arg.is_dir() {
        arg.join(RECIPE_FILE)
    } else {
        arg.to_owned()
    };
    // Anything there is read (and a FIFO or device refused by name);
    // only a missing file is "no recipe".
    if fs::symlink_metadata(&file).is_err() {
        return Err(BuildError::NoRecipe {
            path: arg.to_owned(),
        });
    }
    let dir = file
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_owned();
    Ok((dir, file))
}

impl Graph {
    /// Loads the recipe at `arg` (a directory or a recipe file) and,
    /// recursively, every recipe it names.
    pub fn load(arg: &Path) -> Result<Graph, BuildError> {
        Graph::load_all(std::slice::from_ref(&arg))
    }

    /// Loads the recipes at `args` and every recipe they name, into one
    /// graph: a recipe they share is loaded (and later built) once.
    pub fn load_all<P: AsRef<Path>>(args: &[P]) -> Result<Graph, BuildError> {
        let mut loader = Loader {
            nodes: Vec::new(),
            by_dir: HashMap::new(),
            stack: Vec::new(),
        };
        let mut targets = Vec::new();
        for arg in args {
            let (dir, file) = locate(arg.as_ref())?;
            let i = loader.visit(&dir, &file)?;
            if !targets.contains(&i) {
                targets.push(i);
            }
        }
        Ok(Graph {
            nodes: loader.nodes,
            targets,
        })
    }

    /// The first recipe asked for.
    pub fn first_target(&self) -> usize {
        self.targets[0]
    }

    /// For each node, the nodes that depend on it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for (_, d, _) in &n.deps {
                if !out[*d].contains(&i) {
                    out[*d].push(i);
                }
            }
        }
        out
    }
}

struct Loader {
    nodes: Vec<Node>,
    by_dir: HashMap<PathBuf, usize>,
    /// The chain being loaded: (canonical dir, file as written).
    stack: Vec<(PathBuf, PathBuf)>,
}

impl Loader {
    /// If the recipe in `dir` is being loaded already (it is on the
    /// stack), the chain of recipe files from it back to `file`.
    fn cycle_through(&self, dir: &Path, file: &Path) -> Option<String> {
        let canonical = fs::canonicalize(dir).ok()?;
        let pos = self.stack.iter().position(|(d, _)| *d == canonical)?;
        let mut chain: Vec<String> = self.stack[pos..]
            .iter()
            .map(|(_, f)| f.display().to_string())
            .collect();
        chain.push(file.display().to_string());
        Some(chain.join(" -> "))
    }

    fn visit(&mut self, dir: &Path, file: &Path) -> Result<usize, BuildError> {
        let canonical = fs::canonicalize(dir).map_err(|source| BuildError::Io {
            what: format!("resolving recipe directory {}", dir.display()),
            source,
        })?;
        if let Some(&i) = self.by_dir.get(&canonical) {
            return Ok(i);
        }
        let text = crate::inputs::read_regular_string(file).map_err(|source| BuildError::Io {
            what: format!("reading {}", file.display()),
            source,
        })?;
        let recipe = Recipe::parse(&text, &file.display().to_string())?;
        let lock = LockFile::load(&canonical)?;
        self.stack.push((canonical.clone(), file.to_owned()));
        let mut deps = Vec::new();
        for (name, input) in &recipe.inputs {
            if let Input::Recipe { dir: rel, output } = input {
                let sub_dir = tidy(&dir.join(rel));
                let sub_file = sub_dir.join(RECIPE_FILE);
                if fs::symlink_metadata(&sub_file).is_err() {
                    let loc = recipe.input_location(name);
                    return Err(BuildError::MissingDependency {
                        file: file.to_owned(),
                        line: loc.line,
                        column: loc.column,
                        input: name.clone(),
                        path: sub_file,
                    });
                }
                if let Some(chain) = self.cycle_through(&sub_dir, &sub_file) {
                    let loc = recipe.input_location(name);
                    return Err(BuildError::Cycle {
                        file: file.to_owned(),
                        line: loc.line,
                        column: loc.column,
                        input: name.clone(),
                        chain,
                    });
                }
                let idx = self.visit(&sub_dir, &sub_file)?;
                if !self.nodes[idx].recipe.outputs.contains(output) {
                    let loc = recipe.input_location(name);
                    return Err(BuildError::UnknownOutput {
                        file: file.to_owned(),
                        line: loc.line,
                        column: loc.column,
                        input: name.clone(),
                        output: output.clone(),
                        available: self.nodes[idx].recipe.outputs.join(", "),
                    });
                }
                deps.push((name.clone(), idx, output.clone()));
            }
        }
        self.stack.pop();
        let idx = self.nodes.len();
        self.nodes.push(Node {
            dir: canonical.clone(),
            file: file.to_owned(),
            recipe,
            lock,
            deps,
        });
        self.by_dir.insert(canonical, idx);
        Ok(idx)
    }
}

/// `path` with `.` and `dir/..` pairs removed (`recipes/a/../b` is
/// `recipes/b`), for messages and for reading, when that names the same
/// place (it does not when `dir` is a symlink); `path` as it is otherwise.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    let same = match (fs::canonicalize(path), fs::canonicalize(&out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        out
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::tidy;
    use std::path::Path;

    #[test]
    fn a_parent_step_is_tidied_only_where_it_names_the_same_place() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::create_dir_all(base.join("recipes/a")).unwrap();
        std::fs::create_dir_all(base.join("recipes/b")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere/deep/x")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere/b")).unwrap();
        std::os::unix::fs::symlink(base.join("elsewhere/deep/x"), base.join("recipes/link"))
            .unwrap();
        assert_eq!(
            tidy(&base.join("recipes/a/../b")),
            base.join("recipes/b"),
            "a plain directory's `..` is removed"
        );
        assert_eq!(tidy(&base.join("recipes/./b")), base.join("recipes/b"));
        // recipes/link/.. is elsewhere/deep, not recipes: kept as written.
        let through_link = base.join("recipes/link/../../b");
        assert_eq!(tidy(&through_link), through_link);
        let missing = Path::new("/nonexistent-forge-test/a/../b");
        assert_eq!(tidy(missing), missing, "what cannot be resolved is kept");
    }
}
