//! Finding what an ELF object needs the way the dynamic loader would, and
//! following paths through a tree the way the kernel would.
//!
//! For a `DT_NEEDED` name without `/`, the directories are tried in this
//! order, and the first regular file of that name that is an ELF object of
//! the same class, byte order and machine as the one that needs it wins
//! (ld.so skips libraries of the wrong architecture the same way):
//!
//! 1. the object's `DT_RPATH`, then the `DT_RPATH`s of the objects that
//!    loaded it, only if the object has no `DT_RUNPATH`;
//! 2. the object's `DT_RUNPATH`;
//! 3. the directories of `/etc/ld.so.conf`, following `include` lines (glob
//!    patterns, relative to the including file's directory), in file order;
//! 4. `/lib` and `/usr/lib` (plus `/lib64` and `/usr/lib64` for 64-bit
//!    objects), then the multiarch directories `/lib/TRIPLET` and
//!    `/usr/lib/TRIPLET` (`x86_64-linux-gnu` and so on).
//!
//! In RPATH and RUNPATH, `$ORIGIN` (or `${ORIGIN}`) is the directory of the
//! object (its real path on the host), and `$LIB` is `lib64` for 64-bit
//! objects and `lib` otherwise; entries that still contain `$` or are not
//! absolute afterwards are skipped, as are `LD_LIBRARY_PATH` and
//! `ld.so.cache` (a seed must not depend on the importing shell, and the
//! cache is derived from `ld.so.conf` anyway).
//!
//! [`LibrarySearch::needs`] applies these rules to one object; seed
//! assembly ([`super::assemble()`]) and [`executable_closure`] (the files the
//! engine exposes to run forge's own fetcher in the sandbox) both walk a
//! closure with it. [`resolve_in_tree`] follows symlinks with a directory
//! standing for `/`, for host roots and seed trees alike. The ELF bytes
//! themselves are read by [`forge_core::elf`].

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use forge_core::elf::{self, machine, ElfClass, ElfError, ElfInfo, Endian};
use thiserror::Error;

use super::decl::glob_matches;

/// The kernel's limit on symlinks followed in one lookup.
pub const MAX_SYMLINK_HOPS: u32 = 40;
/// How deep `include` lines of ld.so.conf may nest.
const MAX_INCLUDE_DEPTH: u32 = 8;
/// Most directories taken from ld.so.conf.
const MAX_CONF_DIRS: usize = 1024;

/// The identity a library must have to satisfy a need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// Byte order.
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
}

impl Wanted {
    /// The identity of `info`: what the libraries it needs must have.
    pub fn of(info: &ElfInfo) -> Self {
        Wanted {
            class: info.class,
            endian: info.endian,
            machine: info.machine,
        }
    }
}

/// A `DT_NEEDED` library found for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The name it asked for (`libc.so.6`).
    pub name: String,
    /// Where it was found (a search directory joined with the name).
    pub path: PathBuf,
    /// The `DT_RPATH` directories the library's own needs inherit (empty
    /// when the object that needs it has a `DT_RUNPATH`).
    pub rpaths: Vec<PathBuf>,
}

/// A `DT_NEEDED` library no search directory provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The `DT_NEEDED` name.
    pub library: String,
    /// The directories searched, in order.
    pub searched: Vec<PathBuf>,
}

/// The multiarch triplets Debian uses for a machine, if known.
pub fn multiarch(w: &Wanted) -> &'static [&'static str] {
    match (w.machine, w.class, w.endian) {
        (machine::X86_64, ElfClass::Elf64, _) => &["x86_64-linux-gnu"],
        (machine::X86_64, ElfClass::Elf32, _) => &["x86_64-linux-gnux32"],
        (machine::I386, _, _) => &["i386-linux-gnu"],
        (machine::AARCH64, _, _) => &["aarch64-linux-gnu"],
        (machine::ARM, _, _) => &["arm-linux-gnueabihf", "arm-linux-gnueabi"],
        (machine::RISCV, ElfClass::Elf64, _) => &["riscv64-linux-gnu"],
        (machine::PPC64, _, Endian::Little) => &["powerpc64le-linux-gnu"],
        (machine::PPC64, _, Endian::Big) => &["powerpc64-linux-gnu"],
        (machine::S390, ElfClass::Elf64, _) => &["s390x-linux-gnu"],
        _ => &[],
    }
}

/// Expands a colon-separated RPATH/RUNPATH for the object `info` whose
/// directory is `origin` (see the module docs).
pub fn expand_search_path(s: &str, origin: &Path, info: &ElfInfo) -> Vec<PathBuf> {
    let lib = match info.class {
        ElfClass::Elf64 => "lib64",
        ElfClass::Elf32 => "lib",
    };
    let origin = origin.to_string_lossy();
    s.split(':')
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let e = e
                .replace("${ORIGIN}", &origin)
                .replace("$ORIGIN", &origin)
                .replace("${LIB}", lib)
                .replace("$LIB", lib);
            if e.contains('$') || !e.starts_with('/') {
                tracing::debug!(entry = %e, "search path entry skipped");
                None
            } else {
                Some(PathBuf::from(e))
            }
        })
        .collect()
}

/// Library lookup on a host (whose `/` is `host_root`).
#[derive(Debug)]
pub struct LibrarySearch {
    host_root: PathBuf,
    conf_dirs: Option<Vec<PathBuf>>,
}

impl LibrarySearch {
    /// A search on the host whose root is `host_root` (`/` normally).
    pub fn new(host_root: &Path) -> Self {
        LibrarySearch {
            host_root: host_root.to_owned(),
            conf_dirs: None,
        }
    }

    fn host(&self, p: &Path) -> PathBuf {
        self.host_root.join(rel(p))
    }

    /// The directories of `/etc/ld.so.conf` and its includes, read once.
    pub fn conf_dirs(&mut self) -> &[PathBuf] {
        if self.conf_dirs.is_none() {
            let mut dirs = Vec::new();
            self.read_conf(Path::new("/etc/ld.so.conf"), 0, &mut dirs);
            self.conf_dirs = Some(dirs);
        }
        self.conf_dirs.as_deref().unwrap_or_default()
    }

    fn read_conf(&self, file: &Path, depth: u32, out: &mut Vec<PathBuf>) {
        if depth > MAX_INCLUDE_DEPTH {
            tracing::warn!(file = %file.display(), "ld.so.conf includes nest too deep");
            return;
        }
        let Ok(text) = fs::read_to_string(self.host(file)) else {
            return; // no ld.so.conf: only the defaults
        };
        let here = file.parent().unwrap_or(Path::new("/"));
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with("hwcap ") {
                continue;
            }
            if let Some(pattern) = line.strip_prefix("include") {
                if !pattern.starts_with([' ', '\t']) {
                    continue;
                }
                for pattern in pattern.split_whitespace() {
                    let pattern = here.join(pattern);
                    for f in self.glob(&pattern) {
                        self.read_conf(&f, depth + 1, out);
                    }
                }
                continue;
            }
            for dir in line.split([' ', '\t', ':', ',']).filter(|d| !d.is_empty()) {
                // Old ldconfig syntax: `DIR=TYPE`.
                let dir = dir.split('=').next().unwrap_or(dir).trim_end_matches('/');
                if dir.starts_with('/') && out.len() < MAX_CONF_DIRS {
                    let dir = PathBuf::from(dir);
                    if !out.contains(&dir) {
                        out.push(dir);
                    }
                }
            }
        }
    }

    /// Host files matching an absolute glob pattern, sorted (as glob(3)).
    fn glob(&self, pattern: &Path) -> Vec<PathBuf> {
        let Some(pat) = pattern.to_str() else {
            return Vec::new();
        };
        let mut matches: Vec<PathBuf> = vec![PathBuf::from("/")];
        for comp in pat.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for base in &matches {
                if comp.contains(['*', '?']) {
                    let Ok(rd) = fs::read_dir(self.host(base)) else {
                        continue;
                    };
                    let mut names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| !n.starts_with('.'))
                        .collect();
                    names.sort();
                    for n in names {
                        let cand = base.join(&n);
                        let pattern = format!("/{comp}");
                        if glob_matches(&pattern, &format!("/{n}")) {
                            next.push(cand);
                        }
                    }
                } else {
                    next.push(base.join(comp));
                }
            }
            matches = next;
        }
        matches.retain(|m| self.host(m).is_file());
        matches
    }

    /// Whether the host file at `p` (symlinks followed) is an ELF object
    /// with the identity `w`.
    pub fn matches(&self, p: &Path, w: &Wanted) -> bool {
        // Follow symlinks with `host_root` as `/`, as the loader would.
        let Some(real) = resolve_in_tree(&self.host_root, p) else {
            return false;
        };
        let host = self.host(&real);
        if !host.is_file() {
            return false;
        }
        let mut head = [0u8; 64];
        let n = fs::File::open(&host)
            .and_then(|mut f| {
                let mut n = 0;
                while n < head.len() {
                    match f.read(&mut head[n..])? {
                        0 => break,
                        k => n += k,
                    }
                }
                Ok(n)
            })
            .unwrap_or(0);
        matches!(
            elf::identity(&head[..n]),
            Ok((class, endian, machine)) if class == w.class && endian == w.endian && machine == w.machine
        )
    }

    /// The default directories for `w` (step 4 of the module docs).
    fn defaults(w: &Wanted) -> Vec<PathBuf> {
        let mut d: Vec<PathBuf> = vec!["/lib".into(), "/usr/lib".into()];
        if w.class == ElfClass::Elf64 {
            d.push("/lib64".into());
            d.push("/usr/lib64".into());
        }
        for t in multiarch(w) {
            d.push(Path::new("/lib").join(t));
            d.push(Path::new("/usr/lib").join(t));
        }
        d
    }

    /// Every directory searched, in order, without duplicates.
    pub fn searched(
        &mut self,
        rpaths: &[PathBuf],
        runpath: &[PathBuf],
        w: &Wanted,
    ) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = Vec::new();
        let conf = self.conf_dirs().to_vec();
        for d in rpaths
            .iter()
            .chain(runpath)
            .chain(&conf)
            .cloned()
            .chain(Self::defaults(w))
        {
            if !all.contains(&d) {
                all.push(d);
            }
        }
        all
    }

    /// Finds `name` (no `/`) for an object with identity `w`.
    pub fn find(
        &mut self,
        name: &str,
        rpaths: &[PathBuf],
        runpath: &[PathBuf],
        w: &Wanted,
    ) -> Option<PathBuf> {
        self.searched(rpaths, runpath, w)
            .into_iter()
            .map(|d| d.join(name))
            .find(|c| self.matches(c, w))
    }

    /// Every `DT_NEEDED` library of the object `info` whose directory on
    /// the host is `origin`, in `DT_NEEDED` order, each found as the module
    /// docs say; `inherited` holds the `DT_RPATH`s of the objects that
    /// loaded it. A name with a `/` is taken as it is when absolute and
    /// never found when relative (it would be relative to ld.so's working
    /// directory). The first library not found is the error.
    pub fn needs(
        &mut self,
        info: &ElfInfo,
        origin: &Path,
        inherited: &[PathBuf],
    ) -> Result<Vec<Need>, Missing> {
        if info.needed.is_empty() {
            return Ok(Vec::new());
        }
        // ld.so: RPATH (this object's, then its loaders') only when the
        // object has no RUNPATH; RUNPATH after them.
        let own = |s: &Option<String>| -> Vec<PathBuf> {
            s.as_deref()
                .map(|s| expand_search_path(s, origin, info))
                .unwrap_or_default()
        };
        let mut rpaths: Vec<PathBuf> = Vec::new();
        if info.runpath.is_none() {
            rpaths.extend(own(&info.rpath));
            rpaths.extend(inherited.iter().cloned());
        }
        let runpath = own(&info.runpath);
        let wanted = Wanted::of(info);
        let mut out = Vec::with_capacity(info.needed.len());
        for name in &info.needed {
            let found = if name.contains('/') {
                Some(PathBuf::from(name))
                    .filter(|c| c.is_absolute())
                    .filter(|c| self.matches(c, &wanted))
            } else {
                self.find(name, &rpaths, &runpath, &wanted)
            };
            let Some(path) = found else {
                return Err(Missing {
                    library: name.clone(),
                    searched: self.searched(&rpaths, &runpath, &wanted),
                });
            };
            out.push(Need {
                name: name.clone(),
                path,
                // Loaders' RPATHs are inherited only through objects that
                // have no RUNPATH themselves.
                rpaths: if info.runpath.is_none() {
                    rpaths.clone()
                } else {
                    Vec::new()
                },
            });
        }
        Ok(out)
    }
}

/// Why [`executable_closure`] could not list what a program needs.
#[derive(Debug, Error)]
pub enum ClosureError {
    /// A file of the closure could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A file of the closure is not a readable ELF object.
    #[error("{}: {source}", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: ElfError,
    },
    /// A `DT_NEEDED` library is not on this host.
    #[error("{} needs {library}, which is not found", needed_by.display())]
    Unresolved {
        /// The `DT_NEEDED` name.
        library: String,
        /// The ELF file that needs it.
        needed_by: PathBuf,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
}

/// The executable `exe` and every file the dynamic loader needs to run it
/// on this host: its program interpreter and the closure of its
/// `DT_NEEDED` libraries, found as the module docs say. Sorted and without
/// duplicates; each path as it was named (`PT_INTERP` as written, a library
/// as its search directory joined with its name), so symlinks are not
/// resolved: bind each at that path.
pub fn executable_closure(exe: &Path) -> Result<Vec<PathBuf>, ClosureError> {
    let mut search = LibrarySearch::new(Path::new("/"));
    let mut seen = BTreeSet::new();
    let mut queue: Vec<(PathBuf, Vec<PathBuf>)> = vec![(exe.to_owned(), Vec::new())];
    while let Some((f, inherited)) = queue.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        let bytes = fs::read(&f).map_err(|source| ClosureError::Read {
            path: f.clone(),
            source,
        })?;
        let info = ElfInfo::parse(&bytes).map_err(|source| ClosureError::Elf {
            path: f.clone(),
            source,
        })?;
        if let Some(interp) = &info.interpreter {
            queue.push((PathBuf::from(interp), Vec::new()));
        }
        // `$ORIGIN` is the directory of the object's real path.
        let real = fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
        let origin = real.parent().unwrap_or(Path::new("/"));
        let needs =
            search
                .needs(&info, origin, &inherited)
                .map_err(|m| ClosureError::Unresolved {
                    library: m.library,
                    needed_by: f.clone(),
                    searched: m.searched,
                })?;
        queue.extend(needs.into_iter().map(|n| (n.path, n.rpaths)));
    }
    Ok(seen.into_iter().collect())
}

/// The tree-relative form of an absolute path.
pub(super) fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// Follows `p` (absolute, as seen from inside) through the tree at `root`
/// as the kernel would with `root` as `/`; `None` if it does not exist or
/// loops.
pub fn resolve_in_tree(root: &Path, p: &Path) -> Option<PathBuf> {
    fn go(root: &Path, p: &Path, hops: &mut u32) -> Option<PathBuf> {
        let mut real = PathBuf::from("/");
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(n) => {
                    let cand = real.join(n);
                    let meta = fs::symlink_metadata(root.join(rel(&cand))).ok()?;
                    if meta.file_type().is_symlink() {
                        *hops += 1;
                        if *hops > MAX_SYMLINK_HOPS {
                            return None;
                        }
                        let t = fs::read_link(root.join(rel(&cand))).ok()?;
                        real = go(root, &real.join(t), hops)?;
                    } else {
                        real = cand;
                    }
                }
                _ => {}
            }
        }
        Some(real)
    }
    go(root, p, &mut 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/bin/ls` is dynamically linked on every distribution forge runs on
    /// (a small one: not the test binary, whose reading would show in the
    /// peak memory other tests of this process measure): its closure holds
    /// it, its program interpreter and libc.
    #[test]
    fn the_closure_of_a_program_holds_its_interpreter_and_libc() {
        let exe = PathBuf::from("/bin/ls");
        let closure = executable_closure(&exe).expect("closure");
        assert!(closure.contains(&exe), "{closure:?}");
        let info = ElfInfo::parse(&fs::read(&exe).expect("read")).expect("parses");
        let interp = PathBuf::from(info.interpreter.expect("dynamically linked"));
        assert!(closure.contains(&interp), "{closure:?}");
        assert!(
            closure
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n == "libc.so.6")),
            "{closure:?}"
        );
        let mut sorted = closure.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, closure, "sorted, without duplicates");
    }

    #[test]
    fn the_closure_of_a_missing_file_names_it() {
        let err = executable_closure(Path::new("/nonexistent/forge")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/forge: "), "{err}");
    }

    #[test]
    fn the_closure_of_a_script_is_an_elf_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("s");
        fs::write(&script, "#!/bin/sh\n").expect("write");
        assert!(matches!(
            executable_closure(&script),
            Err(ClosureError::Elf { .. })
        ));
    }
}
