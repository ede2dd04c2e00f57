//! Fuzzes the NAR reader: any input must be rejected with an error or
//! accepted, never panic; an accepted input must be canonical, that is,
//! re-encoding what was read gives back exactly the input.
//!
//! Seeds: `fuzz/seeds/nar_reader/` (the golden fixtures). Run with
//! `cargo +nightly fuzz run nar_reader fuzz/seeds/nar_reader`, from the
//! repository root, or copy the seeds into `fuzz/corpus/nar_reader/`.

#![no_main]

use std::io::{self, Read};

use forge_core::nar::{read_nar, NarNode, NarVisitor};
use libfuzzer_sys::fuzz_target;

/// Reads a varying part of each file (all, some, none) so that both the
/// visitor's reads and the reader's skipping of the rest are exercised.
struct PartialReader {
    files: u64,
}

impl NarVisitor for PartialReader {
    fn regular(
        &mut self,
        _path: &[Vec<u8>],
        _executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        self.files += 1;
        let want = match self.files % 3 {
            0 => size,
            1 => size / 2,
            _ => 0,
        };
        io::copy(&mut contents.take(want), &mut io::sink())?;
        Ok(())
    }

    fn symlink(&mut self, _path: &[Vec<u8>], _target: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn begin_directory(&mut self, _path: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let streamed = read_nar(data, &mut PartialReader { files: 0 });
    let tree = NarNode::from_nar(data);
    match (streamed, tree) {
        (Ok(len), Ok(tree)) => {
            assert_eq!(len, data.len() as u64, "accepted nar length");
            assert!(tree.to_nar() == data, "accepted nar is not canonical");
        }
        (Err(_), Err(_)) => {}
        (s, t) => panic!(
            "readers disagree: streaming {s:?}, tree {:?}",
            t.map(|_| ())
        ),
    }
});
