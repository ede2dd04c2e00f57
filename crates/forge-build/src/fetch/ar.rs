//! A streaming reader for Unix `ar` archives, the container of Debian
//! packages (`.deb`).
//!
//! The format: the magic `!<arch>\n`, then members, each a 60-byte header
//! (name 16, mtime 12, uid 6, gid 6, mode 8 (octal), size 10 (decimal), the
//! two bytes `` `\n ``) followed by `size` bytes of data and one byte of
//! padding when `size` is odd. Names come in three spellings, all read here:
//!
//! - short: up to 16 bytes, padded with spaces, GNU adds a trailing `/`;
//! - GNU long: `/123`, an offset into the `//` member's name table (whose
//!   lines end in `/\n`);
//! - BSD long: `#1/N`, the name is the first `N` bytes of the data.
//!
//! The GNU symbol table (`/`) and name table (`//`) are not returned as
//! members. Nothing is buffered but the name table, which is limited to
//! [`MAX_NAME_TABLE`] bytes: a member's data is read straight from the
//! underlying reader, and an unread rest is skipped by reading, so the
//! reader needs only [`Read`], not `Seek`.

use std::io::{self, Read};

use thiserror::Error;

/// The first bytes of every `ar` archive.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";
/// Size of a member header.
pub const HEADER_LEN: usize = 60;
/// Largest GNU name table (`//` member) this reader keeps in memory.
pub const MAX_NAME_TABLE: u64 = 1 << 20;
/// Longest BSD long name (`#1/N`) accepted.
pub const MAX_NAME_LEN: u64 = 4096;

/// Why an `ar` archive could not be read. Offsets count bytes from the start
/// of the archive.
#[derive(Debug, Error)]
pub enum ArError {
    /// The archive does not start with `!<arch>\n`.
    #[error("not an ar archive: the first 8 bytes are not `!<arch>\\n`")]
    BadMagic,
    /// The archive ends inside a header or a member.
    #[error("ar archive is truncated at offset {offset} (inside {what})")]
    Truncated {
        /// Where the data ran out.
        offset: u64,
        /// What was being read.
        what: &'static str,
    },
    /// A header field holds something other than what the format allows.
    #[error("ar member header at offset {offset}: invalid {field} field {value:?}")]
    BadHeader {
        /// Offset of the header.
        offset: u64,
        /// Which field.
        field: &'static str,
        /// The raw field, lossily decoded.
        value: String,
    },
    /// A long name that points outside the name table or is too long.
    #[error("ar member header at offset {offset}: {detail}")]
    BadName {
        /// Offset of the header.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// The underlying reader failed.
    #[error("reading ar archive at offset {offset}")]
    Io {
        /// Where.
        offset: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Reads the members of an `ar` archive one after another.
#[derive(Debug)]
pub struct ArReader<R> {
    inner: R,
    /// Offset of the next byte `inner` yields.
    offset: u64,
    /// Bytes of the current member's data not yet read.
    remaining: u64,
    /// Whether a padding byte follows the current member's data.
    pad: bool,
    /// The GNU long-name table, once seen.
    names: Option<Vec<u8>>,
}

/// One member: its name, mode and size, and a reader over its data.
#[derive(Debug)]
pub struct ArMember<'a, R> {
    /// The member's name, without GNU's trailing `/`.
    pub name: Vec<u8>,
    /// The mode field (octal in the header).
    pub mode: u32,
    /// Size of the data in bytes.
    pub size: u64,
    /// Offset of the member's header in the archive.
    pub offset: u64,
    reader: &'a mut ArReader<R>,
}

impl<R: Read> Read for ArMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = &mut *self.reader;
        if r.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(r.remaining).unwrap_or(usize::MAX));
        let n = r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "ar member data ends early at offset {} ({} bytes missing)",
                    r.offset, r.remaining
                ),
            ));
        }
        r.remaining -= n as u64;
        r.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read> ArReader<R> {
    /// Checks the magic and returns a reader positioned at the first member.
    pub fn new(mut inner: R) -> Result<Self, ArError> {
        let mut magic = [0u8; 8];
        match read_full(&mut inner, &mut magic) {
            Ok(8) if &magic == MAGIC => {}
            Ok(_) => return Err(ArError::BadMagic),
            Err(source) => return Err(ArError::Io { offset: 0, source }),
        }
        Ok(ArReader {
            inner,
            offset: 8,
            remaining: 0,
            pad: false,
            names: None,
        })
    }

    /// The next member, or `None` at the end of the archive. Whatever of the
    /// previous member was not read is skipped.
    pub fn next_member(&mut self) -> Result<Option<ArMember<'_, R>>, ArError> {
        loop {
            self.skip_rest()?;
            let header_offset = self.offset;
            let mut h = [0u8; HEADER_LEN];
            let n = read_full(&mut self.inner, &mut h).map_err(|source| ArError::Io {
                offset: header_offset,
                source,
            })?;
            self.offset += n as u64;
            if n == 0 {
                return Ok(None);
            }
            if n < HEADER_LEN {
                return Err(ArError::Truncated {
                    offset: self.offset,
                    what: "a member header",
                });
            }
            if &h[58..60] != b"`\n" {
                return Err(bad_field(header_offset, "terminator", &h[58..60]));
            }
            let size = parse_num(&h[48..58], 10)
                .ok_or_else(|| bad_field(header_offset, "size", &h[48..58]))?;
            let mode = parse_num(&h[40..48], 8)
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| bad_field(header_offset, "mode", &h[40..48]))?;
            self.remaining = size;
            self.pad = size % 2 == 1;
            let raw_name = trim_end(&h[0..16], b' ');

            let name = if raw_name == b"/" || raw_name == b"/SYM64/" {
                // GNU symbol table: nothing a reader of packages needs.
                continue;
            } else if raw_name == b"//" {
                if size > MAX_NAME_TABLE {
                    return Err(ArError::BadName {
                        offset: header_offset,
                        detail: format!(
                            "long-name table of {size} bytes exceeds the limit of {MAX_NAME_TABLE}"
                        ),
                    });
                }
                let table = self.read_data(size as usize, header_offset, "the long-name table")?;
                self.names = Some(table);
                continue;
            } else if let Some(len) = raw_name.strip_prefix(b"#1/") {
                let len = parse_num(len, 10)
                    .filter(|&l| l <= size && l <= MAX_NAME_LEN)
                    .ok_or_else(|| ArError::BadName {
                        offset: header_offset,
                        detail: format!(
                            "BSD long name length {:?} is not a number up to the member size ({size}) and {MAX_NAME_LEN}",
                            String::from_utf8_lossy(len)
                        ),
                    })?;
                let mut name = self.read_data(len as usize, header_offset, "a BSD long name")?;
                // BSD pads names with NULs to keep data aligned.
                while name.last() == Some(&0) {
                    name.pop();
                }
                name
            } else if raw_name.len() > 1 && raw_name[0] == b'/' {
                let table = self.names.as_deref().ok_or_else(|| ArError::BadName {
                    offset: header_offset,
                    detail: "GNU long name with no `//` name table before it".into(),
                })?;
                let at = parse_num(&raw_name[1..], 10)
                    .and_then(|a| usize::try_from(a).ok())
                    .filter(|&a| a < table.len())
                    .ok_or_else(|| ArError::BadName {
                        offset: header_offset,
                        detail: format!(
                            "GNU long name {:?} points outside the {}-byte name table",
                            String::from_utf8_lossy(raw_name),
                            table.len()
                        ),
                    })?;
                let rest = &table[at..];
                let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let name = &rest[..end];
                name.strip_suffix(b"/").unwrap_or(name).to_vec()
            } else {
                raw_name.strip_suffix(b"/").unwrap_or(raw_name).to_vec()
            };
            let size = self.remaining;
            return Ok(Some(ArMember {
                name,
                mode,
                size,
                offset: header_offset,
                reader: self,
            }));
        }
    }

    /// Reads `len` bytes of the current member's data into memory (only for
    /// the small name fields; `len` is bounded by the callers).
    fn read_data(
        &mut self,
        len: usize,
        header: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, ArError> {
        let mut buf = vec![0u8; len];
        let n = read_full(&mut self.inner, &mut buf).map_err(|source| ArError::Io {
            offset: header,
            source,
        })?;
        self.offset += n as u64;
        self.remaining -= n as u64;
        if n < len {
            return Err(ArError::Truncated {
                offset: self.offset,
                what,
            });
        }
        Ok(buf)
    }

    /// Skips the unread data of the current member and its padding.
    fn skip_rest(&mut self) -> Result<(), ArError> {
        let todo = self.remaining + u64::from(self.pad);
        if todo == 0 {
            return Ok(());
        }
        let skipped =
            io::copy(&mut (&mut self.inner).take(todo), &mut io::sink()).map_err(|source| {
                ArError::Io {
                    offset: self.offset,
                    source,
                }
            })?;
        self.offset += skipped;
        let data_left = self.remaining;
        self.remaining = 0;
        self.pad = false;
        // A missing final padding byte is common enough (and harmless) to accept.
        if skipped < data_left {
            return Err(ArError::Truncated {
                offset: self.offset,
                what: "member data",
            });
        }
        Ok(())
    }
}

fn bad_field(offset: u64, field: &'static str, raw: &[u8]) -> ArError {
    ArError::BadHeader {
        offset,
        field,
        value: String::from_utf8_lossy(raw).into_owned(),
    }
}

/// Parses a space-padded number field; an all-blank field is 0.
fn parse_num(field: &[u8], radix: u32) -> Option<u64> {
    let digits = trim_end(field, b' ');
    let digits = trim_end(digits, 0);
    if digits.is_empty() {
        return Some(0);
    }
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(s, radix).ok()
}

use crate::util::read_full;

fn trim_end(s: &[u8], c: u8) -> &[u8] {
    let end = s.iter().rposition(|&b| b != c).map_or(0, |i| i + 1);
    &s[..end]
}

/// A minimal `ar` writer, for tests and fuzz seeds: short names when they
/// fit (GNU style, with a trailing `/`), BSD `#1/N` names otherwise.
#[doc(hidden)]
pub fn write_ar(members: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (name, data) in members {
        let bsd =
            name.len() > 15 || name.contains(&b'/') || name.contains(&b' ') || name.is_empty();
        let (field, prefix): (Vec<u8>, &[u8]) = if bsd {
            (format!("#1/{}", name.len()).into_bytes(), name)
        } else {
            let mut f = name.to_vec();
            f.push(b'/');
            (f, &[])
        };
        let size = prefix.len() + data.len();
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            String::from_utf8_lossy(&field),
            0,
            0,
            0,
            "100644",
            size
        );
        debug_assert_eq!(header.len(), HEADER_LEN);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(prefix);
        out.extend_from_slice(data);
        if size % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Members as (name, data).
    type Members = Vec<(Vec<u8>, Vec<u8>)>;

    fn read_all(bytes: &[u8]) -> Result<Members, ArError> {
        let mut r = ArReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(mut m) = r.next_member()? {
            let mut data = Vec::new();
            m.read_to_end(&mut data)
                .map_err(|source| ArError::Io { offset: 0, source })?;
            assert_eq!(data.len() as u64, m.size);
            out.push((m.name.clone(), data));
        }
        Ok(out)
    }

    #[test]
    fn reads_what_binutils_ar_writes() {
        // `ar rc x.a debian-binary a-rather-long-member-name.txt` (GNU ar):
        // a `//` name table and a `/0` reference.
        let mut a = MAGIC.to_vec();
        let table = b"a-rather-long-member-name.txt/\n";
        let hdr = |name: &str, size: usize| {
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
                0, 0, 0, "644"
            )
        };
        a.extend_from_slice(hdr("//", table.len()).as_bytes());
        a.extend_from_slice(table);
        a.push(b'\n'); // the table has an odd size: one byte of padding
        a.extend_from_slice(hdr("debian-binary/", 4).as_bytes());
        a.extend_from_slice(b"2.0\n");
        a.extend_from_slice(hdr("/0", 3).as_bytes());
        a.extend_from_slice(b"abc\n"); // 3 bytes + padding
        let got = read_all(&a).unwrap();
        assert_eq!(
            got,
            vec![
                (b"debian-binary".to_vec(), b"2.0\n".to_vec()),
                (b"a-rather-long-member-name.txt".to_vec(), b"abc".to_vec()),
            ]
        );
    }

    #[test]
    fn unread_data_is_skipped() {
        let a = write_ar(&[(b"one", b"12345"), (b"two", b"xy")]);
        let mut r = ArReader::new(&a[..]).unwrap();
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, b"one");
        let mut m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, b"two");
        let mut s = String::new();
        m.read_to_string(&mut s).unwrap();
        assert_eq!(s, "xy");
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn errors_carry_offsets() {
        assert!(matches!(
            ArReader::new(&b"!<arch>"[..]),
            Err(ArError::BadMagic)
        ));
        let mut a = write_ar(&[(b"one", b"12345")]);
        a.truncate(8 + 60 + 2);
        let mut r = ArReader::new(&a[..]).unwrap();
        r.next_member().unwrap();
        let e = r.next_member().unwrap_err();
        assert!(matches!(e, ArError::Truncated { offset: 70, .. }), "{e}");

        let mut a = write_ar(&[(b"one", b"1")]);
        a[8 + 48] = b'x';
        let e = ArReader::new(&a[..]).unwrap().next_member().unwrap_err();
        assert_eq!(
            e.to_string(),
            "ar member header at offset 8: invalid size field \"x         \""
        );
    }

    proptest! {
        #[test]
        fn round_trip(members in proptest::collection::vec(
            ("[a-zA-Z0-9._/ -]{1,40}", proptest::collection::vec(any::<u8>(), 0..300)),
            0..8,
        )) {
            let refs: Vec<(&[u8], &[u8])> =
                members.iter().map(|(n, d)| (n.as_bytes(), d.as_slice())).collect();
            let bytes = write_ar(&refs);
            let got = read_all(&bytes).unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> =
                members.iter().map(|(n, d)| (n.as_bytes().to_vec(), d.clone())).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = read_all(&bytes);
            let _ = read_all(&tail);
        }

        #[test]
        fn mutated_archives_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = write_ar(&[(b"debian-binary", b"2.0\n"), (b"a-long-name-beyond-16", b"xyz")]);
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            let _ = read_all(&bytes);
        }
    }
}
