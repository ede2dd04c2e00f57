//! Fuzzes the binary-cache formats (forge_core::cache): narinfo,
//! `nix-cache-info`, realisations and NAR listings. Parsing must never
//! panic; whatever parses must write back as text that parses to the same
//! value, and writing that again must give the same bytes (canonical form).
#![no_main]

use forge_core::cache::listing::Listing;
use forge_core::cache::{CacheInfo, NarInfo, Realisation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Listing::from_nar(data).map(|l| l.to_json());
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = NarInfo::parse(text) {
        let written = info.to_text();
        let again = NarInfo::parse(&written).expect("a written narinfo parses");
        assert_eq!(again, info);
        assert_eq!(again.to_text(), written);
        let _ = info.fingerprint();
    }
    if let Ok(info) = CacheInfo::parse(text) {
        let written = info.to_text();
        assert_eq!(CacheInfo::parse(&written).expect("written cache info parses"), info);
    }
    if let Ok(r) = Realisation::parse(text) {
        let written = r.to_text();
        let again = Realisation::parse(&written).expect("a written realisation parses");
        assert_eq!(again, r);
        assert_eq!(again.to_text(), written);
    }
});
