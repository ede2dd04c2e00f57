//! Fuzzes what package registries answer (forge_core::registry): PyPI's
//! JSON simple API page, a crates.io sparse-index file and an npm version
//! document. Parsing must never panic; whatever parses keeps its promises
//! (a file's version is the one asked for; an integrity is a sha512).
#![no_main]

use forge_core::registry::{crates, npm, pypi};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(files) = pypi::files(text, "fuzz") {
        for f in &files {
            if let Some((name, version)) = pypi::name_version(&f.filename) {
                let picked = pypi::of_version(&files, &name, &version);
                assert!(picked.iter().any(|p| p.filename == f.filename));
            }
        }
    }
    let _ = crates::versions(text, "fuzz");
    let _ = crates::index_path(text);
    if let Ok(t) = npm::tarball(text, "fuzz") {
        assert!(t.integrity.starts_with("sha512-"));
    }
});
