//! What a recipe may read from the host, and reading input files safely.
//!
//! A recipe is often someone else's code. Two rules keep it from turning
//! host files into store paths (which are world-readable, 0444, and shared
//! through caches) without the user asking for it:
//!
//! - **The repository boundary.** A `path` input must resolve (after every
//!   symlink, at any depth of the path) to a place inside the recipe's
//!   *repository*: the nearest ancestor of the recipe's directory (itself
//!   included) that holds a `.git` entry (a directory, or the file of a git
//!   worktree or submodule); or, where there is none, the recipe's own
//!   directory. Anything else needs `--allow-path DIR` (the input must then
//!   lie under one of the DIRs given).
//! - **No private files.** Every file of a `path` input must be readable by
//!   other users (`o+r`), every directory readable and searchable by them
//!   (`o+rx`), and every directory between the repository root (or the
//!   `--allow-path` DIR) and the input searchable (`o+x`). The root and the
//!   directories above it are not looked at: where a checkout lives (a 0700
//!   home directory) is the user's business. Seeds name host files by
//!   absolute path, so for them the whole chain from `/` counts. Anything
//!   else needs `--allow-private`.
//!
//! Input files forge reads itself (`recipe.toml`, `recipe.lock`, seed
//! declarations) go through [`read_regular`], which never blocks in
//! `open` on a FIFO and refuses anything that is not a regular file.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use forge_core::diag::Hint;
use thiserror::Error;

/// What the user allowed beyond the default rules (command-line flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAccess {
    /// `--allow-path DIR`: directories `path` inputs may also come from
    /// (as given; resolved when checked).
    pub allow_paths: Vec<PathBuf>,
    /// `--allow-private`: import files other users cannot read.
    pub allow_private: bool,
}

/// A file that is not a regular file where one is needed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("not a regular file (it is a {kind})")]
pub struct NotRegular {
    /// `FIFO`, `socket`, `character device`, `block device`, `directory`, ...
    pub kind: &'static str,
}

/// Reads the regular file at `path` (a symlink to one is fine). Anything
/// else is an [`io::ErrorKind::InvalidInput`] error wrapping [`NotRegular`];
/// a FIFO swapped in after the type check is opened without blocking
/// (`O_NONBLOCK`) and refused after `fstat`, so this never hangs on one.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let not_regular = |ft: fs::FileType| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            NotRegular {
                kind: forge_store::tree::kind_name(ft),
            },
        )
    };
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let opened = f.metadata()?;
    if !opened.is_file() {
        return Err(not_regular(opened.file_type()));
    }
    // O_NONBLOCK means nothing for a regular file's reads.
    let mut out = Vec::with_capacity(opened.len() as usize);
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read_regular(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The recipe's repository: the nearest ancestor of `recipe_dir` (a
/// canonical directory) holding `.git`, or `recipe_dir` itself.
pub fn repository_root(recipe_dir: &Path) -> PathBuf {
    recipe_dir
        .ancestors()
        .find(|d| fs::symlink_metadata(d.join(".git")).is_ok())
        .unwrap_or(recipe_dir)
        .to_owned()
}

/// Why a host path may not become a `path` input.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum HostPathProblem {
    /// It resolves to outside the repository and every `--allow-path`.
    #[error("{} is outside the repository {}", path.display(), repository.display())]
    Outside {
        /// The resolved path.
        path: PathBuf,
        /// The repository root.
        repository: PathBuf,
    },
    /// A seed names a host file outside the system's directories and every
    /// `--allow-path`.
    #[error("{} is outside the system's directories ({})", path.display(), SEED_SYSTEM_DIRS.join(", "))]
    SeedOutside {
        /// The host path.
        path: PathBuf,
    },
    /// Something in it, or a directory on the way, is private.
    #[error("{} is not readable by other users ({why})", path.display())]
    Private {
        /// The private file or directory.
        path: PathBuf,
        /// Which bit is missing.
        why: String,
    },
    /// A FIFO, socket or device.
    #[error("{} is not a regular file (it is a {kind}); a path input holds only files, directories and symlinks", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// Its type.
        kind: &'static str,
    },
    /// It could not be looked at.
    #[error("{}: {message}", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
}

impl Hint for HostPathProblem {
    fn hint(&self) -> Option<Cow<'_, str>> {
        let h: String = match self {
            HostPathProblem::Outside { path, .. } => format!(
                "a recipe reads only files of its own repository; to allow this one, pass --allow-path {}",
                path.parent().unwrap_or(path).display()
            ),
            HostPathProblem::SeedOutside { path } => format!(
                "a seed takes the host's tools, not its users' files; to allow this one, pass --allow-path {}",
                path.parent().unwrap_or(path).display()
            ),
            HostPathProblem::Private { .. } => {
                return Some(
                    "forge does not make a private file a world-readable store path silently: make it readable by others (chmod o+r, o+rx for directories), or pass --allow-private"
                        .into(),
                )
            }
            HostPathProblem::NotRegular { .. } => {
                return Some("remove the special file, or move it out of the input".into())
            }
            HostPathProblem::Unreadable { .. } => return None,
        };
        Some(h.into())
    }
}

fn unreadable(path: &Path, e: io::Error) -> HostPathProblem {
    HostPathProblem::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Checks that the resolved host path `host` may be a `path` input of a
/// recipe in `repository` (see the module docs): inside the repository or
/// an allowed directory, no special files, nothing private unless allowed.
pub fn check_path_input(
    host: &Path,
    repository: &Path,
    access: &HostAccess,
) -> Result<(), HostPathProblem> {
    let allowed: Vec<PathBuf> = access
        .allow_paths
        .iter()
        .filter_map(|d| fs::canonicalize(d).ok())
        .collect();
    let base = std::iter::once(repository)
        .chain(allowed.iter().map(PathBuf::as_path))
        .filter(|b| host.starts_with(b))
        // The deepest base: the fewest directories to check.
        .max_by_key(|b| b.components().count())
        .ok_or_else(|| HostPathProblem::Outside {
            path: host.to_owned(),
            repository: repository.to_owned(),
        })?
        .to_owned();
    check_tree(host, &base, access.allow_private)
}

/// The private bits of `meta`, if any: files need `o+r`, directories `o+rx`.
fn private_bits(meta: &fs::Metadata) -> Option<&'static str> {
    let mode = meta.mode();
    if meta.is_dir() {
        if mode & 0o005 != 0o005 {
            return Some("a directory without o+rx");
        }
    } else if meta.is_file() && mode & 0o004 == 0 {
        return Some("a file without o+r");
    }
    None
}

/// Checks the tree at `host` (every entry: no special files; unless
/// `allow_private`, every entry readable by others) and every directory
/// strictly between `base` and `host` (searchable by others).
pub fn check_tree(host: &Path, base: &Path, allow_private: bool) -> Result<(), HostPathProblem> {
    if !allow_private {
        if let Ok(rel) = host.strip_prefix(base) {
            let mut dir = base.to_owned();
            let comps: Vec<_> = rel.components().collect();
            for c in comps.iter().take(comps.len().saturating_sub(1)) {
                dir.push(c);
                let m = fs::symlink_metadata(&dir).map_err(|e| unreadable(&dir, e))?;
                if m.mode() & 0o001 == 0 {
                    return Err(HostPathProblem::Private {
                        path: dir,
                        why: "a directory on the way without o+x".into(),
                    });
                }
            }
        }
    }
    let mut stack = vec![host.to_owned()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).map_err(|e| unreadable(&p, e))?;
        let ft = m.file_type();
        if ft.is_symlink() {
            // Stored as a symlink: its target is never read.
            continue;
        }
        if !ft.is_file() && !ft.is_dir() {
            return Err(HostPathProblem::NotRegular {
                path: p,
                kind: forge_store::tree::kind_name(ft),
            });
        }
        if !allow_private {
            if let Some(why) = private_bits(&m) {
                return Err(HostPathProblem::Private {
                    path: p,
                    why: why.into(),
                });
            }
        }
        if ft.is_dir() {
            let rd = fs::read_dir(&p).map_err(|e| unreadable(&p, e))?;
            for e in rd {
                let e = e.map_err(|e| unreadable(&p, e))?;
                stack.push(e.path());
            }
        }
    }
    Ok(())
}

/// Where a seed may copy host files from without `--allow-path`: the
/// system's own directories. Seeds are for the host's tools; a seed that
/// copied a world-readable file of a home directory would hand it to a
/// recipe, whose fixed-output build has the network.
pub const SEED_SYSTEM_DIRS: [&str; 9] = [
    "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// The seed place rule: every host path a seed copies is under one of
/// [`SEED_SYSTEM_DIRS`] or an `--allow-path` directory (compared as given
/// and resolved). Returns the first one that is not.
pub fn check_seed_places<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    allow_paths: &[PathBuf],
) -> Result<(), HostPathProblem> {
    let allowed: Vec<PathBuf> = allow_paths
        .iter()
        .flat_map(|d| [d.clone(), fs::canonicalize(d).unwrap_or_else(|_| d.clone())])
        .collect();
    for p in paths {
        let ok = SEED_SYSTEM_DIRS.iter().any(|d| p.starts_with(d))
            || allowed.iter().any(|d| p.starts_with(d));
        if !ok {
            return Err(HostPathProblem::SeedOutside { path: p.to_owned() });
        }
    }
    Ok(())
}

/// The seed trust rule: every host path a seed copies must be readable by
/// other users, and every directory from `/` to it searchable by them,
/// unless `--allow-private`. Returns the first private one.
pub fn check_seed_paths<'a>(
    paths: impl IntoIterator<Item = (&'a Path, bool)>,
) -> Result<(), HostPathProblem> {
    let mut searched = std::collections::HashSet::new();
    for (p, is_symlink) in paths {
        for dir in p.ancestors().skip(1) {
            if !searched.insert(dir.to_owned()) {
                break;
            }
            let m = fs::metadata(dir).map_err(|e| unreadable(dir, e))?;
            if m.mode() & 0o001 == 0 {
                return Err(HostPathProblem::Private {
                    path: dir.to_owned(),
                    why: "a directory on the way without o+x".into(),
                });
            }
        }
        if is_symlink {
            continue;
        }
        let m = fs::symlink_metadata(p).map_err(|e| unreadable(p, e))?;
        if let Some(why) = private_bits(&m) {
            return Err(HostPathProblem::Private {
                path: p.to_owned(),
                why: why.into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mkfifo(p: &Path) {
        let st = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_repository_is_the_nearest_git_ancestor_or_the_recipe_dir() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        fs::create_dir_all(repo.join("recipes/x")).unwrap();
        assert_eq!(
            repository_root(&repo.join("recipes/x")),
            repo.join("recipes/x")
        );
        fs::write(repo.join(".git"), "gitdir: elsewhere\n").unwrap();
        assert_eq!(repository_root(&repo.join("recipes/x")), repo);
    }

    #[test]
    fn outside_private_and_special_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        let out = d.path().join("out");
        fs::create_dir_all(repo.join("sub")).unwrap();
        fs::create_dir_all(&out).unwrap();
        for p in [&repo, &repo.join("sub"), &out] {
            chmod(p, 0o755);
        }
        fs::write(repo.join("sub/f"), "x").unwrap();
        chmod(&repo.join("sub/f"), 0o644);
        fs::write(out.join("g"), "y").unwrap();
        chmod(&out.join("g"), 0o644);
        let none = HostAccess::default();
        assert_eq!(check_path_input(&repo.join("sub"), &repo, &none), Ok(()));
        let e = check_path_input(&out.join("g"), &repo, &none).unwrap_err();
        assert!(matches!(e, HostPathProblem::Outside { .. }), "{e}");
        let allow = HostAccess {
            allow_paths: vec![out.clone()],
            allow_private: false,
        };
        assert_eq!(check_path_input(&out.join("g"), &repo, &allow), Ok(()));
        // A private file, a private directory on the way.
        chmod(&repo.join("sub/f"), 0o600);
        let e = check_path_input(&repo.join("sub"), &repo, &none).unwrap_err();
        assert!(
            matches!(e, HostPathProblem::Private { ref path, .. } if path == &repo.join("sub/f")),
            "{e}"
        );
        chmod(&repo.join("sub/f"), 0o644);
        chmod(&repo.join("sub"), 0o711);
        assert!(check_path_input(&repo.join("sub"), &repo, &none).is_err());
        assert_eq!(check_path_input(&repo.join("sub/f"), &repo, &none), Ok(()));
        chmod(&repo.join("sub"), 0o700);
        let e = check_path_input(&repo.join("sub/f"), &repo, &none).unwrap_err();
        assert!(e.to_string().contains("without o+x"), "{e}");
        let private_ok = HostAccess {
            allow_paths: vec![],
            allow_private: true,
        };
        assert_eq!(
            check_path_input(&repo.join("sub/f"), &repo, &private_ok),
            Ok(())
        );
        chmod(&repo.join("sub"), 0o755);
        // A FIFO.
        mkfifo(&repo.join("sub/p"));
        let e = check_path_input(&repo.join("sub"), &repo, &private_ok).unwrap_err();
        assert!(
            e.to_string().contains("not a regular file (it is a FIFO)"),
            "{e}"
        );
    }

    #[test]
    fn reading_a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("recipe.lock");
        mkfifo(&p);
        let e = read_regular(&p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "not a regular file (it is a FIFO)");
        fs::write(d.path().join("f"), "text").unwrap();
        assert_eq!(read_regular_string(&d.path().join("f")).unwrap(), "text");
        assert!(read_regular(d.path()).is_err());
    }
}

pub(crate) mod fetch;
mod path;
mod pins;
mod prefetch;
pub mod registry;
mod seed;

pub use prefetch::{prefetch, prefetch_pinned, PrefetchError, Prefetched};
