//! Golden tests against Nix: the fixtures in `tests/fixtures/nar/` were
//! written by `nix-store --dump` (see `make-fixtures.sh` there). Each test
//! builds the same tree in code and checks that forge encodes it to exactly
//! Nix's bytes and reads Nix's bytes back to the same tree.

use std::collections::BTreeMap;
use std::path::PathBuf;

use forge_core::nar::{read_nar, NarEncoder, NarNode, NarVisitor};

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/nar",
        &format!("{name}.nar"),
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn file(contents: &[u8]) -> NarNode {
    NarNode::Regular {
        executable: false,
        contents: contents.to_vec(),
    }
}

fn exe(contents: &[u8]) -> NarNode {
    NarNode::Regular {
        executable: true,
        contents: contents.to_vec(),
    }
}

fn link(target: &str) -> NarNode {
    NarNode::Symlink {
        target: target.as_bytes().to_vec(),
    }
}

fn dir<'a>(entries: impl IntoIterator<Item = (&'a [u8], NarNode)>) -> NarNode {
    NarNode::Directory(
        entries
            .into_iter()
            .map(|(name, node)| (name.to_vec(), node))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The tree `make-fixtures.sh` builds as `mixed/`.
fn mixed() -> NarNode {
    let digits = b"0123456789abcdefghij";
    let mut entries: Vec<(&[u8], NarNode)> = vec![
        (b"empty", file(b"")),
        (b"exe", exe(b"#!/bin/sh\nexit 0\n")),
        (b"exe-owner-only", exe(b"x")),
        (b"not-exe", file(b"y")),
        (b"binary", file(b"\x00\xff\x01\n")),
        (b"with space", file(b"")),
        (b"new\nline", file(b"nl")),
        (b"\xff", file(b"raw byte name")),
        ("héllo".as_bytes(), file(b"unicode\n")),
        (b"B", file(b"upper")),
        (b"_under", file(b"")),
        (b"-dash", file(b"")),
        (b".hidden", file(b"h")),
        (b"...", file(b"dots")),
        (b"link-relative", link("size-1")),
        (
            b"link-absolute",
            link("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-hello"),
        ),
        (b"link-dangling", link("../nowhere")),
        (
            "日本".as_bytes(),
            dir([("ファイル".as_bytes(), file(b"x"))]),
        ),
        (b"empty-dir", dir([])),
        (
            b"nested",
            dir([(
                &b"deep"[..],
                dir([
                    (&b"empty"[..], dir([])),
                    (b"er", dir([(&b"leaf"[..], exe(b"leaf\n"))])),
                    (b"file", file(b"")),
                    (b"up", link("../../size-9")),
                ]),
            )]),
        ),
    ];
    let names: Vec<String> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17]
        .iter()
        .map(|n| format!("size-{n}"))
        .collect();
    for (name, n) in names.iter().zip([1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17]) {
        entries.push((name.as_bytes(), file(&digits[..n])));
    }
    dir(entries)
}

fn cases() -> Vec<(&'static str, NarNode)> {
    vec![
        ("regular", file(b"hello, world\n")),
        ("empty-file", file(b"")),
        ("executable", exe(b"#!/bin/sh\necho hi\n")),
        ("symlink-relative", link("target/file")),
        (
            "symlink-absolute",
            link("/forge/store/00bgd045z0d4icpbc2yyz4gx48ak44la-hello/bin/hello"),
        ),
        ("symlink-dangling", link("../does/not/exist")),
        ("empty-dir", dir([])),
        ("mixed", mixed()),
    ]
}

#[test]
fn encoder_matches_nix_byte_for_byte() {
    for (name, tree) in cases() {
        let want = fixture(name);
        let got = tree.to_nar();
        assert!(
            got == want,
            "{name}: forge wrote {} bytes, nix {}; first difference at byte {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn reader_reads_nix_archives() {
    for (name, tree) in cases() {
        let bytes = fixture(name);
        assert_eq!(NarNode::from_nar(bytes.as_slice()).unwrap(), tree, "{name}");
    }
}

/// Copies every event of a read into an encoder: the streaming path, with
/// contents passed straight from reader to writer, also reproduces Nix.
struct Copy(NarEncoder<Vec<u8>>);

impl NarVisitor for Copy {
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn std::io::Read,
    ) -> std::io::Result<()> {
        if let Some(name) = path.last() {
            self.0.entry(name).map_err(std::io::Error::other)?;
        }
        self.0
            .regular(executable, size, contents)
            .map_err(std::io::Error::other)
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> std::io::Result<()> {
        if let Some(name) = path.last() {
            self.0.entry(name).map_err(std::io::Error::other)?;
        }
        self.0.symlink(target).map_err(std::io::Error::other)
    }

    fn begin_directory(&mut self, path: &[Vec<u8>]) -> std::io::Result<()> {
        if let Some(name) = path.last() {
            self.0.entry(name).map_err(std::io::Error::other)?;
        }
        self.0.begin_directory().map_err(std::io::Error::other)
    }

    fn end_directory(&mut self, _path: &[Vec<u8>]) -> std::io::Result<()> {
        self.0.end_directory().map_err(std::io::Error::other)
    }
}

#[test]
fn streaming_copy_reproduces_nix() {
    for (name, _) in cases() {
        let bytes = fixture(name);
        let mut copy = Copy(NarEncoder::new(Vec::new()).unwrap());
        let n = read_nar(bytes.as_slice(), &mut copy).unwrap();
        assert_eq!(n, bytes.len() as u64, "{name}");
        assert_eq!(copy.0.finish().unwrap(), bytes, "{name}");
    }
}
