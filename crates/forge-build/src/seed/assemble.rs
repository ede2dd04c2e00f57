//! Copying a seed's host paths, and everything they need to run, into an
//! FHS tree. See the [module docs](super) for the rules.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

use super::walk_steps;

use forge_core::elf::{self, ElfClass, ElfInfo};

use super::decl::{glob_matches, SeedDecl};
use super::resolve::{rel, resolve_in_tree, LibrarySearch, MAX_SYMLINK_HOPS};
use super::SeedError;
/// Longest `#!` line looked at (the kernel reads 256 bytes).
const SHEBANG_MAX: usize = 256;

/// Why a path is in the tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Reason {
    /// Listed in the declaration's `paths`.
    Declared,
    /// Inside a declared directory.
    InDirectory {
        /// The declared directory.
        dir: PathBuf,
    },
    /// A symlinked directory on the way to another path (`/lib -> usr/lib`).
    Component {
        /// The path being copied when the link was met.
        of: PathBuf,
    },
    /// What a copied symlink points to.
    SymlinkTarget {
        /// The symlink.
        link: PathBuf,
    },
    /// The ELF program interpreter (`PT_INTERP`) of a copied file.
    Interpreter {
        /// The ELF file.
        of: PathBuf,
    },
    /// A `DT_NEEDED` library of a copied ELF file.
    Needed {
        /// The ELF file that needs it.
        by: PathBuf,
        /// The name it asked for (`libc.so.6`).
        name: String,
    },
    /// The `#!` interpreter of a copied script.
    ScriptInterpreter {
        /// The script.
        of: PathBuf,
    },
    /// A link from the declaration's `[seed.links]`.
    Link,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Declared => write!(f, "declared"),
            Reason::InDirectory { dir } => write!(f, "in {}", dir.display()),
            Reason::Component { of } => write!(f, "on the way to {}", of.display()),
            Reason::SymlinkTarget { link } => write!(f, "target of {}", link.display()),
            Reason::Interpreter { of } => write!(f, "interpreter of {}", of.display()),
            Reason::Needed { by, name } => write!(f, "needed by {} as {name}", by.display()),
            Reason::ScriptInterpreter { of } => write!(f, "#! interpreter of {}", of.display()),
            Reason::Link => write!(f, "declared link"),
        }
    }
}

/// What a manifest entry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EntryKind {
    /// A regular file of `size` bytes.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A symlink.
    Symlink {
        /// Its target, as written.
        target: PathBuf,
    },
    /// A declared directory (its contents have their own entries).
    Directory,
}

/// One path of the tree: where it came from on the host and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestEntry {
    /// The host path, which is also its path in the tree.
    pub path: PathBuf,
    /// File, symlink or directory.
    #[serde(flatten)]
    pub kind: EntryKind,
    /// The first reason it was added for.
    pub reason: Reason,
}

/// Everything [`assemble`] put in a tree, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeedManifest {
    /// The seed's name.
    pub seed: String,
    /// Every file and symlink copied, and every declared directory.
    pub entries: Vec<ManifestEntry>,
}

impl SeedManifest {
    /// Total size of the regular files, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size } => size,
                _ => 0,
            })
            .sum()
    }

    /// The entry for `path`, if the tree has one.
    pub fn get(&self, path: impl AsRef<Path>) -> Option<&ManifestEntry> {
        let path = path.as_ref();
        self.entries
            .binary_search_by(|e| e.path.as_path().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }
}

impl fmt::Display for SeedManifest {
    /// One line per entry: `file|link|dir PATH [-> TARGET]  (REASON)`, then a
    /// total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            match &e.kind {
                EntryKind::File { .. } => write!(f, "file {}", e.path.display())?,
                EntryKind::Symlink { target } => {
                    write!(f, "link {} -> {}", e.path.display(), target.display())?
                }
                EntryKind::Directory => write!(f, "dir  {}", e.path.display())?,
            }
            writeln!(f, "  ({})", e.reason)?;
        }
        write!(
            f,
            "seed {}: {} entries, {} bytes of files",
            self.seed,
            self.entries.len(),
            self.total_bytes()
        )
    }
}

/// Assembles `decl` from this machine's root filesystem into `staging_dir`
/// (which must exist and should be empty).
pub fn assemble(decl: &SeedDecl, staging_dir: &Path) -> Result<SeedManifest, SeedError> {
    assemble_from(Path::new("/"), decl, staging_dir)
}

/// [`assemble`] with `host_root` standing for the host's `/`: every host
/// path (declared, symlink target, library search directory,
/// `/etc/ld.so.conf`) is looked up under it. Tests build fake hosts this way.
pub fn assemble_from(
    host_root: &Path,
    decl: &SeedDecl,
    staging_dir: &Path,
) -> Result<SeedManifest, SeedError> {
    let mut a = Assembler {
        host_root,
        tree: staging_dir,
        decl,
        entries: BTreeMap::new(),
        inspected: BTreeSet::new(),
        queue: VecDeque::new(),
        search: LibrarySearch::new(host_root),
    };
    for p in &decl.paths {
        a.queue.push_back(Work {
            path: PathBuf::from(p),
            reason: Reason::Declared,
            rpaths: Vec::new(),
            required: true,
        });
    }
    while let Some(work) = a.queue.pop_front() {
        a.place(work)?;
    }
    for (link, target) in &decl.links {
        a.add_link(Path::new(link), Path::new(target))?;
    }
    Ok(SeedManifest {
        seed: decl.name.clone(),
        entries: a
            .entries
            .into_iter()
            .map(|(path, (kind, reason))| ManifestEntry { path, kind, reason })
            .collect(),
    })
}

/// A host path to place in the tree.
struct Work {
    path: PathBuf,
    reason: Reason,
    /// `DT_RPATH` directories inherited from the objects that led here
    /// (ld.so searches the loaders' RPATHs too, when there is no RUNPATH).
    rpaths: Vec<PathBuf>,
    /// Whether a missing path is an error (it is, except for the targets
    /// of symlinks met inside declared directories: those are left
    /// dangling, as on the host).
    required: bool,
}

struct Assembler<'a> {
    host_root: &'a Path,
    tree: &'a Path,
    decl: &'a SeedDecl,
    entries: BTreeMap<PathBuf, (EntryKind, Reason)>,
    /// Real host paths of files already looked into (ELF, `#!`).
    inspected: BTreeSet<PathBuf>,
    queue: VecDeque<Work>,
    search: LibrarySearch,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SeedError {
    let path = path.to_owned();
    move |source| SeedError::Io { what, path, source }
}

impl Assembler<'_> {
    fn host(&self, p: &Path) -> PathBuf {
        self.host_root.join(rel(p))
    }

    fn in_tree(&self, p: &Path) -> PathBuf {
        self.tree.join(rel(p))
    }

    fn place(&mut self, work: Work) -> Result<(), SeedError> {
        let path = &work.path;
        let mut hops = 0;
        let missing = |a: &Self| -> SeedError {
            match &work.reason {
                Reason::Declared => SeedError::MissingPath {
                    path: path.clone(),
                    seed_file: PathBuf::from(&a.decl.file),
                },
                Reason::Interpreter { of } | Reason::ScriptInterpreter { of } => {
                    SeedError::MissingInterpreter {
                        interpreter: path.clone(),
                        of: of.clone(),
                        seed_file: PathBuf::from(&a.decl.file),
                    }
                }
                other => SeedError::Dangling {
                    path: path.clone(),
                    reason: other.to_string(),
                    seed_file: PathBuf::from(&a.decl.file),
                },
            }
        };
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        let Some(name) = path.file_name() else {
            return Ok(()); // `/` or ending in `..`: nothing to copy by itself
        };
        let of = Reason::Component { of: path.clone() };
        let real_parent = match self.walk(parent, &of, &mut hops, false) {
            Ok(p) => p,
            Err(SeedError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound
                    || source.raw_os_error() == Some(20) =>
            {
                if work.required {
                    return Err(missing(self));
                }
                tracing::debug!(path = %path.display(), "dangling symlink in a seed directory");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let real = real_parent.join(name);
        let meta = match fs::symlink_metadata(self.host(&real)) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if work.required {
                    return Err(missing(self));
                }
                tracing::debug!(path = %path.display(), "dangling symlink in a seed directory");
                return Ok(());
            }
            Err(e) => return Err(io_err("reading metadata of", &real)(e)),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = self.copy_symlink(&real, work.reason.clone())?;
            // Follow it: the link alone would dangle in the tree.
            let next = real_parent.join(&target);
            self.queue.push_back(Work {
                path: lexical(&next),
                reason: Reason::SymlinkTarget { link: real.clone() },
                rpaths: work.rpaths,
                // A required link's target is as required as the link.
                required: work.required,
            });
        } else if ft.is_dir() {
            let dir_reason = work.reason.clone();
            self.entries
                .entry(real.clone())
                .or_insert((EntryKind::Directory, dir_reason));
            let within = match &work.reason {
                Reason::InDirectory { dir } => dir.clone(),
                _ => real.clone(),
            };
            self.copy_dir(&real, &within)?;
        } else if ft.is_file() {
            self.copy_file(&real, work.reason, &work.rpaths)?;
        } else {
            return Err(SeedError::SpecialFile { path: real });
        }
        Ok(())
    }

    /// Resolves `path` on the host component by component, reproducing in
    /// the tree every directory passed and every symlink followed, and
    /// returns the real path (no symlinks left). With `create_missing`,
    /// components missing on the host become plain directories in the tree.
    fn walk(
        &mut self,
        path: &Path,
        reason: &Reason,
        hops: &mut u32,
        create_missing: bool,
    ) -> Result<PathBuf, SeedError> {
        let mut real = PathBuf::from("/");
        for c in walk_steps(path) {
            if c == ".." {
                real.pop();
                continue;
            }
            let cand = real.join(&c);
            let meta = match fs::symlink_metadata(self.host(&cand)) {
                Ok(m) => m,
                Err(e) if create_missing && e.kind() == io::ErrorKind::NotFound => {
                    self.mkdir(&cand)?;
                    real = cand;
                    continue;
                }
                Err(e) => return Err(io_err("reading metadata of", &cand)(e)),
            };
            if meta.file_type().is_symlink() {
                *hops += 1;
                if *hops > MAX_SYMLINK_HOPS {
                    return Err(SeedError::SymlinkLoop { path: path.into() });
                }
                let target = self.copy_symlink(&cand, reason.clone())?;
                real = self.walk(&real.join(target), reason, hops, create_missing)?;
            } else if meta.is_dir() {
                self.mkdir(&cand)?;
                real = cand;
            } else {
                return Err(SeedError::Io {
                    what: "resolving",
                    path: path.into(),
                    source: io::Error::from_raw_os_error(20), // ENOTDIR
                });
            }
        }
        Ok(real)
    }

    fn mkdir(&self, p: &Path) -> Result<(), SeedError> {
        let t = self.in_tree(p);
        if fs::symlink_metadata(&t).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&t)
            .map_err(io_err("creating directory in the seed tree for", p))
    }

    /// Copies the symlink at host path `p` (whose parent is real) into the
    /// tree and returns its target.
    fn copy_symlink(&mut self, p: &Path, reason: Reason) -> Result<PathBuf, SeedError> {
        let target = fs::read_link(self.host(p)).map_err(io_err("reading symlink", p))?;
        if !self.entries.contains_key(p) {
            symlink(&target, self.in_tree(p))
                .map_err(io_err("creating symlink in the seed tree for", p))?;
            self.entries.insert(
                p.to_owned(),
                (
                    EntryKind::Symlink {
                        target: target.clone(),
                    },
                    reason,
                ),
            );
        }
        Ok(target)
    }

    fn copy_dir(&mut self, dir: &Path, within: &Path) -> Result<(), SeedError> {
        self.mkdir(dir)?;
        let mut names: Vec<OsString> = fs::read_dir(self.host(dir))
            .map_err(io_err("reading directory", dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("reading directory", dir))?;
        names.sort();
        for name in names {
            let child = dir.join(&name);
            let excluded = child
                .to_str()
                .is_some_and(|s| self.decl.exclude.iter().any(|g| glob_matches(g, s)));
            if excluded || self.entries.contains_key(&child) {
                continue;
            }
            let meta = fs::symlink_metadata(self.host(&child))
                .map_err(io_err("reading metadata of", &child))?;
            let reason = Reason::InDirectory {
                dir: within.to_owned(),
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = self.copy_symlink(&child, reason)?;
                self.queue.push_back(Work {
                    path: lexical(&dir.join(target)),
                    reason: Reason::SymlinkTarget { link: child },
                    rpaths: Vec::new(),
                    required: false,
                });
            } else if ft.is_dir() {
                self.copy_dir(&child, within)?;
            } else if ft.is_file() {
                self.copy_file(&child, reason, &[])?;
            } else {
                return Err(SeedError::SpecialFile { path: child });
            }
        }
        Ok(())
    }

    /// Copies the regular file at real host path `p`, then queues what it
    /// needs to run (ELF interpreter and libraries, `#!` interpreter).
    fn copy_file(&mut self, p: &Path, reason: Reason, rpaths: &[PathBuf]) -> Result<(), SeedError> {
        if self.entries.contains_key(p) {
            return Ok(());
        }
        let dst = self.in_tree(p);
        let size = fs::copy(self.host(p), &dst).map_err(io_err("copying", p))?;
        self.entries
            .insert(p.to_owned(), (EntryKind::File { size }, reason));
        if self.inspected.insert(p.to_owned()) {
            self.inspect(p, &dst, rpaths)?;
        }
        Ok(())
    }

    fn inspect(&mut self, p: &Path, copy: &Path, rpaths: &[PathBuf]) -> Result<(), SeedError> {
        let mut head = [0u8; SHEBANG_MAX];
        let n = {
            let mut f = fs::File::open(copy).map_err(io_err("reading", p))?;
            crate::util::read_full(&mut f, &mut head).map_err(io_err("reading", p))?
        };
        let head = &head[..n];
        if elf::is_elf(head) {
            let bytes = fs::read(copy).map_err(io_err("reading", p))?;
            let info = ElfInfo::parse(&bytes).map_err(|source| SeedError::Elf {
                path: p.to_owned(),
                source,
            })?;
            self.queue_elf_needs(p, &info, rpaths)?;
        } else if let Some(interp) = shebang(head) {
            if interp.is_absolute() {
                self.queue.push_back(Work {
                    path: lexical(&interp),
                    reason: Reason::ScriptInterpreter { of: p.to_owned() },
                    rpaths: Vec::new(),
                    required: true,
                });
            }
        }
        Ok(())
    }

    fn queue_elf_needs(
        &mut self,
        p: &Path,
        info: &ElfInfo,
        inherited: &[PathBuf],
    ) -> Result<(), SeedError> {
        if let Some(interp) = &info.interpreter {
            self.queue.push_back(Work {
                path: lexical(Path::new(interp)),
                reason: Reason::Interpreter { of: p.to_owned() },
                rpaths: Vec::new(),
                required: true,
            });
        }
        let origin = p.parent().unwrap_or(Path::new("/"));
        let needs = self
            .search
            .needs(info, origin, inherited)
            .map_err(|missing| SeedError::Unresolved {
                library: missing.library,
                needed_by: p.to_owned(),
                class: match info.class {
                    ElfClass::Elf32 => 32,
                    ElfClass::Elf64 => 64,
                },
                machine: info.machine,
                searched: missing.searched,
                seed_file: PathBuf::from(&self.decl.file),
            })?;
        for need in needs {
            self.queue.push_back(Work {
                path: lexical(&need.path),
                reason: Reason::Needed {
                    by: p.to_owned(),
                    name: need.name,
                },
                rpaths: need.rpaths,
                required: true,
            });
        }
        Ok(())
    }

    /// Adds a `[seed.links]` symlink and checks that it resolves in the tree.
    fn add_link(&mut self, link: &Path, target: &Path) -> Result<(), SeedError> {
        let mut hops = 0;
        let parent = link.parent().unwrap_or(Path::new("/"));
        let name = link.file_name().unwrap_or_default();
        let real_parent = self.walk(parent, &Reason::Link, &mut hops, true)?;
        let at = real_parent.join(name);
        let seed_file = PathBuf::from(&self.decl.file);
        if fs::symlink_metadata(self.in_tree(&at)).is_ok() {
            return Err(SeedError::LinkCollision {
                link: link.to_owned(),
                existing: at,
                seed_file,
            });
        }
        symlink(target, self.in_tree(&at)).map_err(io_err("creating symlink", link))?;
        self.entries.insert(
            at.clone(),
            (
                EntryKind::Symlink {
                    target: target.to_owned(),
                },
                Reason::Link,
            ),
        );
        if resolve_in_tree(self.tree, &at).is_none() {
            return Err(SeedError::LinkDangling {
                link: link.to_owned(),
                target: target.to_owned(),
                seed_file,
            });
        }
        Ok(())
    }
}

/// Removes `.` components and trailing separators without touching `..`
/// (which [`Assembler::walk`] resolves against real directories).
fn lexical(p: &Path) -> PathBuf {
    p.components().collect()
}

/// The interpreter named by a `#!` line, if `head` starts with one.
pub fn shebang(head: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let word = line
        .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(word)))
}
