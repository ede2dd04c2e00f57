//! Where each file of a cache lives, relative to its root (docs/cache.md,
//! "Formats"). The names are object keys as much as file names: ASCII, no
//! spaces, `/` only between a directory and its file.
//!
//! ```text
//! nix-cache-info
//! <digest>.narinfo
//! <digest>.ls
//! nar/<file hash, nix32>.nar[.zst|.xz|…]
//! realisations/<action digest hex>!<output>.doi
//! ```

use super::cache_info::CacheInfo;
use super::narinfo::Compression;
use crate::derivation::{ActionDigest, OutputName};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::StorePath;

/// The cache's description, [`CacheInfo::FILE_NAME`].
pub const CACHE_INFO: &str = CacheInfo::FILE_NAME;

/// The directory of NAR files.
pub const NAR_DIR: &str = "nar";

/// The directory of realisations.
pub const REALISATIONS_DIR: &str = "realisations";

/// `<digest>.narinfo`: the narinfo of `path` (a client knows only the
/// digest, so the name holds nothing else).
pub fn narinfo(path: &StorePath) -> String {
    narinfo_for_digest(path.hash_part())
}

/// `<digest>.narinfo` for the 32-character digest of a path.
pub fn narinfo_for_digest(hash_part: &str) -> String {
    format!("{hash_part}.narinfo")
}

/// `<digest>.ls`: the listing of `path`'s NAR.
pub fn listing(path: &StorePath) -> String {
    format!("{}.ls", path.hash_part())
}

/// `nar/<hash>.nar<suffix>`: where a NAR file goes, named by the hash of
/// the file as stored (the narinfo's `FileHash`), as Nix names it: nix32
/// for SHA-256 (Nix's form), hex for BLAKE3.
pub fn nar(file_hash: &Hash, compression: &Compression) -> String {
    let digest = match file_hash.algo() {
        HashAlgo::Sha256 | HashAlgo::Sha512 => file_hash.to_nix32(),
        HashAlgo::Blake3 => file_hash.to_hex(),
    };
    format!("{NAR_DIR}/{digest}{}", compression.nar_suffix())
}

/// `realisations/<action digest hex>!<output>.doi`: the realisation of one
/// output. Nix writes `sha256:<hex>!out.doi`; forge leaves the algorithm
/// out of the name (it is always BLAKE3) so that no key holds a `:`, which
/// some object stores and URL handlers treat specially.
pub fn realisation(action: &ActionDigest, output: &OutputName) -> String {
    format!(
        "{REALISATIONS_DIR}/{}!{output}.doi",
        action.as_hash().to_hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let p = StorePath::from_base_name("f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree").unwrap();
        assert_eq!(narinfo(&p), "f94vdi0v98a7qj4m88dwm0p8x06hrimg.narinfo");
        assert_eq!(listing(&p), "f94vdi0v98a7qj4m88dwm0p8x06hrimg.ls");
        let h = Hash::parse("sha256:171y0g321qpvziw3kfif4i7wb9bcbmldlzm7v5w3myjs8670pawv").unwrap();
        assert_eq!(
            nar(&h, &Compression::Xz),
            "nar/171y0g321qpvziw3kfif4i7wb9bcbmldlzm7v5w3myjs8670pawv.nar.xz"
        );
        assert_eq!(
            nar(&HashAlgo::Blake3.digest(b""), &Compression::None),
            "nar/af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262.nar"
        );
        let a = ActionDigest::from_hash(HashAlgo::Blake3.digest(b"")).unwrap();
        assert_eq!(
            realisation(&a, &OutputName::out()),
            "realisations/af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262!out.doi"
        );
    }
}
