//! What a seed's tree will hold, predicted from its declaration and the
//! host without copying anything, for `forge recipe check` ("is `/bin/sh`
//! in a root layer?"; [`crate::preflight`]).
//!
//! The prediction follows [`assemble`](super::assemble())'s rules for
//! declared paths (the symlinked components on the way, the symlink chain
//! of a declared link, declared directories with their `exclude` globs)
//! and `[seed.links]`. What only reading the files shows is not predicted:
//! for a host path in a `lib*` directory or named `*.so*` (ELF
//! interpreters and libraries) and for the `#!` interpreter of a declared
//! file, [`SeedView::lookup`] says [`Lookup::Unknown`], so that nothing
//! the assembly adds is reported missing. (The interpreter of a script
//! inside a declared directory is not foreseen.)

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::walk_steps;

use super::decl::{glob_matches, SeedDecl};
use super::resolve::{rel, MAX_SYMLINK_HOPS};

/// What one path of a root layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing there.
    Missing,
    /// A directory.
    Dir,
    /// A regular file (or anything else that is not a directory or symlink).
    File,
    /// A symlink, with its target.
    Link(PathBuf),
    /// Cannot be known without building or assembling.
    Unknown,
}

/// A seed's predicted tree.
#[derive(Debug, Clone)]
pub struct SeedView {
    host_root: PathBuf,
    entries: BTreeMap<PathBuf, Lookup>,
    /// Declared directories (real host paths): everything under them is
    /// copied, but for `exclude`.
    dirs: Vec<PathBuf>,
    exclude: Vec<String>,
    /// The `#!` interpreters of predicted files (the assembly adds them).
    interpreters: Vec<PathBuf>,
}

impl SeedView {
    /// The tree of `decl` on this host.
    pub fn of(decl: &SeedDecl) -> SeedView {
        SeedView::from_host(Path::new("/"), decl)
    }

    /// [`SeedView::of`] with `host_root` standing for the host's `/`.
    pub fn from_host(host_root: &Path, decl: &SeedDecl) -> SeedView {
        let mut v = SeedView {
            host_root: host_root.to_owned(),
            entries: BTreeMap::new(),
            dirs: Vec::new(),
            exclude: decl.exclude.clone(),
            interpreters: Vec::new(),
        };
        for p in &decl.paths {
            v.place(&lexical(Path::new(p)), &mut 0);
        }
        for (link, target) in &decl.links {
            let link = Path::new(link);
            let (Some(parent), Some(name)) = (link.parent(), link.file_name()) else {
                continue;
            };
            let real_parent = v.walk(parent, &mut 0).unwrap_or_else(|| lexical(parent));
            v.entries
                .insert(real_parent.join(name), Lookup::Link(PathBuf::from(target)));
        }
        v
    }

    fn host_lstat(&self, p: &Path) -> Lookup {
        match fs::symlink_metadata(self.host_root.join(rel(p))) {
            Err(_) => Lookup::Missing,
            Ok(m) if m.file_type().is_symlink() => {
                fs::read_link(self.host_root.join(rel(p))).map_or(Lookup::Missing, Lookup::Link)
            }
            Ok(m) if m.is_dir() => Lookup::Dir,
            Ok(_) => Lookup::File,
        }
    }

    /// The `#!` interpreter of the host file `p`, if it is a script.
    fn shebang(&self, p: &Path) -> Option<PathBuf> {
        use std::io::Read;
        let mut head = Vec::with_capacity(256);
        fs::File::open(self.host_root.join(rel(p)))
            .ok()?
            .take(256)
            .read_to_end(&mut head)
            .ok()?;
        super::assemble::shebang(&head).map(|i| lexical(&i))
    }

    /// Records a declared path (and, for a symlink, its target).
    fn place(&mut self, path: &Path, hops: &mut u32) {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let Some(real_parent) = self.walk(parent, hops) else {
            return;
        };
        let real = real_parent.join(name);
        let found = self.host_lstat(&real);
        match &found {
            Lookup::Link(t) => {
                *hops += 1;
                if *hops <= MAX_SYMLINK_HOPS {
                    let next = lexical(&real_parent.join(t));
                    self.entries.insert(real, found.clone());
                    self.place(&next, hops);
                }
            }
            Lookup::Dir => {
                self.dirs.push(real.clone());
                self.entries.insert(real, found);
            }
            Lookup::File => {
                if let Some(interp) = self.shebang(&real) {
                    self.interpreters.push(interp);
                }
                self.entries.insert(real, found);
            }
            Lookup::Missing | Lookup::Unknown => {}
        }
    }

    /// Resolves `path` on the host, recording the symlinks on the way;
    /// `None` when a component is missing.
    fn walk(&mut self, path: &Path, hops: &mut u32) -> Option<PathBuf> {
        let mut real = PathBuf::from("/");
        for c in walk_steps(path) {
            if c == ".." {
                real.pop();
                continue;
            }
            let cand = real.join(&c);
            match self.host_lstat(&cand) {
                Lookup::Link(t) => {
                    *hops += 1;
                    if *hops > MAX_SYMLINK_HOPS {
                        return None;
                    }
                    self.entries.insert(cand, Lookup::Link(t.clone()));
                    real = self.walk(&real.join(t), hops)?;
                }
                Lookup::Dir => real = cand,
                _ => return None,
            }
        }
        Some(real)
    }

    /// What the tree has at `p`, an absolute path whose parent has no
    /// symlinks left (as [`resolve`] asks).
    pub fn lookup(&self, p: &Path) -> Lookup {
        if let Some(e) = self.entries.get(p) {
            return e.clone();
        }
        if self.entries.keys().any(|k| k.starts_with(p)) {
            return Lookup::Dir; // a directory on the way to something copied
        }
        let excluded = p
            .to_str()
            .is_some_and(|s| self.exclude.iter().any(|g| glob_matches(g, s)));
        if self.dirs.iter().any(|d| p.starts_with(d)) {
            return if excluded {
                Lookup::Missing
            } else {
                self.host_lstat(p)
            };
        }
        // What reading the files adds: ELF interpreters and libraries
        // (in a lib directory, or named *.so*), `#!` interpreters.
        let library = p.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|s| s.starts_with("lib") && !s.contains('.') || s.contains(".so"))
        });
        match self.host_lstat(p) {
            Lookup::Missing => Lookup::Missing,
            _ if library || self.interpreters.iter().any(|i| i == p) => Lookup::Unknown,
            _ => Lookup::Missing,
        }
    }
}

/// What a stack of root layers has at one path, given what each has
/// there, earliest first: the first layer that has an entry decides, as
/// the sandbox stacks them.
pub fn stacked(found: impl IntoIterator<Item = Lookup>) -> Lookup {
    found
        .into_iter()
        .find(|f| *f != Lookup::Missing)
        .unwrap_or(Lookup::Missing)
}

/// Whether `path` names a file in the tree whose entries `lookup` gives
/// (a layer, or [`stacked`] layers), following symlinks as the kernel
/// would with that tree as `/`. `None` when the tree cannot tell.
pub fn resolve(lookup: &dyn Fn(&Path) -> Lookup, path: &Path) -> Option<bool> {
    fn go(
        lookup: &dyn Fn(&Path) -> Lookup,
        path: &Path,
        hops: &mut u32,
        last_must_be_file: bool,
    ) -> Option<Result<PathBuf, ()>> {
        let mut real = PathBuf::from("/");
        let comps: Vec<Component<'_>> = path.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            match c {
                Component::ParentDir => {
                    real.pop();
                }
                Component::Normal(n) => {
                    let cand = real.join(n);
                    match lookup(&cand) {
                        Lookup::Missing => return Some(Err(())),
                        Lookup::Unknown => return None,
                        Lookup::Link(t) => {
                            *hops += 1;
                            if *hops > MAX_SYMLINK_HOPS {
                                return Some(Err(()));
                            }
                            match go(lookup, &real.join(t), hops, last && last_must_be_file)? {
                                Ok(r) => real = r,
                                Err(()) => return Some(Err(())),
                            }
                        }
                        Lookup::Dir if last && last_must_be_file => return Some(Err(())),
                        Lookup::File if !last => return Some(Err(())),
                        Lookup::Dir | Lookup::File => real = cand,
                    }
                }
                _ => {}
            }
        }
        Some(Ok(real))
    }
    go(lookup, path, &mut 0, true).map(|r| r.is_ok())
}

/// Removes `.` components and trailing separators.
fn lexical(p: &Path) -> PathBuf {
    p.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn decl(paths: &[&str], links: &[(&str, &str)], exclude: &[&str]) -> SeedDecl {
        let mut text = format!(
            "[seed]\nname = \"s\"\npaths = [{}]\nexclude = [{}]\n[seed.links]\n",
            paths
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            exclude
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (l, t) in links {
            text.push_str(&format!("{l:?} = {t:?}\n"));
        }
        SeedDecl::parse(&text, "s.toml").expect("declaration parses")
    }

    /// A merged-/usr host: /bin -> usr/bin, with busybox and a tools dir.
    fn host() -> tempfile::TempDir {
        let h = tempfile::tempdir().unwrap();
        let r = h.path();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("usr/lib/tools/sub")).unwrap();
        symlink("usr/bin", r.join("bin")).unwrap();
        fs::write(r.join("usr/bin/busybox"), "").unwrap();
        fs::write(r.join("usr/bin/dash"), "").unwrap();
        fs::write(r.join("usr/lib/tools/sub/t"), "").unwrap();
        fs::write(r.join("usr/lib/tools/skip"), "").unwrap();
        fs::create_dir_all(r.join("lib64")).unwrap();
        fs::write(r.join("lib64/ld.so"), "").unwrap();
        h
    }

    fn has(v: &SeedView, p: &str) -> Option<bool> {
        resolve(&|q: &Path| v.lookup(q), Path::new(p))
    }

    #[test]
    fn predicts_declared_paths_links_and_directories() {
        let h = host();
        let v = SeedView::from_host(
            h.path(),
            &decl(
                &["/bin/busybox", "/usr/lib/tools"],
                &[("/bin/sh", "busybox")],
                &["/usr/lib/tools/skip"],
            ),
        );
        assert_eq!(has(&v, "/bin/sh"), Some(true));
        assert_eq!(has(&v, "/usr/bin/sh"), Some(true));
        assert_eq!(has(&v, "/bin/busybox"), Some(true));
        assert_eq!(has(&v, "/usr/lib/tools/sub/t"), Some(true));
        assert_eq!(has(&v, "/usr/lib/tools/skip"), Some(false));
        assert_eq!(has(&v, "/bin/cat"), Some(false));
        assert_eq!(
            has(&v, "/usr/bin"),
            Some(false),
            "a directory is not a program"
        );
        // On the host but not declared: not in the tree, unless the
        // assembly may add it (a library, an interpreter).
        assert_eq!(has(&v, "/bin/dash"), Some(false));
        assert_eq!(has(&v, "/lib64/ld.so"), None);
    }

    #[test]
    fn a_declared_script_brings_its_interpreter() {
        let h = host();
        fs::write(h.path().join("usr/bin/tool"), "#!/usr/bin/dash -e\n").unwrap();
        let v = SeedView::from_host(h.path(), &decl(&["/usr/bin/tool"], &[], &[]));
        assert_eq!(has(&v, "/usr/bin/tool"), Some(true));
        assert_eq!(has(&v, "/usr/bin/dash"), None);
        assert_eq!(has(&v, "/usr/bin/busybox"), Some(false));
    }

    #[test]
    fn layers_stack_earliest_first() {
        let h = host();
        let sh = SeedView::from_host(h.path(), &decl(&["/bin/busybox"], &[], &[]));
        let empty = |_: &Path| stacked([]);
        let after_nothing = |q: &Path| stacked([Lookup::Missing, sh.lookup(q)]);
        let before_unknown = |q: &Path| stacked([sh.lookup(q), Lookup::Unknown]);
        assert_eq!(resolve(&empty, Path::new("/bin/sh")), Some(false));
        assert_eq!(
            resolve(&after_nothing, Path::new("/bin/busybox")),
            Some(true)
        );
        assert_eq!(resolve(&before_unknown, Path::new("/bin/sh")), None);
    }
}
