//! Finding a `DT_NEEDED` library the way the dynamic loader would.
//!
//! For a name without `/`, the directories are tried in this order, and the
//! first regular file of that name that is an ELF object of the same class,
//! byte order and machine as the one that needs it wins (ld.so skips
//! libraries of the wrong architecture the same way):
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

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::decl::glob_matches;
use super::elf::{self, machine, ElfClass, ElfInfo, Endian};

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
        self.host_root.join(p.strip_prefix("/").unwrap_or(p))
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
        let Some(real) = super::assemble::resolve_in_tree(&self.host_root, p) else {
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
}
