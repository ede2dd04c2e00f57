//! Typed digests: BLAKE3 for every internal identity, SHA-256 for pins that
//! registries publish and for Nix compatibility.
//!
//! A [`Hash`](struct@Hash) always knows its algorithm. Its canonical text is
//! `<algo>:<lowercase hex>` (`blake3:af13…`), the form forge prints and the
//! form a user pastes into a recipe. Parsing also accepts:
//!
//! - `<algo>:<nix base32>` (52 characters for 32 bytes), as Nix prints;
//! - SRI `<algo>-<base64>` (`sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`);
//! - a bare digest in any of those encodings when the algorithm is known from
//!   context ([`Hash::parse_as`]).
//!
//! Which encoding was meant is decided by length, as Nix does, so errors can
//! say which forms were expected.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use thiserror::Error;

use crate::base32;

/// Length in bytes of every digest forge handles (BLAKE3 and SHA-256 alike).
pub const DIGEST_LEN: usize = 32;

/// A hash algorithm forge accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgo {
    /// BLAKE3, 256-bit output. forge's own identity hash.
    Blake3,
    /// SHA-256. Accepted for fetch pins and kept for Nix-compatible NAR hashes.
    Sha256,
}

impl HashAlgo {
    /// The lowercase name used as a prefix in textual hashes.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Blake3 => "blake3",
            HashAlgo::Sha256 => "sha256",
        }
    }

    /// Parses an algorithm name (`blake3` or `sha256`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "blake3" => Some(HashAlgo::Blake3),
            "sha256" => Some(HashAlgo::Sha256),
            _ => None,
        }
    }

    /// Hashes `data` in one call.
    pub fn digest(self, data: &[u8]) -> Hash {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finalize()
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest together with the algorithm that produced it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; DIGEST_LEN],
}

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashParseError {
    /// The prefix before `:` or `-` names no algorithm forge knows.
    #[error("unknown hash algorithm {0:?} (expected `blake3` or `sha256`)")]
    UnknownAlgorithm(String),
    /// No algorithm prefix and none known from context.
    #[error(
        "hash {0:?} has no algorithm prefix (expected `blake3:…`, `sha256:…` or SRI `sha256-…`)"
    )]
    MissingAlgorithm(String),
    /// The prefix names one algorithm where another was required.
    #[error("expected a {expected} hash, found a {found} hash")]
    WrongAlgorithm { expected: HashAlgo, found: HashAlgo },
    /// The digest part has a length that no encoding of 32 bytes has.
    #[error(
        "{algo} digest has {len} characters; expected 64 (hex), 52 (nix base32) or 44 (base64)"
    )]
    Length { algo: HashAlgo, len: usize },
    /// The digest part has the right length for an encoding but bad characters.
    #[error("{algo} digest is not valid {encoding}: {detail}")]
    Encoding {
        algo: HashAlgo,
        encoding: &'static str,
        detail: String,
    },
}

impl Hash {
    /// Wraps raw digest bytes.
    pub const fn new(algo: HashAlgo, bytes: [u8; DIGEST_LEN]) -> Self {
        Hash { algo, bytes }
    }

    /// The algorithm of this digest.
    pub const fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.bytes
    }

    /// Lowercase hex of the digest, without prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Nix base32 of the digest, without prefix.
    pub fn to_nix32(&self) -> String {
        base32::encode(&self.bytes)
    }

    /// SRI form: `sha256-<base64>`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, BASE64.encode(&self.bytes))
    }

    /// Nix's own textual form, `sha256:<nix base32>`, as in narinfo files.
    pub fn to_nix_string(&self) -> String {
        format!("{}:{}", self.algo, self.to_nix32())
    }

    /// Parses a hash that carries its algorithm: `algo:digest` or `algo-base64`.
    pub fn parse(s: &str) -> Result<Self, HashParseError> {
        if let Some((algo, digest)) = s.split_once(':') {
            let algo = HashAlgo::from_name(algo)
                .ok_or_else(|| HashParseError::UnknownAlgorithm(algo.to_owned()))?;
            return Self::parse_digest(algo, digest);
        }
        if let Some((algo, digest)) = s.split_once('-') {
            if let Some(algo) = HashAlgo::from_name(algo) {
                return Self::parse_base64(algo, digest);
            }
            if s.len() < 16 {
                return Err(HashParseError::UnknownAlgorithm(algo.to_owned()));
            }
        }
        Err(HashParseError::MissingAlgorithm(s.to_owned()))
    }

    /// Parses a hash of a known algorithm: a bare digest in hex, nix base32 or
    /// base64, or a prefixed form whose prefix must name `algo`.
    pub fn parse_as(algo: HashAlgo, s: &str) -> Result<Self, HashParseError> {
        let has_prefix = s
            .split_once([':', '-'])
            .is_some_and(|(p, _)| HashAlgo::from_name(p).is_some());
        if has_prefix {
            let hash = Self::parse(s)?;
            if hash.algo != algo {
                return Err(HashParseError::WrongAlgorithm {
                    expected: algo,
                    found: hash.algo,
                });
            }
            return Ok(hash);
        }
        Self::parse_digest(algo, s)
    }

    fn parse_digest(algo: HashAlgo, digest: &str) -> Result<Self, HashParseError> {
        match digest.len() {
            64 => {
                let mut bytes = [0u8; DIGEST_LEN];
                hex::decode_to_slice(digest, &mut bytes).map_err(|e| HashParseError::Encoding {
                    algo,
                    encoding: "hex",
                    detail: e.to_string(),
                })?;
                Ok(Hash { algo, bytes })
            }
            52 => {
                let v =
                    base32::decode(digest, DIGEST_LEN).map_err(|e| HashParseError::Encoding {
                        algo,
                        encoding: "nix base32",
                        detail: e.to_string(),
                    })?;
                Ok(Hash {
                    algo,
                    bytes: v.try_into().expect("decode returns the requested length"),
                })
            }
            44 => Self::parse_base64(algo, digest),
            len => Err(HashParseError::Length { algo, len }),
        }
    }

    fn parse_base64(algo: HashAlgo, digest: &str) -> Result<Self, HashParseError> {
        let err = |detail: String| HashParseError::Encoding {
            algo,
            encoding: "base64",
            detail,
        };
        if digest.len() != 44 {
            return Err(HashParseError::Length {
                algo,
                len: digest.len(),
            });
        }
        let v = BASE64
            .decode(digest.as_bytes())
            .map_err(|e| err(e.to_string()))?;
        let bytes: [u8; DIGEST_LEN] = v
            .try_into()
            .map_err(|v: Vec<u8>| err(format!("decodes to {} bytes, not 32", v.len())))?;
        Ok(Hash { algo, bytes })
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Hash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for either algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// BLAKE3 state.
    Blake3(Box<blake3::Hasher>),
    /// SHA-256 state.
    Sha256(sha2::Sha256),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hasher").field(&self.algo()).finish()
    }
}

impl Hasher {
    /// A fresh hasher for `algo`.
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algo(&self) -> HashAlgo {
        match self {
            Hasher::Blake3(_) => HashAlgo::Blake3,
            Hasher::Sha256(_) => HashAlgo::Sha256,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// Finishes and returns the digest.
    pub fn finalize(self) -> Hash {
        match self {
            Hasher::Blake3(h) => Hash::new(HashAlgo::Blake3, *h.finalize().as_bytes()),
            Hasher::Sha256(h) => Hash::new(HashAlgo::Sha256, h.finalize().into()),
        }
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY_SHA256_HEX: &str =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_digests() {
        assert_eq!(
            HashAlgo::Sha256.digest(b"").to_string(),
            format!("sha256:{EMPTY_SHA256_HEX}")
        );
        assert_eq!(
            HashAlgo::Blake3.digest(b"").to_string(),
            "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn parses_every_encoding() {
        let want = HashAlgo::Sha256.digest(b"");
        for s in [
            format!("sha256:{EMPTY_SHA256_HEX}"),
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73".to_owned(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_owned(),
            "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_owned(),
        ] {
            assert_eq!(Hash::parse(&s).unwrap(), want, "{s}");
        }
        assert_eq!(
            Hash::parse_as(HashAlgo::Sha256, EMPTY_SHA256_HEX).unwrap(),
            want
        );
        assert_eq!(
            want.to_sri(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn errors_name_the_expected_forms() {
        let e = Hash::parse("md5:abcd").unwrap_err();
        assert!(e.to_string().contains("blake3"), "{e}");
        let e = Hash::parse("sha256:abcd").unwrap_err();
        assert!(e.to_string().contains("64 (hex), 52 (nix base32)"), "{e}");
        let e = Hash::parse(EMPTY_SHA256_HEX).unwrap_err();
        assert!(matches!(e, HashParseError::MissingAlgorithm(_)), "{e}");
        let e =
            Hash::parse_as(HashAlgo::Blake3, &format!("sha256:{EMPTY_SHA256_HEX}")).unwrap_err();
        assert_eq!(
            e,
            HashParseError::WrongAlgorithm {
                expected: HashAlgo::Blake3,
                found: HashAlgo::Sha256
            }
        );
        let bad_hex = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            Hash::parse(&bad_hex).unwrap_err(),
            HashParseError::Encoding {
                encoding: "hex",
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn text_forms_round_trip(bytes in any::<[u8; 32]>(), blake in any::<bool>()) {
            let algo = if blake { HashAlgo::Blake3 } else { HashAlgo::Sha256 };
            let h = Hash::new(algo, bytes);
            prop_assert_eq!(Hash::parse(&h.to_string()).unwrap(), h);
            prop_assert_eq!(Hash::parse(&h.to_nix_string()).unwrap(), h);
            prop_assert_eq!(Hash::parse(&h.to_sri()).unwrap(), h);
            prop_assert_eq!(Hash::parse_as(algo, &h.to_hex()).unwrap(), h);
            prop_assert_eq!(Hash::parse_as(algo, &h.to_nix32()).unwrap(), h);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = Hash::parse(&s);
            let _ = Hash::parse_as(HashAlgo::Sha256, &s);
        }
    }
}
