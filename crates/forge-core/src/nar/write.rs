//! Writing archives: [`NarEncoder`], an event-style encoder.
//!
//! The caller walks its tree (a directory on disk, a tarball, a [`NarNode`])
//! and reports what it finds, in order:
//!
//! ```text
//! NarEncoder::new(w)          // writes the magic
//! begin_directory()           // the root is a directory
//!   entry(b"bin")             // its first entry…
//!   begin_directory()         // …is a directory
//!     entry(b"hello")
//!     regular(true, size, &mut file)
//!   end_directory()
//!   entry(b"lib")
//!   symlink(b"bin")
//! end_directory()
//! finish()                    // returns the writer
//! ```
//!
//! Each call writes its bytes at once; nothing is buffered, so wrap the
//! writer in a [`std::io::BufWriter`] when it is a file or a socket. The
//! encoder checks the sequence (a node must follow `new` and each `entry`;
//! only `entry` or `end_directory` may follow a node inside a directory),
//! the names (valid and strictly increasing) and the limits, so whatever it
//! writes is a canonical archive that [`read_nar`](super::read_nar) accepts.
//!
//! A rejected call writes nothing and leaves the encoder as it was. After an
//! I/O error or short file contents the archive is broken halfway, and every
//! later call fails with [`NarWriteError::Poisoned`].
//!
//! [`NarNode`]: super::NarNode

use std::fmt;
use std::io::{self, Read, Write};

use thiserror::Error;

use super::{
    name_problem, padding_len, show_bytes, target_problem, MAX_DEPTH, MAX_NAME_LEN, MAX_TARGET_LEN,
    NAR_MAGIC,
};

/// Why an encoder call failed.
#[derive(Debug, Error)]
pub enum NarWriteError {
    /// Writing to the underlying writer, or reading file contents, failed.
    #[error("writing nar: {0}")]
    Io(#[from] io::Error),
    /// A node (`regular`, `symlink`, `begin_directory`) was written inside a
    /// directory where `entry` or `end_directory` must come next.
    #[error("nar sequence: `{call}` inside a directory needs an `entry` first")]
    ExpectedEntry {
        /// The call that was made.
        call: &'static str,
    },
    /// `entry`, `end_directory` or `finish` was called where a node must
    /// come next (the root, or the node of the last entry).
    #[error(
        "nar sequence: `{call}` where a node was expected (regular, symlink or begin_directory)"
    )]
    ExpectedNode {
        /// The call that was made.
        call: &'static str,
    },
    /// A call came after the root node was complete; only `finish` may.
    #[error("nar sequence: `{call}` after the root node is complete")]
    RootComplete {
        /// The call that was made.
        call: &'static str,
    },
    /// `finish` was called with directories still open.
    #[error("nar sequence: `finish` with {open} directories still open")]
    Incomplete {
        /// How many `begin_directory` calls have no `end_directory`.
        open: usize,
    },
    /// An entry name is empty, `.`, `..`, or contains `/` or NUL.
    #[error("invalid entry name {}: {}", show_bytes(.name), name_problem(.name).unwrap_or("invalid"))]
    InvalidName {
        /// The rejected name.
        name: Vec<u8>,
    },
    /// An entry name is not greater than the previous entry's name.
    #[error("entry {} comes after {}; entries must be sorted bytewise", show_bytes(.name), show_bytes(.previous))]
    Unsorted {
        /// The previous entry's name.
        previous: Vec<u8>,
        /// The rejected name.
        name: Vec<u8>,
    },
    /// An entry name equals the previous entry's name.
    #[error("duplicate entry {}", show_bytes(.name))]
    Duplicate {
        /// The repeated name.
        name: Vec<u8>,
    },
    /// A symlink target is empty or contains NUL.
    #[error("invalid symlink target {}: {}", show_bytes(.target), target_problem(.target).unwrap_or("invalid"))]
    InvalidTarget {
        /// The rejected target.
        target: Vec<u8>,
    },
    /// A name or symlink target is longer than the limit.
    #[error("{what} is {len} bytes long; the limit is {limit}")]
    TooLong {
        /// What is too long (`entry name`, `symlink target`).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit ([`MAX_NAME_LEN`] or [`MAX_TARGET_LEN`]).
        limit: usize,
    },
    /// An entry would be nested deeper than [`MAX_DEPTH`].
    #[error("entry would be nested more than {MAX_DEPTH} directories deep")]
    TooDeep,
    /// The contents reader of a regular file ended before `expected` bytes.
    #[error("file contents ended after {got} of {expected} bytes")]
    ShortContents {
        /// The size announced to [`NarEncoder::regular`].
        expected: u64,
        /// The bytes the reader gave.
        got: u64,
    },
    /// An earlier I/O error or short contents left the archive half written.
    #[error("nar encoder is unusable after an earlier write error")]
    Poisoned,
}

/// One open directory.
#[derive(Debug)]
struct OpenDir {
    /// The name of its last entry, to check the order of the next one.
    last: Option<Vec<u8>>,
}

/// Writes a NAR from a sequence of events; see the [module docs](self).
pub struct NarEncoder<W: Write> {
    w: W,
    /// Open directories, innermost last.
    dirs: Vec<OpenDir>,
    /// True when the next call must write a node (after `new` and `entry`).
    expect_node: bool,
    poisoned: bool,
    /// Reused buffer for file contents: large reads keep syscalls and the
    /// sink's per-write overhead low on big files.
    copy_buf: Vec<u8>,
}

/// Largest buffer used to copy file contents.
const COPY_BUF_MAX: usize = 256 * 1024;

/// Copies exactly up to `size` bytes from `r` to `w` through `buf` (grown on
/// demand up to [`COPY_BUF_MAX`]); returns the bytes copied.
fn copy_contents(
    r: &mut dyn Read,
    w: &mut impl Write,
    size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let want = size.min(COPY_BUF_MAX as u64) as usize;
    if buf.len() < want {
        buf.resize(want, 0);
    }
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let got = match r.read(&mut buf[..n]) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..got])?;
        left -= got as u64;
    }
    Ok(size - left)
}

impl<W: Write> fmt::Debug for NarEncoder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NarEncoder")
            .field("depth", &self.dirs.len())
            .field("expect_node", &self.expect_node)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Writes one string: length, bytes, padding.
fn write_str(w: &mut impl Write, s: &[u8]) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s)?;
    write_padding(w, s.len() as u64)
}

fn write_padding(w: &mut impl Write, len: u64) -> io::Result<()> {
    w.write_all(&[0u8; 8][..padding_len(len)])
}

fn write_tokens(w: &mut impl Write, tokens: &[&str]) -> io::Result<()> {
    tokens.iter().try_for_each(|t| write_str(w, t.as_bytes()))
}

impl<W: Write> NarEncoder<W> {
    /// Starts an archive on `w` by writing the magic. The next call must
    /// write the root node.
    pub fn new(mut w: W) -> Result<Self, NarWriteError> {
        write_str(&mut w, NAR_MAGIC.as_bytes())?;
        Ok(NarEncoder {
            w,
            dirs: Vec::new(),
            expect_node: true,
            poisoned: false,
            copy_buf: Vec::new(),
        })
    }

    /// Checks that a node may be written now.
    fn check_node(&self, call: &'static str) -> Result<(), NarWriteError> {
        if self.poisoned {
            Err(NarWriteError::Poisoned)
        } else if self.expect_node {
            Ok(())
        } else if self.dirs.is_empty() {
            Err(NarWriteError::RootComplete { call })
        } else {
            Err(NarWriteError::ExpectedEntry { call })
        }
    }

    /// Checks that an entry may start, or a directory end, now.
    fn check_in_directory(&self, call: &'static str) -> Result<(), NarWriteError> {
        if self.poisoned {
            Err(NarWriteError::Poisoned)
        } else if self.expect_node {
            Err(NarWriteError::ExpectedNode { call })
        } else if self.dirs.is_empty() {
            Err(NarWriteError::RootComplete { call })
        } else {
            Ok(())
        }
    }

    /// Runs a write, poisoning the encoder if it fails.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut W) -> Result<T, NarWriteError>,
    ) -> Result<T, NarWriteError> {
        let r = f(&mut self.w);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Bookkeeping after a complete node: close the entry that held it.
    fn node_done(&mut self) -> Result<(), NarWriteError> {
        self.expect_node = false;
        if !self.dirs.is_empty() {
            self.guarded(|w| Ok(write_str(w, b")")?))?;
        }
        Ok(())
    }

    /// Writes a regular file of `size` bytes, copied from `contents`.
    ///
    /// Exactly `size` bytes are read; it is an error
    /// ([`NarWriteError::ShortContents`]) if `contents` ends sooner, and any
    /// bytes after `size` are left unread.
    pub fn regular(
        &mut self,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> Result<(), NarWriteError> {
        self.check_node("regular")?;
        let mut buf = std::mem::take(&mut self.copy_buf);
        let res = self.guarded(|w| {
            write_tokens(w, &["(", "type", "regular"])?;
            if executable {
                write_tokens(w, &["executable", ""])?;
            }
            write_str(w, b"contents")?;
            w.write_all(&size.to_le_bytes())?;
            let got = copy_contents(contents, w, size, &mut buf)?;
            if got != size {
                return Err(NarWriteError::ShortContents {
                    expected: size,
                    got,
                });
            }
            write_padding(w, size)?;
            Ok(write_str(w, b")")?)
        });
        self.copy_buf = buf;
        res?;
        self.node_done()
    }

    /// Writes a symlink pointing at `target`.
    pub fn symlink(&mut self, target: &[u8]) -> Result<(), NarWriteError> {
        self.check_node("symlink")?;
        if target.len() > MAX_TARGET_LEN {
            return Err(NarWriteError::TooLong {
                what: "symlink target",
                len: target.len(),
                limit: MAX_TARGET_LEN,
            });
        }
        if target_problem(target).is_some() {
            return Err(NarWriteError::InvalidTarget {
                target: target.to_vec(),
            });
        }
        self.guarded(|w| {
            write_tokens(w, &["(", "type", "symlink", "target"])?;
            write_str(w, target)?;
            Ok(write_str(w, b")")?)
        })?;
        self.node_done()
    }

    /// Starts a directory. Its entries follow, each an [`entry`](Self::entry)
    /// and a node, then [`end_directory`](Self::end_directory).
    pub fn begin_directory(&mut self) -> Result<(), NarWriteError> {
        self.check_node("begin_directory")?;
        self.guarded(|w| Ok(write_tokens(w, &["(", "type", "directory"])?))?;
        self.dirs.push(OpenDir { last: None });
        self.expect_node = false;
        Ok(())
    }

    /// Starts an entry of the innermost open directory; the next call writes
    /// its node. `name` must be valid and greater, bytewise, than the name of
    /// the previous entry.
    pub fn entry(&mut self, name: &[u8]) -> Result<(), NarWriteError> {
        self.check_in_directory("entry")?;
        if name.len() > MAX_NAME_LEN {
            return Err(NarWriteError::TooLong {
                what: "entry name",
                len: name.len(),
                limit: MAX_NAME_LEN,
            });
        }
        if name_problem(name).is_some() {
            return Err(NarWriteError::InvalidName {
                name: name.to_vec(),
            });
        }
        // The entry's path has one component per open directory.
        if self.dirs.len() > MAX_DEPTH {
            return Err(NarWriteError::TooDeep);
        }
        let dir = self
            .dirs
            .last_mut()
            .ok_or(NarWriteError::RootComplete { call: "entry" })?;
        if let Some(previous) = &dir.last {
            match previous.as_slice().cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(NarWriteError::Duplicate {
                        name: name.to_vec(),
                    })
                }
                std::cmp::Ordering::Greater => {
                    return Err(NarWriteError::Unsorted {
                        previous: previous.clone(),
                        name: name.to_vec(),
                    })
                }
            }
        }
        dir.last = Some(name.to_vec());
        self.guarded(|w| {
            write_tokens(w, &["entry", "(", "name"])?;
            write_str(w, name)?;
            Ok(write_str(w, b"node")?)
        })?;
        self.expect_node = true;
        Ok(())
    }

    /// Ends the innermost open directory.
    pub fn end_directory(&mut self) -> Result<(), NarWriteError> {
        self.check_in_directory("end_directory")?;
        self.guarded(|w| Ok(write_str(w, b")")?))?;
        self.dirs.pop();
        self.node_done()
    }

    /// Checks that the root node is complete and returns the writer, flushed.
    pub fn finish(mut self) -> Result<W, NarWriteError> {
        if self.poisoned {
            return Err(NarWriteError::Poisoned);
        }
        if self.expect_node {
            return Err(NarWriteError::ExpectedNode { call: "finish" });
        }
        if !self.dirs.is_empty() {
            return Err(NarWriteError::Incomplete {
                open: self.dirs.len(),
            });
        }
        self.w.flush()?;
        Ok(self.w)
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.w
    }

    /// The underlying writer, mutably. Writing to it directly corrupts the
    /// archive; this is for inspecting state such as a hasher's progress.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc() -> NarEncoder<Vec<u8>> {
        NarEncoder::new(Vec::new()).unwrap()
    }

    #[test]
    fn single_file_matches_nix() {
        // `printf abc > f; nix-store --dump f`
        let mut e = enc();
        e.regular(false, 3, &mut &b"abc"[..]).unwrap();
        let mut want = Vec::new();
        for s in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"abc",
            b")",
        ] {
            want.extend_from_slice(&(s.len() as u64).to_le_bytes());
            want.extend_from_slice(s);
            want.resize(want.len().next_multiple_of(8), 0);
        }
        assert_eq!(e.finish().unwrap(), want);
    }

    #[test]
    fn sequence_errors() {
        use NarWriteError::*;
        // Nothing written yet: the root must come first.
        let mut e = enc();
        assert!(matches!(e.entry(b"a"), Err(ExpectedNode { call: "entry" })));
        assert!(matches!(
            e.end_directory(),
            Err(ExpectedNode {
                call: "end_directory"
            })
        ));
        assert!(matches!(
            enc().finish(),
            Err(ExpectedNode { call: "finish" })
        ));

        // Inside a directory: a node needs an entry first.
        e.begin_directory().unwrap();
        assert!(matches!(
            e.symlink(b"x"),
            Err(ExpectedEntry { call: "symlink" })
        ));
        assert!(matches!(
            e.regular(false, 0, &mut io::empty()),
            Err(ExpectedEntry { call: "regular" })
        ));
        assert!(matches!(
            e.begin_directory(),
            Err(ExpectedEntry {
                call: "begin_directory"
            })
        ));
        // After an entry: a node, not another entry or the end.
        e.entry(b"a").unwrap();
        assert!(matches!(e.entry(b"b"), Err(ExpectedNode { .. })));
        assert!(matches!(e.end_directory(), Err(ExpectedNode { .. })));
        e.begin_directory().unwrap();
        assert_eq!(e.get_ref().len() % 8, 0);
        e.end_directory().unwrap();
        // Open directories are reported by finish.
        let mut e2 = enc();
        e2.begin_directory().unwrap();
        e2.entry(b"d").unwrap();
        e2.begin_directory().unwrap();
        assert!(matches!(e2.finish(), Err(Incomplete { open: 2 })));

        e.end_directory().unwrap();
        // The root is complete: nothing but finish.
        assert!(matches!(e.entry(b"z"), Err(RootComplete { call: "entry" })));
        assert!(matches!(
            e.symlink(b"x"),
            Err(RootComplete { call: "symlink" })
        ));
        assert!(matches!(
            e.end_directory(),
            Err(RootComplete {
                call: "end_directory"
            })
        ));
        let bytes = e.finish().unwrap();
        let tree = super::super::NarNode::from_nar(&bytes[..]).unwrap();
        assert_eq!(tree.to_nar(), bytes);
    }

    #[test]
    fn rejected_calls_write_nothing() {
        let mut e = enc();
        e.begin_directory().unwrap();
        e.entry(b"b").unwrap();
        e.symlink(b"t").unwrap();
        let len = e.get_ref().len();
        assert!(e.entry(b"a").is_err());
        assert!(e.entry(b"b").is_err());
        assert!(e.entry(b"x/y").is_err());
        assert!(e.symlink(b"t").is_err());
        assert_eq!(e.get_ref().len(), len);
        e.entry(b"c").unwrap();
        assert!(e.symlink(b"").is_err());
        // entry, (, name, c, node: five strings of 16 bytes each.
        assert_eq!(e.get_ref().len(), len + 80);
        e.symlink(b"t").unwrap();
        e.end_directory().unwrap();
        e.finish().unwrap();
    }

    #[test]
    fn name_errors() {
        use NarWriteError::*;
        let mut e = enc();
        e.begin_directory().unwrap();
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            let err = e.entry(bad).unwrap_err();
            assert!(matches!(&err, InvalidName { name } if name == bad), "{err}");
        }
        assert!(matches!(
            e.entry(&[b'x'; 256]),
            Err(TooLong {
                what: "entry name",
                len: 256,
                limit: 255
            })
        ));
        e.entry(b"m").unwrap();
        e.symlink(b"t").unwrap();
        let err = e.entry(b"m").unwrap_err();
        assert!(matches!(&err, Duplicate { name } if name == b"m"), "{err}");
        let err = e.entry(b"B").unwrap_err();
        assert!(
            matches!(&err, Unsorted { previous, name } if previous == b"m" && name == b"B"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "entry \"B\" comes after \"m\"; entries must be sorted bytewise"
        );
        // Bytewise, not by Unicode scalar or locale: "z" < "é" (0xc3).
        e.entry(b"z").unwrap();
        e.symlink(b"t").unwrap();
        e.entry("é".as_bytes()).unwrap();
        e.symlink(b"t").unwrap();
    }

    #[test]
    fn target_errors() {
        use NarWriteError::*;
        assert!(matches!(enc().symlink(b""), Err(InvalidTarget { .. })));
        assert!(matches!(enc().symlink(b"a\0"), Err(InvalidTarget { .. })));
        assert!(matches!(
            enc().symlink(&[b'x'; 4096]),
            Err(TooLong { len: 4096, .. })
        ));
        enc().symlink(&[b'x'; 4095]).unwrap();
    }

    #[test]
    fn depth_limit() {
        let mut e = enc();
        e.begin_directory().unwrap();
        for _ in 1..MAX_DEPTH {
            e.entry(b"d").unwrap();
            e.begin_directory().unwrap();
        }
        // 256 directories are open; an entry in the innermost would be at
        // depth 256 and is still allowed; one more level is not.
        e.entry(b"d").unwrap();
        e.begin_directory().unwrap();
        assert!(matches!(e.entry(b"d"), Err(NarWriteError::TooDeep)));
        for _ in 0..=MAX_DEPTH {
            e.end_directory().unwrap();
        }
        let bytes = e.finish().unwrap();
        super::super::NarNode::from_nar(&bytes[..]).unwrap();
    }

    #[test]
    fn short_contents_poison() {
        let mut e = enc();
        let err = e.regular(true, 10, &mut &b"abc"[..]).unwrap_err();
        assert!(
            matches!(
                err,
                NarWriteError::ShortContents {
                    expected: 10,
                    got: 3
                }
            ),
            "{err}"
        );
        assert!(matches!(e.symlink(b"x"), Err(NarWriteError::Poisoned)));
        assert!(matches!(e.finish(), Err(NarWriteError::Poisoned)));
    }

    #[test]
    fn extra_contents_are_left_unread() {
        let mut e = enc();
        let mut src = &b"abcdef"[..];
        e.regular(false, 4, &mut src).unwrap();
        assert_eq!(src, b"ef");
    }

    #[test]
    fn io_errors_poison() {
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(
            NarEncoder::new(Full(4)),
            Err(NarWriteError::Io(_))
        ));
        let mut e = NarEncoder::new(Full(40)).unwrap();
        assert!(matches!(
            e.regular(false, 0, &mut io::empty()),
            Err(NarWriteError::Io(_))
        ));
        assert!(matches!(
            e.regular(false, 0, &mut io::empty()),
            Err(NarWriteError::Poisoned)
        ));
    }
}
