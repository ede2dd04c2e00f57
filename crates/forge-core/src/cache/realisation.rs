//! Realisations in a cache: which store path an output of a build realised
//! to, signed, so a client skips a build by its action digest before it
//! fetches or builds anything (docs/cache.md, "Formats").
//!
//! The file is `realisations/<action digest hex>!<output>.doi` (see
//! [`super::layout`]), one line of JSON shaped like Nix's `.doi` files
//! (`Realisation::toJSON` in Nix's realisation.cc: keys sorted, no spaces):
//!
//! ```text
//! {"dependentRealisations":{},"id":"blake3:<hex>!out","outPath":"<digest>-<name>","signatures":["key-1:…"]}
//! ```
//!
//! forge's `id` names a BLAKE3 action digest where Nix's names a SHA-256
//! derivation hash, so Nix does not read these; the shape is shared so the
//! files look familiar. `dependentRealisations` is always empty: an action
//! digest already covers the store paths of its inputs. Signatures cover
//! [`realisation_fingerprint`], not Nix's JSON-based fingerprint, so a
//! signature does not depend on how JSON is spelled. Unknown keys are
//! ignored, as Nix ignores them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::text::ValueError;
use crate::derivation::{ActionDigest, OutputName};
use crate::hash::{Hash, HashAlgo, HashParseError};
use crate::store_path::StorePath;

/// One output of one build, and the path it realised to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realisation {
    /// The action digest of the derivation.
    pub action: ActionDigest,
    /// The output.
    pub output: OutputName,
    /// The store path the output realised to.
    pub path: StorePath,
    /// Signatures `keyname:base64` over [`Realisation::fingerprint`].
    pub signatures: BTreeSet<String>,
}

/// Why a `.doi` text is not a forge realisation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RealisationError {
    /// Not JSON of the expected shape (a missing or repeated key, a value of
    /// the wrong type).
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json says.
        message: String,
    },
    /// A value that is not what its key needs.
    #[error("`{key}`: {problem}")]
    Value {
        /// The JSON key.
        key: &'static str,
        /// What is wrong.
        problem: ValueError,
    },
}

/// The text a realisation's signatures sign:
/// `forge-realisation-1;<action digest>;<output>;<store path>`.
pub fn realisation_fingerprint(
    action: &ActionDigest,
    output: &OutputName,
    path: &StorePath,
) -> String {
    format!("forge-realisation-1;{action};{output};{path}")
}

/// The `.doi` JSON, keys in the sorted order Nix writes them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doi {
    #[serde(default)]
    dependent_realisations: BTreeMap<String, String>,
    id: String,
    out_path: String,
    #[serde(default)]
    signatures: Vec<String>,
}

impl Realisation {
    /// The fingerprint its signatures sign (see [`realisation_fingerprint`]).
    pub fn fingerprint(&self) -> String {
        realisation_fingerprint(&self.action, &self.output, &self.path)
    }

    /// The `id` of the file: `blake3:<hex>!<output>`.
    pub fn id(&self) -> String {
        format!("{}!{}", self.action, self.output)
    }

    /// Parses a `.doi` file's text (see the module docs).
    pub fn parse(text: &str) -> Result<Self, RealisationError> {
        let doi: Doi = serde_json::from_str(text).map_err(|e| RealisationError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let value = |key, problem| RealisationError::Value { key, problem };
        if let Some(k) = doi.dependent_realisations.keys().next() {
            return Err(value(
                "dependentRealisations",
                ValueError::invalid(k, "absent: forge realisations have none"),
            ));
        }
        let (action, output) = doi.id.split_once('!').ok_or_else(|| {
            value(
                "id",
                ValueError::invalid(&doi.id, "`<action digest>!<output>`"),
            )
        })?;
        let hash = Hash::parse(action).map_err(|e| value("id", e.into()))?;
        let action = ActionDigest::from_hash(hash).ok_or_else(|| {
            let e = HashParseError::WrongAlgorithm {
                expected: HashAlgo::Blake3,
                found: hash.algo(),
            };
            value("id", e.into())
        })?;
        let output = OutputName::new(output)
            .map_err(|_| value("id", ValueError::invalid(output, "an output name")))?;
        if doi.out_path.contains('/') {
            return Err(value(
                "outPath",
                ValueError::invalid(&doi.out_path, "a store path base name"),
            ));
        }
        let path =
            StorePath::from_base_name(&doi.out_path).map_err(|e| value("outPath", e.into()))?;
        let mut signatures = BTreeSet::new();
        for s in doi.signatures {
            if !super::text::is_signature(&s) {
                return Err(value(
                    "signatures",
                    ValueError::invalid(&s, "a signature `keyname:base64`"),
                ));
            }
            if signatures.contains(&s) {
                return Err(value("signatures", ValueError::Repeated(s)));
            }
            signatures.insert(s);
        }
        Ok(Realisation {
            action,
            output,
            path,
            signatures,
        })
    }

    /// The canonical text: one line of JSON, no trailing newline (as Nix).
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Realisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let doi = Doi {
            dependent_realisations: BTreeMap::new(),
            id: self.id(),
            out_path: self.path.base_name(),
            signatures: self.signatures.iter().cloned().collect(),
        };
        let json = serde_json::to_string(&doi).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_path::StorePathName;
    use proptest::prelude::*;

    fn sample() -> Realisation {
        Realisation {
            action: ActionDigest::from_hash(HashAlgo::Blake3.digest(b"drv")).unwrap(),
            output: OutputName::out(),
            path: StorePath::from_base_name("gdaglrvpm5k6mhkzzz5c00r60kjh02h8-ca-out").unwrap(),
            signatures: ["forge-test-1:AAAA".to_owned()].into(),
        }
    }

    #[test]
    fn writes_nix_shaped_json() {
        let r = sample();
        let text = r.to_text();
        assert_eq!(
            text,
            format!(
                r#"{{"dependentRealisations":{{}},"id":"{}!out","outPath":"gdaglrvpm5k6mhkzzz5c00r60kjh02h8-ca-out","signatures":["forge-test-1:AAAA"]}}"#,
                r.action
            )
        );
        assert_eq!(Realisation::parse(&text).unwrap(), r);
        assert_eq!(
            r.fingerprint(),
            format!(
                "forge-realisation-1;{};out;/forge/store/gdaglrvpm5k6mhkzzz5c00r60kjh02h8-ca-out",
                r.action
            )
        );
    }

    #[test]
    fn errors_name_the_key() {
        let good = sample().to_text();
        let action = sample().action.to_string();
        let cases = [
            (
                good.replace(&action, "sha256:00"),
                "`id`: sha256 digest has 2 characters",
            ),
            (
                good.replace(&action, &HashAlgo::Sha256.digest(b"").to_string()),
                "`id`: expected a blake3 hash, found a sha256 hash",
            ),
            (good.replace("!out", ""), "`id`: \"blake3:"),
            (
                good.replace("!out", "!Out"),
                "`id`: \"Out\" is not an output name",
            ),
            (
                good.replace("\"gdag", "\"/forge/store/gdag"),
                "`outPath`: \"/forge/store/",
            ),
            (good.replace("-ca-out", ""), "`outPath`:"),
            (
                good.replace("forge-test-1:AAAA", "nocolon"),
                "`signatures`: \"nocolon\"",
            ),
            (
                good.replace(r#""forge-test-1:AAAA""#, r#""k:AA","k:AA""#),
                "`signatures`: \"k:AA\" is listed twice",
            ),
            (
                good.replace(r#"{}"#, r#"{"x":"y"}"#),
                "`dependentRealisations`: \"x\"",
            ),
            (
                good.replace(r#","outPath""#, r#","id":"x","outPath""#),
                "line 1, column ",
            ),
            (good.replace(r#""id""#, r#""di""#), "line 1, column "),
            ("[]".to_owned(), "line 1, column "),
        ];
        for (text, want) in cases {
            let e = Realisation::parse(&text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text}\n got: {e}\nwant: {want}");
        }
    }

    prop_compose! {
        fn realisation()(
            digest in any::<[u8; 32]>(),
            output in "[a-z][a-z0-9_]{0,8}",
            path in (any::<[u8; 20]>(), "[a-zA-Z0-9+_?=][a-zA-Z0-9+._?=-]{0,30}"),
            signatures in proptest::collection::btree_set("[a-z0-9.-]{1,12}:[A-Za-z0-9+/]{4,20}={0,2}", 0..3),
        ) -> Realisation {
            Realisation {
                action: ActionDigest::from_hash(Hash::new(HashAlgo::Blake3, digest)).unwrap(),
                output: OutputName::new(&output).unwrap(),
                path: StorePath::new(path.0, StorePathName::new(&path.1).unwrap()),
                signatures,
            }
        }
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(r in realisation()) {
            let text = r.to_text();
            prop_assert_eq!(Realisation::parse(&text).unwrap(), r);
            prop_assert_eq!(Realisation::parse(&text).unwrap().to_text(), text);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Realisation::parse(&s);
        }
    }
}
