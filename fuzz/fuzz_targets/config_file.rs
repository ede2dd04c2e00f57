//! Fuzzes `ConfigFile::parse` (forge's config.toml): it must never panic
//! (errors are fine), and any file it accepts must print and parse back equal.
#![no_main]

use forge_core::config::ConfigFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = ConfigFile::parse(text, "config.toml") {
            let printed = config.to_text();
            let again = ConfigFile::parse(&printed, "config.toml")
                .unwrap_or_else(|e| panic!("printed config does not parse: {e}\n{printed}"));
            assert_eq!(again, config, "printing changed the config:\n{printed}");
        }
    }
});
