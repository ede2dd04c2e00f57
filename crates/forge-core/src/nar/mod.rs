//! The Nix ARchive (NAR) format, byte-identical to `nix-store --dump`.
//!
//! A NAR serialises a filesystem tree (regular files, executables, symlinks
//! and directories, nothing else: no owners, times or other permission bits)
//! into one byte string that depends only on the tree. forge hashes NARs to
//! identify store objects, so the same tree must give the same bytes on every
//! machine, and the bytes must be exactly those Nix produces.
//!
//! # Wire format
//!
//! Everything is built from one primitive, the *string*: a `u64`
//! little-endian length, the bytes, then zero bytes up to the next multiple
//! of 8. Keywords (`"("`, `"type"`, …) are strings too. An archive is
//!
//! ```text
//! archive   = str("nix-archive-1") node
//! node      = "(" "type" body ")"
//! body      = "regular" [ "executable" "" ] "contents" <str: file bytes>
//!           | "symlink" "target" <str: target>
//!           | "directory" entry*
//! entry     = "entry" "(" "name" <str: name> "node" node ")"
//! ```
//!
//! # Canonical form
//!
//! Every tree has exactly one NAR, and [`read_nar`] accepts only that one, so
//! reading an archive and writing it again always gives back the same bytes.
//! The rules:
//!
//! - directory entries are sorted by name, bytewise, with no duplicates;
//! - a name is not empty, `.` or `..`, and contains no `/` and no NUL byte;
//! - a symlink target is not empty and contains no NUL byte;
//! - padding bytes are zero, and nothing follows the root node.
//!
//! The reader also enforces limits so that a hostile archive cannot make it
//! allocate or recurse without bound: names of at most [`MAX_NAME_LEN`]
//! bytes, symlink targets of at most [`MAX_TARGET_LEN`] bytes and at most
//! [`MAX_DEPTH`] nested directories. File contents are never buffered: they
//! stream from the archive to the caller. The writer enforces the same rules
//! and limits, so anything it writes can be read back.
//!
//! # Pieces
//!
//! - [`NarEncoder`] ([`write`](mod@write)) writes an archive from a sequence of events
//!   (`begin_directory`, `entry`, `regular`, …), checking the sequence.
//! - [`read_nar`] ([`read`]) parses an archive and drives a [`NarVisitor`].
//! - [`NarNode`] is a whole tree in memory, for tests and small archives.

mod node;
pub mod read;
pub mod write;

pub use node::NarNode;
pub use read::{read_nar, read_nar_any_order, NarReadError, NarVisitor};
pub use write::{NarEncoder, NarWriteError};

/// The string every archive starts with.
pub const NAR_MAGIC: &str = "nix-archive-1";

/// Longest directory entry name, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Longest symlink target, in bytes (Linux's `PATH_MAX` less the NUL).
pub const MAX_TARGET_LEN: usize = 4095;

/// Deepest nesting: a node's path from the root has at most this many
/// components, so at most this many directories enclose it.
pub const MAX_DEPTH: usize = 256;

/// Why `name` cannot be a directory entry name, ignoring its length (which
/// is reported separately, with the limit).
pub(crate) fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("names must not be empty")
    } else if name == b"." || name == b".." {
        Some("`.` and `..` are not entries")
    } else if name.contains(&b'/') {
        Some("names must not contain '/'")
    } else if name.contains(&0) {
        Some("names must not contain NUL")
    } else {
        None
    }
}

/// Why `target` cannot be a symlink target, ignoring its length.
pub(crate) fn target_problem(target: &[u8]) -> Option<&'static str> {
    if target.is_empty() {
        Some("symlink targets must not be empty")
    } else if target.contains(&0) {
        Some("symlink targets must not contain NUL")
    } else {
        None
    }
}

/// True when `name` is a valid directory entry name: 1 to [`MAX_NAME_LEN`]
/// bytes, not `.` or `..`, without `/` or NUL.
pub fn is_valid_name(name: &[u8]) -> bool {
    name.len() <= MAX_NAME_LEN && name_problem(name).is_none()
}

/// Zero bytes that follow a string of `len` bytes.
pub(crate) fn padding_len(len: u64) -> usize {
    // The result is below 8, so the cast cannot truncate.
    ((8 - len % 8) % 8) as usize
}

/// Bytes shown in error messages, quoted and escaped, cut to a readable length.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    const SHOWN: usize = 64;
    let (head, cut) = if bytes.len() > SHOWN {
        (&bytes[..SHOWN], true)
    } else {
        (bytes, false)
    };
    let mut s = match std::str::from_utf8(head) {
        Ok(text) => format!("{text:?}"),
        Err(e) if cut && e.error_len().is_none() => {
            // Cut inside a multi-byte character: show the whole characters.
            let text = String::from_utf8_lossy(&head[..e.valid_up_to()]);
            format!("{text:?}")
        }
        Err(_) => format!("b\"{}\"", head.escape_ascii()),
    };
    if cut {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            &b"a"[..],
            b"...",
            b".a",
            "héllo".as_bytes(),
            b"\xff\n ",
            &[b'x'; 255],
        ] {
            assert!(is_valid_name(ok), "{}", show_bytes(ok));
        }
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0", &[b'x'; 256]] {
            assert!(!is_valid_name(bad), "{}", show_bytes(bad));
        }
    }

    #[test]
    fn shows_bytes_readably() {
        assert_eq!(show_bytes(b"abc"), "\"abc\"");
        assert_eq!(show_bytes(b"a\nb"), "\"a\\nb\"");
        assert_eq!(show_bytes(b"\xff("), "b\"\\xff(\"");
        let long = "é".repeat(40);
        let shown = show_bytes(long.as_bytes());
        assert!(shown.ends_with("… (80 bytes)"), "{shown}");
        assert!(
            shown.starts_with(&format!("\"{}\"", "é".repeat(32))),
            "{shown}"
        );
    }

    #[test]
    fn padding() {
        assert_eq!(padding_len(0), 0);
        assert_eq!(padding_len(1), 7);
        assert_eq!(padding_len(8), 0);
        assert_eq!(padding_len(13), 3);
        assert_eq!(padding_len(u64::MAX), 1);
    }
}
