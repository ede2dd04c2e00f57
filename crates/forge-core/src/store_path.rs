//! Store paths: `/forge/store/<digest>-<name>`.
//!
//! A store path is logical: it always reads `/forge/store/...` whatever the
//! physical root of the store on a given machine (docs/store.md, "Logical
//! and physical paths"), so that paths, and the bytes that embed them, are
//! the same everywhere and caches can be shared between users and machines.
//!
//! The digest is 20 bytes written as 32 characters of Nix base32. It is the
//! truncated BLAKE3 hash of a *fingerprint*, a short text that names
//! everything that determines the object. [`StorePath::content_addressed`]
//! builds the fingerprint of an object known by the hash of its NAR and its
//! references; the build engine adds the fingerprint of placeholder outputs.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::base32;
use crate::hash::{Hash, HashAlgo};

/// The logical store directory every store path lives in.
pub const STORE_DIR: &str = "/forge/store";

/// Bytes in a store path digest.
pub const DIGEST_BYTES: usize = 20;

/// Characters in the base32 form of a store path digest.
pub const DIGEST_CHARS: usize = 32;

/// Longest allowed name, as in Nix (so that a whole base name fits 255 bytes).
pub const MAX_NAME_LEN: usize = 211;

/// Why a string is not a store path or a store path name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorePathError {
    /// The path does not start with `/forge/store/`.
    #[error("{path:?} is not in the store (store paths start with {STORE_DIR}/)")]
    NotInStore { path: String },
    /// The base name is too short to hold a digest, a dash and a name.
    #[error("{base:?} is too short for a store path base name (<32-char digest>-<name>)")]
    TooShort { base: String },
    /// The digest part is not Nix base32.
    #[error("bad digest in {base:?}: {source}")]
    Digest {
        base: String,
        source: base32::Base32Error,
    },
    /// The 33rd character is not `-`.
    #[error("{base:?} has no '-' after its 32-character digest")]
    MissingDash { base: String },
    /// The path has components after the base name.
    #[error("{path:?} has components after the store path; expected {STORE_DIR}/<digest>-<name>")]
    Subpath { path: String },
    /// Empty name.
    #[error("store path name is empty")]
    EmptyName,
    /// Name longer than [`MAX_NAME_LEN`].
    #[error("store path name is {len} bytes long; the limit is {MAX_NAME_LEN}")]
    NameTooLong { len: usize },
    /// Name starting with a dot (hidden, or `.`/`..`).
    #[error("store path name {name:?} starts with '.'")]
    NameLeadingDot { name: String },
    /// A character outside `[A-Za-z0-9+-._?=]`.
    #[error("store path name {name:?} has invalid character {found:?} at offset {offset} (allowed: A-Z a-z 0-9 + - . _ ? =)")]
    NameCharacter {
        name: String,
        found: char,
        offset: usize,
    },
}

/// A validated store path name: the part after `<digest>-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorePathName(String);

impl StorePathName {
    /// Validates `name` with Nix's rules: 1 to 211 bytes of
    /// `[A-Za-z0-9+-._?=]`, not starting with `.`.
    pub fn new(name: &str) -> Result<Self, StorePathError> {
        if name.is_empty() {
            return Err(StorePathError::EmptyName);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(StorePathError::NameTooLong { len: name.len() });
        }
        if name.starts_with('.') {
            return Err(StorePathError::NameLeadingDot {
                name: name.to_owned(),
            });
        }
        for (offset, c) in name.char_indices() {
            let ok = c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '?' | '=');
            if !ok {
                return Err(StorePathError::NameCharacter {
                    name: name.to_owned(),
                    found: c,
                    offset,
                });
            }
        }
        Ok(StorePathName(name.to_owned()))
    }

    /// Makes a valid name out of arbitrary text (a file name given to
    /// `forge store add`): invalid characters become `_`, leading dots are
    /// dropped, the result is cut to the length limit, and an empty result
    /// becomes `source`.
    pub fn sanitize(raw: &str) -> Self {
        let mut s: String = raw
            .trim_start_matches('.')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '?' | '=') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        s.truncate(MAX_NAME_LEN);
        if s.is_empty() {
            s.push_str("source");
        }
        StorePathName(s)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorePathName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StorePathName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A store path: a 20-byte digest and a name.
///
/// Ordering is by digest, then name, which is the order of the base names
/// as text (Nix base32 is not order-preserving, so we compare the text).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StorePath {
    digest: [u8; DIGEST_BYTES],
    name: StorePathName,
    /// Cached base32 of `digest`; the form every caller wants.
    hash_part: String,
}

impl StorePath {
    /// Assembles a store path from its parts.
    pub fn new(digest: [u8; DIGEST_BYTES], name: StorePathName) -> Self {
        StorePath {
            hash_part: base32::encode(&digest),
            digest,
            name,
        }
    }

    /// Parses a full logical path, `/forge/store/<digest>-<name>`.
    pub fn parse(path: &str) -> Result<Self, StorePathError> {
        let rest = path
            .strip_prefix(STORE_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore {
                path: path.to_owned(),
            })?;
        if rest.contains('/') {
            return Err(StorePathError::Subpath {
                path: path.to_owned(),
            });
        }
        Self::from_base_name(rest)
    }

    /// Parses `<digest>-<name>`, the last component of a store path.
    pub fn from_base_name(base: &str) -> Result<Self, StorePathError> {
        if base.len() < DIGEST_CHARS + 2 || !base.is_char_boundary(DIGEST_CHARS) {
            return Err(StorePathError::TooShort {
                base: base.to_owned(),
            });
        }
        let (digest, rest) = base.split_at(DIGEST_CHARS);
        let bytes =
            base32::decode(digest, DIGEST_BYTES).map_err(|source| StorePathError::Digest {
                base: base.to_owned(),
                source,
            })?;
        let name = rest
            .strip_prefix('-')
            .ok_or_else(|| StorePathError::MissingDash {
                base: base.to_owned(),
            })?;
        let name = StorePathName::new(name)?;
        Ok(StorePath::new(
            bytes.try_into().expect("decode returns DIGEST_BYTES"),
            name,
        ))
    }

    /// The path of the object whose digest is the hash of `fingerprint`.
    pub fn from_fingerprint(fingerprint: &str, name: StorePathName) -> Self {
        let full = blake3::hash(fingerprint.as_bytes());
        let mut digest = [0u8; DIGEST_BYTES];
        digest.copy_from_slice(&full.as_bytes()[..DIGEST_BYTES]);
        StorePath::new(digest, name)
    }

    /// The path of a content-addressed object: one whose identity is the
    /// BLAKE3 hash of its NAR serialisation together with the store paths it
    /// refers to. `self_reference` records that the object mentions its own
    /// path (masked while hashing), so that an object with and without a
    /// self-reference never collide.
    ///
    /// The fingerprint is
    /// `forge:ca:v1:nar:<blake3 hex>:refs:<sorted paths, ':'-joined>[:self]:/forge/store:<name>`.
    ///
    /// # Panics
    /// If `nar_hash` is not a BLAKE3 hash; callers always hash NARs with BLAKE3.
    pub fn content_addressed(
        name: StorePathName,
        nar_hash: &Hash,
        references: &BTreeSet<StorePath>,
        self_reference: bool,
    ) -> Self {
        assert_eq!(
            nar_hash.algo(),
            HashAlgo::Blake3,
            "content addresses are BLAKE3"
        );
        let mut fp = format!("forge:ca:v1:nar:{}:refs", nar_hash.to_hex());
        for r in references {
            fp.push(':');
            fp.push_str(&r.to_string());
        }
        if self_reference {
            fp.push_str(":self");
        }
        fp.push(':');
        fp.push_str(STORE_DIR);
        fp.push(':');
        fp.push_str(name.as_str());
        Self::from_fingerprint(&fp, name)
    }

    /// The raw 20-byte digest.
    pub fn digest(&self) -> &[u8; DIGEST_BYTES] {
        &self.digest
    }

    /// The 32-character base32 digest, as it appears in the path.
    pub fn hash_part(&self) -> &str {
        &self.hash_part
    }

    /// The name after the dash.
    pub fn name(&self) -> &StorePathName {
        &self.name
    }

    /// `<digest>-<name>`, the last component of the path.
    pub fn base_name(&self) -> String {
        format!("{}-{}", self.hash_part, self.name)
    }
}

impl Ord for StorePath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.hash_part
            .cmp(&other.hash_part)
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl PartialOrd for StorePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE_DIR}/{}-{}", self.hash_part, self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({self})")
    }
}

impl FromStr for StorePath {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StorePath::parse(s)
    }
}

impl Serialize for StorePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StorePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StorePath::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: &str = "/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-hello-2.12";

    #[test]
    fn parses_and_prints() {
        let p = StorePath::parse(P).unwrap();
        assert_eq!(p.to_string(), P);
        assert_eq!(p.hash_part(), "00bgd045z0d4icpbc2yyz4gx48ak44la");
        assert_eq!(p.name().as_str(), "hello-2.12");
        assert_eq!(StorePath::from_base_name(&p.base_name()).unwrap(), p);
    }

    #[test]
    fn precise_errors() {
        use StorePathError::*;
        assert!(matches!(
            StorePath::parse("/nix/store/x"),
            Err(NotInStore { .. })
        ));
        assert!(matches!(
            StorePath::parse(&format!("{P}/bin")),
            Err(Subpath { .. })
        ));
        assert!(matches!(
            StorePath::parse("/forge/store/abc"),
            Err(TooShort { .. })
        ));
        assert!(matches!(
            StorePath::parse("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44le-x"),
            Err(Digest { .. })
        ));
        assert!(matches!(
            StorePath::parse("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la_x"),
            Err(MissingDash { .. })
        ));
        let e = StorePath::parse("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-a b").unwrap_err();
        assert_eq!(
            e,
            NameCharacter {
                name: "a b".into(),
                found: ' ',
                offset: 1
            }
        );
        assert!(matches!(
            StorePathName::new(".hidden"),
            Err(NameLeadingDot { .. })
        ));
        assert!(matches!(
            StorePathName::new(&"x".repeat(212)),
            Err(NameTooLong { len: 212 })
        ));
        assert!(StorePathName::new(&"x".repeat(211)).is_ok());
        assert!(StorePathName::new("a+b-c.d_e?f=g").is_ok());
    }

    #[test]
    fn sanitize_makes_valid_names() {
        assert_eq!(
            StorePathName::sanitize("my file.txt").as_str(),
            "my_file.txt"
        );
        assert_eq!(StorePathName::sanitize("..").as_str(), "source");
        assert_eq!(StorePathName::sanitize("été").as_str(), "_t_");
    }

    #[test]
    fn content_address_depends_on_every_part() {
        let name = StorePathName::new("x").unwrap();
        let h1 = HashAlgo::Blake3.digest(b"a");
        let h2 = HashAlgo::Blake3.digest(b"b");
        let r = StorePath::parse(P).unwrap();
        let none = BTreeSet::new();
        let one: BTreeSet<_> = [r].into();
        let base = StorePath::content_addressed(name.clone(), &h1, &none, false);
        assert_eq!(
            base,
            StorePath::content_addressed(name.clone(), &h1, &none, false)
        );
        let variants = [
            StorePath::content_addressed(name.clone(), &h2, &none, false),
            StorePath::content_addressed(name.clone(), &h1, &one, false),
            StorePath::content_addressed(name.clone(), &h1, &none, true),
            StorePath::content_addressed(StorePathName::new("y").unwrap(), &h1, &none, false),
        ];
        for v in variants {
            assert_ne!(v.digest(), base.digest());
        }
    }

    proptest! {
        #[test]
        fn round_trips(digest in any::<[u8; 20]>(), name in "[a-zA-Z0-9+_?=][a-zA-Z0-9+\\-._?=]{0,60}") {
            let p = StorePath::new(digest, StorePathName::new(&name).unwrap());
            prop_assert_eq!(StorePath::parse(&p.to_string()).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = StorePath::parse(&s);
            let _ = StorePath::from_base_name(&s);
        }
    }
}
