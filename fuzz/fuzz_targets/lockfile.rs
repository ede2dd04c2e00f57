//! Fuzzes `LockFile::parse` (recipe.lock): it must never panic (errors are
//! fine), and any lock it accepts must print and parse back equal.
#![no_main]

use std::path::Path;

use forge_build::lockfile::LockFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(inputs) = LockFile::parse(text, Path::new("recipe.lock")) {
            let printed = LockFile::to_text(&inputs);
            let again = LockFile::parse(&printed, Path::new("recipe.lock"))
                .unwrap_or_else(|e| panic!("printed lock does not parse: {e}\n{printed}"));
            assert_eq!(again, inputs, "printing changed the lock:\n{printed}");
        }
    }
});
