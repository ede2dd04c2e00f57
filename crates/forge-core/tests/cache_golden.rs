//! The cache formats against files Nix 2.8 wrote (tests/golden/cache/nix-2.8,
//! see its README for how they were made).

use std::collections::BTreeSet;

use forge_core::cache::listing::Listing;
use forge_core::cache::realisation::Realisation;
use forge_core::cache::{layout, CacheInfo, Compression, ContentAddress, NarInfo};
use forge_core::derivation::ActionDigest;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::StorePath;

macro_rules! golden {
    ($name:literal) => {
        include_str!(concat!("golden/cache/nix-2.8/", $name))
    };
}

const TREE: &str = golden!("f94vdi0v98a7qj4m88dwm0p8x06hrimg.narinfo");
const USES_TREE: &str = golden!("dgka31rkml9fsll3533k8qfdqf8s4jw0.narinfo");
const BUILT: &str = golden!("xq4z766qrkp8vc4h44d3df40y3vwnizp.narinfo");

/// The fingerprints Nix signed: each `Sig` in the fixtures verifies
/// against forge-test-1.public over exactly this text.
const FINGERPRINTS: [(&str, &str); 3] = [
    (
        TREE,
        "1;/forge/store/f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree;sha256:03rxg2ncaz87smqpnqdisl67dgg78abbw67l2c6drpa5h6li34xm;712;",
    ),
    (
        USES_TREE,
        "1;/forge/store/dgka31rkml9fsll3533k8qfdqf8s4jw0-uses-tree;sha256:0q7nyqw1283awhv652j7j0brk5bdjryzsc19k0sf6krryajg36r8;176;/forge/store/f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree",
    ),
    (
        BUILT,
        "1;/forge/store/xq4z766qrkp8vc4h44d3df40y3vwnizp-built;sha256:1c2jzy7wzjaz3izxfrqdlwm3abivswp68qvnamylz39wi9ljnz2n;176;/forge/store/f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree",
    ),
];

#[test]
fn nix_narinfos_parse_and_write_back_byte_for_byte() {
    for (text, fingerprint) in FINGERPRINTS {
        let info = NarInfo::parse(text).unwrap();
        assert_eq!(info.to_text(), text);
        assert_eq!(info.fingerprint(), fingerprint);
        assert_eq!(
            forge_core::cache::fingerprint(
                &info.path,
                &info.nar_sha256,
                info.nar_size,
                &info.references
            ),
            fingerprint
        );
        assert_eq!(info.signatures.len(), 1);
        assert!(info
            .signatures
            .iter()
            .all(|s| s.starts_with("forge-test-1:")));
        assert_eq!(info.compression, Compression::Xz);
        assert_eq!(
            info.url,
            layout::nar(info.file_hash.as_ref().unwrap(), &info.compression)
        );
        // Nix's keys only: nothing forge-specific in a narinfo Nix wrote.
        assert_eq!(
            (info.nar_blake3, info.deriver, info.content_address),
            (None, None, None)
        );
    }
}

#[test]
fn nix_fields_are_read_as_nix_means_them() {
    let tree = NarInfo::parse(TREE).unwrap();
    assert_eq!(
        tree.path,
        StorePath::parse("/forge/store/f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree").unwrap()
    );
    assert_eq!((tree.nar_size, tree.file_size), (712, Some(240)));
    assert!(tree.references.is_empty());
    assert_eq!(
        tree.nix_ca.as_deref(),
        Some("fixed:r:sha256:03rxg2ncaz87smqpnqdisl67dgg78abbw67l2c6drpa5h6li34xm")
    );
    // The NAR kept beside the narinfo is the one it describes.
    let nar = include_bytes!("golden/cache/nix-2.8/f94vdi0v98a7qj4m88dwm0p8x06hrimg.nar");
    assert_eq!(nar.len() as u64, tree.nar_size);
    assert_eq!(HashAlgo::Sha256.digest(nar), tree.nar_sha256);

    let uses = NarInfo::parse(USES_TREE).unwrap();
    assert_eq!(uses.references, BTreeSet::from([tree.path.clone()]));
    assert!(uses.nix_ca.as_deref().unwrap().starts_with("text:sha256:"));

    let built = NarInfo::parse(BUILT).unwrap();
    assert_eq!(
        built.nix_deriver.unwrap().base_name(),
        "k7wjqh4rs8v6dwizh7brcf71iki1ni00-built.drv"
    );
    assert_eq!(built.nix_ca, None);
    assert_eq!(
        layout::narinfo(&built.path),
        "xq4z766qrkp8vc4h44d3df40y3vwnizp.narinfo"
    );
}

#[test]
fn forge_fields_go_after_nix_fields() {
    let mut info = NarInfo::parse(TREE).unwrap();
    let blake = HashAlgo::Blake3.digest(b"nar");
    info.nar_blake3 = Some(blake);
    info.deriver = ActionDigest::from_hash(HashAlgo::Blake3.digest(b"drv"));
    info.content_address = Some(ContentAddress::Nar(blake));
    let text = info.to_text();
    assert!(text.starts_with(TREE), "{text}");
    let extra = &text[TREE.len()..];
    assert_eq!(
        extra,
        format!(
            "NarBlake3: {blake}\nForgeDeriver: {}\nForgeCA: nar:{blake}\n",
            info.deriver.unwrap()
        )
    );
    assert_eq!(NarInfo::parse(&text).unwrap(), info);
    // Signatures cover the same fingerprint: the extra keys are unsigned
    // hints, checked against the NAR itself.
    assert_eq!(info.fingerprint(), FINGERPRINTS[0].1);
}

#[test]
fn nix_cache_info_parses_and_writes_back() {
    let text = golden!("nix-cache-info");
    let info = CacheInfo::parse(text).unwrap();
    assert!(info.is_forge_store());
    assert_eq!(info.to_text(), text);
}

#[test]
fn listing_of_a_nar_is_what_nix_writes() {
    let nar = include_bytes!("golden/cache/nix-2.8/f94vdi0v98a7qj4m88dwm0p8x06hrimg.nar");
    let listing = Listing::from_nar(&nar[..]).unwrap();
    assert_eq!(
        listing.to_json(),
        golden!("f94vdi0v98a7qj4m88dwm0p8x06hrimg.ls")
    );
}

#[test]
fn nix_realisation_is_refused_by_its_id() {
    // Nix's realisations name a SHA-256 derivation hash; forge's a BLAKE3
    // action digest. Same shape, different key.
    let text = golden!("realisations/sha256:c108ce73085c9e80f5816a6dfa4d013c106a4921194ec5b28292e716bb8d0c8d!out.doi");
    let e = Realisation::parse(text).unwrap_err().to_string();
    assert_eq!(e, "`id`: expected a blake3 hash, found a sha256 hash");
    // The same document with a BLAKE3 digest is a forge realisation, and
    // forge writes it back in Nix's spelling.
    let blake = Hash::new(HashAlgo::Blake3, [7; 32]);
    let forge_text = text.replace(
        "sha256:c108ce73085c9e80f5816a6dfa4d013c106a4921194ec5b28292e716bb8d0c8d",
        &blake.to_string(),
    );
    let r = Realisation::parse(&forge_text).unwrap();
    assert_eq!(r.to_text(), forge_text);
    assert_eq!(
        r.path.base_name(),
        "gdaglrvpm5k6mhkzzz5c00r60kjh02h8-ca-out"
    );
    assert_eq!(
        layout::realisation(&r.action, &r.output),
        format!("realisations/{}!out.doi", blake.to_hex())
    );
}
