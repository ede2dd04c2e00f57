//! Is the program a build runs in its root layers? A script runs
//! `/bin/sh`; a `command` runs its first word, by path (the sandbox
//! `execve`s it: nothing searches `PATH`). The root layers are the inputs
//! `[build] root` names, earliest first, as the sandbox stacks them
//! (docs/sandbox.md): a seed's tree is predicted from its declaration
//! ([`SeedView`]), a `path` input is the host directory itself; a `fetch`
//! or `recipe` layer is not known before it is built, and then nothing is
//! said. `${name}/…` programs are looked up in that input the same way.

use std::fmt;
use std::path::{Path, PathBuf};

use forge_core::diag::Location;
use forge_core::recipe::{Build, Input};

use super::{quoted, Context, Found, Problem, Severity};
use crate::seed::view::{resolve, stacked, Lookup, SeedView};

/// A program the build cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// The program, as the build would run it.
    pub program: String,
    /// `script` (it runs `/bin/sh`) or `command`.
    pub from: &'static str,
    /// The root layers looked in (input names), or the input a
    /// `${name}/…` program is in.
    pub layers: Vec<String>,
    /// The program is a relative path.
    pub relative: bool,
    /// It is `${name}/…` in input `name`.
    pub in_input: bool,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = if self.from == "script" {
            "`script` runs /bin/sh -e".to_owned()
        } else {
            format!("`command` runs {}", self.program)
        };
        if self.relative {
            write!(
                f,
                "{runs}, a relative path: the sandbox runs the program by its path (no PATH search), from /build, which starts empty"
            )
        } else if self.in_input {
            write!(
                f,
                "{runs}, which input {} does not have",
                quoted(&self.layers)
            )
        } else if self.layers.is_empty() {
            write!(f, "{runs}, but the recipe has no root layer ([build] root), so the sandbox's / has no {}", self.program)
        } else {
            write!(
                f,
                "{runs}, which none of the root layers has (root: {})",
                quoted(&self.layers)
            )
        }
    }
}

impl NotFound {
    pub(super) fn hint(&self) -> String {
        if self.relative {
            "write the program's absolute path inside the sandbox (command = [\"/usr/bin/make\", …]), or use `script`".to_owned()
        } else if self.in_input {
            "check the path after ${…} against what that input holds".to_owned()
        } else if self.layers.is_empty() {
            format!(
                "give the build a root filesystem that has {}: busybox = {{ seed = \"busybox\" }} in [inputs] and root = [\"busybox\"] in [build]",
                self.program
            )
        } else {
            format!(
                "add a root layer that has {} (busybox = {{ seed = \"busybox\" }} has /bin/sh), or run a program the layers have",
                self.program
            )
        }
    }
}

/// A root layer, as far as can be known before building.
enum Layer {
    Seed(SeedView),
    Host(PathBuf),
    Unknown,
}

impl Layer {
    fn lookup(&self, p: &Path) -> Lookup {
        match self {
            Layer::Seed(v) => v.lookup(p),
            Layer::Host(root) => {
                let at = root.join(p.strip_prefix("/").unwrap_or(p));
                match std::fs::symlink_metadata(&at) {
                    Err(_) => Lookup::Missing,
                    Ok(m) if m.file_type().is_symlink() => {
                        std::fs::read_link(&at).map_or(Lookup::Missing, Lookup::Link)
                    }
                    Ok(m) if m.is_dir() => Lookup::Dir,
                    Ok(_) => Lookup::File,
                }
            }
            Layer::Unknown => Lookup::Unknown,
        }
    }
}

impl Context<'_> {
    fn layer(&self, input: &str) -> Layer {
        match self.recipe.inputs.get(input) {
            Some(Input::Seed { name }) => match self.seed(name) {
                Ok(decl) => Layer::Seed(SeedView::of(&decl)),
                // Reported on the input already.
                Err(_) => Layer::Unknown,
            },
            Some(Input::Path { path, .. }) => Layer::Host(self.dir.join(path)),
            _ => Layer::Unknown,
        }
    }
}

/// Whether `program` is found in `layers`, stacked.
fn found_in(layers: &[Layer], program: &Path) -> Option<bool> {
    resolve(&|p| stacked(layers.iter().map(|l| l.lookup(p))), program)
}

/// The program check of one recipe.
pub(super) fn check(cx: &Context<'_>) -> Vec<Found> {
    let r = cx.recipe;
    let (program, from) = match &r.build {
        Build::Script(_) => ("/bin/sh".to_owned(), "script"),
        Build::Command(words) => (words[0].clone(), "command"),
    };
    let at: Location = r.source.run;
    let not_found = |layers: Vec<String>, relative: bool, in_input: bool| {
        vec![(
            at,
            Severity::Error,
            Problem::CommandNotFound(NotFound {
                program: program.clone(),
                from,
                layers,
                relative,
                in_input,
            }),
        )]
    };
    if let Some(rest) = program.strip_prefix("${") {
        // `${name}/bin/tool`: in that input (outputs are not known yet).
        let Some((name, path)) = rest.split_once('}') else {
            return Vec::new();
        };
        if path.contains("${") || !r.inputs.contains_key(name) {
            return Vec::new();
        }
        let inside = Path::new("/").join(path.trim_start_matches('/'));
        return match found_in(&[cx.layer(name)], &inside) {
            Some(false) => not_found(vec![name.to_owned()], false, true),
            _ => Vec::new(),
        };
    }
    if !program.starts_with('/') {
        return not_found(Vec::new(), true, false);
    }
    // The sandbox's own directories: what is there is not the layers'.
    if ["/forge/", "/build/", "/tmp/", "/proc/", "/dev/"]
        .iter()
        .any(|p| program.starts_with(p))
    {
        return Vec::new();
    }
    let layers: Vec<Layer> = r.root.iter().map(|n| cx.layer(n)).collect();
    match found_in(&layers, Path::new(&program)) {
        Some(false) => not_found(r.root.clone(), false, false),
        _ => Vec::new(),
    }
}
