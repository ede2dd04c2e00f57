//! Fuzzes `Profile::parse`: it must never panic (errors are fine), and any
//! profile it accepts must survive `to_toml` and parse back equal.
#![no_main]

use forge_sandbox::Profile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(profile) = Profile::parse(text, "fuzz.toml") {
            let canonical = profile.to_toml();
            match Profile::parse(&canonical, "fuzz-canonical.toml") {
                Ok(again) => {
                    assert_eq!(
                        again, profile,
                        "canonical form changed the profile:\n{canonical}"
                    );
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
