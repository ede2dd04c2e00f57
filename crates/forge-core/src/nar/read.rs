//! Reading archives: [`read_nar`] parses a NAR and drives a [`NarVisitor`].
//!
//! The reader is streaming: it reads the archive front to back once, calls
//! the visitor for every node in archive order (a directory's
//! [`begin_directory`](NarVisitor::begin_directory), then its entries in
//! name order, then [`end_directory`](NarVisitor::end_directory)), and hands
//! file contents to the visitor as a [`Read`] limited to the file's size.
//! It never holds a file's contents in memory; memory use is bounded by the
//! limits in the [parent module](super), whatever the input.
//!
//! It accepts only canonical archives (see the [parent module](super)), so a
//! successful read followed by [`NarEncoder`](super::NarEncoder) gives back
//! the same bytes. Every rejection says at which byte offset of the archive
//! the problem starts.

use std::cmp::Ordering;
use std::io::{self, Read};

use thiserror::Error;

use super::{
    name_problem, padding_len, show_bytes, target_problem, MAX_DEPTH, MAX_NAME_LEN, MAX_TARGET_LEN,
    NAR_MAGIC,
};

/// Receives the nodes of an archive from [`read_nar`].
///
/// Every method gets the node's `path`: the entry names from the root to the
/// node, empty for the root node. An error returned by a method stops the
/// read and comes back as [`NarReadError::Io`].
pub trait NarVisitor {
    /// A regular file of `size` bytes. `contents` yields exactly those bytes;
    /// the visitor may read all, part or none of them, and the reader skips
    /// whatever is left.
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()>;

    /// A symlink to `target`.
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()>;

    /// The start of a directory; its entries follow.
    fn begin_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()>;

    /// The end of the directory begun at `path`.
    fn end_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let _ = path;
        Ok(())
    }
}

/// Why an archive was rejected. Offsets count bytes from the start of the
/// archive.
#[derive(Debug, Error)]
pub enum NarReadError {
    /// The underlying reader failed, or the visitor returned an error.
    #[error("reading nar: {0}")]
    Io(#[from] io::Error),
    /// The archive ends before the root node is complete.
    #[error("nar is truncated: it ends at offset {offset} inside the archive")]
    Truncated {
        /// The offset where the input ended.
        offset: u64,
    },
    /// The first string is not [`NAR_MAGIC`].
    #[error("not a nar: it does not start with {NAR_MAGIC:?} (offset 0)")]
    BadMagic,
    /// A string other than the keyword the grammar requires here.
    #[error("bad nar at offset {offset}: expected {expected}, found {found}")]
    Expected {
        /// The offset of the string (its length field).
        offset: u64,
        /// What the grammar allows here.
        expected: &'static str,
        /// What was there, quoted and shortened.
        found: String,
    },
    /// A padding byte is not zero.
    #[error("bad nar at offset {offset}: non-zero padding byte")]
    BadPadding {
        /// The offset of the first padding byte of the string.
        offset: u64,
    },
    /// An entry name is not greater than the previous entry's name.
    #[error("bad nar at offset {offset}: entry {} comes after {}; entries must be sorted bytewise", show_bytes(.name), show_bytes(.previous))]
    Unsorted {
        /// The offset of the name string.
        offset: u64,
        /// The previous entry's name.
        previous: Vec<u8>,
        /// This entry's name.
        name: Vec<u8>,
    },
    /// An entry name equals the previous entry's name.
    #[error("bad nar at offset {offset}: duplicate entry {}", show_bytes(.name))]
    Duplicate {
        /// The offset of the name string.
        offset: u64,
        /// The repeated name.
        name: Vec<u8>,
    },
    /// An entry name is empty, `.`, `..`, or contains `/` or NUL.
    #[error("bad nar at offset {offset}: invalid entry name {}: {}", show_bytes(.name), name_problem(.name).unwrap_or("invalid"))]
    InvalidName {
        /// The offset of the name string.
        offset: u64,
        /// The name.
        name: Vec<u8>,
    },
    /// A symlink target is empty or contains NUL.
    #[error("bad nar at offset {offset}: invalid symlink target {}: {}", show_bytes(.target), target_problem(.target).unwrap_or("invalid"))]
    InvalidTarget {
        /// The offset of the target string.
        offset: u64,
        /// The target.
        target: Vec<u8>,
    },
    /// A name or symlink target is longer than its limit.
    #[error("bad nar at offset {offset}: {what} is {len} bytes long; the limit is {limit}")]
    TooLong {
        /// The offset of the string.
        offset: u64,
        /// What is too long (`entry name`, `symlink target`).
        what: &'static str,
        /// The length the archive claims.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// Directories nest deeper than [`MAX_DEPTH`].
    #[error("bad nar at offset {offset}: entry nested more than {MAX_DEPTH} directories deep")]
    TooDeep {
        /// The offset of the entry.
        offset: u64,
    },
    /// Bytes follow the root node.
    #[error("bad nar at offset {offset}: data after the end of the archive")]
    TrailingData {
        /// The offset of the first extra byte.
        offset: u64,
    },
}

/// Parses the archive in `r` and reports its nodes to `visitor`. Returns the
/// length of the archive in bytes.
///
/// The whole input must be the archive: after the root node the reader
/// checks, with a one-byte read, that `r` is at its end.
pub fn read_nar<R: Read>(r: R, visitor: &mut impl NarVisitor) -> Result<u64, NarReadError> {
    read(r, visitor, true)
}

/// [`read_nar`] for an archive whose directory entries may be out of order
/// (but are still never adjacent duplicates): the store's placeholder
/// rewriting renames entries without moving them, so a rewritten archive
/// keeps the order of the names before the rewrite. Whoever restores it
/// must re-serialise the result to get a canonical NAR.
pub fn read_nar_any_order<R: Read>(
    r: R,
    visitor: &mut impl NarVisitor,
) -> Result<u64, NarReadError> {
    read(r, visitor, false)
}

fn read<R: Read>(r: R, visitor: &mut impl NarVisitor, sorted: bool) -> Result<u64, NarReadError> {
    let mut p = Parser {
        r,
        offset: 0,
        path: Vec::new(),
        visitor,
        sorted,
    };
    match p.token("the magic") {
        Ok((_, t)) if t.as_bytes() == NAR_MAGIC.as_bytes() => {}
        Err(e @ (NarReadError::Truncated { .. } | NarReadError::Io(_))) => return Err(e),
        Ok(_) | Err(_) => return Err(NarReadError::BadMagic),
    }
    p.node()?;
    let mut byte = [0u8; 1];
    loop {
        match p.r.read(&mut byte) {
            Ok(0) => return Ok(p.offset),
            Ok(_) => return Err(NarReadError::TrailingData { offset: p.offset }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Longest keyword the grammar has ("nix-archive-1"), rounded up.
const MAX_TOKEN_LEN: usize = 16;

/// A short string read where a keyword is expected.
struct Token {
    buf: [u8; MAX_TOKEN_LEN],
    len: usize,
}

impl Token {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// How a keyword is described in [`NarReadError::Expected`].
fn quoted(keyword: &'static str) -> &'static str {
    match keyword {
        "(" => "\"(\"",
        ")" => "\")\"",
        "type" => "\"type\"",
        "contents" => "\"contents\"",
        "target" => "\"target\"",
        "name" => "\"name\"",
        "node" => "\"node\"",
        "" => "an empty string after \"executable\"",
        other => other,
    }
}

struct Parser<'v, R, V> {
    r: R,
    /// Bytes consumed so far.
    offset: u64,
    /// Names from the root to the node being read.
    path: Vec<Vec<u8>>,
    visitor: &'v mut V,
    /// Whether directory entries must be in bytewise order.
    sorted: bool,
}

impl<R: Read, V: NarVisitor> Parser<'_, R, V> {
    /// Fills `buf` from the input, counting the bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), NarReadError> {
        let mut done = 0;
        while done < buf.len() {
            match self.r.read(&mut buf[done..]) {
                Ok(0) => {
                    return Err(NarReadError::Truncated {
                        offset: self.offset,
                    })
                }
                Ok(n) => {
                    done += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn u64(&mut self) -> Result<u64, NarReadError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads and checks the padding after a string of `len` bytes.
    fn padding(&mut self, len: u64) -> Result<(), NarReadError> {
        let offset = self.offset;
        let mut b = [0u8; 8];
        let b = &mut b[..padding_len(len)];
        self.fill(b)?;
        if b.iter().any(|&x| x != 0) {
            return Err(NarReadError::BadPadding { offset });
        }
        Ok(())
    }

    /// Reads a string of at most `limit` bytes; returns it and its offset.
    fn bytes(&mut self, what: &'static str, limit: usize) -> Result<(u64, Vec<u8>), NarReadError> {
        let offset = self.offset;
        let len = self.u64()?;
        let n = match usize::try_from(len) {
            Ok(n) if n <= limit => n,
            _ => {
                return Err(NarReadError::TooLong {
                    offset,
                    what,
                    len,
                    limit,
                })
            }
        };
        let mut v = vec![0u8; n];
        self.fill(&mut v)?;
        self.padding(len)?;
        Ok((offset, v))
    }

    /// Reads a short string where a keyword is expected; returns its offset
    /// too. A long string is reported as not being what was `expected`.
    fn token(&mut self, expected: &'static str) -> Result<(u64, Token), NarReadError> {
        let offset = self.offset;
        let len = self.u64()?;
        let Some(n) = usize::try_from(len).ok().filter(|&n| n <= MAX_TOKEN_LEN) else {
            return Err(NarReadError::Expected {
                offset,
                expected,
                found: format!("a string of {len} bytes"),
            });
        };
        let mut t = Token {
            buf: [0; MAX_TOKEN_LEN],
            len: n,
        };
        self.fill(&mut t.buf[..n])?;
        self.padding(len)?;
        Ok((offset, t))
    }

    /// Reads the keyword `keyword` or fails.
    fn expect(&mut self, keyword: &'static str) -> Result<(), NarReadError> {
        let expected = quoted(keyword);
        let (offset, t) = self.token(expected)?;
        if t.as_bytes() != keyword.as_bytes() {
            return Err(NarReadError::Expected {
                offset,
                expected,
                found: show_bytes(t.as_bytes()),
            });
        }
        Ok(())
    }

    /// Reads a node: `"(" "type" … ")"`. Each kind reads its own `")"`,
    /// which for a directory is what ends the list of entries.
    fn node(&mut self) -> Result<(), NarReadError> {
        self.expect("(")?;
        self.expect("type")?;
        const TYPES: &str = "\"regular\", \"symlink\" or \"directory\"";
        let (offset, t) = self.token(TYPES)?;
        match t.as_bytes() {
            b"regular" => self.regular()?,
            b"symlink" => self.symlink()?,
            b"directory" => self.directory()?,
            other => {
                return Err(NarReadError::Expected {
                    offset,
                    expected: TYPES,
                    found: show_bytes(other),
                })
            }
        }
        Ok(())
    }

    fn regular(&mut self) -> Result<(), NarReadError> {
        const NEXT: &str = "\"executable\" or \"contents\"";
        let (offset, t) = self.token(NEXT)?;
        let executable = match t.as_bytes() {
            b"contents" => false,
            b"executable" => {
                self.expect("")?;
                self.expect("contents")?;
                true
            }
            other => {
                return Err(NarReadError::Expected {
                    offset,
                    expected: NEXT,
                    found: show_bytes(other),
                })
            }
        };
        let size = self.u64()?;
        let mut contents = Contents {
            r: &mut self.r,
            remaining: size,
            offset: &mut self.offset,
            truncated: false,
        };
        let visited = self
            .visitor
            .regular(&self.path, executable, size, &mut contents);
        if contents.truncated {
            return Err(NarReadError::Truncated {
                offset: *contents.offset,
            });
        }
        visited?;
        // Skip what the visitor left.
        if let Err(e) = io::copy(&mut contents, &mut io::sink()) {
            if contents.truncated {
                return Err(NarReadError::Truncated {
                    offset: *contents.offset,
                });
            }
            return Err(e.into());
        }
        self.padding(size)?;
        self.expect(")")
    }

    fn symlink(&mut self) -> Result<(), NarReadError> {
        self.expect("target")?;
        let (offset, target) = self.bytes("symlink target", MAX_TARGET_LEN)?;
        if target_problem(&target).is_some() {
            return Err(NarReadError::InvalidTarget { offset, target });
        }
        self.visitor.symlink(&self.path, &target)?;
        self.expect(")")
    }

    fn directory(&mut self) -> Result<(), NarReadError> {
        const NEXT: &str = "\"entry\" or \")\"";
        self.visitor.begin_directory(&self.path)?;
        let mut previous: Option<Vec<u8>> = None;
        loop {
            let (offset, t) = self.token(NEXT)?;
            match t.as_bytes() {
                b"entry" => {}
                b")" => break,
                other => {
                    return Err(NarReadError::Expected {
                        offset,
                        expected: NEXT,
                        found: show_bytes(other),
                    })
                }
            }
            if self.path.len() >= MAX_DEPTH {
                return Err(NarReadError::TooDeep { offset });
            }
            self.expect("(")?;
            self.expect("name")?;
            let (offset, name) = self.bytes("entry name", MAX_NAME_LEN)?;
            if name_problem(&name).is_some() {
                return Err(NarReadError::InvalidName { offset, name });
            }
            if let Some(previous) = previous.take() {
                match previous.cmp(&name) {
                    Ordering::Less => {}
                    Ordering::Equal => return Err(NarReadError::Duplicate { offset, name }),
                    Ordering::Greater if !self.sorted => {}
                    Ordering::Greater => {
                        return Err(NarReadError::Unsorted {
                            offset,
                            previous,
                            name,
                        })
                    }
                }
            }
            self.expect("node")?;
            self.path.push(name);
            self.node()?;
            previous = self.path.pop();
            self.expect(")")?;
        }
        self.visitor.end_directory(&self.path)?;
        Ok(())
    }
}

/// The contents of one regular file: a window of `remaining` bytes on the
/// archive that keeps the archive offset up to date.
struct Contents<'a, R> {
    r: &'a mut R,
    remaining: u64,
    offset: &'a mut u64,
    /// Set when the archive ended inside the contents.
    truncated: bool,
}

impl<R: Read> Read for Contents<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.r.read(&mut buf[..max])?;
        if n == 0 {
            self.truncated = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "nar ends inside file contents",
            ));
        }
        self.remaining -= n as u64;
        *self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nar::NarNode;

    /// One wire string.
    fn s(bytes: &[u8]) -> Vec<u8> {
        let mut v = (bytes.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(bytes);
        v.resize(v.len().next_multiple_of(8), 0);
        v
    }

    /// An archive written by hand from its strings.
    fn nar(parts: &[&[u8]]) -> Vec<u8> {
        parts.iter().flat_map(|p| s(p)).collect()
    }

    /// Offset of the `i`th string in `parts`.
    fn at(parts: &[&[u8]], i: usize) -> u64 {
        parts[..i].iter().map(|p| s(p).len() as u64).sum()
    }

    fn read(bytes: &[u8]) -> Result<NarNode, NarReadError> {
        NarNode::from_nar(bytes)
    }

    const FILE: &[&[u8]] = &[
        b"nix-archive-1",
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"abc",
        b")",
    ];

    /// `/a -> t`, `/b/` (empty), `/c` executable with "xy".
    const DIR: &[&[u8]] = &[
        b"nix-archive-1",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"t",
        b")",
        b")",
        b"entry",
        b"(",
        b"name",
        b"b",
        b"node",
        b"(",
        b"type",
        b"directory",
        b")",
        b")",
        b"entry",
        b"(",
        b"name",
        b"c",
        b"node",
        b"(",
        b"type",
        b"regular",
        b"executable",
        b"",
        b"contents",
        b"xy",
        b")",
        b")",
        b")",
    ];

    fn dir_with(i: usize, replacement: &[u8]) -> (Vec<u8>, u64) {
        let mut parts = DIR.to_vec();
        parts[i] = replacement;
        (nar(&parts), at(&parts, i))
    }

    #[test]
    fn reads_hand_written_archives() {
        assert_eq!(
            read(&nar(FILE)).unwrap(),
            NarNode::Regular {
                executable: false,
                contents: b"abc".to_vec()
            }
        );
        let tree = read(&nar(DIR)).unwrap();
        assert_eq!(
            tree,
            NarNode::Directory(
                [
                    (
                        b"a".to_vec(),
                        NarNode::Symlink {
                            target: b"t".to_vec()
                        }
                    ),
                    (b"b".to_vec(), NarNode::Directory(Default::default())),
                    (
                        b"c".to_vec(),
                        NarNode::Regular {
                            executable: true,
                            contents: b"xy".to_vec()
                        }
                    ),
                ]
                .into()
            )
        );
        assert_eq!(tree.to_nar(), nar(DIR));
    }

    #[test]
    fn bad_magic() {
        for magic in [
            &b"nix-archive-2"[..],
            b"nix-archive-1x",
            b"",
            b"NIX-ARCHIVE-1",
        ] {
            let mut parts = FILE.to_vec();
            parts[0] = magic;
            assert!(matches!(read(&nar(&parts)), Err(NarReadError::BadMagic)));
        }
        let mut bytes = nar(FILE);
        bytes[21] = 1; // padding of the magic
        assert!(matches!(read(&bytes), Err(NarReadError::BadMagic)));
        bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read(&bytes), Err(NarReadError::BadMagic)));
        assert!(matches!(
            read(b"\x0d\0\0\0\0\0\0\0nix"),
            Err(NarReadError::Truncated { offset: 11 })
        ));
    }

    #[test]
    fn unknown_tokens() {
        let cases: &[(usize, &[u8], &str)] = &[
            (1, b"[", "\"(\""),
            (2, b"kind", "\"type\""),
            (3, b"fifo", "\"regular\", \"symlink\" or \"directory\""),
            (4, b"item", "\"entry\" or \")\""),
            (6, b"nom", "\"name\""),
            (8, b"nodes", "\"node\""),
            (12, b"path", "\"target\""),
            (34, b"exec", "\"executable\" or \"contents\""),
            (35, b"1", "an empty string after \"executable\""),
            (36, b"content", "\"contents\""),
            (38, b"]", "\")\""),
            (39, b"))", "\")\""),
            (40, b"(", "\"entry\" or \")\""),
        ];
        for &(i, token, want) in cases {
            let (bytes, offset) = dir_with(i, token);
            match read(&bytes) {
                Err(NarReadError::Expected {
                    offset: o,
                    expected,
                    found,
                }) => {
                    assert_eq!((o, expected), (offset, want), "{}", show_bytes(token));
                    assert_eq!(found, show_bytes(token));
                }
                other => panic!("{}: {other:?}", show_bytes(token)),
            }
        }
    }

    #[test]
    fn long_token_is_not_allocated() {
        let mut bytes = nar(&FILE[..3]);
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let e = read(&bytes).unwrap_err();
        assert!(
            matches!(&e, NarReadError::Expected { offset: 56, found, .. }
                if found == &format!("a string of {} bytes", u64::MAX)),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "bad nar at offset 56: expected \"regular\", \"symlink\" or \"directory\", \
                 found a string of {} bytes",
                u64::MAX
            )
        );
    }

    #[test]
    fn unsorted_and_duplicate_names() {
        let (bytes, offset) = dir_with(19, b"a");
        let e = read(&bytes).unwrap_err();
        assert!(
            matches!(&e, NarReadError::Duplicate { offset: o, name } if *o == offset && name == b"a"),
            "{e}"
        );
        let (bytes, offset) = dir_with(29, b"B");
        let e = read(&bytes).unwrap_err();
        assert!(
            matches!(&e, NarReadError::Unsorted { offset: o, previous, name }
                if *o == offset && previous == b"b" && name == b"B"),
            "{e}"
        );
        assert!(
            e.to_string().contains("entry \"B\" comes after \"b\""),
            "{e}"
        );
    }

    #[test]
    fn invalid_names() {
        for name in [&b""[..], b".", b"..", b"/", b"x/", b"\0", b"a\0b"] {
            let (bytes, offset) = dir_with(7, name);
            let e = read(&bytes).unwrap_err();
            assert!(
                matches!(&e, NarReadError::InvalidName { offset: o, name: n } if *o == offset && n == name),
                "{e}"
            );
        }
    }

    #[test]
    fn invalid_targets() {
        for target in [&b""[..], b"a\0"] {
            let (bytes, offset) = dir_with(13, target);
            let e = read(&bytes).unwrap_err();
            assert!(
                matches!(&e, NarReadError::InvalidTarget { offset: o, target: t } if *o == offset && t == target),
                "{e}"
            );
        }
    }

    #[test]
    fn too_long() {
        // Sorts before the next entry, "b".
        let long_name = [b'a'; MAX_NAME_LEN + 1];
        let (bytes, offset) = dir_with(7, &long_name);
        assert!(matches!(
            read(&bytes),
            Err(NarReadError::TooLong { offset: o, what: "entry name", len: 256, limit: 255 }) if o == offset
        ));
        let (bytes, _) = dir_with(7, &long_name[1..]);
        read(&bytes).unwrap();

        let long_target = [b't'; MAX_TARGET_LEN + 1];
        let (bytes, offset) = dir_with(13, &long_target);
        assert!(matches!(
            read(&bytes),
            Err(NarReadError::TooLong { offset: o, what: "symlink target", len: 4096, limit: 4095 }) if o == offset
        ));
        let (bytes, _) = dir_with(13, &long_target[1..]);
        read(&bytes).unwrap();

        // A length that does not fit in memory is refused, not allocated.
        let mut bytes = nar(&DIR[..7]);
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            read(&bytes),
            Err(NarReadError::TooLong { len: u64::MAX, .. })
        ));
    }

    #[test]
    fn huge_contents_stream_and_report_truncation() {
        let mut bytes = nar(&FILE[..5]);
        bytes.extend_from_slice(&(u64::MAX - 3).to_le_bytes());
        bytes.extend_from_slice(b"only this");
        let len = bytes.len() as u64;
        assert!(matches!(
            read(&bytes),
            Err(NarReadError::Truncated { offset }) if offset == len
        ));
    }

    #[test]
    fn non_zero_padding() {
        // In a keyword, a name, a symlink target and file contents.
        for (i, token) in [
            (3usize, &b"directory"[..]),
            (7, b"a"),
            (13, b"t"),
            (37, b"xy"),
        ] {
            let (mut bytes, offset) = dir_with(i, token);
            let pad = offset + 8 + token.len() as u64;
            bytes[pad as usize + 1] = 0x20;
            assert!(
                matches!(read(&bytes), Err(NarReadError::BadPadding { offset }) if offset == pad),
                "{}",
                show_bytes(token)
            );
        }
    }

    #[test]
    fn every_truncation_is_reported_where_it_happens() {
        for whole in [nar(FILE), nar(DIR)] {
            for len in 0..whole.len() {
                match read(&whole[..len]) {
                    Err(NarReadError::Truncated { offset }) => assert_eq!(offset, len as u64),
                    other => panic!("prefix of {len} bytes: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_data() {
        for extra in [&b"\0"[..], &[0u8; 8], b"x"] {
            let mut bytes = nar(DIR);
            let len = bytes.len() as u64;
            bytes.extend_from_slice(extra);
            assert!(matches!(
                read(&bytes),
                Err(NarReadError::TrailingData { offset }) if offset == len
            ));
        }
    }

    #[test]
    fn depth_limit() {
        /// An archive of `depth` nested directories named "d".
        fn nested(depth: usize) -> Vec<u8> {
            let mut v = nar(&[b"nix-archive-1", b"(", b"type", b"directory"]);
            for _ in 1..depth {
                v.extend(nar(&[b"entry", b"(", b"name", b"d", b"node"]));
                v.extend(nar(&[b"(", b"type", b"directory"]));
            }
            v.extend(s(b")"));
            for _ in 1..depth {
                v.extend(nar(&[b")", b")"]));
            }
            v
        }
        // Root plus 256 levels: the deepest has a path of 256 components.
        let ok = nested(MAX_DEPTH + 1);
        read(&ok).unwrap();
        let deep = nested(MAX_DEPTH + 2);
        // The offending entry follows the magic (24 bytes), the root's head
        // ("(" "type" "directory": 16 + 16 + 24) and 256 levels of
        // "entry" "(" "name" "d" "node" (5 * 16) plus a directory head.
        let want = 24 + 56 + (MAX_DEPTH as u64) * (5 * 16 + 56);
        match read(&deep) {
            Err(NarReadError::TooDeep { offset }) => assert_eq!(offset, want),
            other => panic!("{other:?}"),
        }
    }

    /// Records events; reads `take` bytes of each file.
    struct Recorder {
        take: usize,
        events: Vec<String>,
        fail_on_symlink: bool,
    }

    impl NarVisitor for Recorder {
        fn regular(
            &mut self,
            path: &[Vec<u8>],
            executable: bool,
            size: u64,
            contents: &mut dyn Read,
        ) -> io::Result<()> {
            let mut buf = vec![0u8; self.take];
            let n = contents.read(&mut buf)?;
            self.events.push(format!(
                "file {path:?} x={executable} size={size} read={}",
                show_bytes(&buf[..n])
            ));
            Ok(())
        }
        fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
            if self.fail_on_symlink {
                return Err(io::Error::other("visitor says no"));
            }
            self.events
                .push(format!("link {path:?} -> {}", show_bytes(target)));
            Ok(())
        }
        fn begin_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
            self.events.push(format!("begin {path:?}"));
            Ok(())
        }
        fn end_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
            self.events.push(format!("end {path:?}"));
            Ok(())
        }
    }

    #[test]
    fn visitor_sees_events_in_order_and_may_skip_contents() {
        let bytes = nar(DIR);
        for take in [0, 1, 100] {
            let mut v = Recorder {
                take,
                events: Vec::new(),
                fail_on_symlink: false,
            };
            let n = read_nar(bytes.as_slice(), &mut v).unwrap();
            assert_eq!(n, bytes.len() as u64);
            let read = show_bytes(&b"xy"[..take.min(2)]);
            assert_eq!(
                v.events,
                [
                    "begin []".to_owned(),
                    "link [[97]] -> \"t\"".to_owned(),
                    "begin [[98]]".to_owned(),
                    "end [[98]]".to_owned(),
                    format!("file [[99]] x=true size=2 read={read}"),
                    "end []".to_owned(),
                ]
            );
        }
    }

    #[test]
    fn visitor_errors_stop_the_read() {
        let mut v = Recorder {
            take: 0,
            events: Vec::new(),
            fail_on_symlink: true,
        };
        let e = read_nar(nar(DIR).as_slice(), &mut v).unwrap_err();
        assert!(matches!(&e, NarReadError::Io(io) if io.to_string() == "visitor says no"));
        assert_eq!(v.events, ["begin []"]);
    }

    /// A reader that gives one byte at a time and is often interrupted.
    struct Trickle<'a> {
        data: &'a [u8],
        tick: u32,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.tick += 1;
            if self.tick % 3 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.data.len()).min(1);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_reads_and_interrupts_are_invisible() {
        let bytes = nar(DIR);
        let tree = NarNode::from_nar(Trickle {
            data: &bytes,
            tick: 0,
        })
        .unwrap();
        assert_eq!(tree, read(&bytes).unwrap());
    }

    #[test]
    fn trailing_data_in_a_longer_stream() {
        // read_nar takes any Read, including `&mut` to a longer stream; the
        // trailing check then reports the extra data.
        let mut bytes = nar(FILE);
        bytes.extend_from_slice(b"next");
        let mut r = bytes.as_slice();
        assert!(matches!(
            NarNode::from_nar(&mut r),
            Err(NarReadError::TrailingData { offset: 120 })
        ));
    }
}
