//! Nix's base32 encoding.
//!
//! Nix writes digests in a base32 alphabet without `e`, `o`, `t` and `u`
//! (`0123456789abcdfghijklmnpqrsvwxyz`) and in an unusual byte order: the
//! *last* character of the string holds the lowest five bits of the first
//! byte. forge uses the same encoding so that store-path digests look and sort
//! like Nix's, and so that Nix-style hashes pasted by users parse.

use thiserror::Error;

/// The 32 characters of Nix's base32 alphabet, in digit order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Reverse lookup table: byte -> digit, or `0xff` when not in the alphabet.
const DECODE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a string is not valid Nix base32 for the requested length.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Base32Error {
    /// The string is not as long as `len` bytes encode to.
    #[error("expected {expected} base32 characters, found {found}")]
    Length { expected: usize, found: usize },
    /// A character outside the alphabet `0123456789abcdfghijklmnpqrsvwxyz`.
    #[error("invalid base32 character {found:?} at offset {offset} (alphabet is 0-9 and a-z without e, o, t, u)")]
    Character { offset: usize, found: char },
    /// The leading character carries bits beyond the decoded length.
    #[error("base32 string has non-zero padding bits")]
    Padding,
}

/// Number of base32 characters that encode `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len * 8 - 1) / 5 + 1
    }
}

/// Returns true if `c` is in Nix's base32 alphabet.
pub fn is_base32_char(c: u8) -> bool {
    DECODE[c as usize] != 0xff
}

/// Encodes `bytes` in Nix base32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let low = bytes[i] >> j;
        let high = if i + 1 < bytes.len() {
            // `j` is at least 4 here whenever the high byte matters; a shift
            // by 8 would overflow u8, so widen first.
            ((bytes[i + 1] as u16) << (8 - j)) as u8
        } else {
            0
        };
        out.push(ALPHABET[((low | high) & 0x1f) as usize] as char);
    }
    out
}

/// Decodes a Nix base32 string into exactly `len` bytes.
pub fn decode(s: &str, len: usize) -> Result<Vec<u8>, Base32Error> {
    let expected = encoded_len(len);
    if s.len() != expected {
        return Err(Base32Error::Length {
            expected,
            found: s.chars().count(),
        });
    }
    let mut out = vec![0u8; len];
    let chars = s.as_bytes();
    for (n, &c) in chars.iter().rev().enumerate() {
        let digit = DECODE[c as usize];
        if digit == 0xff {
            let offset = chars.len() - 1 - n;
            let found = s
                .char_indices()
                .find(|&(i, c)| i <= offset && offset < i + c.len_utf8())
                .map_or(char::REPLACEMENT_CHARACTER, |(_, c)| c);
            return Err(Base32Error::Character { offset, found });
        }
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        out[i] |= digit << j;
        let carry = ((digit as u16) >> (8 - j)) as u8;
        if i + 1 < len {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(Base32Error::Padding);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors_from_nix() {
        // `nix-hash --type sha256 --to-base32` of the sha256 of the empty string.
        let empty_sha256 =
            hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .unwrap();
        assert_eq!(
            encode(&empty_sha256),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 32).unwrap(),
            empty_sha256
        );
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x1f]), "0z");
        assert_eq!(encode(&[0xff]), "7z");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            decode("abc", 20),
            Err(Base32Error::Length {
                expected: 32,
                found: 3
            })
        );
        let err = decode("e0000000000000000000000000000000", 20).unwrap_err();
        assert_eq!(
            err,
            Base32Error::Character {
                offset: 0,
                found: 'e'
            }
        );
        // 0xff encodes as "7z"; "8z" sets a ninth bit that does not exist.
        assert_eq!(decode("8z", 1), Err(Base32Error::Padding));
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = encode(&bytes);
            prop_assert_eq!(s.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(&s, bytes.len()).unwrap(), bytes);
        }

        #[test]
        fn decode_never_panics(s in "[0-9a-z]{0,60}", len in 0usize..40) {
            let _ = decode(&s, len);
        }
    }
}
