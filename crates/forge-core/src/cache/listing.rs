//! `<digest>.ls`: the files inside a path's NAR as JSON, so a client (or a
//! person with a browser) sees what a path holds without fetching it
//! (docs/cache.md, "Formats"). Byte for byte what Nix writes with
//! `write-nar-listing=true`:
//!
//! ```text
//! {"version":1,"root":{"type":"directory","entries":{"bin":{"type":"regular","size":18,"executable":true,"narOffset":608}}}}
//! ```
//!
//! A regular file's `narOffset` is where its contents start in the NAR, so a
//! client with an uncompressed NAR can fetch one file with a Range request.
//! JSON strings are text: an archive with a name or symlink target that is
//! not UTF-8 has no listing.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::rc::Rc;

use thiserror::Error;

use crate::nar::{read_nar, NarReadError, NarVisitor};

/// One node of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingNode {
    /// A regular file.
    Regular {
        /// Its length.
        size: u64,
        /// Whether it is executable.
        executable: bool,
        /// Where its contents start in the NAR.
        nar_offset: u64,
    },
    /// A symlink.
    Symlink {
        /// Its target.
        target: String,
    },
    /// A directory and its entries, in NAR (bytewise) order.
    Directory {
        /// The entries by name.
        entries: BTreeMap<String, ListingNode>,
    },
}

/// The listing of one NAR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The root node.
    pub root: ListingNode,
}

/// Why a NAR has no listing.
#[derive(Debug, Error)]
pub enum ListingError {
    /// The NAR is malformed.
    #[error(transparent)]
    Nar(#[from] NarReadError),
    /// A name or symlink target is not UTF-8.
    #[error("{what} {shown} is not UTF-8; a listing holds only text")]
    NotUtf8 {
        /// `entry name` or `symlink target`.
        what: &'static str,
        /// The bytes, shown with escapes.
        shown: String,
    },
}

impl Listing {
    /// Reads the NAR in `nar` (which must be all of it) and lists it.
    pub fn from_nar(nar: impl Read) -> Result<Self, ListingError> {
        let offset = Rc::new(Cell::new(0));
        let counting = Counting {
            inner: nar,
            count: Rc::clone(&offset),
        };
        let mut v = Lister {
            offset,
            stack: Vec::new(),
            root: None,
            not_utf8: None,
        };
        let read = read_nar(counting, &mut v);
        if let Some(e) = v.not_utf8.take() {
            return Err(e);
        }
        read?;
        let root = v.root.ok_or(ListingError::Nar(NarReadError::Truncated {
            offset: v.offset.get(),
        }))?;
        Ok(Listing { root })
    }

    /// The `.ls` text: `{"version":1,"root":…}` with Nix's key order, no
    /// spaces and no trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = String::from(r#"{"version":1,"root":"#);
        write_node(&mut s, &self.root);
        s.push('}');
        s
    }
}

fn write_node(s: &mut String, node: &ListingNode) {
    match node {
        ListingNode::Regular {
            size,
            executable,
            nar_offset,
        } => {
            s.push_str(&format!(r#"{{"type":"regular","size":{size}"#));
            if *executable {
                s.push_str(r#","executable":true"#);
            }
            s.push_str(&format!(r#","narOffset":{nar_offset}}}"#));
        }
        ListingNode::Symlink { target } => {
            s.push_str(r#"{"type":"symlink","target":"#);
            push_json_string(s, target);
            s.push('}');
        }
        ListingNode::Directory { entries } => {
            s.push_str(r#"{"type":"directory","entries":{"#);
            for (i, (name, child)) in entries.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_json_string(s, name);
                s.push(':');
                write_node(s, child);
            }
            s.push_str("}}");
        }
    }
}

fn push_json_string(s: &mut String, text: &str) {
    // Serialising a str to JSON cannot fail.
    s.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Builds the tree as the reader reports nodes.
struct Lister {
    /// Bytes the NAR reader has consumed: at a regular file, where its
    /// contents start (the reader reads exactly, never ahead).
    offset: Rc<Cell<u64>>,
    /// Directories begun and not yet ended: their name and entries so far.
    stack: Vec<(String, BTreeMap<String, ListingNode>)>,
    root: Option<ListingNode>,
    not_utf8: Option<ListingError>,
}

impl Lister {
    fn text(&mut self, what: &'static str, bytes: &[u8]) -> io::Result<String> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.not_utf8 = Some(ListingError::NotUtf8 {
                    what,
                    shown: crate::nar::show_bytes(bytes),
                });
                Err(io::Error::other("not UTF-8"))
            }
        }
    }

    fn name(&mut self, path: &[Vec<u8>]) -> io::Result<String> {
        match path.last() {
            Some(n) => self.text("entry name", n),
            None => Ok(String::new()),
        }
    }

    /// Puts a finished node into its directory, or makes it the root.
    fn place(&mut self, name: String, node: ListingNode) {
        match self.stack.last_mut() {
            Some((_, entries)) => {
                entries.insert(name, node);
            }
            None => self.root = Some(node),
        }
    }
}

impl NarVisitor for Lister {
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        _contents: &mut dyn Read,
    ) -> io::Result<()> {
        let name = self.name(path)?;
        let node = ListingNode::Regular {
            size,
            executable,
            nar_offset: self.offset.get(),
        };
        self.place(name, node);
        Ok(())
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        let name = self.name(path)?;
        let target = self.text("symlink target", target)?;
        self.place(name, ListingNode::Symlink { target });
        Ok(())
    }

    fn begin_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let name = self.name(path)?;
        self.stack.push((name, BTreeMap::new()));
        Ok(())
    }

    fn end_directory(&mut self, _path: &[Vec<u8>]) -> io::Result<()> {
        if let Some((name, entries)) = self.stack.pop() {
            self.place(name, ListingNode::Directory { entries });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nar::NarNode;

    #[test]
    fn lists_a_tree_with_offsets() {
        let tree = NarNode::Directory(BTreeMap::from([
            (
                b"a".to_vec(),
                NarNode::Regular {
                    executable: false,
                    contents: b"hello".to_vec(),
                },
            ),
            (
                b"l".to_vec(),
                NarNode::Symlink {
                    target: b"a".to_vec(),
                },
            ),
        ]));
        let nar = tree.to_nar();
        let listing = Listing::from_nar(&nar[..]).unwrap();
        let ListingNode::Directory { entries } = &listing.root else {
            panic!("{listing:?}");
        };
        let ListingNode::Regular { nar_offset, .. } = entries["a"] else {
            panic!("{entries:?}");
        };
        assert_eq!(&nar[nar_offset as usize..][..5], b"hello");
        assert!(listing
            .to_json()
            .contains(r#""l":{"type":"symlink","target":"a"}"#));
    }

    #[test]
    fn refuses_names_that_are_not_text() {
        let tree = NarNode::Directory(BTreeMap::from([(
            b"\xff".to_vec(),
            NarNode::Symlink {
                target: b"x".to_vec(),
            },
        )]));
        let e = Listing::from_nar(&tree.to_nar()[..]).unwrap_err();
        assert!(
            matches!(
                e,
                ListingError::NotUtf8 {
                    what: "entry name",
                    ..
                }
            ),
            "{e}"
        );
        assert!(Listing::from_nar(&b"junk"[..]).is_err());
    }
}
