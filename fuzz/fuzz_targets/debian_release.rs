//! Fuzzes `InRelease` extraction and the Release parser. They must never
//! panic, and the signed text handed out never holds the armor around it.
#![no_main]

use forge_core::debian::release::parse_date;
use forge_core::debian::{signed_text, Release};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(signed) = signed_text(text) {
        // Every line of the signed text is a line of the message body, so it
        // is shorter than the whole message and holds no armor header.
        assert!(signed.len() <= text.len());
        assert!(!signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
        if let Ok(r) = Release::parse(&signed) {
            for f in &r.sha256 {
                assert_eq!(r.file(&f.path).map(|g| &g.path), Some(&f.path));
            }
        }
    }
    let _ = Release::parse(text);
    let _ = parse_date(text);
});
