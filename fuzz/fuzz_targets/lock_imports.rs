//! Fuzzes the lock-file importers (forge_core::imports): the first byte
//! selects the format (pylock.toml, uv.lock, requirements.txt, pip report,
//! Cargo.lock, package-lock.json), the rest is the text. Parsing must never
//! panic and every error names a line inside the text; what parses feeds
//! the wheel filter and the cargo vendor writer, which must not panic either.
#![no_main]

use forge_core::hash::HashAlgo;
use forge_core::imports::wheel_name::{WheelName, WheelTarget};
use forge_core::imports::{cargo_checksum_json, select_wheels, ArtifactKind, LockFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = LockFormat::ALL[usize::from(selector) % LockFormat::ALL.len()];
    match format.parse(text) {
        Err(e) => {
            let lines = text.lines().count().max(1) + 1;
            assert!(e.line() >= 1 && e.line() <= lines, "{e}");
            let _ = e.to_string();
        }
        Ok(imp) => {
            for a in &imp.artifacts {
                assert!(
                    !a.file_name.is_empty() && !a.file_name.contains('/'),
                    "{a:?}"
                );
                assert!(a.line >= 1);
                if a.kind == ArtifactKind::Wheel {
                    if let Ok(w) = WheelName::parse(&a.file_name) {
                        assert_eq!(WheelName::parse(&w.to_file_name()).as_ref(), Ok(&w));
                    }
                }
                if a.kind == ArtifactKind::Crate {
                    assert_eq!(a.hash.algo(), HashAlgo::Sha256);
                    let files = [("Cargo.toml".to_owned(), a.hash)];
                    cargo_checksum_json(&a.hash, &files).expect("sha256 pins write");
                }
            }
            let target = WheelTarget::cpython_manylinux(3, 11, "x86_64", 28);
            let n = imp.artifacts.len();
            assert!(select_wheels(imp.artifacts, &target).len() <= n);
        }
    }
});
