//! Between the store's records and a cache's narinfos: what a cache
//! publishes for a store path ([`narinfo_for`]), and what a narinfo claims
//! for the store to check and import ([`claimed`]). The fields map one to
//! one (docs/cache.md, "Formats"); nothing here trusts a narinfo: the
//! claim is checked against the NAR when it is imported.

use forge_core::cache::{Compression, NarInfo};
use forge_core::hash::Hash;
use forge_store::{ClaimedPath, PathInfo};

/// Where and how a path's NAR is stored in a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNar {
    /// Relative to the cache root (`nar/<file hash>.nar.zst`).
    pub url: String,
    /// How the file is compressed.
    pub compression: Compression,
    /// Hash of the file as stored.
    pub file_hash: Hash,
    /// Its length.
    pub file_size: u64,
}

/// The narinfo a cache publishes for the store path `info` describes,
/// its NAR stored as `nar` (unsigned: signing is the pusher's).
pub fn narinfo_for(info: &PathInfo, nar: &StoredNar) -> NarInfo {
    let claim = ClaimedPath::from_info(info);
    NarInfo {
        path: claim.path,
        url: nar.url.clone(),
        compression: nar.compression.clone(),
        file_hash: Some(nar.file_hash),
        file_size: Some(nar.file_size),
        nar_sha256: info.nar_sha256,
        nar_size: info.nar_size,
        references: claim.references,
        nix_deriver: None,
        system: None,
        signatures: claim.signatures,
        nix_ca: None,
        nar_blake3: Some(info.nar_blake3),
        deriver: claim.deriver,
        content_address: info
            .content_address
            .as_deref()
            .and_then(|ca| ca.parse().ok()),
    }
}

/// What `narinfo` claims of its path, in the store's terms.
pub fn claimed(narinfo: &NarInfo) -> ClaimedPath {
    ClaimedPath {
        path: narinfo.path.clone(),
        references: narinfo.references.clone(),
        nar_sha256: Some(narinfo.nar_sha256),
        nar_blake3: narinfo.nar_blake3,
        nar_size: narinfo.nar_size,
        deriver: narinfo.deriver,
        content_address: narinfo.content_address.as_ref().map(|ca| ca.to_string()),
        signatures: narinfo.signatures.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path added to a store, published and claimed back: the claim is
    /// what the store itself would say of it, and the narinfo text
    /// round-trips.
    #[test]
    fn a_published_path_is_claimed_back_as_the_store_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), b"hello").unwrap();
        let mut store = forge_store::Store::open(dir.path().join("root")).unwrap();
        let added = store
            .add_path(&src, None, &forge_store::tree::NoProgress)
            .unwrap();
        let info = store.path_info(&added.info.path).unwrap();
        assert!(info.content_address.is_some());
        let nar = StoredNar {
            url: "nar/x.nar.zst".into(),
            compression: Compression::Zstd,
            file_hash: Hash::parse(
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            )
            .unwrap(),
            file_size: 42,
        };
        let n = narinfo_for(&info, &nar);
        assert!(
            n.content_address.is_some(),
            "the content address is published"
        );
        let reparsed = NarInfo::parse(&n.to_text()).unwrap();
        assert_eq!(reparsed, n);
        assert_eq!(claimed(&reparsed), ClaimedPath::from_info(&info));
    }
}
