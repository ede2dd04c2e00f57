use super::*;
use crate::debian::packages;

const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An index from `name version [arch] # Field: value # ...` entries separated by `;`.
fn index(spec: &str) -> Vec<Package> {
    let mut text = String::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split('#').map(str::trim);
        let head = parts.next().unwrap();
        let (name, rest) = head.split_once(' ').unwrap();
        let (version, arch) = rest.split_once(' ').unwrap_or((rest, "amd64"));
        text.push_str(&format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {HASH}\n"
        ));
        for f in parts {
            text.push_str(f);
            text.push('\n');
        }
        text.push('\n');
    }
    packages::parse(&text).unwrap()
}

fn universe(indices: &[(&str, &str)]) -> Universe {
    let mut u = Universe::new();
    for (id, spec) in indices {
        u.add_index(IndexId((*id).to_owned()), index(spec));
    }
    u
}

fn names(u: &Universe, req: &str) -> Result<Vec<String>, ResolveError> {
    let reqs: Vec<Request> = req.split_whitespace().map(|r| r.parse().unwrap()).collect();
    resolve(u, &reqs, "amd64").map(|r| {
        r.packages
            .iter()
            .map(|c| format!("{}={}", c.name, c.version))
            .collect()
    })
}

#[test]
fn highest_version_across_indices_and_pins() {
    let u = universe(&[
        (
            "main",
            "a 1.0 # Depends: b (>= 1); b 1.0; b 3.0 i386; c 1.0 all",
        ),
        ("updates", "b 2.0; a 0.9"),
    ]);
    assert_eq!(names(&u, "a").unwrap(), ["a=1.0", "b=2.0"]);
    assert_eq!(names(&u, "a b=1.0").unwrap(), ["a=1.0", "b=1.0"]);
    assert_eq!(names(&u, "c").unwrap(), ["c=1.0"]);
    let r = resolve(&u, &["a".parse().unwrap()], "amd64").unwrap();
    assert_eq!(r.packages[1].index, IndexId("updates".into()));
    assert_eq!(r.packages[1].filename, "pool/b_2.0.deb");
    assert!(matches!(
        names(&u, "b=9"),
        Err(ResolveError::UnknownVersion { .. })
    ));
    assert!(matches!(
        names(&u, "zzz"),
        Err(ResolveError::UnknownRequest { .. })
    ));
    assert!(matches!(
        names(&u, "b=1.0 b=2.0"),
        Err(ResolveError::ConflictingRequests { .. })
    ));
}

#[test]
fn alternatives_prefer_what_is_marked() {
    let u = universe(&[(
        "main",
        "app 1 # Depends: x | y, z; x 1 # Depends: missing; y 1; z 1 # Depends: y",
    )]);
    // x cannot be installed (its dependency is missing): y is taken.
    assert_eq!(names(&u, "app").unwrap(), ["app=1", "y=1", "z=1"]);
    let u = universe(&[(
        "main",
        "app 1 # Depends: x | y, z; x 1; y 1; z 1 # Depends: y",
    )]);
    assert_eq!(names(&u, "app").unwrap(), ["app=1", "x=1", "y=1", "z=1"]);
    // A request satisfies an earlier alternative group.
    assert_eq!(names(&u, "app y").unwrap(), ["app=1", "y=1", "z=1"]);
}

#[test]
fn versions_decide_alternatives() {
    let u = universe(&[("main", "app 1 # Depends: x (>= 2) | y; x 1; y 1")]);
    assert_eq!(names(&u, "app").unwrap(), ["app=1", "y=1"]);
}

#[test]
fn virtual_packages_and_providers() {
    let u = universe(&[(
        "main",
        "app 1 # Depends: awk, libfoo (>= 2); mawk 1 # Provides: awk # Priority: required; \
         gawk 1 # Provides: awk # Priority: optional; foo 1 # Provides: libfoo (= 2.5); \
         bar 1 # Provides: libfoo",
    )]);
    // Priority decides between providers; a versioned dependency needs a versioned Provides.
    assert_eq!(names(&u, "app").unwrap(), ["app=1", "foo=1", "mawk=1"]);
    assert!(matches!(
        names(&u, "awk"),
        Err(ResolveError::AmbiguousVirtual { .. })
    ));
    assert_eq!(
        names(&u, "libfoo").unwrap_err(),
        ResolveError::AmbiguousVirtual {
            name: "libfoo".into(),
            providers: vec!["bar".into(), "foo".into()],
        }
    );
    // An already chosen provider satisfies the group.
    assert_eq!(names(&u, "app gawk").unwrap(), ["app=1", "foo=1", "gawk=1"]);
}

#[test]
fn multi_arch_any() {
    let u = universe(&[(
        "main",
        "app 1 # Depends: py:any; py 1 # Multi-Arch: allowed; tool 1 # Depends: cc:any; cc 1",
    )]);
    assert_eq!(names(&u, "app").unwrap(), ["app=1", "py=1"]);
    assert!(matches!(
        names(&u, "tool"),
        Err(ResolveError::Unsatisfiable { .. })
    ));
}

#[test]
fn unsatisfiable_names_the_chain() {
    let u = universe(&[(
        "main",
        "gcc-12 1 # Depends: cpp-12; cpp-12 1 # Depends: libmpc3 (>= 1.1); libmpc3 1.0",
    )]);
    assert_eq!(
        names(&u, "gcc-12").unwrap_err(),
        ResolveError::Unsatisfiable {
            chain: "gcc-12 -> cpp-12 -> libmpc3 (>= 1.1)".into()
        }
    );
}

#[test]
fn conflicts_and_breaks_are_reported() {
    let u = universe(&[(
        "main",
        "a 1 # Depends: b, c; b 1 # Conflicts: c (<< 2); c 1; d 1 # Breaks: vc # Depends: e; e 1 # Provides: vc; \
         f 1 # Provides: f2 # Conflicts: f2",
    )]);
    assert!(matches!(
        names(&u, "a"),
        Err(ResolveError::Conflict { ref package, ref other, kind: "conflicts with", .. }) if package == "b" && other == "c 1"
    ));
    assert!(matches!(
        names(&u, "d"),
        Err(ResolveError::Conflict { kind: "breaks", .. })
    ));
    // A package conflicting with what it provides itself is fine.
    assert_eq!(names(&u, "f").unwrap(), ["f=1"]);
}

#[test]
fn pre_depends_and_arch_restrictions() {
    let u = universe(&[(
        "main",
        "a 1 # Pre-Depends: p # Depends: q [i386], r [!i386]; p 1; q 1; r 1",
    )]);
    assert_eq!(names(&u, "a").unwrap(), ["a=1", "p=1", "r=1"]);
}

#[test]
fn deterministic_output() {
    let u = universe(&[("main", "z 1 # Depends: m, a; m 1; a 1")]);
    assert_eq!(names(&u, "z").unwrap(), ["a=1", "m=1", "z=1"]);
}
