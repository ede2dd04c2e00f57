//! npm's `package-lock.json` (and `npm-shrinkwrap.json`), lockfileVersion 2
//! and 3.
//!
//! The `packages` map is keyed by install path: `""` is the project itself,
//! `node_modules/<name>` a package, `node_modules/a/node_modules/b` a nested
//! copy, `@scope/name` a scoped name; any other key (`packages/foo`) is a
//! workspace folder. Each package entry gives `version`, `resolved` (the
//! tarball URL) and `integrity` (SRI, `sha512-<base64>`), and flags `dev`,
//! `optional`, `link`.
//!
//! - An entry with `link: true` is [`Skipped`] as [`SkipReason::Link`]; the
//!   folder it points at has its own entry (a workspace folder, skipped).
//! - A `resolved` URL that is not `http(s)` (`git+ssh:`, `file:`) is
//!   skipped as git or path.
//! - With no `resolved`, the package comes from the default registry
//!   (npm ≥ 9 leaves it out when `omit-lockfile-registry-resolved` is set):
//!   the URL is `https://registry.npmjs.org/<name>/-/<bare name>-<version>.tgz`.
//! - `integrity` may list several hashes (space-separated); the strongest of
//!   sha512 and sha256 is kept. A lock that gives only sha1 (npm 5 era) is
//!   refused for that package ([`ImportError::WeakHash`]): sha1 is no pin.
//!
//! Lines: serde_json reports no positions for values, so an entry's line is
//! the line where its key is first written (keys of `packages` are unique).
//! `lockfileVersion` 1 has no `packages` map and is refused.

use serde::Deserialize;

use super::error::{json_error, line_of};
use super::{Artifact, ArtifactKind, Ecosystem, Import, ImportError, SkipReason, Skipped};
use crate::hash::{Hash, HashAlgo};

/// The default registry, for entries without `resolved`.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLock {
    lockfile_version: Option<serde_json::Value>,
    packages: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize, Default)]
struct RawEntry {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default, rename = "devOptional")]
    dev_optional: bool,
}

/// The package name an install path ends with (`node_modules/a/node_modules/@s/b`
/// gives `@s/b`), or `None` for a path outside `node_modules`.
pub fn name_from_path(path: &str) -> Option<&str> {
    let i = path.rfind("node_modules/")?;
    let name = path.get(i + "node_modules/".len()..)?;
    (!name.is_empty()).then_some(name)
}

/// The registry tarball URL and npm's file name for a package
/// (`@types/node` 20.11.0: `…/@types/node/-/node-20.11.0.tgz`, file
/// `types-node-20.11.0.tgz`, as `npm pack` names it).
pub fn registry_tarball(name: &str, version: &str) -> (String, String) {
    let bare = name.rsplit('/').next().unwrap_or(name);
    let url = format!("{DEFAULT_REGISTRY}/{name}/-/{bare}-{version}.tgz");
    let file = format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    );
    (url, file)
}

/// Reads a `package-lock.json`.
pub fn parse_package_lock(text: &str) -> Result<Import, ImportError> {
    let raw: RawLock = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    let version_line = || {
        text.find("\"lockfileVersion\"")
            .map_or(1, |o| line_of(text, o))
    };
    match raw
        .lockfile_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(2 | 3) => {}
        other => {
            return Err(ImportError::Version {
                line: version_line(),
                what: "package-lock.json",
                version: other.map_or_else(
                    || {
                        raw.lockfile_version
                            .as_ref()
                            .map_or("(none)".to_owned(), ToString::to_string)
                    },
                    |v| v.to_string(),
                ),
            })
        }
    }
    let Some(packages) = raw.packages else {
        return Err(ImportError::Missing {
            line: version_line(),
            package: "(the lock)".to_owned(),
            field: "packages",
        });
    };
    let start = text.find("\"packages\"").unwrap_or(0);
    let mut out = Import::default();
    for (path, value) in packages {
        if path.is_empty() {
            continue;
        }
        let line = serde_json::to_string(&path)
            .ok()
            .and_then(|k| text.get(start..).and_then(|t| t.find(&k)))
            .map_or(1, |o| line_of(text, start + o));
        let e: RawEntry = serde_json::from_value(value).map_err(|e| ImportError::Invalid {
            line,
            package: path.clone(),
            field: "entry",
            reason: e.to_string(),
        })?;
        let name = e
            .name
            .clone()
            .or_else(|| name_from_path(&path).map(str::to_owned));
        let skip = |reason, name: Option<String>| Skipped {
            ecosystem: Ecosystem::Npm,
            name: name.unwrap_or_else(|| path.clone()),
            version: e.version.clone(),
            reason,
            line,
        };
        if e.link {
            let target = e.resolved.clone().unwrap_or_default();
            out.skipped.push(skip(SkipReason::Link(target), name));
            continue;
        }
        let Some(name) = name.filter(|_| path.contains("node_modules/")) else {
            out.skipped
                .push(skip(SkipReason::Workspace, e.name.clone()));
            continue;
        };
        let package = name.clone();
        let version = e.version.clone().ok_or_else(|| ImportError::Missing {
            line,
            package: package.clone(),
            field: "version",
        })?;
        let (url, file_name) = match &e.resolved {
            None => registry_tarball(&name, &version),
            Some(r) if r.starts_with("https://") || r.starts_with("http://") => {
                let (_, file) = registry_tarball(&name, &version);
                (r.clone(), file)
            }
            Some(r) if r.starts_with("git") || r.contains("://github.com/") => {
                out.skipped
                    .push(skip(SkipReason::Git(r.clone()), Some(name)));
                continue;
            }
            Some(r) => {
                out.skipped
                    .push(skip(SkipReason::Path(r.clone()), Some(name)));
                continue;
            }
        };
        let integrity = e.integrity.as_deref().ok_or_else(|| ImportError::Missing {
            line,
            package: format!("{package}@{version}"),
            field: "integrity",
        })?;
        let hash = strongest(integrity).map_err(|err| match err {
            Strongest::Weak(algo) => ImportError::WeakHash {
                line,
                package: format!("{package}@{version}"),
                algo,
            },
            Strongest::Bad(reason) => ImportError::Invalid {
                line,
                package: format!("{package}@{version}"),
                field: "integrity",
                reason,
            },
        })?;
        out.artifacts.push(Artifact {
            ecosystem: Ecosystem::Npm,
            name,
            version,
            url,
            hash,
            size: None,
            file_name,
            kind: ArtifactKind::NpmTarball,
            line,
            install_path: Some(path.clone()),
            dev: e.dev || e.dev_optional,
            optional: e.optional || e.dev_optional,
        });
    }
    Ok(out)
}

enum Strongest {
    Weak(String),
    Bad(String),
}

/// The strongest pin of an SRI list (`sha512-… sha1-…`): sha512, else
/// sha256; only weaker ones is [`Strongest::Weak`].
fn strongest(integrity: &str) -> Result<Hash, Strongest> {
    let mut best: Option<Hash> = None;
    let mut weak = None;
    for item in integrity.split_ascii_whitespace() {
        // SRI allows `?options` after the digest.
        let item = item.split('?').next().unwrap_or(item);
        let Some((algo, _)) = item.split_once('-') else {
            return Err(Strongest::Bad(format!("{item:?} is not `<algo>-<base64>`")));
        };
        match HashAlgo::from_name(algo) {
            Some(a @ (HashAlgo::Sha512 | HashAlgo::Sha256)) => {
                let h = Hash::parse(item).map_err(|e| Strongest::Bad(e.to_string()))?;
                if best.is_none_or(|b| a == HashAlgo::Sha512 && b.algo() != HashAlgo::Sha512) {
                    best = Some(h);
                }
            }
            _ => weak = Some(algo.to_owned()),
        }
    }
    best.ok_or_else(|| match weak {
        Some(a) => Strongest::Weak(a),
        None => Strongest::Bad("no hash".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REAL: &str = include_str!("../../tests/fixtures/imports/package-lock.json");

    #[test]
    fn reads_a_real_v3_lock() {
        let imp = parse_package_lock(REAL).unwrap();
        let a = imp
            .artifacts
            .iter()
            .find(|a| a.name == "@types/node")
            .unwrap();
        assert_eq!(a.hash.algo(), HashAlgo::Sha512);
        assert_eq!(a.file_name, format!("types-node-{}.tgz", a.version));
        assert_eq!(
            a.url,
            format!(
                "https://registry.npmjs.org/@types/node/-/node-{}.tgz",
                a.version
            )
        );
        assert!(REAL
            .lines()
            .nth(a.line - 1)
            .unwrap()
            .contains("\"node_modules/@types/node\""));
        for a in &imp.artifacts {
            assert!(a.url.starts_with("https://registry.npmjs.org/"), "{a:?}");
            assert_eq!(a.hash.to_sri(), {
                let key = format!("\"integrity\": \"{}\"", a.hash.to_sri());
                assert!(REAL.contains(&key), "{}", a.name);
                a.hash.to_sri()
            });
        }
    }

    const SHAPES: &str = r#"{
  "name": "app",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": { "name": "app", "workspaces": ["packages/lib"] },
    "node_modules/a": {
      "version": "1.0.0",
      "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz",
      "integrity": "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
      "dev": true
    },
    "node_modules/a/node_modules/@s/b": {
      "version": "2.0.0",
      "resolved": "https://registry.npmjs.org/@s/b/-/b-2.0.0.tgz",
      "integrity": "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
      "optional": true
    },
    "node_modules/lib": { "resolved": "packages/lib", "link": true },
    "packages/lib": { "name": "lib", "version": "0.0.1" },
    "node_modules/g": { "version": "1.0.0", "resolved": "git+ssh://git@github.com/x/g.git#abc" }
  }
}"#;

    #[test]
    fn nested_scoped_linked_and_flagged_entries() {
        let imp = parse_package_lock(SHAPES).unwrap();
        assert_eq!(imp.artifacts.len(), 2);
        let a = &imp.artifacts[0];
        assert_eq!(
            (a.name.as_str(), a.dev, a.optional, a.line),
            ("a", true, false, 7)
        );
        assert_eq!(a.hash, HashAlgo::Sha512.digest(b""));
        let b = &imp.artifacts[1];
        assert_eq!(b.name, "@s/b");
        assert_eq!(
            b.install_path.as_deref(),
            Some("node_modules/a/node_modules/@s/b")
        );
        assert!(b.optional);
        assert_eq!(b.file_name, "s-b-2.0.0.tgz");
        let reasons: Vec<_> = imp
            .skipped
            .iter()
            .map(|s| (&s.name[..], &s.reason))
            .collect();
        assert!(
            reasons.contains(&("lib", &SkipReason::Link("packages/lib".into()))),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&("lib", &SkipReason::Workspace)),
            "{reasons:?}"
        );
        assert!(matches!(
            reasons.iter().find(|r| r.0 == "g").unwrap().1,
            SkipReason::Git(_)
        ));
    }

    #[test]
    fn sha1_only_is_refused_naming_the_package() {
        let lock = SHAPES.replace(
            "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
            "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
        );
        let e = parse_package_lock(&lock).unwrap_err();
        assert_eq!(e.to_string(), "line 7: package a@1.0.0: only a sha1 hash is given, which forge does not accept as a pin");
        assert!(crate::diag::Hint::hint(&e).is_some());
        let v1 = r#"{"name":"x","lockfileVersion":1,"dependencies":{}}"#;
        assert!(matches!(
            parse_package_lock(v1).unwrap_err(),
            ImportError::Version { .. }
        ));
        let e = parse_package_lock("{\n\"lockfileVersion\": 3,\n\"packages\": [}").unwrap_err();
        assert_eq!(e.line(), 3, "{e}");
    }

    proptest! {
        #[test]
        fn never_panics(s in "(?s)\\PC{0,200}") {
            let _ = parse_package_lock(&s);
        }

        #[test]
        fn never_panics_on_mutated_locks(cut in 0usize..2000, junk in "\\PC{0,8}") {
            let cut = (0..=cut.min(SHAPES.len())).rev().find(|&i| SHAPES.is_char_boundary(i)).unwrap_or(0);
            let text = format!("{}{junk}{}", &SHAPES[..cut], &SHAPES[cut..]);
            let _ = parse_package_lock(&text);
        }

        #[test]
        fn registry_names_give_one_tarball_each(scope in proptest::option::of("[a-z]{1,5}"), name in "[a-z][a-z0-9-]{0,8}", v in "[0-9]\\.[0-9]\\.[0-9]") {
            let full = scope.map_or(name.clone(), |s| format!("@{s}/{name}"));
            let (url, file) = registry_tarball(&full, &v);
            let tail = format!("{name}-{v}.tgz");
            let slash_tail = format!("/{tail}");
            prop_assert!(url.ends_with(&slash_tail));
            prop_assert!(file.ends_with(&tail) && !file.contains('/'));
            let path = format!("node_modules/x/node_modules/{full}");
            prop_assert_eq!(name_from_path(&path), Some(full.as_str()));
        }
    }
}
