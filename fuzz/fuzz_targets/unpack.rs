//! Fuzzes unpacking: arbitrary bytes, read as each archive format forge
//! unpacks, must unpack or fail with an error, never panic; on error
//! nothing may be left at the destination, and nothing may ever appear
//! outside it. A size limit keeps a decompression bomb from filling the
//! disk during a run.
//!
//! The first byte picks the format (modulo the number of formats), the
//! rest is the archive. Seeds: `fuzz/seeds/unpack/` (one small archive of
//! each kind, with its selector byte). Run with
//! `cargo +nightly fuzz run unpack corpus/unpack seeds/unpack` in `fuzz/`.

#![no_main]

use forge_build::fetch::{unpack, Unpack, UnpackOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, archive)) = data.split_first() else {
        return;
    };
    let kind = Unpack::ALL[usize::from(selector) % Unpack::ALL.len()];
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join("archive");
    std::fs::write(&file, archive).expect("writing the archive");
    let dest = tmp.path().join("out");
    let opts = UnpackOptions {
        max_bytes: Some(16 << 20),
        ..UnpackOptions::default()
    };
    match unpack(&file, kind, &dest, &opts) {
        Ok(_) => assert!(dest.is_dir(), "{kind}: success without a directory"),
        Err(_) => assert!(!dest.exists(), "{kind}: an error left {dest:?} behind"),
    }
    let entries = std::fs::read_dir(tmp.path()).expect("listing").count();
    assert!(
        entries <= 2,
        "{kind}: something was written next to the destination"
    );
});
