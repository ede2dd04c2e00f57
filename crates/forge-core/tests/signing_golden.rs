//! forge's signing against Nix 2.8's own keys and signatures
//! (tests/golden/keys, made as its README says).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use forge_core::signing::{PublicKey, SecretKey, Signature, TrustError, TrustedKeys};

const SK: &str = include_str!("golden/keys/nix.sk");
const PK: &str = include_str!("golden/keys/nix.pk");
const FINGERPRINTS: &str = include_str!("golden/keys/fingerprints.txt");
const NARINFOS: [&str; 2] = [
    include_str!("golden/keys/with-refs.narinfo"),
    include_str!("golden/keys/no-refs.narinfo"),
];

/// The `Sig:` line of a narinfo.
fn sig_of(narinfo: &str) -> Signature {
    let line = narinfo
        .lines()
        .find_map(|l| l.strip_prefix("Sig: "))
        .unwrap();
    Signature::parse(line).unwrap()
}

/// Each fingerprint with the signature Nix made over it.
fn cases() -> Vec<(&'static str, Signature)> {
    let fps: Vec<&str> = FINGERPRINTS.lines().collect();
    assert_eq!(fps.len(), NARINFOS.len());
    fps.into_iter().zip(NARINFOS.map(sig_of)).collect()
}

#[test]
fn nix_key_files_are_read() {
    let sk = SecretKey::parse(SK).unwrap();
    let pk = PublicKey::parse(PK).unwrap();
    assert_eq!(sk.name(), "forge-test-1");
    assert_eq!(sk.public(), pk);
    // Written back byte for byte as Nix wrote them.
    assert_eq!(sk.to_text().as_str(), SK);
    assert_eq!(pk.to_string(), PK);
}

#[test]
fn nix_signatures_verify() {
    let pk = PublicKey::parse(PK).unwrap();
    for (fp, sig) in cases() {
        assert!(pk.verify(fp.as_bytes(), &sig), "{fp}");
        assert_eq!(sig.to_string().len(), "forge-test-1:".len() + 88);
        // One byte more or less in the fingerprint and it fails.
        assert!(!pk.verify(format!("{fp} ").as_bytes(), &sig));
        assert!(!pk.verify(&fp.as_bytes()[1..], &sig));
    }
}

#[test]
fn forge_signs_as_nix_signs() {
    let sk = SecretKey::parse(SK).unwrap();
    for (fp, nix_sig) in cases() {
        assert_eq!(sk.sign(fp.as_bytes()), nix_sig, "{fp}");
    }
}

#[test]
fn trusted_keys_accept_nix_signatures_and_name_the_key() {
    let other = SecretKey::generate("other-1", [7; 32]).unwrap().public();
    let trusted = TrustedKeys::parse([other.to_string().as_str(), PK]).unwrap();
    for (fp, sig) in cases() {
        assert_eq!(trusted.verify(fp.as_bytes(), &[sig]), Ok("forge-test-1"));
    }
    let (fp, sig) = cases().remove(0);
    let other =
        TrustedKeys::parse(["cache.example.org-1:ws/0vW8CQHWh36rHlTEdNo9fpw1WACYX+wK5EhC98MQ="])
            .unwrap();
    assert_eq!(
        other.verify(fp.as_bytes(), &[sig]),
        Err(TrustError::Untrusted {
            present: vec!["forge-test-1".into()],
            trusted: vec!["cache.example.org-1".into()],
        })
    );
}
