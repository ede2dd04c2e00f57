//! Fuzzes `SeedDecl::parse`: it must never panic (errors are fine), and any
//! declaration it accepts must survive `to_toml` and parse back equal.
#![no_main]

use forge_build::seed::SeedDecl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(decl) = SeedDecl::parse(text, "fuzz.toml") {
            let canonical = decl.to_toml();
            match SeedDecl::parse(&canonical, "fuzz-canonical.toml") {
                Ok(again) => {
                    assert_eq!(again, decl, "canonical form changed the seed:\n{canonical}");
                    assert_eq!(
                        again.to_toml(),
                        canonical,
                        "canonical form is not a fixed point"
                    );
                }
                Err(e) => panic!("canonical form does not parse: {e}\n{canonical}"),
            }
        }
    }
});
