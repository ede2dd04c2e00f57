//! The set of trusted public keys (`trusted-public-keys`), and the one
//! question asked of it: does this set of signatures hold a good one by a
//! trusted key? (docs/cache.md, "Keys and trust").

use std::fmt;

use thiserror::Error;

use super::{KeyError, PublicKey, Signature};

/// The public keys whose signatures are accepted.
///
/// Keys are looked up by name, as Nix does; two keys of one name are both
/// tried (a cache rotating its key under the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

/// Why a set of signatures was refused. Each case names the keys that
/// signed and the keys that are trusted, so the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrustError {
    /// There was no signature at all.
    #[error("no signature (trusted keys: {})", Names(trusted))]
    Unsigned {
        /// The names of the trusted keys.
        trusted: Vec<String>,
    },
    /// Signatures, but none by a trusted key's name.
    #[error(
        "signed by {}, none of them a trusted key (trusted keys: {})",
        Names(present),
        Names(trusted)
    )]
    Untrusted {
        /// The names on the signatures.
        present: Vec<String>,
        /// The names of the trusted keys.
        trusted: Vec<String>,
    },
    /// A signature under a trusted key's name that does not verify: the data
    /// or the signature was changed after signing.
    #[error(
        "the signature of trusted key {} does not match (signed by {}; trusted keys: {})",
        Names(invalid),
        Names(present),
        Names(trusted)
    )]
    Invalid {
        /// The trusted names whose signatures failed.
        invalid: Vec<String>,
        /// The names on the signatures.
        present: Vec<String>,
        /// The names of the trusted keys.
        trusted: Vec<String>,
    },
}

impl crate::diag::Hint for TrustError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(match self {
            TrustError::Unsigned { .. } => {
                "the cache must sign what it serves (push with a secret key)".into()
            }
            TrustError::Untrusted { trusted, .. } if trusted.is_empty() => {
                "no key is trusted: add the cache's public key to `trusted-public-keys` in the config file".into()
            }
            TrustError::Untrusted { .. } => {
                "if you trust the cache, add its public key to `trusted-public-keys` in the config file".into()
            }
            TrustError::Invalid { .. } => {
                "the cache serves data that its key did not sign; do not use it until it is repaired".into()
            }
        })
    }
}

/// Names as `` `a`, `b` ``, or `none`.
struct Names<'a>(&'a [String]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{n}`")?;
        }
        Ok(())
    }
}

impl TrustedKeys {
    /// The set of `keys`.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> TrustedKeys {
        TrustedKeys {
            keys: keys.into_iter().collect(),
        }
    }

    /// Parses each text as a [`PublicKey`]; the first that is not one is the
    /// error.
    pub fn parse<S: AsRef<str>>(
        texts: impl IntoIterator<Item = S>,
    ) -> Result<TrustedKeys, KeyError> {
        let keys = texts
            .into_iter()
            .map(|t| PublicKey::parse(t.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedKeys { keys })
    }

    /// The keys, in the order given.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the trusted key whose signature over `fingerprint` is
    /// among `signatures`, or why there is none.
    pub fn verify<'a>(
        &'a self,
        fingerprint: &[u8],
        signatures: &[Signature],
    ) -> Result<&'a str, TrustError> {
        let mut invalid: Vec<String> = Vec::new();
        for sig in signatures {
            let mut named = self
                .keys
                .iter()
                .filter(|k| k.name() == sig.name())
                .peekable();
            if named.peek().is_none() {
                continue;
            }
            match named.find(|k| k.verify(fingerprint, sig)) {
                Some(k) => return Ok(k.name()),
                None if !invalid.iter().any(|n| n == sig.name()) => {
                    invalid.push(sig.name().to_owned());
                }
                None => {}
            }
        }
        let trusted = dedup(self.keys.iter().map(PublicKey::name));
        let present = dedup(signatures.iter().map(Signature::name));
        Err(if signatures.is_empty() {
            TrustError::Unsigned { trusted }
        } else if invalid.is_empty() {
            TrustError::Untrusted { present, trusted }
        } else {
            TrustError::Invalid {
                invalid,
                present,
                trusted,
            }
        })
    }
}

/// The names, each once, in the order first seen.
fn dedup<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}
