//! Binary-cache signing keys and signatures, in Nix's formats (docs/cache.md,
//! "Keys and trust").
//!
//! Every key and signature is written `name:base64`, as Nix writes them:
//!
//! | value | bytes after base64 | example |
//! |-------|--------------------|---------|
//! | [`SecretKey`] | 64: the ed25519 seed, then the public key | `cache-1:1SpS…wxA==` |
//! | [`PublicKey`] | 32 | `cache-1:ws/0…8MQ=` |
//! | [`Signature`] | 64 (a narinfo's `Sig:` line) | `cache-1:c6go…JDQ==` |
//!
//! What is signed is a path's *fingerprint*
//! (`1;<storePath>;<narHash>;<narSize>;<refs>`), made by the narinfo code;
//! here it is only bytes. ed25519 is deterministic: the same key signs the
//! same fingerprint with the same signature Nix makes.
//!
//! [`TrustedKeys`] (in `trust`) decides whether a set of signatures holds one
//! by a trusted key, and says which names were there when none was.
//!
//! This module is pure: a new key's randomness comes from the caller
//! ([`SecretKey::generate`] takes the 32 seed bytes), so forge-core reads no
//! OS entropy. A secret key has no `Display` and a redacted `Debug`; its text
//! comes only from [`SecretKey::to_text`], and no error repeats it.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE64, BASE64_NOPAD};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

mod trust;

pub use trust::{TrustError, TrustedKeys};

/// Bytes of a secret key: the 32-byte seed, then the 32-byte public key.
pub const SECRET_KEY_BYTES: usize = 64;
/// Bytes of a public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes of a signature.
pub const SIGNATURE_BYTES: usize = 64;

/// Which of the three values a text was read as (errors name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// A [`SecretKey`].
    SecretKey,
    /// A [`PublicKey`].
    PublicKey,
    /// A [`Signature`].
    Signature,
}

impl KeyKind {
    /// The bytes this value decodes to.
    pub fn byte_len(self) -> usize {
        match self {
            KeyKind::SecretKey => SECRET_KEY_BYTES,
            KeyKind::PublicKey => PUBLIC_KEY_BYTES,
            KeyKind::Signature => SIGNATURE_BYTES,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::SecretKey => "secret key",
            KeyKind::PublicKey => "public key",
            KeyKind::Signature => "signature",
        })
    }
}

/// A key or signature text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// No `:` between the name and the base64.
    #[error("{kind} has no `:` between its name and its base64 (expected `name:base64`)")]
    NoColon {
        /// What was read.
        kind: KeyKind,
    },
    /// Nothing before the `:`.
    #[error("{kind} has an empty name before `:`")]
    EmptyName {
        /// What was read.
        kind: KeyKind,
    },
    /// The name holds whitespace, a control character or a `:` (it could not
    /// be written on a narinfo's `Sig:` line or in a list of keys, or read
    /// back).
    #[error("{kind} name {name:?} holds whitespace, a control character or `:`")]
    BadName {
        /// What was read.
        kind: KeyKind,
        /// The name.
        name: String,
    },
    /// The part after the `:` is not base64.
    #[error("{kind} `{name}`: the part after `:` is not valid base64")]
    BadBase64 {
        /// What was read.
        kind: KeyKind,
        /// Its name.
        name: String,
    },
    /// The base64 decodes to the wrong number of bytes.
    #[error("{kind} `{name}`: {found} bytes after base64 decoding, expected {}", kind.byte_len())]
    WrongLength {
        /// What was read.
        kind: KeyKind,
        /// Its name.
        name: String,
        /// The bytes it holds.
        found: usize,
    },
    /// A secret key whose second half is not the public key of its seed.
    #[error(
        "secret key `{name}`: its public half does not belong to its seed (the key is corrupt)"
    )]
    Mismatch {
        /// Its name.
        name: String,
    },
    /// 32 bytes that are not an ed25519 public key.
    #[error("public key `{name}` is not a valid ed25519 key")]
    BadPoint {
        /// Its name.
        name: String,
    },
}

impl crate::diag::Hint for KeyError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            KeyError::WrongLength {
                kind: KeyKind::SecretKey,
                found: PUBLIC_KEY_BYTES,
                ..
            } => Some("this is a public key; name the secret key file instead (`forge key generate` writes one)".into()),
            KeyError::WrongLength {
                kind: KeyKind::PublicKey,
                found: SECRET_KEY_BYTES,
                ..
            } => Some("this looks like a secret key: keep it private and give its public key (`forge key public FILE`)".into()),
            KeyError::NoColon { .. } | KeyError::EmptyName { .. } => Some(
                "keys are written `name:base64`, as `forge key generate` and `nix-store --generate-binary-cache-key` write them"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Splits `name:base64`, checks the name and decodes exactly `kind.byte_len()`
/// bytes (wiped from memory when dropped).
fn decode(text: &str, kind: KeyKind) -> Result<(&str, Zeroizing<Vec<u8>>), KeyError> {
    let (name, b64) = text.split_once(':').ok_or(KeyError::NoColon { kind })?;
    check_name(name, kind)?;
    let bad = || KeyError::BadBase64 {
        kind,
        name: name.to_owned(),
    };
    // Nix writes padding; its reader also takes base64 without it.
    let bytes = if b64.ends_with('=') || b64.len() % 4 == 0 {
        BASE64.decode(b64.as_bytes())
    } else {
        BASE64_NOPAD.decode(b64.as_bytes())
    };
    let bytes = Zeroizing::new(bytes.map_err(|_| bad())?);
    if bytes.len() != kind.byte_len() {
        return Err(KeyError::WrongLength {
            kind,
            name: name.to_owned(),
            found: bytes.len(),
        });
    }
    Ok((name, bytes))
}

/// A key name is not empty and holds no whitespace, control character or
/// `:` (Nix's own reader takes anything before the first `:`).
fn check_name(name: &str, kind: KeyKind) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::EmptyName { kind });
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ':')
    {
        return Err(KeyError::BadName {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// An ed25519 signing key with its name, as in a file made by `forge key
/// generate` or `nix-store --generate-binary-cache-key`.
#[derive(Clone)]
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SecretKey {
    /// A new key named `name`, from 32 random bytes the caller drew (the
    /// OS's randomness: forge-core reads none itself).
    pub fn generate(name: &str, seed: [u8; 32]) -> Result<SecretKey, KeyError> {
        check_name(name, KeyKind::SecretKey)?;
        Ok(SecretKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `name:base64(seed || public key)`. The public half must be the
    /// seed's (Nix does not check; a key that fails here would sign with a
    /// public key it does not have).
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let (name, bytes) = decode(text, KeyKind::SecretKey)?;
        let mut pair = Zeroizing::new([0u8; SECRET_KEY_BYTES]);
        pair.copy_from_slice(&bytes);
        let key = SigningKey::from_keypair_bytes(&pair).map_err(|_| KeyError::Mismatch {
            name: name.to_owned(),
        })?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of the key file: `name:base64(seed || public key)`. This is
    /// the secret itself: write it only to a file of mode 0600.
    pub fn to_text(&self) -> Zeroizing<String> {
        let pair = Zeroizing::new(self.key.to_keypair_bytes());
        Zeroizing::new(format!("{}:{}", self.name, BASE64.encode(&pair[..])))
    }

    /// Its public key, under the same name.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `fingerprint` (a narinfo's or a realisation's).
    pub fn sign(&self, fingerprint: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature {
            name: self.name.clone(),
            bytes: self.key.sign(fingerprint).to_bytes(),
        }
    }
}

impl FromStr for SecretKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        SecretKey::parse(s)
    }
}

/// An ed25519 public key with its name: `name:base64(32 bytes)`, as in
/// `trusted-public-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Reads `name:base64(32 bytes)`.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let (name, bytes) = decode(text, KeyKind::PublicKey)?;
        let mut raw = [0u8; PUBLIC_KEY_BYTES];
        raw.copy_from_slice(&bytes);
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::BadPoint {
            name: name.to_owned(),
        })?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's over `fingerprint`: its name is this
    /// key's and its bytes verify (strictly: weak keys and non-canonical
    /// signatures are refused, as libsodium, which Nix uses, refuses them).
    pub fn verify(&self, fingerprint: &[u8], signature: &Signature) -> bool {
        signature.name == self.name
            && self
                .key
                .verify_strict(
                    fingerprint,
                    &ed25519_dalek::Signature::from_bytes(&signature.bytes),
                )
                .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(self.key.as_bytes()))
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        PublicKey::parse(s)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor(PublicKey::parse, "a public key, `name:base64`"))
    }
}

/// A signature with the name of the key that made it: `name:base64(64
/// bytes)`, as on a narinfo's `Sig:` line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    name: String,
    bytes: [u8; SIGNATURE_BYTES],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl Signature {
    /// Reads `name:base64(64 bytes)`.
    pub fn parse(text: &str) -> Result<Signature, KeyError> {
        let (name, bytes) = decode(text, KeyKind::Signature)?;
        let mut raw = [0u8; SIGNATURE_BYTES];
        raw.copy_from_slice(&bytes);
        Ok(Signature {
            name: name.to_owned(),
            bytes: raw,
        })
    }

    /// A signature from its parts (`name` is checked as [`Signature::parse`]
    /// checks it).
    pub fn new(name: &str, bytes: [u8; SIGNATURE_BYTES]) -> Result<Signature, KeyError> {
        check_name(name, KeyKind::Signature)?;
        Ok(Signature {
            name: name.to_owned(),
            bytes,
        })
    }

    /// The name of the key that made it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 64 signature bytes.
    pub fn bytes(&self) -> &[u8; SIGNATURE_BYTES] {
        &self.bytes
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, BASE64.encode(&self.bytes))
    }
}

impl FromStr for Signature {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Signature::parse(s)
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor(Signature::parse, "a signature, `name:base64`"))
    }
}

/// Deserialises a string with `parse` inside the deserializer's own call, so
/// that a format that locates errors (TOML) points at the string itself.
struct TextVisitor<T>(fn(&str) -> Result<T, KeyError>, &'static str);

impl<T> serde::de::Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    /// The message starts as serde's `invalid_value` does (the kind
    /// `diag::Located` gives it) but does not repeat the text: it may be a
    /// secret key pasted in the wrong place.
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(|e| E::custom(format_args!("invalid value: {e}")))
    }
}

#[cfg(test)]
mod tests;
