//! [`NarNode`]: a whole archive as a tree in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};

use super::{read_nar, show_bytes, NarEncoder, NarReadError, NarVisitor, NarWriteError};

/// A filesystem tree held in memory, for tests and small archives.
///
/// Directory entries live in a [`BTreeMap`], whose order over `Vec<u8>` is
/// the bytewise order NAR requires, so a tree can never be unsorted. Its
/// names and targets can still be invalid (`"a/b"`, an empty target); such a
/// tree has no NAR, and writing it fails.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum NarNode {
    /// A regular file.
    Regular {
        /// Whether the owner-execute bit is set.
        executable: bool,
        /// The file's bytes.
        contents: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points, as raw bytes.
        target: Vec<u8>,
    },
    /// A directory, by entry name.
    Directory(BTreeMap<Vec<u8>, NarNode>),
}

impl NarNode {
    /// The archive of this tree.
    ///
    /// # Panics
    /// If the tree has an invalid name or symlink target, or exceeds a limit
    /// (see [`try_to_nar`](Self::try_to_nar) to get the error instead).
    pub fn to_nar(&self) -> Vec<u8> {
        match self.try_to_nar() {
            Ok(v) => v,
            Err(e) => panic!("NarNode::to_nar: tree has no nar: {e}"),
        }
    }

    /// The archive of this tree, or why it has none.
    pub fn try_to_nar(&self) -> Result<Vec<u8>, NarWriteError> {
        let mut enc = NarEncoder::new(Vec::new())?;
        self.write_to(&mut enc)?;
        enc.finish()
    }

    /// Writes this tree as the next node of `enc` (the root, or the node of
    /// the entry just started).
    pub fn write_to(&self, enc: &mut NarEncoder<impl Write>) -> Result<(), NarWriteError> {
        match self {
            NarNode::Regular {
                executable,
                contents,
            } => enc.regular(*executable, contents.len() as u64, &mut contents.as_slice()),
            NarNode::Symlink { target } => enc.symlink(target),
            NarNode::Directory(entries) => {
                enc.begin_directory()?;
                for (name, node) in entries {
                    enc.entry(name)?;
                    node.write_to(enc)?;
                }
                enc.end_directory()
            }
        }
    }

    /// Reads a whole archive into memory.
    pub fn from_nar(r: impl Read) -> Result<NarNode, NarReadError> {
        let mut b = TreeBuilder::default();
        read_nar(r, &mut b)?;
        b.root
            .ok_or_else(|| io::Error::other("nar reader reported no root node").into())
    }
}

impl fmt::Debug for NarNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(&'a [u8]);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&show_bytes(self.0))
            }
        }
        match self {
            NarNode::Regular {
                executable,
                contents,
            } => f
                .debug_struct("Regular")
                .field("executable", executable)
                .field("contents", &Shown(contents))
                .finish(),
            NarNode::Symlink { target } => f
                .debug_struct("Symlink")
                .field("target", &Shown(target))
                .finish(),
            NarNode::Directory(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (Shown(k), v)))
                .finish(),
        }
    }
}

/// Builds a [`NarNode`] from reader events.
#[derive(Debug, Default)]
struct TreeBuilder {
    /// Entries of the open directories, innermost last.
    open: Vec<BTreeMap<Vec<u8>, NarNode>>,
    root: Option<NarNode>,
}

impl TreeBuilder {
    fn place(&mut self, path: &[Vec<u8>], node: NarNode) -> io::Result<()> {
        match (path.last(), self.open.last_mut()) {
            (None, _) => self.root = Some(node),
            (Some(name), Some(dir)) => {
                dir.insert(name.clone(), node);
            }
            (Some(_), None) => return Err(io::Error::other("nar entry outside a directory")),
        }
        Ok(())
    }
}

impl NarVisitor for TreeBuilder {
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        _size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        // Not preallocated from `size`, which the archive claims: memory
        // grows only with bytes that actually arrive.
        let mut buf = Vec::new();
        contents.read_to_end(&mut buf)?;
        self.place(
            path,
            NarNode::Regular {
                executable,
                contents: buf,
            },
        )
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        self.place(
            path,
            NarNode::Symlink {
                target: target.to_vec(),
            },
        )
    }

    fn begin_directory(&mut self, _path: &[Vec<u8>]) -> io::Result<()> {
        self.open.push(BTreeMap::new());
        Ok(())
    }

    fn end_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let entries = self
            .open
            .pop()
            .ok_or_else(|| io::Error::other("nar directory ended twice"))?;
        self.place(path, NarNode::Directory(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nar::MAX_NAME_LEN;
    use proptest::prelude::*;

    /// Valid entry names: mostly short and readable, sometimes unicode, odd
    /// bytes (newline, 0xff, space, dots) or the maximum length.
    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[a-c]{1,3}".prop_map(String::into_bytes),
            2 => "\\PC{1,6}".prop_map(String::into_bytes),
            2 => proptest::collection::vec(any::<u8>(), 1..8),
            1 => Just(b"...".to_vec()),
            1 => Just(vec![b'n'; MAX_NAME_LEN]),
        ]
        .prop_filter("valid name", |n| crate::nar::is_valid_name(n))
    }

    fn target() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 1..40)
    }

    pub(crate) fn tree() -> impl Strategy<Value = NarNode> {
        let leaf = prop_oneof![
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
                |(executable, contents)| NarNode::Regular {
                    executable,
                    contents
                }
            ),
            target().prop_map(|target| NarNode::Symlink { target }),
            Just(NarNode::Directory(BTreeMap::new())),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            proptest::collection::btree_map(name(), inner, 0..6).prop_map(NarNode::Directory)
        })
    }

    #[test]
    fn invalid_trees_have_no_nar() {
        let bad =
            NarNode::Directory([(b"a/b".to_vec(), NarNode::Directory(BTreeMap::new()))].into());
        assert!(matches!(
            bad.try_to_nar(),
            Err(NarWriteError::InvalidName { .. })
        ));
        let bad = NarNode::Symlink { target: Vec::new() };
        assert!(matches!(
            bad.try_to_nar(),
            Err(NarWriteError::InvalidTarget { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "tree has no nar")]
    fn to_nar_panics_on_invalid_tree() {
        NarNode::Directory([(b".".to_vec(), NarNode::Directory(BTreeMap::new()))].into()).to_nar();
    }

    #[test]
    fn debug_is_readable() {
        let t = NarNode::Directory(
            [(
                "é".as_bytes().to_vec(),
                NarNode::Regular {
                    executable: true,
                    contents: b"hi\n".to_vec(),
                },
            )]
            .into(),
        );
        assert_eq!(
            format!("{t:?}"),
            "{\"é\": Regular { executable: true, contents: \"hi\\n\" }}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips(node in tree()) {
            let nar = node.to_nar();
            let back = NarNode::from_nar(nar.as_slice()).unwrap();
            prop_assert_eq!(&back, &node);
            prop_assert_eq!(back.to_nar(), nar);
        }

        #[test]
        fn mutations_never_panic(
            node in tree(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut nar = node.to_nar();
            for (at, byte) in edits {
                let i = at.index(nar.len());
                nar[i] = byte;
            }
            if truncate {
                nar.truncate(cut.index(nar.len()));
            }
            // Errors are fine; a panic fails the test. Whatever is accepted
            // must be canonical.
            if let Ok(back) = NarNode::from_nar(nar.as_slice()) {
                prop_assert_eq!(back.to_nar(), nar);
            }
        }
    }
}
