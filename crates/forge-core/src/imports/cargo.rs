//! `Cargo.lock` (versions 3 and 4) and the files a cargo vendor directory
//! needs.
//!
//! Every `[[package]]` with `source = "registry+https://github.com/rust-lang/crates.io-index"`
//! (or the sparse index, `sparse+https://index.crates.io/`) becomes an
//! [`Artifact`] fetched from
//! `https://static.crates.io/crates/<name>/<name>-<version>.crate` and pinned
//! by its `checksum` (the sha256 of the `.crate` file, which crates.io
//! publishes in its index). Packages without a source (the workspace's own
//! crates and path dependencies), git dependencies and other registries are
//! [`Skipped`], not errors. A crates.io package without a checksum is an
//! error: nothing would pin it.
//!
//! Lock version 4 differs from 3 only in how git sources are written, and a
//! lock without `version` (v2) already has inline checksums, so all three are
//! read; v1 kept checksums in `[metadata]` and is refused.
//!
//! # Vendoring
//!
//! cargo's directory sources (`cargo vendor`) hold one unpacked crate per
//! directory with a `.cargo-checksum.json`: `{"files":{<relative path>:
//! <sha256 hex>,…},"package":"<sha256 hex of the .crate>"}`.
//! [`cargo_checksum_json`] writes it from the hashes the caller computed;
//! [`vendor_config`] writes the `.cargo/config.toml` text that replaces
//! crates.io with the directory.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::{line_of, toml_error};
use super::{Artifact, ArtifactKind, Ecosystem, Import, ImportError, SkipReason, Skipped};
use crate::hash::{Hash, HashAlgo};

/// The two spellings of the crates.io index in `source`.
pub const CRATES_IO_SOURCES: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

#[derive(Deserialize)]
struct RawLock {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    package: Vec<Spanned<RawPackage>>,
    metadata: Option<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: Option<String>,
    version: Option<String>,
    source: Option<String>,
    checksum: Option<Spanned<String>>,
}

/// The download URL of a crate on crates.io.
pub fn crate_url(name: &str, version: &str) -> String {
    format!("https://static.crates.io/crates/{name}/{name}-{version}.crate")
}

/// Reads a `Cargo.lock`.
pub fn parse_cargo_lock(text: &str) -> Result<Import, ImportError> {
    let raw: RawLock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    match &raw.version {
        Some(v) if !matches!(*v.get_ref(), 3 | 4) => {
            return Err(ImportError::Version {
                line: line_of(text, v.span().start),
                what: "Cargo.lock",
                version: v.get_ref().to_string(),
            })
        }
        None => {
            if let Some(m) = &raw.metadata {
                if m.get_ref().keys().any(|k| k.starts_with("checksum ")) {
                    return Err(ImportError::Version {
                        line: line_of(text, m.span().start),
                        what: "Cargo.lock",
                        version: "1".to_owned(),
                    });
                }
            }
        }
        Some(_) => {}
    }
    let mut out = Import::default();
    for p in raw.package {
        let line = line_of(text, p.span().start);
        let p = p.into_inner();
        let name = p.name.ok_or(ImportError::Missing {
            line,
            package: "?".to_owned(),
            field: "name",
        })?;
        let version = p.version.ok_or_else(|| ImportError::Missing {
            line,
            package: name.clone(),
            field: "version",
        })?;
        let skip = |reason| Skipped {
            ecosystem: Ecosystem::Rust,
            name: name.clone(),
            version: Some(version.clone()),
            reason,
            line,
        };
        let source = match p.source {
            None => {
                out.skipped.push(skip(SkipReason::Workspace));
                continue;
            }
            Some(s) => s,
        };
        if source.starts_with("git+") {
            out.skipped.push(skip(SkipReason::Git(source)));
            continue;
        }
        if source.starts_with("path+") {
            out.skipped.push(skip(SkipReason::Path(source)));
            continue;
        }
        if !CRATES_IO_SOURCES.contains(&source.as_str()) {
            out.skipped.push(skip(SkipReason::OtherRegistry(source)));
            continue;
        }
        let checksum = p.checksum.ok_or_else(|| ImportError::Missing {
            line,
            package: format!("{name} {version}"),
            field: "checksum",
        })?;
        let hash = Hash::parse_as(HashAlgo::Sha256, checksum.get_ref()).map_err(|e| {
            ImportError::Invalid {
                line: line_of(text, checksum.span().start),
                package: format!("{name} {version}"),
                field: "checksum",
                reason: e.to_string(),
            }
        })?;
        out.artifacts.push(Artifact {
            ecosystem: Ecosystem::Rust,
            url: crate_url(&name, &version),
            file_name: format!("{name}-{version}.crate"),
            name,
            version,
            hash,
            size: None,
            kind: ArtifactKind::Crate,
            line,
            install_path: None,
            dev: false,
            optional: false,
        });
    }
    Ok(out)
}

/// Why vendor files could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VendorError {
    /// A hash is not sha256 (cargo checks sha256 only).
    #[error("{what} has a {algo} hash; cargo's checksums are sha256")]
    NotSha256 {
        /// The file, or `the package`.
        what: String,
        /// Its algorithm.
        algo: HashAlgo,
    },
    /// A path is absolute, empty, has `..` or `\`, or is given twice.
    #[error("file {0:?} is not a relative path inside the crate, or is given twice")]
    BadPath(String),
}

/// The `.cargo-checksum.json` of one vendored crate: `package` is the
/// sha256 of the `.crate` file (the lock's checksum), `files` the sha256 of
/// every file of the unpacked crate by its `/`-separated relative path.
/// Keys are sorted, so the text is the same for the same input.
pub fn cargo_checksum_json(
    package: &Hash,
    files: &[(String, Hash)],
) -> Result<String, VendorError> {
    let sha = |what: &str, h: &Hash| {
        if h.algo() == HashAlgo::Sha256 {
            Ok(h.to_hex())
        } else {
            Err(VendorError::NotSha256 {
                what: what.to_owned(),
                algo: h.algo(),
            })
        }
    };
    let mut map = BTreeMap::new();
    for (path, h) in files {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad || map.insert(path.clone(), sha(path, h)?).is_some() {
            return Err(VendorError::BadPath(path.clone()));
        }
    }
    let doc = serde_json::json!({ "files": map, "package": sha("the package", package)? });
    Ok(doc.to_string())
}

/// The cargo configuration that builds from a vendor directory instead of
/// crates.io (`directory` as it should appear in the file: relative to the
/// workspace root, or absolute).
pub fn vendor_config(directory: &str) -> String {
    let dir = toml::Value::String(directory.to_owned());
    format!(
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = {dir}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FORGE_LOCK: &str = include_str!("../../tests/fixtures/imports/Cargo.lock");

    #[test]
    fn every_registry_package_of_forges_own_lock_has_its_checksum() {
        let imp = parse_cargo_lock(FORGE_LOCK).unwrap();
        let registry = FORGE_LOCK.matches("source = \"registry+").count();
        assert_eq!(imp.artifacts.len(), registry);
        assert!(registry > 50, "{registry}");
        assert!(imp
            .skipped
            .iter()
            .any(|s| s.name == "forge-core" && s.reason == SkipReason::Workspace));
        for a in &imp.artifacts {
            assert_eq!(a.hash.algo(), HashAlgo::Sha256);
            assert_eq!(a.url, crate_url(&a.name, &a.version));
            assert!(
                FORGE_LOCK
                    .lines()
                    .nth(a.line - 1)
                    .unwrap()
                    .starts_with("[[package]]"),
                "{a:?}"
            );
            let checksum = format!("checksum = \"{}\"", a.hash.to_hex());
            assert!(FORGE_LOCK.contains(&checksum), "{}", a.name);
        }
    }

    #[test]
    fn sources_and_errors() {
        let lock = r#"version = 4

[[package]]
name = "a"
version = "1.0.0"
source = "git+https://example.org/a?rev=1#abc"

[[package]]
name = "b"
version = "0.1.0"
source = "sparse+https://index.crates.io/"
checksum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[[package]]
name = "c"
version = "0.1.0"
source = "registry+https://my.registry/index"
checksum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
"#;
        let imp = parse_cargo_lock(lock).unwrap();
        assert_eq!(imp.artifacts.len(), 1);
        assert_eq!(imp.artifacts[0].line, 8);
        assert_eq!(imp.artifacts[0].file_name, "b-0.1.0.crate");
        assert!(matches!(imp.skipped[0].reason, SkipReason::Git(_)));
        assert!(matches!(
            imp.skipped[1].reason,
            SkipReason::OtherRegistry(_)
        ));
        let no_sum = "version = 3\n[[package]]\nname = \"x\"\nversion = \"1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let e = parse_cargo_lock(no_sum).unwrap_err();
        assert_eq!(e.to_string(), "line 2: package x 1: no `checksum`");
        let bad = no_sum.to_owned() + "checksum = \"abc\"\n";
        let e = parse_cargo_lock(&bad).unwrap_err();
        assert_eq!(e.line(), 6, "{e}");
        assert!(
            e.to_string().contains("package x 1: invalid `checksum`"),
            "{e}"
        );
        let e = parse_cargo_lock("version = 9\n").unwrap_err();
        assert!(matches!(e, ImportError::Version { line: 1, .. }), "{e}");
        let v1 = "[[package]]\nname = \"x\"\nversion = \"1\"\n[metadata]\n\"checksum x 1 (registry+https://github.com/rust-lang/crates.io-index)\" = \"00\"\n";
        assert!(matches!(
            parse_cargo_lock(v1).unwrap_err(),
            ImportError::Version { .. }
        ));
        let e = parse_cargo_lock("version = 3\n[[package]]\nname = 1\n").unwrap_err();
        assert_eq!(e.line(), 3, "{e}");
    }

    #[test]
    fn vendor_files() {
        let pkg = HashAlgo::Sha256.digest(b"crate");
        let f = HashAlgo::Sha256.digest(b"");
        let text = cargo_checksum_json(&pkg, &[("src/lib.rs".into(), f), ("Cargo.toml".into(), f)])
            .unwrap();
        assert_eq!(
            text,
            format!("{{\"files\":{{\"Cargo.toml\":\"{0}\",\"src/lib.rs\":\"{0}\"}},\"package\":\"{1}\"}}", f.to_hex(), pkg.to_hex())
        );
        assert!(cargo_checksum_json(&pkg, &[("../x".into(), f)]).is_err());
        assert!(cargo_checksum_json(&pkg, &[("a".into(), f), ("a".into(), f)]).is_err());
        assert!(cargo_checksum_json(&HashAlgo::Blake3.digest(b""), &[]).is_err());
        let c = vendor_config("vendor");
        assert_eq!(c, "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n");
        let parsed: toml::Table = toml::from_str(&vendor_config("a \"b\"\\c")).unwrap();
        assert_eq!(
            parsed["source"]["vendored-sources"]["directory"].as_str(),
            Some("a \"b\"\\c")
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "(?s)\\PC{0,200}") {
            let _ = parse_cargo_lock(&s);
        }

        #[test]
        fn never_panics_on_mutated_locks(cut in 0usize..4000, junk in "\\PC{0,8}") {
            let base = FORGE_LOCK.get(..4000).unwrap_or(FORGE_LOCK);
            let cut = (0..=cut.min(base.len())).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
            let text = format!("{}{junk}{}", &base[..cut], &base[cut..]);
            let _ = parse_cargo_lock(&text);
        }

        #[test]
        fn checksum_json_parses_back(files in proptest::collection::btree_map("[a-z]{1,6}(/[a-z]{1,6}){0,2}", any::<[u8; 32]>(), 0..6)) {
            let list: Vec<(String, Hash)> = files.iter().map(|(p, b)| (p.clone(), Hash::new(HashAlgo::Sha256, *b))).collect();
            let pkg = Hash::new(HashAlgo::Sha256, [7; 32]);
            let v: serde_json::Value = serde_json::from_str(&cargo_checksum_json(&pkg, &list).unwrap()).unwrap();
            prop_assert_eq!(v["package"].as_str().map(str::to_owned), Some(pkg.to_hex()));
            for (p, h) in &list {
                prop_assert_eq!(v["files"][p].as_str().map(str::to_owned), Some(h.to_hex()));
            }
        }
    }
}
