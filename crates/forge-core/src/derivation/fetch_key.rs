//! The action-cache key of a fetched input.
//!
//! A fetch is keyed by *what* is fetched (its pinned hash, how it is
//! unpacked, its store name), never by where from: a mirror is the same
//! fetch, and a fetched object is never downloaded again. The key is an
//! [`ActionDigest`] in the same table as derivations' (its output is `out`),
//! so existing stores keep their fetches.

use std::fmt;

use crate::hash::{Hash, HashAlgo};
use crate::recipe::Unpack;

use super::ActionDigest;

/// What [`FetchKey::new`] hashes first (the key's version).
pub const FETCH_KEY_PREFIX: &str = "forge:fetch:v1";

/// The key of one fetch: BLAKE3 of
/// `forge:fetch:v1\n<hash>\n<unpack or none>\n<name>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchKey(ActionDigest);

impl FetchKey {
    /// The key of fetching the file with `hash`, unpacked as `unpack`,
    /// stored under `name`.
    pub fn new(hash: &Hash, unpack: Option<Unpack>, name: &str) -> Self {
        let text = format!(
            "{FETCH_KEY_PREFIX}\n{hash}\n{}\n{name}",
            unpack.map_or("none", |u| u.as_str())
        );
        let digest = HashAlgo::Blake3.digest(text.as_bytes());
        FetchKey(ActionDigest::from_hash(digest).expect("a BLAKE3 hash"))
    }

    /// The key as an action digest (`blake3:<hex>`), as the action cache
    /// and the build locks know it.
    pub fn action_digest(&self) -> ActionDigest {
        self.0
    }

    /// The hex of the digest.
    pub fn to_hex(&self) -> String {
        self.0.as_hash().to_hex()
    }
}

impl fmt::Display for FetchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for FetchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FetchKey({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key engine.rs computed by hand before it had a type: existing
    /// stores hold realisations under it.
    #[test]
    fn same_digest_as_the_string_it_replaces() {
        let hash: Hash = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            .parse()
            .unwrap();
        for (unpack, shown) in [(None, "none"), (Some(Unpack::TarGz), "tar.gz")] {
            let name = "hello-2.12.tar.gz";
            let old = blake3::hash(format!("forge:fetch:v1\n{hash}\n{shown}\n{name}").as_bytes());
            let key = FetchKey::new(&hash, unpack, name);
            assert_eq!(key.to_hex(), old.to_hex().as_str());
            assert_eq!(
                key.action_digest().to_string(),
                format!("blake3:{}", old.to_hex())
            );
        }
    }
}
