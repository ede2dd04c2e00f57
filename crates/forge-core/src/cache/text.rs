//! The `Key: value` line format of narinfo and `nix-cache-info` files, and
//! the errors of both (docs/cache.md, "Formats").
//!
//! Every line is `Key: value` and ends with `\n`: a key of ASCII letters,
//! digits, `-` or `_`, a colon, one space, and a value without control
//! characters (possibly empty). Nix's own reader is looser in places but
//! misreads text outside this shape (a `Key:` with no space swallows the
//! next line), so forge refuses it instead of guessing.

use thiserror::Error;

use crate::hash::HashParseError;
use crate::store_path::StorePathError;

/// Why a narinfo or `nix-cache-info` text is malformed. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A line that is not `Key: value`.
    #[error("line {line}: expected `Key: value`, found {found:?}")]
    NotAField {
        /// The line.
        line: usize,
        /// The start of the line as written (at most 40 characters).
        found: String,
    },
    /// The last line has no `\n`: the text may be truncated.
    #[error("line {line}: no newline at the end (truncated?)")]
    NoFinalNewline {
        /// The last line.
        line: usize,
    },
    /// A key that may appear once appears again.
    #[error("line {line}: `{key}` appears twice (first on line {first})")]
    Duplicate {
        /// The line of the second occurrence.
        line: usize,
        /// The key.
        key: String,
        /// The line of the first occurrence.
        first: usize,
    },
    /// A required key is absent.
    #[error("missing `{key}`")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A value that is not what its key needs.
    #[error("line {line}: `{key}`: {problem}")]
    Value {
        /// The line.
        line: usize,
        /// The key.
        key: String,
        /// What is wrong with the value.
        problem: ValueError,
    },
}

/// What is wrong with one value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// A control character (a `\r` of a CRLF file, a tab, …).
    #[error("control character {0:?} in the value")]
    Control(char),
    /// Not a decimal number that fits 64 bits (or the type's range).
    #[error("{0:?} is not a decimal number in range")]
    Number(String),
    /// Zero where Nix needs a positive number (`NarSize`).
    #[error("must be greater than zero")]
    Zero,
    /// Not `0` or `1`.
    #[error("{0:?} is not 0 or 1")]
    Bool(String),
    /// Not a hash forge reads.
    #[error(transparent)]
    Hash(#[from] HashParseError),
    /// Not a store path, or a reference that is not a store path base name.
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    /// The same entry twice in a list (a reference, a signature).
    #[error("{0:?} is listed twice")]
    Repeated(String),
    /// Empty where a value is needed.
    #[error("the value is empty")]
    Empty,
    /// Any other malformed value, with what was expected.
    #[error("{found:?} is not {expected}")]
    Invalid {
        /// The value (at most 80 characters).
        found: String,
        /// What the key takes.
        expected: &'static str,
    },
}

impl ParseError {
    /// A [`ParseError::Value`] at `field`.
    pub(crate) fn value(field: &Field<'_>, problem: impl Into<ValueError>) -> Self {
        ParseError::Value {
            line: field.line,
            key: field.key.to_owned(),
            problem: problem.into(),
        }
    }
}

impl ValueError {
    /// [`ValueError::Invalid`] with the value cut to a readable length.
    pub(crate) fn invalid(found: &str, expected: &'static str) -> Self {
        ValueError::Invalid {
            found: shorten(found, 80),
            expected,
        }
    }
}

/// One `Key: value` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// 1-based line number.
    pub line: usize,
    pub key: &'a str,
    pub value: &'a str,
}

/// Splits `text` into its fields, in order (see the module docs).
pub(crate) fn fields(text: &str) -> Result<Vec<Field<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut line = 0;
    while !rest.is_empty() {
        line += 1;
        let Some((this, next)) = rest.split_once('\n') else {
            return Err(ParseError::NoFinalNewline { line });
        };
        rest = next;
        let not_a_field = || ParseError::NotAField {
            line,
            found: shorten(this, 40),
        };
        let (key, value) = this.split_once(": ").ok_or_else(not_a_field)?;
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !key_ok {
            return Err(not_a_field());
        }
        let field = Field { line, key, value };
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(ParseError::value(&field, ValueError::Control(c)));
        }
        out.push(field);
    }
    Ok(out)
}

/// Parses a decimal `u64`: ASCII digits only (no sign, no spaces).
pub(crate) fn number(field: &Field<'_>) -> Result<u64, ParseError> {
    let v = field.value;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::value(field, ValueError::Number(shorten(v, 40))));
    }
    v.parse()
        .map_err(|_| ParseError::value(field, ValueError::Number(shorten(v, 40))))
}

/// Whether `s` is a non-empty token without whitespace or control characters.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `s` looks like `keyname:base64`: a key name and a base64 text
/// (checking it against a key is the caller's business).
pub(crate) fn is_signature(s: &str) -> bool {
    let Some((name, sig)) = s.split_once(':') else {
        return false;
    };
    is_token(name)
        && !sig.is_empty()
        && sig
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Remembers the line of each single-use key, to report duplicates.
#[derive(Default)]
pub(crate) struct Seen(Vec<(&'static str, usize)>);

impl Seen {
    /// Records `key` at `field`'s line; an error if it was seen before.
    pub(crate) fn once(&mut self, key: &'static str, field: &Field<'_>) -> Result<(), ParseError> {
        if let Some(&(_, first)) = self.0.iter().find(|(k, _)| *k == key) {
            return Err(ParseError::Duplicate {
                line: field.line,
                key: key.to_owned(),
                first,
            });
        }
        self.0.push((key, field.line));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_and_keeps_empty_values() {
        let f = fields("A: 1\nReferences: \n").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!((f[1].line, f[1].key, f[1].value), (2, "References", ""));
        assert!(fields("").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_nix_would_misread() {
        assert_eq!(
            fields("A: 1").unwrap_err(),
            ParseError::NoFinalNewline { line: 1 }
        );
        assert!(matches!(
            fields("A: 1\nB:\n").unwrap_err(),
            ParseError::NotAField { line: 2, .. }
        ));
        assert!(matches!(
            fields("\n").unwrap_err(),
            ParseError::NotAField { line: 1, .. }
        ));
        assert!(matches!(
            fields("A: 1\r\n").unwrap_err(),
            ParseError::Value {
                line: 1,
                problem: ValueError::Control('\r'),
                ..
            }
        ));
        assert!(matches!(
            fields("A B: 1\n").unwrap_err(),
            ParseError::NotAField { .. }
        ));
    }

    #[test]
    fn numbers_are_plain_digits() {
        let f = |v| Field {
            line: 3,
            key: "NarSize",
            value: v,
        };
        assert_eq!(number(&f("712")).unwrap(), 712);
        for bad in ["", "+1", "-1", " 1", "1e3", "18446744073709551616"] {
            let e = number(&f(bad)).unwrap_err();
            assert!(e.to_string().starts_with("line 3: `NarSize`: "), "{e}");
        }
    }
}
