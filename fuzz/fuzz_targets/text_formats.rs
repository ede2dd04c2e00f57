//! Fuzzes the small text parsers: hashes in every encoding, store paths and
//! Nix base32. They must never panic, and whatever they accept must print
//! back in a form that parses to the same value.
#![no_main]

use forge_core::base32;
use forge_core::hash::{Hash, HashAlgo};
use forge_core::store_path::StorePath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = Hash::parse(text) {
        assert_eq!(Hash::parse(&h.to_string()).unwrap(), h);
        assert_eq!(Hash::parse(&h.to_sri()).unwrap(), h);
        assert_eq!(Hash::parse(&h.to_nix_string()).unwrap(), h);
    }
    for algo in [HashAlgo::Blake3, HashAlgo::Sha256] {
        if let Ok(h) = Hash::parse_as(algo, text) {
            assert_eq!(h.algo(), algo);
            assert_eq!(Hash::parse_as(algo, &h.to_hex()).unwrap(), h);
        }
    }
    if let Ok(p) = StorePath::parse(text) {
        assert_eq!(p.to_string(), text, "store paths have one spelling");
    }
    if let Ok(p) = StorePath::from_base_name(text) {
        assert_eq!(p.base_name(), text);
    }
    for len in [1usize, 20, 32] {
        if let Ok(bytes) = base32::decode(text, len) {
            assert_eq!(base32::encode(&bytes), text, "base32 has one spelling");
        }
    }
});
