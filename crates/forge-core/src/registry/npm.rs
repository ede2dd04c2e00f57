//! The npm registry's document for one version of a package:
//! `GET https://registry.npmjs.org/<name>/<version>` (a scoped name's `/`
//! escaped: `@types%2fnode`) answers `{"name", "version", "dist":
//! {"tarball", "integrity": "sha512-<base64>", "shasum"}}`.

use serde::Deserialize;

use super::{field_err, json_err, RegistryError};

/// Where the npm registry is.
pub const REGISTRY: &str = "https://registry.npmjs.org";

/// One version's tarball and its published integrity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tarball {
    /// The package's name (`left-pad`, `@types/node`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where the `.tgz` is.
    pub url: String,
    /// `dist.integrity` as written (an SRI string: `sha512-<base64>`).
    pub integrity: String,
}

#[derive(Deserialize)]
struct Doc {
    name: String,
    version: String,
    dist: Dist,
}

#[derive(Deserialize)]
struct Dist {
    tarball: String,
    integrity: Option<String>,
}

/// Whether `name` is a package name the registry takes (`name` or
/// `@scope/name`: lower-case letters, digits, `-`, `_`, `.`, `~`).
pub fn valid_name(name: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 214
            && !s.starts_with('.')
            && !s.starts_with('_')
            && s.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'-' | b'_' | b'.' | b'~')
            })
    };
    match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, n)| part(scope) && part(n)),
        None => part(name),
    }
}

/// The registry URL of `name` `version` (a scope's `/` escaped).
pub fn version_url(name: &str, version: &str) -> String {
    format!("{REGISTRY}/{}/{version}", name.replacen('/', "%2f", 1))
}

/// The tarball of a version document. Only a `sha512-` integrity is
/// accepted: older packages with only a sha1 `shasum` cannot be pinned
/// safely. `what` names the document in errors.
pub fn tarball(json: &str, what: &str) -> Result<Tarball, RegistryError> {
    let doc: Doc = serde_json::from_str(json).map_err(|e| json_err(what, &e))?;
    let integrity = doc.dist.integrity.ok_or_else(|| {
        field_err(
            what,
            "dist.integrity",
            "missing (only a sha1 shasum is published)",
        )
    })?;
    let sha512 = integrity
        .split_ascii_whitespace()
        .find(|s| s.starts_with("sha512-"))
        .ok_or_else(|| {
            field_err(
                what,
                "dist.integrity",
                format!("no sha512 in {integrity:?}"),
            )
        })?;
    if !doc.dist.tarball.starts_with("https://") && !doc.dist.tarball.starts_with("http://") {
        return Err(field_err(
            what,
            "dist.tarball",
            "not an absolute http(s) URL",
        ));
    }
    Ok(Tarball {
        name: doc.name,
        version: doc.version,
        url: doc.dist.tarball,
        integrity: sha512.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const LEFT_PAD: &str = r#"{"name":"left-pad","version":"1.3.0","description":"String left pad","main":"index.js","license":"WTFPL","_id":"left-pad@1.3.0","dist":{"integrity":"sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQGinBN9yTQT3bFlCBy/aVx2HrNcqQGsdot8ghrjyrvMCoEA==","shasum":"5b8a3a7765dfe001261dde915589e782f8c94d1e","tarball":"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"}}"#;

    #[test]
    fn a_real_version_document_gives_the_tarball_and_its_sha512() {
        let t = tarball(LEFT_PAD, "left-pad@1.3.0").unwrap();
        assert_eq!(
            t.url,
            "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"
        );
        assert!(t.integrity.starts_with("sha512-XI5MPz"));
        let sha1_only = LEFT_PAD.replace(
            r#""integrity":"sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQGinBN9yTQT3bFlCBy/aVx2HrNcqQGsdot8ghrjyrvMCoEA==","#,
            "",
        );
        let e = tarball(&sha1_only, "left-pad@1.3.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dist.integrity") && e.contains("sha1"), "{e}");
        let e = tarball(&LEFT_PAD.replace("sha512-", "sha1-"), "x").unwrap_err();
        assert!(e.to_string().contains("no sha512"), "{e}");
    }

    #[test]
    fn names_and_urls() {
        assert!(valid_name("left-pad") && valid_name("@types/node"));
        for bad in ["", "Left", "@types", "@/x", ".x", "a/b", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            version_url("@types/node", "20.0.0"),
            "https://registry.npmjs.org/@types%2fnode/20.0.0"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = tarball(&s, "x");
            let _ = valid_name(&s);
        }
    }
}
