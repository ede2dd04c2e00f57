use super::*;
use crate::store_path::StorePathName;
use proptest::prelude::*;

const PATH: &str = "/forge/store/f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree";
const NAR_HASH: &str = "sha256:03rxg2ncaz87smqpnqdisl67dgg78abbw67l2c6drpa5h6li34xm";

fn minimal() -> String {
    format!("StorePath: {PATH}\nURL: nar/x.nar\nNarHash: {NAR_HASH}\nNarSize: 712\n")
}

#[test]
fn minimal_narinfo_gets_nix_defaults() {
    let info = NarInfo::parse(&minimal()).unwrap();
    assert_eq!(info.compression, Compression::Bzip2);
    assert!(info.references.is_empty());
    assert_eq!(info.fingerprint(), format!("1;{PATH};{NAR_HASH};712;"));
}

#[test]
fn forge_fields_round_trip() {
    let blake = HashAlgo::Blake3.digest(b"nar");
    let mut info = NarInfo::parse(&minimal()).unwrap();
    info.compression = Compression::Zstd;
    info.nar_blake3 = Some(blake);
    info.deriver = ActionDigest::from_hash(HashAlgo::Blake3.digest(b"drv"));
    info.content_address = Some(ContentAddress::NarMasked(blake));
    info.references.insert(info.path.clone());
    let text = info.to_text();
    assert!(text.contains(&format!("\nNarBlake3: {blake}\n")), "{text}");
    assert!(text.contains("\nForgeDeriver: blake3:"), "{text}");
    assert!(
        text.contains(&format!("\nForgeCA: nar-masked:{blake}\n")),
        "{text}"
    );
    assert!(text.contains("\nReferences: f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree\n"));
    assert_eq!(NarInfo::parse(&text).unwrap(), info);
}

#[test]
fn errors_name_line_and_key() {
    let m = minimal();
    let cases: Vec<(String, &str)> = vec![
        (m.replace("URL: nar/x.nar\n", ""), "missing `URL`"),
        (m.replace(&format!("StorePath: {PATH}\n"), ""), "missing `StorePath`"),
        (m.replace("NarSize: 712\n", ""), "missing `NarSize`"),
        (format!("{m}URL: again\n"), "line 5: `URL` appears twice (first on line 2)"),
        (m.replace("712", "7x2"), "line 4: `NarSize`: \"7x2\" is not a decimal number"),
        (m.replace("712", "0"), "line 4: `NarSize`: must be greater than zero"),
        (m.replace("/forge/store", "/nix/store"), "line 1: `StorePath`: \"/nix/store/"),
        (
            m.replace("sha256:03rx", "sha256:03r!"),
            "line 3: `NarHash`: sha256 digest is not valid nix base32",
        ),
        (
            m.replace(NAR_HASH, &HashAlgo::Blake3.digest(b"").to_string()),
            "line 3: `NarHash`: expected a sha256 hash, found a blake3 hash",
        ),
        (
            format!("{m}References: {PATH}\n"),
            "line 5: `References`: \"/forge/store/f94",
        ),
        (
            format!("{m}References: f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree\n"),
            "line 5: `References`: \"f94vdi0v98a7qj4m88dwm0p8x06hrimg-tree\" is listed twice",
        ),
        (format!("{m}References: a b\n"), "line 5: `References`: \"a\" is too short"),
        (format!("{m}Deriver: blake3:00\n"), "line 5: `Deriver`:"),
        (format!("{m}CA: nar:blake3:00\n"), "line 5: `CA`: \"nar:blake3:00\" is not a Nix content address"),
        (format!("{m}ForgeCA: fixed:r:sha256:00\n"), "line 5: `ForgeCA`: \"fixed:r:sha256:00\" is not a forge content address"),
        (format!("{m}ForgeDeriver: {NAR_HASH}\n"), "line 5: `ForgeDeriver`: expected a blake3 hash"),
        (format!("{m}Sig: nocolon\n"), "line 5: `Sig`: \"nocolon\" is not a signature"),
        (format!("{m}Sig: k:AA==\nSig: k:AA==\n"), "line 6: `Sig`: \"k:AA==\" is listed twice"),
        (format!("{m}Compression: x z\n"), "line 5: `Compression`:"),
        (m.replace("nar/x.nar", "nar/x y"), "line 2: `URL`: \"nar/x y\" is not a URL"),
    ];
    for (text, want) in cases {
        let e = NarInfo::parse(&text).unwrap_err().to_string();
        assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn unknown_keys_and_unknown_deriver_are_ignored() {
    let text = format!("{}Deriver: unknown-deriver\nFutureKey: 1\n", minimal());
    let info = NarInfo::parse(&text).unwrap();
    assert_eq!(info.nix_deriver, None);
    assert_eq!(info, NarInfo::parse(&minimal()).unwrap());
}

#[test]
fn fingerprint_sorts_references_by_base_name() {
    let info = NarInfo::parse(&format!(
        "{}References: zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-a 00000000000000000000000000000000-b\n",
        minimal()
    ))
    .unwrap();
    assert!(info.fingerprint().ends_with(
        ";712;/forge/store/00000000000000000000000000000000-b,/forge/store/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-a"
    ));
}

fn store_path() -> impl Strategy<Value = StorePath> {
    (any::<[u8; 20]>(), "[a-zA-Z0-9+_?=][a-zA-Z0-9+._?=-]{0,30}")
        .prop_map(|(d, n)| StorePath::new(d, StorePathName::new(&n).unwrap()))
}

fn hash(algo: HashAlgo) -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(move |b| Hash::new(algo, b))
}

fn any_hash() -> impl Strategy<Value = Hash> {
    prop_oneof![hash(HashAlgo::Sha256), hash(HashAlgo::Blake3)]
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Xz),
        Just(Compression::Zstd),
        Just(Compression::Bzip2),
        "[a-z0-9][a-z0-9+._-]{0,6}".prop_map(|s| Compression::parse(&s).unwrap()),
    ]
}

prop_compose! {
    fn narinfo()(
        path in store_path(),
        url in "[a-zA-Z0-9/:._-]{1,40}",
        compression in compression(),
        file_hash in proptest::option::of(any_hash()),
        file_size in proptest::option::of(any::<u64>()),
        nar_sha256 in hash(HashAlgo::Sha256),
        nar_size in 1..u64::MAX,
        references in proptest::collection::btree_set(store_path(), 0..4),
        nix_deriver in proptest::option::of(store_path()),
        system in proptest::option::of("[a-z0-9_]{1,8}-[a-z]{1,8}"),
        signatures in proptest::collection::btree_set("[a-z0-9.-]{1,12}-1:[A-Za-z0-9+/]{4,20}={0,2}", 0..3),
        nix_ca in proptest::option::of("(fixed:r:|fixed:|text:)sha256:[a-z0-9]{52}"),
        nar_blake3 in proptest::option::of(hash(HashAlgo::Blake3)),
        deriver in proptest::option::of(hash(HashAlgo::Blake3)),
        ca in proptest::option::of((any::<bool>(), hash(HashAlgo::Blake3))),
    ) -> NarInfo {
        NarInfo {
            path, url, compression, file_hash, file_size, nar_sha256, nar_size, references,
            nix_deriver, system, signatures, nix_ca, nar_blake3,
            deriver: deriver.and_then(ActionDigest::from_hash),
            content_address: ca.map(|(m, h)| if m { ContentAddress::NarMasked(h) } else { ContentAddress::Nar(h) }),
        }
    }
}

proptest! {
    #[test]
    fn write_then_parse_round_trips(info in narinfo()) {
        let text = info.to_text();
        prop_assert_eq!(NarInfo::parse(&text).unwrap(), info.clone());
        // Canonical: writing what was parsed gives the same bytes.
        prop_assert_eq!(NarInfo::parse(&text).unwrap().to_text(), text);
    }

    #[test]
    fn parse_never_panics(s in "(\\PC{0,60}\n?){0,8}") {
        let _ = NarInfo::parse(&s);
    }

    #[test]
    fn parse_of_mutated_narinfo_never_panics(info in narinfo(), at in any::<prop::sample::Index>(), c in any::<char>()) {
        let mut text = info.to_text();
        let i = at.index(text.len());
        if text.is_char_boundary(i) {
            text.insert(i, c);
        }
        let _ = NarInfo::parse(&text);
    }
}
