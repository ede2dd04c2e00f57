//! The closure of a set of requested packages, chosen the way `apt-get
//! install --no-install-recommends` chooses it from an empty status
//! (`-o Dir::State::status=/dev/null`), apt 2.6's `pkgDepCache::MarkInstall`.
//!
//! - **Candidates.** A name's candidate is its highest version among all
//!   indices, counting only packages of the target architecture or `all`
//!   (apt's default pin gives every archive 500). The same version in two
//!   indices is taken from the index added first. A request `name=version`
//!   makes that version the name's candidate for the whole walk.
//! - **Requests** are all marked first, then their dependencies are walked
//!   one request after another, in apt's package order (see "Package order").
//! - **The walk** is depth-first. For a package, each `Pre-Depends` group,
//!   then each `Depends` group, in field order: if a package already marked
//!   satisfies an alternative (its version, or a `Provides` of the name with
//!   a matching version when the relation has one), the group is done.
//!   Otherwise the possible solutions are listed: for each alternative in
//!   order, the alternative's own candidate if it satisfies the relation and
//!   the candidates that provide it, sorted as apt's `CompareProviders`
//!   sorts them (the package named by the relation first, then Essential
//!   ones, then by `Priority`: required, important, standard, optional,
//!   extra, a missing `Priority` counting before required as it does in
//!   apt, then the later in package order). The first solution that can be
//!   marked is taken.
//! - **Marking** a package first checks that each of its groups has an
//!   alternative satisfied by a marked package or by some candidate; if one
//!   has none, the package is not marked and the next solution is tried.
//!   A package whose dependencies then fail is unmarked again, but what it
//!   marked stays marked (apt does not roll back either).
//! - **Essential** and `Priority: required` packages are *not* added: apt
//!   does not add them on `install` from an empty status (checked: `apt-get
//!   install --simulate make` from an empty status installs 4 packages).
//! - **Conflicts and Breaks** among the result are reported as an error;
//!   apt would try to unmark the conflicting package, which forge does not
//!   attempt: a toolchain set that conflicts needs a person to choose.
//! - `name:any` is satisfied by a `Multi-Arch: allowed` package (or a
//!   provider that is `allowed` or `foreign`); `:native` and `:<arch>` of the
//!   target architecture are plain; other qualifiers are never satisfied.
//!   Alternatives restricted (`[...]`) away from the architecture are left
//!   out; build profiles are ignored.
//!
//! **Package order.** apt numbers packages as it reads the indices: a
//! package when its paragraph or a relation naming it is first met. forge
//! numbers names the same way over the fields it reads (the paragraph name,
//! `Pre-Depends`, `Depends`, `Conflicts`, `Breaks`, `Provides`), which apt
//! reads in that order too; apt also counts `Recommends`, `Suggests`,
//! `Replaces` and `Enhances`, so the order can differ where a name is first
//! met in one of those. It only breaks ties between providers of equal
//! priority, and orders the requests.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::error::{ResolveError, VersionError};
use super::packages::{MultiArch, Package};
use super::relation::{display_relations, Alternatives, Op, Relation};
use super::version::Version;

/// A name for one index, e.g. `bookworm-security/main/binary-amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexId(pub String);

impl fmt::Display for IndexId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The packages of several indices, with the lookups the resolver needs.
#[derive(Debug, Default, Clone)]
pub struct Universe {
    indices: Vec<IndexId>,
    /// (index, package), in the order added.
    packages: Vec<(usize, Package)>,
    by_name: HashMap<String, Vec<usize>>,
    /// Name → (package, the provides relation's version) of its providers.
    providers: HashMap<String, Vec<(usize, Option<Version>)>>,
    /// Name → its number in apt's package order.
    order: HashMap<String, usize>,
}

impl Universe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an index's packages; indices added earlier win ties between equal versions.
    pub fn add_index(&mut self, id: IndexId, packages: Vec<Package>) {
        let index = self.indices.len();
        self.indices.push(id);
        for p in packages {
            let n = self.packages.len();
            self.number(&p.name);
            let named = p
                .pre_depends
                .iter()
                .chain(&p.depends)
                .chain(&p.conflicts)
                .chain(&p.breaks)
                .chain(&p.provides)
                .flatten();
            let names: Vec<String> = named.map(|r| r.name.clone()).collect();
            for name in names {
                self.number(&name);
            }
            for r in p.provides.iter().flatten() {
                let v = match &r.constraint {
                    Some((Op::Eq, v)) => Some(v.clone()),
                    _ => None,
                };
                self.providers
                    .entry(r.name.clone())
                    .or_default()
                    .push((n, v));
            }
            self.by_name.entry(p.name.clone()).or_default().push(n);
            self.packages.push((index, p));
        }
    }

    fn number(&mut self, name: &str) {
        if !self.order.contains_key(name) {
            let n = self.order.len();
            self.order.insert(name.to_owned(), n);
        }
    }

    /// The number of packages held.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Package numbers are made only by `add_index`, so indexing cannot fail.
    fn pkg(&self, n: usize) -> &Package {
        &self.packages[n].1
    }
}

/// A requested package: `name` or `name=version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub version: Option<Version>,
}

impl FromStr for Request {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, VersionError> {
        Ok(match s.split_once('=') {
            Some((name, v)) => Request {
                name: name.to_owned(),
                version: Some(v.parse()?),
            },
            None => Request {
                name: s.to_owned(),
                version: None,
            },
        })
    }
}

/// One package to install, with what pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub filename: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// The index it was taken from.
    pub index: IndexId,
}

/// The packages to install, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub packages: Vec<Chosen>,
}

/// Resolves `requests` against `u` for architecture `arch` (see the module docs).
pub fn resolve(u: &Universe, requests: &[Request], arch: &str) -> Result<Resolution, ResolveError> {
    let mut w = Walk {
        u,
        arch,
        pinned: HashMap::new(),
        marked: HashMap::new(),
        stack: Vec::new(),
        failure: None,
    };
    // Requests: pin versions, map virtual names to their one provider.
    let mut roots: Vec<usize> = Vec::new();
    for r in requests {
        let n = w.request(r)?;
        if let Some(prev) = roots.iter().find(|&&p| u.pkg(p).name == u.pkg(n).name) {
            let (a, b) = (u.pkg(*prev), u.pkg(n));
            if a.version.as_str() != b.version.as_str() {
                return Err(ResolveError::ConflictingRequests {
                    name: a.name.clone(),
                    first: a.version.to_string(),
                    second: b.version.to_string(),
                });
            }
            continue;
        }
        roots.push(n);
    }
    for &n in &roots {
        w.marked.insert(u.pkg(n).name.clone(), n);
    }
    roots.sort_by_key(|&n| u.order.get(&u.pkg(n).name).copied().unwrap_or(usize::MAX));
    for &n in &roots {
        if !w.walk_dependencies(n, true) {
            let chain = w.failure.take().unwrap_or_else(|| u.pkg(n).name.clone());
            return Err(ResolveError::Unsatisfiable { chain });
        }
    }
    w.check_conflicts()?;
    let mut packages: Vec<Chosen> = w
        .marked
        .values()
        .map(|&n| {
            let (index, p) = &u.packages[n];
            Chosen {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                filename: p.filename.clone(),
                size: p.size,
                sha256: p.sha256,
                index: u.indices[*index].clone(),
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Resolution { packages })
}

struct Walk<'a> {
    u: &'a Universe,
    arch: &'a str,
    /// Candidates set by `name=version` requests.
    pinned: HashMap<String, usize>,
    /// Name → the package marked for install.
    marked: HashMap<String, usize>,
    /// The names from the request down to the package being walked.
    stack: Vec<String>,
    /// The chain of the last dependency that could not be satisfied.
    failure: Option<String>,
}

impl<'a> Walk<'a> {
    fn arch_ok(&self, p: &Package) -> bool {
        p.architecture == self.arch || p.architecture == "all"
    }

    fn candidate(&self, name: &str) -> Option<usize> {
        if let Some(&n) = self.pinned.get(name) {
            return Some(n);
        }
        let mut best: Option<usize> = None;
        for &n in self.u.by_name.get(name)? {
            let p = self.u.pkg(n);
            if !self.arch_ok(p) {
                continue;
            }
            if best.is_none_or(|b| p.version.cmp(&self.u.pkg(b).version) == Ordering::Greater) {
                best = Some(n);
            }
        }
        best
    }

    fn request(&mut self, r: &Request) -> Result<usize, ResolveError> {
        let u = self.u;
        if let Some(v) = &r.version {
            let found = u.by_name.get(&r.name).and_then(|ns| {
                ns.iter().copied().find(|&n| {
                    let p = u.pkg(n);
                    self.arch_ok(p) && p.version.as_str() == v.as_str()
                })
            });
            let Some(n) = found else {
                return Err(ResolveError::UnknownVersion {
                    name: r.name.clone(),
                    version: v.to_string(),
                });
            };
            self.pinned.insert(r.name.clone(), n);
            return Ok(n);
        }
        if let Some(n) = self.candidate(&r.name) {
            return Ok(n);
        }
        // A virtual name: apt takes its provider when there is exactly one.
        let mut providers: Vec<usize> = u
            .providers
            .get(&r.name)
            .into_iter()
            .flatten()
            .filter_map(|&(n, _)| self.candidate(&u.pkg(n).name).filter(|&c| c == n))
            .collect();
        providers.sort_unstable();
        providers.dedup();
        match providers.as_slice() {
            [] => Err(ResolveError::UnknownRequest {
                name: r.name.clone(),
                arch: self.arch.to_owned(),
            }),
            [one] => Ok(*one),
            many => {
                let mut names: Vec<String> = many.iter().map(|&n| u.pkg(n).name.clone()).collect();
                names.sort();
                Err(ResolveError::AmbiguousVirtual {
                    name: r.name.clone(),
                    providers: names,
                })
            }
        }
    }

    /// Whether an alternative applies on this architecture at all.
    fn applies(&self, r: &Relation) -> bool {
        if r.arches.is_empty() {
            return true;
        }
        let negated = r.arches.iter().all(|t| t.negated);
        let listed = r
            .arches
            .iter()
            .any(|t| t.name == self.arch || t.name == "any");
        if negated {
            !listed
        } else {
            listed
        }
    }

    /// Whether package `n` itself (not through Provides) satisfies `r`.
    fn satisfies_directly(&self, n: usize, r: &Relation) -> bool {
        let p = self.u.pkg(n);
        if p.name != r.name || !r.version_matches(&p.version) {
            return false;
        }
        match r.arch_qualifier.as_deref() {
            None | Some("native") => true,
            Some("any") => p.multi_arch == MultiArch::Allowed,
            Some(a) => a == self.arch,
        }
    }

    /// Whether package `n` satisfies `r` through a `Provides` entry.
    fn satisfies_by_provides(&self, n: usize, provided: &Option<Version>, r: &Relation) -> bool {
        let p = self.u.pkg(n);
        let version_ok = match (&r.constraint, provided) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(v)) => r.version_matches(v),
        };
        version_ok
            && match r.arch_qualifier.as_deref() {
                None | Some("native") => true,
                Some("any") => matches!(p.multi_arch, MultiArch::Allowed | MultiArch::Foreign),
                Some(a) => a == self.arch,
            }
    }

    fn satisfied_by_marked(&self, r: &Relation) -> bool {
        if let Some(&n) = self.marked.get(&r.name) {
            if self.satisfies_directly(n, r) {
                return true;
            }
        }
        self.u
            .providers
            .get(&r.name)
            .into_iter()
            .flatten()
            .any(|(n, v)| {
                self.marked.get(&self.u.pkg(*n).name) == Some(n)
                    && self.satisfies_by_provides(*n, v, r)
            })
    }

    /// The candidates satisfying `r`, sorted as apt's `CompareProviders`.
    fn solutions_of(&self, r: &Relation) -> Vec<usize> {
        let mut out = Vec::new();
        if let Some(c) = self.candidate(&r.name) {
            if self.satisfies_directly(c, r) {
                out.push(c);
            }
        }
        for (n, v) in self.u.providers.get(&r.name).into_iter().flatten() {
            let is_candidate = self.candidate(&self.u.pkg(*n).name) == Some(*n);
            if is_candidate && self.satisfies_by_provides(*n, v, r) && !out.contains(n) {
                out.push(*n);
            }
        }
        out.sort_by(|&a, &b| self.compare_providers(a, b, &r.name));
        out
    }

    /// `Less` when `a` is preferred.
    fn compare_providers(&self, a: usize, b: usize, target: &str) -> Ordering {
        let (pa, pb) = (self.u.pkg(a), self.u.pkg(b));
        let order = |p: &Package| self.u.order.get(&p.name).copied().unwrap_or(0);
        (pb.name == target)
            .cmp(&(pa.name == target))
            .then_with(|| pb.essential.cmp(&pa.essential))
            .then_with(|| priority_rank(pa).cmp(&priority_rank(pb)))
            .then_with(|| order(pb).cmp(&order(pa)))
    }

    fn groups(&self, n: usize) -> impl Iterator<Item = &'a Alternatives> + 'a {
        let p = self.u.pkg(n);
        p.pre_depends.iter().chain(&p.depends)
    }

    fn group_solutions(&self, g: &Alternatives) -> Vec<usize> {
        let mut out = Vec::new();
        for r in g.iter().filter(|r| self.applies(r)) {
            for s in self.solutions_of(r) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    fn group_satisfied(&self, g: &Alternatives) -> bool {
        g.iter()
            .filter(|r| self.applies(r))
            .any(|r| self.satisfied_by_marked(r))
    }

    fn fail(&mut self, g: &Alternatives) {
        let mut chain = self.stack.join(" -> ");
        chain.push_str(" -> ");
        chain.push_str(&display_relations(std::slice::from_ref(g)));
        self.failure = Some(chain);
    }

    /// apt's `MarkInstall` for a dependency: false when `n` cannot be installed.
    fn mark(&mut self, n: usize) -> bool {
        let u = self.u;
        let name = &u.pkg(n).name;
        if self.marked.contains_key(name) {
            return self.marked.get(name) == Some(&n);
        }
        // IsInstallOkDependenciesSatisfiableByCandidates.
        let groups: Vec<&Alternatives> = self.groups(n).collect();
        for g in &groups {
            if !g.iter().any(|r| self.applies(r)) {
                continue;
            }
            if !self.group_satisfied(g) && self.group_solutions(g).is_empty() {
                self.stack.push(name.clone());
                self.fail(g);
                self.stack.pop();
                return false;
            }
        }
        self.marked.insert(name.clone(), n);
        if self.walk_dependencies(n, false) {
            true
        } else {
            self.marked.remove(name);
            false
        }
    }

    /// The dependency loop of `MarkInstall`; a request (`protected`) keeps
    /// going after a failed group, as apt does for packages the user asked for.
    fn walk_dependencies(&mut self, n: usize, protected: bool) -> bool {
        let u = self.u;
        self.stack.push(u.pkg(n).name.clone());
        let mut ok = true;
        for g in self.groups(n).collect::<Vec<_>>() {
            if !g.iter().any(|r| self.applies(r)) || self.group_satisfied(g) {
                continue;
            }
            let solutions = self.group_solutions(g);
            if solutions.is_empty() {
                self.fail(g);
            }
            if !solutions.into_iter().any(|s| self.mark(s)) {
                ok = false;
                if !protected {
                    break;
                }
            }
        }
        self.stack.pop();
        ok
    }

    fn check_conflicts(&self) -> Result<(), ResolveError> {
        let u = self.u;
        let mut marked: Vec<usize> = self.marked.values().copied().collect();
        marked.sort_by(|&a, &b| u.pkg(a).name.cmp(&u.pkg(b).name));
        for &n in &marked {
            let p = u.pkg(n);
            let kinds = [("conflicts with", &p.conflicts), ("breaks", &p.breaks)];
            for (kind, groups) in kinds {
                for r in groups.iter().flatten().filter(|r| self.applies(r)) {
                    let hit =
                        marked.iter().copied().find(|&m| {
                            let q = u.pkg(m);
                            q.name != p.name
                                && (self.satisfies_directly(m, r)
                                    || u.providers.get(&r.name).into_iter().flatten().any(
                                        |(pn, v)| *pn == m && self.satisfies_by_provides(m, v, r),
                                    ))
                        });
                    if let Some(m) = hit {
                        let q = u.pkg(m);
                        return Err(ResolveError::Conflict {
                            package: p.name.clone(),
                            version: p.version.to_string(),
                            kind,
                            relation: r.to_string(),
                            other: format!("{} {}", q.name, q.version),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// apt's `Priority` numbers: a missing field is 0, an unknown word extra.
fn priority_rank(p: &Package) -> u8 {
    match p.priority.as_deref() {
        None => 0,
        Some("required") => 1,
        Some("important") => 2,
        Some("standard") => 3,
        Some("optional") => 4,
        Some(_) => 5,
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
