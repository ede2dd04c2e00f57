//! Typed digests: BLAKE3 for every internal identity, SHA-256 for pins that
//! registries publish and for Nix compatibility, SHA-512 for the pins npm
//! publishes (`integrity = "sha512-…"`).
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
//!
//! BLAKE3 and SHA-256 digests are 32 bytes, SHA-512 digests 64. A `Hash` keeps
//! room for the longest ([`MAX_DIGEST_LEN`]) so it stays `Copy` and free of
//! allocation; [`Hash::as_bytes`] returns only the algorithm's own length.
//! [`Hash::new`] takes the 32 bytes of a BLAKE3 or SHA-256 digest; any length
//! goes through [`Hash::from_slice`], which checks it against the algorithm.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use thiserror::Error;

use crate::base32;

/// Length in bytes of forge's own digests (BLAKE3) and of SHA-256.
pub const DIGEST_LEN: usize = 32;

/// Length in bytes of the longest digest forge handles (SHA-512).
pub const MAX_DIGEST_LEN: usize = 64;

/// A hash algorithm forge accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgo {
    /// BLAKE3, 256-bit output. forge's own identity hash.
    Blake3,
    /// SHA-256. Accepted for fetch pins and kept for Nix-compatible NAR hashes.
    Sha256,
    /// SHA-512. Accepted for fetch pins (npm's `integrity`); 64-byte digests.
    Sha512,
}

impl HashAlgo {
    /// The lowercase name used as a prefix in textual hashes.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgo::Blake3 => "blake3",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Parses an algorithm name (`blake3`, `sha256` or `sha512`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "blake3" => Some(HashAlgo::Blake3),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Length in bytes of this algorithm's digests (32, or 64 for SHA-512).
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlgo::Blake3 | HashAlgo::Sha256 => DIGEST_LEN,
            HashAlgo::Sha512 => MAX_DIGEST_LEN,
        }
    }

    /// Lengths of the hex, nix base32 and padded base64 encodings of a digest.
    pub const fn text_lens(self) -> (usize, usize, usize) {
        let n = self.digest_len();
        (n * 2, (n * 8).div_ceil(5), n.div_ceil(3) * 4)
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
///
/// The bytes past the algorithm's [`digest_len`](HashAlgo::digest_len) are
/// always zero, so the derived comparisons compare digests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash {
    algo: HashAlgo,
    bytes: [u8; MAX_DIGEST_LEN],
}

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashParseError {
    /// The prefix before `:` or `-` names no algorithm forge knows.
    #[error("unknown hash algorithm {0:?} (expected `blake3`, `sha256` or `sha512`)")]
    UnknownAlgorithm(String),
    /// No algorithm prefix and none known from context.
    #[error(
        "hash {0:?} has no algorithm prefix (expected `blake3:…`, `sha256:…` or SRI `sha256-…`)"
    )]
    MissingAlgorithm(String),
    /// The prefix names one algorithm where another was required.
    #[error("expected a {expected} hash, found a {found} hash")]
    WrongAlgorithm { expected: HashAlgo, found: HashAlgo },
    /// The digest part has a length that no encoding of the algorithm's
    /// digest has.
    #[error(
        "{algo} digest has {len} characters; expected {} (hex), {} (nix base32) or {} (base64)",
        algo.text_lens().0, algo.text_lens().1, algo.text_lens().2
    )]
    Length { algo: HashAlgo, len: usize },
    /// Raw digest bytes of the wrong length for the algorithm.
    #[error("a {algo} digest is {} bytes, not {len}", algo.digest_len())]
    ByteLength { algo: HashAlgo, len: usize },
    /// The digest part has the right length for an encoding but bad characters.
    #[error("{algo} digest is not valid {encoding}: {detail}")]
    Encoding {
        algo: HashAlgo,
        encoding: &'static str,
        detail: String,
    },
}

impl Hash {
    /// Wraps the 32 raw bytes of a BLAKE3 or SHA-256 digest.
    ///
    /// SHA-512 digests are 64 bytes: build them with [`Hash::from_slice`].
    ///
    /// # Panics
    ///
    /// If `algo` is SHA-512 (a programming error, never input).
    pub const fn new(algo: HashAlgo, bytes: [u8; DIGEST_LEN]) -> Self {
        assert!(
            algo.digest_len() == DIGEST_LEN,
            "Hash::new takes 32-byte digests; use Hash::from_slice"
        );
        let mut all = [0u8; MAX_DIGEST_LEN];
        let mut i = 0;
        while i < DIGEST_LEN {
            all[i] = bytes[i];
            i += 1;
        }
        Hash { algo, bytes: all }
    }

    /// Wraps raw digest bytes of any algorithm, checking their length.
    pub fn from_slice(algo: HashAlgo, bytes: &[u8]) -> Result<Self, HashParseError> {
        if bytes.len() != algo.digest_len() {
            return Err(HashParseError::ByteLength {
                algo,
                len: bytes.len(),
            });
        }
        let mut all = [0u8; MAX_DIGEST_LEN];
        all[..bytes.len()].copy_from_slice(bytes);
        Ok(Hash { algo, bytes: all })
    }

    /// The algorithm of this digest.
    pub const fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The raw digest bytes (32, or 64 for SHA-512).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..self.algo.digest_len())
            .unwrap_or(&self.bytes)
    }

    /// Lowercase hex of the digest, without prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Nix base32 of the digest, without prefix.
    pub fn to_nix32(&self) -> String {
        base32::encode(self.as_bytes())
    }

    /// SRI form: `sha256-<base64>`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, BASE64.encode(self.as_bytes()))
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
        let (hex_len, nix_len, b64_len) = algo.text_lens();
        let n = algo.digest_len();
        let len = digest.len();
        if len == hex_len {
            let mut bytes = [0u8; MAX_DIGEST_LEN];
            let out = bytes.get_mut(..n).unwrap_or_default();
            hex::decode_to_slice(digest, out).map_err(|e| HashParseError::Encoding {
                algo,
                encoding: "hex",
                detail: e.to_string(),
            })?;
            Ok(Hash { algo, bytes })
        } else if len == nix_len {
            let v = base32::decode(digest, n).map_err(|e| HashParseError::Encoding {
                algo,
                encoding: "nix base32",
                detail: e.to_string(),
            })?;
            Self::from_slice(algo, &v)
        } else if len == b64_len {
            Self::parse_base64(algo, digest)
        } else {
            Err(HashParseError::Length { algo, len })
        }
    }

    fn parse_base64(algo: HashAlgo, digest: &str) -> Result<Self, HashParseError> {
        let err = |detail: String| HashParseError::Encoding {
            algo,
            encoding: "base64",
            detail,
        };
        if digest.len() != algo.text_lens().2 {
            return Err(HashParseError::Length {
                algo,
                len: digest.len(),
            });
        }
        let v = BASE64
            .decode(digest.as_bytes())
            .map_err(|e| err(e.to_string()))?;
        if v.len() != algo.digest_len() {
            return Err(err(format!(
                "decodes to {} bytes, not {}",
                v.len(),
                algo.digest_len()
            )));
        }
        Self::from_slice(algo, &v)
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

/// An incremental hasher for any of the algorithms.
#[derive(Clone)]
pub enum Hasher {
    /// BLAKE3 state.
    Blake3(Box<blake3::Hasher>),
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
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
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algo(&self) -> HashAlgo {
        match self {
            Hasher::Blake3(_) => HashAlgo::Blake3,
            Hasher::Sha256(_) => HashAlgo::Sha256,
            Hasher::Sha512(_) => HashAlgo::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// Finishes and returns the digest.
    pub fn finalize(self) -> Hash {
        match self {
            Hasher::Blake3(h) => Hash::new(HashAlgo::Blake3, *h.finalize().as_bytes()),
            Hasher::Sha256(h) => Hash::new(HashAlgo::Sha256, h.finalize().into()),
            Hasher::Sha512(h) => {
                let mut bytes = [0u8; MAX_DIGEST_LEN];
                bytes.copy_from_slice(&h.finalize());
                Hash {
                    algo: HashAlgo::Sha512,
                    bytes,
                }
            }
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

    #[test]
    fn sha512_digests_and_forms() {
        // sha512 of "" as coreutils' sha512sum prints it, and npm's SRI form.
        let hex = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                   47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
        let sri = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==";
        let h = HashAlgo::Sha512.digest(b"");
        assert_eq!(h.to_string(), format!("sha512:{hex}"));
        assert_eq!(h.to_sri(), sri);
        assert_eq!(h.as_bytes().len(), 64);
        assert_eq!(Hash::parse(sri).unwrap(), h);
        assert_eq!(Hash::parse(&format!("sha512:{hex}")).unwrap(), h);
        assert_eq!(Hash::parse_as(HashAlgo::Sha512, hex).unwrap(), h);
        assert_eq!(Hash::parse(&h.to_nix_string()).unwrap(), h);
        assert_ne!(h, HashAlgo::Sha256.digest(b""));
        let e = Hash::parse("sha512:abcd").unwrap_err();
        assert!(
            e.to_string()
                .contains("128 (hex), 103 (nix base32) or 88 (base64)"),
            "{e}"
        );
        // A sha256-length digest under a sha512 prefix is refused, not padded.
        let e = Hash::parse(&format!("sha512:{EMPTY_SHA256_HEX}")).unwrap_err();
        assert!(matches!(e, HashParseError::Length { len: 64, .. }), "{e}");
        assert!(Hash::from_slice(HashAlgo::Sha512, &[0; 32]).is_err());
        assert!(Hash::from_slice(HashAlgo::Sha256, &[0; 64]).is_err());
    }

    proptest! {
        #[test]
        fn sha512_text_forms_round_trip(bytes in proptest::collection::vec(any::<u8>(), 64)) {
            let h = Hash::from_slice(HashAlgo::Sha512, &bytes).unwrap();
            prop_assert_eq!(h.as_bytes(), &bytes[..]);
            prop_assert_eq!(Hash::parse(&h.to_string()).unwrap(), h);
            prop_assert_eq!(Hash::parse(&h.to_nix_string()).unwrap(), h);
            prop_assert_eq!(Hash::parse(&h.to_sri()).unwrap(), h);
            prop_assert_eq!(Hash::parse_as(HashAlgo::Sha512, &h.to_hex()).unwrap(), h);
            prop_assert_eq!(Hash::parse_as(HashAlgo::Sha512, &h.to_nix32()).unwrap(), h);
        }

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
            let _ = Hash::parse_as(HashAlgo::Sha512, &s);
        }
    }
}
