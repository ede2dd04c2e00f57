//! Fuzzes relation fields and Debian versions. Never a panic; accepted
//! relations print back to the same relations, an accepted version prints
//! back as written, and two versions compare antisymmetrically.
#![no_main]

use forge_core::debian::relation::display_relations;
use forge_core::debian::{parse_relations, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(groups) = parse_relations(text) {
        assert_eq!(parse_relations(&display_relations(&groups)).unwrap(), groups);
    }
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(va) = a.parse::<Version>() {
        assert_eq!(va.to_string(), a);
        assert!(va == va.to_string().parse::<Version>().unwrap());
        if let Ok(vb) = b.parse::<Version>() {
            assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        }
    }
});
