//! Seeds: the bootstrap root of trust, host tools imported into the store.
//!
//! Every build runs in a sandbox that sees nothing of the host. Something
//! has to provide the first shell and the first compiler; in forge that is a
//! **seed**: a named set of host executables and directories (`/bin/busybox`,
//! `/usr/bin/gcc` and its toolchain directories), copied into the store
//! *together with the shared libraries they need*, as an **FHS tree**: each
//! file sits at its host path relative to the tree's root
//! (`<tree>/usr/bin/gcc-12`, `<tree>/usr/lib/x86_64-linux-gnu/libc.so.6`,
//! `<tree>/lib64 -> usr/lib64`). The build engine mounts seed trees as the
//! read-only root filesystem of the sandbox, so the tools run at the very
//! paths they were built for. Recipes name seeds
//! (`busybox = { seed = "busybox" }`); the engine locks each seed's hash per
//! recipe.
//!
//! # Declaring a seed
//!
//! A seed is declared once, in `recipes/seeds/NAME.toml` ([`decl`] has the
//! format and its rules):
//!
//! ```toml
//! [seed]
//! name = "busybox"
//! description = "busybox-static: /bin/sh and the core utilities"
//! paths = ["/bin/busybox"]
//!
//! [seed.links]
//! "/bin/sh" = "busybox"
//! ```
//!
//! [`find_seed`] finds the file for a name used in a recipe: starting at the
//! recipe's directory and walking up through its parents, the first
//! directory that contains `recipes/seeds/NAME.toml` wins, or, when the
//! directory itself is named `recipes`, `seeds/NAME.toml` directly under
//! it. So `recipes/hello/recipe.toml` finds `recipes/seeds/gcc.toml`, and a
//! project can keep its own `recipes/seeds/` that shadows an outer one.
//!
//! # What goes into the tree
//!
//! [`assemble()`] copies, for each declared path:
//!
//! - the path itself, at the same path in the tree. Directories are copied
//!   recursively (entries sorted, `exclude` globs applied); symlinks are
//!   copied as symlinks, and then their targets are copied too (for a
//!   declared `/usr/bin/gcc -> gcc-12`, both).
//! - every symlinked **component** on the way, faithfully: on Debian with
//!   merged `/usr`, `/bin -> usr/bin`, `/lib -> usr/lib` and
//!   `/lib64 -> usr/lib64` are symlinks, so the tree gets the same three
//!   symlinks and the files under `usr/`; both spellings work inside.
//! - for every ELF file copied: its program interpreter (`PT_INTERP`) and
//!   the closure of its `DT_NEEDED` libraries, each found as ld.so would
//!   find it (RPATH/RUNPATH with `$ORIGIN`, then `/etc/ld.so.conf` and its
//!   includes, then `/lib`, `/usr/lib` and the multiarch directories;
//!   matching the object's class and machine: [`resolve`] has the details),
//!   at its host path.
//! - for every `#!` script copied: its interpreter.
//! - the extra symlinks of `[seed.links]`, which must resolve inside the
//!   tree.
//!
//! It returns a [`SeedManifest`]: every host path copied and why
//! ("declared", "needed by /usr/bin/gcc-12 as libc.so.6", …), which the CLI
//! can print. A declared path that does not exist, a library no search
//! directory provides, an interpreter that is missing: each is an error
//! that names the path, who needed it and the seed file. Libraries opened
//! at run time with `dlopen` are not `DT_NEEDED` and cannot be seen; declare
//! them (or their directory). Linker scripts such as `libc.so` name absolute
//! paths that are not followed either: declare what they name.
//!
//! Assembly is deterministic: the same host gives the same tree (work is
//! done in declaration order, directories sorted, no timestamps kept; the
//! store canonicalises modes and mtimes when the tree is added). [`import`]
//! assembles into a staging directory under the store's `tmp/` and adds
//! the tree as the store path `seed-NAME`.
//!
//! # Reproducibility: be honest about it
//!
//! A seed is only as reproducible as the host it was taken from. Importing
//! `gcc` on Debian 12 and on Ubuntu 24.04 gives different trees, different
//! hashes and, downstream, different builds. What forge guarantees is that
//! the seed is *named and hashed*: a build records exactly which bytes it
//! started from, and two machines share cached results exactly when their
//! seeds hash the same (same distribution, same package versions). Pin the
//! host (a container image by digest) to get that.

pub mod assemble;
pub mod decl;
pub mod resolve;
pub mod view;

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use forge_core::diag::Hint;
use forge_core::store_path::{StorePath, StorePathName};
use forge_store::Store;
use thiserror::Error;

pub use assemble::{assemble, assemble_from, EntryKind, ManifestEntry, Reason, SeedManifest};
pub use decl::{DeclError, DeclErrorKind, SeedDecl};
use forge_core::elf::ElfError;

/// Where seed declarations live, relative to a `recipes/` directory's parent.
pub const SEEDS_DIR: &str = "recipes/seeds";

/// Everything that can go wrong finding, assembling or importing a seed.
#[derive(Debug, Error)]
pub enum SeedError {
    /// The declaration does not parse.
    #[error(transparent)]
    Decl(#[from] DeclError),
    /// No `recipes/seeds/NAME.toml` above the recipe.
    #[error("no seed named `{name}`: no {SEEDS_DIR}/{name}.toml in {} or any parent directory", start.display())]
    NotFound {
        /// The seed's name.
        name: String,
        /// Where the search started.
        start: PathBuf,
    },
    /// A recipe named a seed with an invalid name.
    #[error("invalid seed name {name:?}: {problem}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file's `name` is not its file name.
    #[error("{}: the seed is named `{name}` but the file is {}", file.display(), file.display())]
    NameMismatch {
        /// The declaration file.
        file: PathBuf,
        /// The name it declares.
        name: String,
    },
    /// A declared path is not on this host.
    #[error("{path} does not exist on this host (declared in {})", seed_file.display(), path = path.display())]
    MissingPath {
        /// The declared path.
        path: PathBuf,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// A required path reached through a symlink is missing.
    #[error("{path} ({reason}) does not exist on this host (seed {})", seed_file.display(), path = path.display())]
    Dangling {
        /// The missing path.
        path: PathBuf,
        /// Why it was wanted.
        reason: String,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// An ELF or `#!` interpreter is missing.
    #[error("interpreter {interpreter} of {of} does not exist on this host (seed {})", seed_file.display(), interpreter = interpreter.display(), of = of.display())]
    MissingInterpreter {
        /// The interpreter path.
        interpreter: PathBuf,
        /// The file that names it.
        of: PathBuf,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// A `DT_NEEDED` library was not found.
    #[error("cannot find library {library} needed by {needed_by} ({class}-bit, machine {machine}); searched {searched_list} (seed {})", seed_file.display(), needed_by = needed_by.display(), searched_list = list(searched))]
    Unresolved {
        /// The `DT_NEEDED` name.
        library: String,
        /// The ELF file that needs it.
        needed_by: PathBuf,
        /// Its ELF class (32 or 64).
        class: u8,
        /// Its `e_machine`.
        machine: u16,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// An ELF file the seed copies is malformed.
    #[error("{}: {source}", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: ElfError,
    },
    /// A device, FIFO or socket inside a declared directory.
    #[error("{} is a device, FIFO or socket; a seed holds only files, directories and symlinks", path.display())]
    SpecialFile {
        /// The path.
        path: PathBuf,
    },
    /// Too many symlinks on the way.
    #[error("too many levels of symbolic links resolving {}", path.display())]
    SymlinkLoop {
        /// The path.
        path: PathBuf,
    },
    /// A `[seed.links]` entry would replace something copied.
    #[error("link {} collides with {}, already in the tree (seed {})", link.display(), existing.display(), seed_file.display())]
    LinkCollision {
        /// The declared link.
        link: PathBuf,
        /// What is there (its real path in the tree).
        existing: PathBuf,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// A `[seed.links]` entry points at nothing in the tree.
    #[error("link {} -> {} points at nothing in the seed tree (seed {})", link.display(), target.display(), seed_file.display())]
    LinkDangling {
        /// The declared link.
        link: PathBuf,
        /// Its target.
        target: PathBuf,
        /// The declaration file.
        seed_file: PathBuf,
    },
    /// A file system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`copying`, `reading`).
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A host file the seed would copy is private (the seed trust rule).
    #[error("{problem} (seed {})", seed_file.display())]
    Private {
        /// The declaration file.
        seed_file: PathBuf,
        /// The private path.
        problem: crate::inputs::HostPathProblem,
    },
    /// The store refused the tree.
    #[error("adding seed `{name}` to the store: {source}")]
    Store {
        /// The seed.
        name: String,
        /// The store's error.
        #[source]
        source: forge_store::StoreError,
    },
}

impl Hint for SeedError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(match self {
            SeedError::Decl(e) => return e.hint(),
            SeedError::NotFound { name, .. } => format!(
                "declare it in {SEEDS_DIR}/{name}.toml (see recipes/seeds/README.md)"
            )
            .into(),
            SeedError::NameMismatch { .. } => {
                "a seed NAME is declared in NAME.toml; rename the file or the seed".into()
            }
            SeedError::MissingPath { .. } => {
                "install the package that provides it, or remove it from the seed".into()
            }
            SeedError::Dangling { .. } => {
                "a symlink the seed needs is dangling on this host; fix the host or the declaration"
                    .into()
            }
            SeedError::MissingInterpreter { of, .. } => {
                format!("install it, or exclude {} from the seed", of.display()).into()
            }
            SeedError::Unresolved { library, .. } => format!(
                "install the package that provides {library}, or add its directory to the seed's paths"
            )
            .into(),
            SeedError::Elf { .. } => "exclude it from the seed if it is not needed".into(),
            SeedError::SpecialFile { .. } => "add it to the seed's exclude patterns".into(),
            SeedError::LinkCollision { .. } => {
                "remove the link or the path that provides it".into()
            }
            SeedError::LinkDangling { .. } => {
                "the target must be copied by the seed too; add it to paths".into()
            }
            SeedError::Private { problem, .. } => return problem.hint(),
            SeedError::BadName { .. }
            | SeedError::SymlinkLoop { .. }
            | SeedError::Io { .. }
            | SeedError::Store { .. } => return None,
        })
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the declaration of seed `name` for a recipe in `recipe_dir` (see
/// the module docs for the rule) and returns its path.
pub fn find_seed(recipe_dir: &Path, name: &str) -> Result<PathBuf, SeedError> {
    if let Some(problem) = decl::name_problem(name) {
        return Err(SeedError::BadName {
            name: name.to_owned(),
            problem,
        });
    }
    let start = std::path::absolute(recipe_dir).map_err(|source| SeedError::Io {
        what: "resolving",
        path: recipe_dir.to_owned(),
        source,
    })?;
    let file = format!("{name}.toml");
    // Anything there counts (a FIFO too, refused when read), so that a
    // special file is reported as such instead of shadowed by another.
    if let Some(found) = seed_dirs(&start)
        .map(|d| d.join(&file))
        .find(|c| fs::symlink_metadata(c).is_ok())
    {
        return Ok(found);
    }
    Err(SeedError::NotFound {
        name: name.to_owned(),
        start,
    })
}

/// The seeds a recipe in `recipe_dir` can name: the `NAME.toml` files of
/// every directory [`find_seed`] looks in, sorted, each name once.
pub fn known_seeds(recipe_dir: &Path) -> Vec<String> {
    let Ok(start) = std::path::absolute(recipe_dir) else {
        return Vec::new();
    };
    let mut names = std::collections::BTreeSet::new();
    for d in seed_dirs(&start) {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".toml")) else {
                continue;
            };
            if decl::name_problem(stem).is_none() {
                names.insert(stem.to_owned());
            }
        }
    }
    names.into_iter().collect()
}

/// Where seed declarations are looked for from `start` (absolute), nearest
/// first: `recipes/seeds` in it and each parent, and `seeds` in a
/// directory named `recipes`.
fn seed_dirs(start: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    start.ancestors().flat_map(|dir| {
        let mut dirs = vec![dir.join(SEEDS_DIR)];
        if dir.file_name().is_some_and(|n| n == "recipes") {
            dirs.push(dir.join("seeds"));
        }
        dirs
    })
}

/// Reads and parses the declaration at `file`, checking that its name
/// matches the file name.
pub fn load(file: &Path) -> Result<SeedDecl, SeedError> {
    let text = crate::inputs::read_regular_string(file).map_err(|source| SeedError::Io {
        what: "reading",
        path: file.to_owned(),
        source,
    })?;
    let decl = SeedDecl::parse(&text, &file.display().to_string())?;
    if file.file_stem().is_some_and(|s| s != decl.name.as_str()) {
        return Err(SeedError::NameMismatch {
            file: file.to_owned(),
            name: decl.name,
        });
    }
    Ok(decl)
}

/// Assembles `decl` from this host and adds the tree to `store` as
/// `seed-NAME`. Returns the store path and the manifest.
///
/// The seed trust rule ([`crate::inputs::check_seed_paths`]): a declaration
/// may sit next to any recipe, so what it copies must be readable by every
/// user of the host already; a file that is not (`/etc/shadow`, anything
/// under a 0700 directory) is refused unless `allow_private`
/// (`--allow-private`). Nothing is added to the store before the check.
pub fn import(
    store: &mut Store,
    decl: &SeedDecl,
    access: &crate::inputs::HostAccess,
) -> Result<(StorePath, SeedManifest), SeedError> {
    let allow_private = access.allow_private;
    let name = StorePathName::new(&decl.store_name()).map_err(|e| SeedError::BadName {
        name: decl.name.clone(),
        problem: e.to_string(),
    })?;
    let store_err = |source| SeedError::Store {
        name: decl.name.clone(),
        source,
    };
    // Swept by the store if this process dies before it is removed.
    let scratch = store
        .scratch_dir(&format!("seed-{}", decl.name))
        .map_err(store_err)?;
    let dir = scratch.path();
    let tree = dir.join("tree");
    fs::create_dir(&tree).map_err(|source| SeedError::Io {
        what: "creating staging directory",
        path: tree.clone(),
        source,
    })?;
    let private = |problem| SeedError::Private {
        seed_file: PathBuf::from(&decl.file),
        problem,
    };
    // The declared paths first, before anything is read: the message is
    // then the same whether this user can read them or not.
    crate::inputs::check_seed_places(decl.paths.iter().map(Path::new), &access.allow_paths)
        .map_err(private)?;
    if !allow_private {
        let declared: Vec<(PathBuf, bool)> = decl
            .paths
            .iter()
            .map(PathBuf::from)
            .filter_map(|p| {
                let m = fs::symlink_metadata(&p).ok()?;
                Some((p, m.file_type().is_symlink()))
            })
            .collect();
        crate::inputs::check_seed_paths(declared.iter().map(|(p, l)| (p.as_path(), *l)))
            .map_err(private)?;
    }
    let manifest = assemble(decl, &tree)?;
    crate::inputs::check_seed_places(
        manifest.entries.iter().map(|e| e.path.as_path()),
        &access.allow_paths,
    )
    .map_err(private)?;
    if !allow_private {
        crate::inputs::check_seed_paths(manifest.entries.iter().map(|e| {
            (
                e.path.as_path(),
                matches!(e.kind, EntryKind::Symlink { .. }),
            )
        }))
        .map_err(private)?;
    }
    // A seed refers to nothing in the store: no reference scan, so its path
    // depends only on its bytes.
    let outcome = store
        .add_source(&tree, name, &forge_store::tree::NoProgress)
        .map_err(store_err)?;
    Ok((outcome.info.path, manifest))
}

/// The names a walk of `path` from `/` takes, `..` kept as a step back
/// (resolved against what the walk found, not lexically); `.` and the
/// root dropped. Shared by the assembler and the view that predicts it.
pub(crate) fn walk_steps(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}
