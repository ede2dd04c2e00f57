//! Fuzzes the deb822 parsers: control paragraphs, `Packages` records and
//! apt's sources in both formats. They must never panic; a paragraph's
//! fields stay inside the input, and every relation field of an accepted
//! record prints back to the same relations.
#![no_main]

use forge_core::debian::relation::display_relations;
use forge_core::debian::{deb822, packages, parse_relations, sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    for p in deb822::paragraphs(text) {
        let Ok(p) = p else { break };
        for f in &p.fields {
            assert!(f.line >= p.line && f.line <= lines);
            assert!(!f.name.is_empty() && !f.name.contains(':'));
            for l in f.lines() {
                assert!(!l.contains('\n'));
            }
        }
    }
    for pkg in packages::records(text).flatten() {
        for groups in [&pkg.depends, &pkg.pre_depends, &pkg.provides, &pkg.conflicts, &pkg.breaks] {
            assert_eq!(&parse_relations(&display_relations(groups)).unwrap(), groups);
        }
    }
    let _ = sources::parse_sources(text);
    let _ = sources::parse_list(text);
});
