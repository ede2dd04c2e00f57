//! The crates.io sparse index (`https://index.crates.io/`, RFC 2789): one
//! file per crate, one JSON object per published version with its `cksum`
//! (the sha256 of the `.crate`), and where the `.crate` is downloaded from
//! (`https://static.crates.io/crates/<name>/<name>-<version>.crate`).

use serde::Deserialize;

use super::{field_err, sha256_hex, RegistryError};

/// Where the crates.io sparse index lives.
pub const INDEX: &str = "https://index.crates.io";
/// Where crates.io serves `.crate` files.
pub const DOWNLOADS: &str = "https://static.crates.io/crates";

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The crate's name as published.
    pub name: String,
    /// `vers`.
    pub version: String,
    /// `cksum`: the sha256 of the `.crate` file.
    pub sha256: [u8; 32],
    /// Yanked: still downloadable, not picked by default.
    pub yanked: bool,
}

#[derive(Deserialize)]
struct Line {
    name: String,
    vers: String,
    cksum: String,
    #[serde(default)]
    yanked: bool,
}

/// The index file's path for crate `name` (lower-cased, as the index
/// stores it): `1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`. `None` for a name
/// crates.io would not accept (empty, over 64 characters, or other than
/// ASCII letters, digits, `-` and `_`).
pub fn index_path(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return None;
    }
    let n = name.to_ascii_lowercase();
    Some(match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    })
}

/// The `.crate` URL of `name` `version`.
pub fn download_url(name: &str, version: &str) -> String {
    format!("{DOWNLOADS}/{name}/{name}-{version}.crate")
}

/// Every version in an index file. A line that does not parse is an error
/// naming its (1-based) line; `what` names the file in errors.
pub fn versions(text: &str, what: &str) -> Result<Vec<Version>, RegistryError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", i + 1);
        let l: Line =
            serde_json::from_str(line).map_err(|e| field_err(what, &at, e.to_string()))?;
        let sha256 = sha256_hex(&l.cksum)
            .ok_or_else(|| field_err(what, &format!("{at}: cksum"), "not 64 hex digits"))?;
        out.push(Version {
            name: l.name,
            version: l.vers,
            sha256,
            yanked: l.yanked,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn index_paths_follow_the_registry_layout() {
        assert_eq!(index_path("a").unwrap(), "1/a");
        assert_eq!(index_path("ab").unwrap(), "2/ab");
        assert_eq!(index_path("Log").unwrap(), "3/l/log");
        assert_eq!(index_path("serde").unwrap(), "se/rd/serde");
        assert_eq!(index_path("cargo-fuzz").unwrap(), "ca/rg/cargo-fuzz");
        for bad in ["", "a/b", "../x", "é", &"x".repeat(65)] {
            assert_eq!(index_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_real_index_file_gives_each_version_and_its_checksum() {
        let text = concat!(
            r#"{"name":"log","vers":"0.4.34","deps":[],"cksum":"4148590afebada386688f18773da617792bf2ef03ffc1e4cbd2b1d45b023e0b0","features":{},"yanked":false}"#,
            "\n",
            r#"{"name":"log","vers":"0.4.35","deps":[{"name":"serde","req":"^1.0","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"dev"}],"cksum":"0000000000000000000000000000000000000000000000000000000000000001","features":{},"yanked":true,"rust_version":"1.61"}"#,
            "\n"
        );
        let v = versions(text, "log").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].version, "0.4.34");
        assert!(!v[0].yanked && v[1].yanked);
        assert_eq!(v[1].sha256[31], 1);
        let e = versions(&text.replace("4148590a", "x148590a"), "log").unwrap_err();
        assert!(e.to_string().contains("line 1: cksum"), "{e}");
        let e = versions("{\"name\":1}\n", "log").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert_eq!(
            download_url("log", "0.4.34"),
            "https://static.crates.io/crates/log/log-0.4.34.crate"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = versions(&s, "c");
            let _ = index_path(&s);
        }
    }
}
