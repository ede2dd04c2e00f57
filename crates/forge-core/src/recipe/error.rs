//! Errors that point at the line: [`RecipeError`] and [`Location`].
//!
//! Every problem found in a recipe, from a TOML syntax error to an input that
//! names a seed that is not a valid name, is reported as one [`RecipeError`]:
//! the file, a 1-based line and column, a message that says what was found
//! and what was expected, and sometimes a `hint:` the user can act on. It
//! prints the way compilers do, so editors and terminals can jump to it:
//!
//! ```text
//! recipes/hello/recipe.toml:7:10: invalid sha256 hash for input `src`: sha256 digest has 12 characters; expected 64 (hex), 52 (nix base32) or 44 (base64)
//! hint: paste the hash forge printed, or the one the project publishes
//! ```
//!
//! Columns count characters, not bytes, so a line with `é` in it still points
//! at the right place in an editor.

use std::fmt;
use std::ops::Range;

/// A place in a recipe file: 1-based line and column (in characters).
///
/// Locations say where something was written; they are never part of what a
/// recipe *means*, so the model's equality ignores them (see
/// [`super::SourceMap`]).
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

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What sort of problem a [`RecipeError`] reports, for callers (an editor
/// integration, `forge fmt`) that want to react without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipeErrorKind {
    /// The text is not TOML.
    Syntax,
    /// A key forge does not know (a typo, or a key from a newer format).
    UnknownKey,
    /// A required key or table is absent.
    MissingKey,
    /// A value has the wrong TOML type (a string where a list was expected).
    WrongType,
    /// A value has the right type but is not acceptable (a bad hash, name, URL…).
    InvalidValue,
    /// Two keys that exclude each other, or a value that contradicts another.
    Conflict,
    /// A reference to an input or output that the recipe does not declare.
    UndefinedReference,
}

/// A problem in a recipe, located at a line and column of its file.
///
/// Display: `file:line:col: message`, then `hint: …` on its own line when
/// there is a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeError {
    /// The file as the caller named it (`recipes/hello/recipe.toml`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What sort of problem this is.
    pub kind: RecipeErrorKind,
    /// What is wrong and what was expected; lowercase, no trailing period.
    pub message: String,
    /// What the user can do about it, when forge knows.
    pub hint: Option<String>,
}

impl RecipeError {
    /// An error at `location` of `file`.
    pub fn new(
        file: &str,
        location: Location,
        kind: RecipeErrorKind,
        message: impl Into<String>,
    ) -> Self {
        RecipeError {
            file: file.to_owned(),
            line: location.line,
            column: location.column,
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint line.
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
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RecipeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "ab\nçé = 1\n";
        assert_eq!(Location::of_offset(text, 0), Location::START);
        assert_eq!(
            Location::of_offset(text, 3),
            Location { line: 2, column: 1 }
        );
        // 'é' starts at byte 5 but is the 2nd character of line 2.
        assert_eq!(
            Location::of_offset(text, 5),
            Location { line: 2, column: 2 }
        );
        // Inside a multi-byte character: clamped back to its start.
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 2 }
        );
        assert_eq!(
            Location::of_offset(text, 999),
            Location { line: 3, column: 1 }
        );
    }

    #[test]
    fn displays_like_a_compiler() {
        let e = RecipeError::new(
            "r.toml",
            Location {
                line: 7,
                column: 10,
            },
            RecipeErrorKind::InvalidValue,
            "bad",
        );
        assert_eq!(e.to_string(), "r.toml:7:10: bad");
        assert_eq!(
            e.with_hint("fix it").to_string(),
            "r.toml:7:10: bad\nhint: fix it"
        );
    }
}
