use proptest::prelude::*;

use super::*;
use crate::diag::Hint;

fn key(name: &str, seed: u8) -> SecretKey {
    SecretKey::generate(name, [seed; 32]).unwrap()
}

#[test]
fn parse_errors_say_what_is_wrong() {
    assert_eq!(
        PublicKey::parse("no-colon").unwrap_err(),
        KeyError::NoColon {
            kind: KeyKind::PublicKey
        }
    );
    assert_eq!(
        Signature::parse(":AAAA").unwrap_err(),
        KeyError::EmptyName {
            kind: KeyKind::Signature
        }
    );
    assert_eq!(
        PublicKey::parse("a b:AAAA").unwrap_err(),
        KeyError::BadName {
            kind: KeyKind::PublicKey,
            name: "a b".into()
        }
    );
    let e = SecretKey::parse("k-1:not base64!").unwrap_err();
    assert_eq!(
        e,
        KeyError::BadBase64 {
            kind: KeyKind::SecretKey,
            name: "k-1".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "secret key `k-1`: the part after `:` is not valid base64"
    );
    let e = PublicKey::parse("k-1:AAAA").unwrap_err();
    assert_eq!(
        e.to_string(),
        "public key `k-1`: 3 bytes after base64 decoding, expected 32"
    );
    let e = PublicKey::parse("k-1:").unwrap_err();
    assert!(matches!(e, KeyError::WrongLength { found: 0, .. }), "{e}");
}

#[test]
fn a_new_key_needs_a_name_that_reads_back() {
    for bad in ["", "a b", "a:b", "tab\there"] {
        assert!(SecretKey::generate(bad, [0; 32]).is_err(), "{bad:?}");
        assert!(Signature::new(bad, [0; 64]).is_err(), "{bad:?}");
    }
}

#[test]
fn a_public_key_read_as_a_secret_key_says_so() {
    let pk = key("k-1", 1).public().to_string();
    let e = SecretKey::parse(&pk).unwrap_err();
    assert!(matches!(e, KeyError::WrongLength { found: 32, .. }));
    assert!(e.hint().unwrap().contains("public key"), "{:?}", e.hint());
    let sk = key("k-1", 1).to_text();
    let e = PublicKey::parse(&sk).unwrap_err();
    assert!(e.hint().unwrap().contains("secret key"));
    // No error repeats the secret's base64.
    assert!(!e.to_string().contains(&sk[4..]));
}

#[test]
fn a_secret_key_whose_halves_disagree_is_corrupt() {
    let a = key("k-1", 1).key.to_keypair_bytes();
    let b = key("k-1", 2).key.to_keypair_bytes();
    let mut mixed = a;
    mixed[32..].copy_from_slice(&b[32..]);
    let text = format!("k-1:{}", BASE64.encode(&mixed));
    assert_eq!(
        SecretKey::parse(&text).unwrap_err(),
        KeyError::Mismatch { name: "k-1".into() }
    );
}

#[test]
fn base64_without_padding_is_read_as_nix_reads_it() {
    let pk = key("k-1", 3).public();
    let text = pk.to_string();
    let unpadded = text.trim_end_matches('=');
    assert_ne!(unpadded, text);
    assert_eq!(PublicKey::parse(unpadded).unwrap(), pk);
}

#[test]
fn the_secret_never_shows_in_debug() {
    let sk = key("k-1", 4);
    let debug = format!("{sk:?}");
    assert!(
        debug.contains("k-1") && debug.contains("redacted"),
        "{debug}"
    );
    assert!(!debug.contains(&sk.to_text()[4..]));
}

#[test]
fn verify_checks_the_name_too() {
    let sk = key("k-1", 5);
    let sig = sk.sign(b"fp");
    let renamed = Signature::new("k-2", *sig.bytes()).unwrap();
    assert!(sk.public().verify(b"fp", &sig));
    assert!(!sk.public().verify(b"fp", &renamed));
}

#[test]
fn trust_says_which_names_were_present_and_trusted() {
    let a = key("a-1", 1);
    let b = key("b-1", 2);
    let trusted = TrustedKeys::new([a.public()]);
    let fp = b"1;/nix/store/x;sha256:y;1;";
    assert_eq!(trusted.verify(fp, &[b.sign(fp), a.sign(fp)]), Ok("a-1"));
    assert_eq!(
        trusted.verify(fp, &[]),
        Err(TrustError::Unsigned {
            trusted: vec!["a-1".into()]
        })
    );
    let e = trusted
        .verify(fp, &[b.sign(fp), b.sign(b"other")])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "signed by `b-1`, none of them a trusted key (trusted keys: `a-1`)"
    );
    // a-1's signature over another fingerprint.
    let e = trusted
        .verify(fp, &[a.sign(b"other"), b.sign(fp)])
        .unwrap_err();
    assert_eq!(
        e,
        TrustError::Invalid {
            invalid: vec!["a-1".into()],
            present: vec!["a-1".into(), "b-1".into()],
            trusted: vec!["a-1".into()],
        }
    );
    assert_eq!(
        e.to_string(),
        "the signature of trusted key `a-1` does not match (signed by `a-1`, `b-1`; trusted keys: `a-1`)"
    );
    let none = TrustedKeys::default();
    let e = none.verify(fp, &[a.sign(fp)]).unwrap_err();
    assert!(e.to_string().ends_with("(trusted keys: none)"), "{e}");
    assert!(e.hint().unwrap().starts_with("no key is trusted"));
}

#[test]
fn two_trusted_keys_of_one_name_are_both_tried() {
    let old = key("c-1", 1);
    let new = key("c-1", 2);
    let trusted = TrustedKeys::new([old.public(), new.public()]);
    assert_eq!(trusted.verify(b"fp", &[new.sign(b"fp")]), Ok("c-1"));
}

#[test]
fn serde_uses_the_text_form() {
    let pk = key("k-1", 6).public();
    let json = serde_json::to_string(&pk).unwrap();
    assert_eq!(json, format!("\"{pk}\""));
    assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), pk);
    let e = serde_json::from_str::<PublicKey>("\"k-1:AAAA\"").unwrap_err();
    assert!(e.to_string().contains("3 bytes after base64"), "{e}");
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._+-][A-Za-z0-9._+@/-]{0,30}"
}

proptest! {
    #[test]
    fn format_then_parse_gives_the_same(n in name(), seed in any::<[u8; 32]>(), fp in any::<Vec<u8>>()) {
        let sk = SecretKey::generate(&n, seed).unwrap();
        let again = SecretKey::parse(&sk.to_text()).unwrap();
        prop_assert_eq!(again.to_text(), sk.to_text());
        let pk = sk.public();
        prop_assert_eq!(PublicKey::parse(&pk.to_string()).unwrap(), pk.clone());
        let sig = sk.sign(&fp);
        prop_assert_eq!(Signature::parse(&sig.to_string()).unwrap(), sig.clone());
        prop_assert_eq!(pk.name(), n.as_str());
    }

    #[test]
    fn a_signature_verifies_and_a_flipped_bit_does_not(
        seed in any::<[u8; 32]>(),
        fp in proptest::collection::vec(any::<u8>(), 1..200),
        bit in any::<usize>(),
    ) {
        let sk = SecretKey::generate("k-1", seed).unwrap();
        let pk = sk.public();
        let sig = sk.sign(&fp);
        prop_assert!(pk.verify(&fp, &sig));
        let trusted = TrustedKeys::new([pk.clone()]);
        prop_assert_eq!(trusted.verify(&fp, std::slice::from_ref(&sig)), Ok("k-1"));

        let mut bad_fp = fp.clone();
        bad_fp[(bit / 8) % fp.len()] ^= 1 << (bit % 8);
        prop_assert!(!pk.verify(&bad_fp, &sig));

        let mut bytes = *sig.bytes();
        bytes[(bit / 8) % SIGNATURE_BYTES] ^= 1 << (bit % 8);
        let bad_sig = Signature::new("k-1", bytes).unwrap();
        prop_assert!(!pk.verify(&fp, &bad_sig));
        let is_invalid = matches!(trusted.verify(&fp, &[bad_sig]), Err(TrustError::Invalid { .. }));
        prop_assert!(is_invalid);
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,120}") {
        let _ = SecretKey::parse(&text);
        let _ = PublicKey::parse(&text);
        if let Ok(s) = Signature::parse(&text) {
            prop_assert_eq!(Signature::parse(&s.to_string()).unwrap(), s);
        }
    }
}
