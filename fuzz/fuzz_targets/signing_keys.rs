//! Fuzzes the key and signature parsers of `forge_core::signing` (Nix's
//! `name:base64` forms). They must never panic; what they accept must print
//! back in a form that parses to the same value, and a secret key read back
//! signs what its public key verifies.
#![no_main]

use forge_core::signing::{PublicKey, SecretKey, Signature, TrustedKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sk) = SecretKey::parse(text) {
        let again = SecretKey::parse(&sk.to_text()).unwrap();
        assert_eq!(again.public(), sk.public());
        let sig = sk.sign(data);
        assert!(sk.public().verify(data, &sig));
    }
    if let Ok(pk) = PublicKey::parse(text) {
        assert_eq!(PublicKey::parse(&pk.to_string()).unwrap(), pk);
        let trusted = TrustedKeys::new([pk]);
        if let Ok(sig) = Signature::parse(text) {
            let _ = trusted.verify(data, &[sig]);
        }
    }
    if let Ok(sig) = Signature::parse(text) {
        assert_eq!(Signature::parse(&sig.to_string()).unwrap(), sig);
    }
    for line in text.lines() {
        let _ = TrustedKeys::parse(line.split_whitespace());
    }
});
