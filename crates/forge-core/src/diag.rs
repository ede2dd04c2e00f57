//! Diagnostics: where a problem is in a text file, and what the user can do
//! about it.
//!
//! Every file forge reads and a person writes (recipes, seed declarations,
//! sandbox profiles, `recipe.lock`) reports its problems the same way, with
//! the pieces here:
//!
//! - [`Location`]: a 1-based line and column (in characters, so a line with
//!   `é` in it still points at the right place in an editor), computed from
//!   a byte offset.
//! - [`Located`]: an error at a location of a file, with a [`Kind`] for
//!   callers that react without reading the message, and an optional hint.
//!   It displays the way compilers do, `file:line:col: message`, so editors
//!   and terminals can jump to it.
//! - [`Located::from_toml`]: the one conversion of a `toml` error (syntax,
//!   or serde's "unknown field", "invalid type"…) into a located error; an
//!   unknown key gets the keys known in its table and, when one is close,
//!   a "did you mean" ([`did_you_mean`]).
//! - [`Errors`]: collects the problems a validation pass finds; the one
//!   earliest in the file is reported.
//! - [`Hint`]: how an error carries "what to do" beside its message.
//!
//! # Hints are data, rendered by the CLI
//!
//! No `Display` string below the CLI contains a `hint:` line. An error type
//! that knows what the user can do implements [`Hint`]; the CLI walks the
//! error chain and prints each hint on its own line after the error:
//!
//! ```text
//! error: recipes/hello/recipe.toml:7:10: invalid sha256 hash for input `src`: sha256 digest has 12 characters; expected 64 (hex), 52 (nix base32) or 44 (base64)
//! hint: paste the hash as the publisher or forge printed it (hex, nix base32 or SRI)
//! ```
//!
//! so other front ends (an editor integration, `--json`) get the hint as a
//! field instead of having to split a message. See docs/cli.md for how
//! errors are printed.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// What the user can do about an error, when the library knows.
///
/// Rendered only by the front end (the CLI prints `hint: …` on its own line
/// after the error and its causes); `Display` never includes it. A wrapper
/// error whose `Display` is its inner error's (`#[error(transparent)]`)
/// returns the inner error's hint, as the error chain skips the inner one.
pub trait Hint {
    /// The hint, if there is one: one line, lowercase, no trailing period.
    fn hint(&self) -> Option<Cow<'_, str>>;
}

/// A place in a text file: 1-based line and column (in characters).
///
/// Locations say where something was written; they are never part of what a
/// file *means* (a recipe's equality ignores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl Location {
    /// The first character of a file.
    pub const START: Location = Location { line: 1, column: 1 };

    /// The location of byte `offset` in `text`. Offsets past the end, or
    /// inside a multi-byte character, are clamped to the nearest character
    /// boundary at or before them.
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// The location where a byte `span` starts.
    pub fn of_span(text: &str, span: &Range<usize>) -> Location {
        Location::of_offset(text, span.start)
    }
}

impl Default for Location {
    fn default() -> Self {
        Location::START
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What sort of problem a [`Located`] error reports, for callers (an editor
/// integration, `forge fmt`) that want to react without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The text is not TOML.
    Syntax,
    /// A key the format does not know (a typo, or a key from a newer format).
    UnknownKey,
    /// A required key or table is absent.
    MissingKey,
    /// A value has the wrong TOML type (a string where a list was expected).
    WrongType,
    /// A value has the right type but is not acceptable (a bad hash, name, URL…).
    InvalidValue,
    /// Two keys that exclude each other, or a value that contradicts another.
    Conflict,
    /// A reference to something the file does not declare (an input, an output).
    UndefinedReference,
}

/// A problem at a line and column of a file.
///
/// Display: `file:line:col: message`. The hint is not part of it: see
/// [`Hint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file as the caller named it (`recipes/hello/recipe.toml`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What sort of problem this is.
    pub kind: Kind,
    /// What is wrong and what was expected; lowercase, no trailing period.
    pub message: String,
    /// What the user can do about it, when forge knows.
    pub hint: Option<String>,
}

impl Located {
    /// An error at `location` of `file`.
    pub fn new(file: &str, location: Location, kind: Kind, message: impl Into<String>) -> Self {
        Located {
            file: file.to_owned(),
            line: location.line,
            column: location.column,
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Where the error points.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }

    /// Maps a `toml` error (syntax or serde) for `text`, read from `file`,
    /// to a located error.
    ///
    /// An unknown key becomes [`Kind::UnknownKey`] with the keys known in
    /// its table as the hint (and, by `suggest`, the closest of them); an
    /// `invalid type` is [`Kind::WrongType`], a `missing field`
    /// [`Kind::MissingKey`], an `unknown variant` or `invalid value`
    /// [`Kind::InvalidValue`], all with serde's message; anything else is
    /// [`Kind::Syntax`], `invalid TOML: …`. Messages are made one line.
    pub fn from_toml(text: &str, file: &str, e: &toml::de::Error, suggest: Suggest<'_>) -> Self {
        let location = e
            .span()
            .map_or(Location::START, |s| Location::of_span(text, &s));
        let msg = e.message().trim_end().trim_end_matches('.');
        if let Some(rest) = msg.strip_prefix("unknown field ") {
            let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
            if let Some((key, known)) = names.split_first() {
                let err = Located::new(
                    file,
                    location,
                    Kind::UnknownKey,
                    format!("unknown key `{key}`"),
                );
                let list = known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let best = match suggest {
                    Suggest::KnownKeys => None,
                    Suggest::Closest(also) => {
                        let mut candidates = known.to_vec();
                        candidates.extend(also.iter().copied().filter(|a| !known.contains(a)));
                        did_you_mean(key, &candidates)
                    }
                };
                let hint = match best {
                    Some(best) => format!("did you mean `{best}`? the keys known here are {list}"),
                    None if known.is_empty() => "this table takes no keys".to_owned(),
                    None => format!("the keys known here are {list}"),
                };
                return err.with_hint(hint);
            }
        }
        let kind = if msg.starts_with("invalid type") {
            Kind::WrongType
        } else if msg.starts_with("missing field") {
            Kind::MissingKey
        } else if msg.starts_with("unknown variant") || msg.starts_with("invalid value") {
            Kind::InvalidValue
        } else {
            Kind::Syntax
        };
        let message = msg.replace('\n', "; ");
        let message = if kind == Kind::Syntax {
            format!("invalid TOML: {message}")
        } else {
            message
        };
        Located::new(file, location, kind, message)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Located {}

impl Hint for Located {
    fn hint(&self) -> Option<Cow<'_, str>> {
        self.hint.as_deref().map(Cow::Borrowed)
    }
}

/// What [`Located::from_toml`] suggests for an unknown key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest<'a> {
    /// Only list the keys known in that table.
    KnownKeys,
    /// Also name the known key (or one of these others) closest to the
    /// unknown one, when it is close enough to be a typo.
    Closest(&'a [&'a str]),
}

/// The candidate closest to `word`, if it is close enough to be a typo: equal
/// ignoring case, `-` and `_`, or at most `max(2, len / 3)` edits away
/// (insertions, deletions, substitutions). Ties go to the candidate that
/// sorts first.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    candidates
        .iter()
        .map(|c| {
            let d = if norm(c) == norm(word) {
                0
            } else {
                edit_distance(word, c)
            };
            (d, *c)
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The problems a validation pass finds in one file; the one earliest in the
/// file wins, so a person fixes problems top to bottom.
#[derive(Debug)]
pub struct Errors<'a> {
    text: &'a str,
    file: &'a str,
    found: Vec<Located>,
}

impl<'a> Errors<'a> {
    /// No problems yet in `text`, read from `file`.
    pub fn new(text: &'a str, file: &'a str) -> Self {
        Errors {
            text,
            file,
            found: Vec::new(),
        }
    }

    /// The text being validated.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The file's name, as given.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// Where byte `span` starts.
    pub fn location(&self, span: &Range<usize>) -> Location {
        Location::of_span(self.text, span)
    }

    /// Records a problem at `span`; returns it so a hint can be added.
    pub fn push(&mut self, span: &Range<usize>, kind: Kind, message: String) -> &mut Located {
        let e = Located::new(self.file, self.location(span), kind, message);
        self.found.push(e);
        self.found.last_mut().expect("just pushed")
    }

    /// Records a problem at `span` with a hint.
    pub fn push_hint(
        &mut self,
        span: &Range<usize>,
        kind: Kind,
        message: String,
        hint: impl Into<String>,
    ) {
        self.push(span, kind, message).hint = Some(hint.into());
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The problem earliest in the file (the first recorded among equals).
    pub fn first(self) -> Option<Located> {
        self.found.into_iter().min_by_key(|e| (e.line, e.column))
    }
}

#[cfg(test)]
pub(crate) mod tests;
