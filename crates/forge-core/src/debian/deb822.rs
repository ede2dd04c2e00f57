//! deb822: the RFC-822-style control paragraphs Debian writes (`Packages`,
//! `Release`, apt's `.sources`).
//!
//! ```text
//! Package: hello
//! Version: 2.10-3
//! Description: example package
//!  A continuation line starts with a space or a tab;
//!  .
//!  a lone `.` stands for an empty line.
//!
//! Package: next-paragraph
//! ```
//!
//! Paragraphs are separated by blank lines (lines of only spaces and tabs count
//! as blank, as policy allows); lines starting with `#` are comments wherever
//! they appear (apt allows them in `.sources`; a field name may not start with
//! `#`, so this never hides a field). Field names compare case-insensitively.
//!
//! The parser borrows: a [`Field`] holds `&str` slices of the input, so the
//! 45 MB `Packages` of a Debian release is split without copying its values.
//! [`Field::value`] is the raw value (continuation lines included, newlines
//! kept, the first line's leading space removed); [`Field::lines`] undoes the
//! continuation syntax for multi-line fields such as `SHA256` in `Release`.

use super::error::ControlError;

/// One field of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written (compare with [`eq_ignore_ascii_case`](str::eq_ignore_ascii_case)).
    pub name: &'a str,
    /// The value: from after the colon (leading blanks removed) to the end of
    /// the last continuation line, without the final line break or trailing
    /// blanks. Continuation lines appear as written, `\n`-separated.
    pub value: &'a str,
    /// 1-based line of the field name.
    pub line: usize,
}

impl<'a> Field<'a> {
    /// The value's lines with the continuation syntax undone: the first line,
    /// then each continuation line without its leading blank, a lone `.` as
    /// an empty line. Comment lines inside the value are not part of it.
    pub fn lines(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut first = true;
        self.value.split('\n').filter_map(move |l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            if std::mem::take(&mut first) {
                return Some(l.trim_end());
            }
            if l.starts_with('#') {
                return None;
            }
            let l = l.trim();
            Some(if l == "." { "" } else { l })
        })
    }
}

/// A paragraph: its fields in order and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    /// 1-based line of the first field.
    pub line: usize,
    /// The fields in the order written.
    pub fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The field `name` (case-insensitive), if present.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The value of field `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|f| f.value)
    }
}

/// The paragraphs of `text`, in order. After the first error the iterator ends.
pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        text,
        pos: 0,
        line: 0,
        done: false,
    }
}

/// The iterator [`paragraphs`] returns.
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    text: &'a str,
    pos: usize,
    /// Lines consumed so far.
    line: usize,
    done: bool,
}

impl<'a> Paragraphs<'a> {
    /// The next line (without `\n`) and its byte range start, or None at the end.
    fn next_line(&mut self) -> Option<(&'a str, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = self.text.get(self.pos..)?;
        let start = self.pos;
        let len = rest.find('\n').unwrap_or(rest.len());
        let line = rest.get(..len)?;
        self.pos += len + 1;
        self.line += 1;
        Some((line, start))
    }

    fn peek_line(&self) -> Option<&'a str> {
        let rest = self.text.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        rest.get(..rest.find('\n').unwrap_or(rest.len()))
    }

    fn paragraph(&mut self) -> Result<Option<Paragraph<'a>>, ControlError> {
        // Skip blank and comment lines before the paragraph.
        loop {
            match self.peek_line() {
                None => return Ok(None),
                Some(l) if is_blank(l) || l.starts_with('#') => {
                    self.next_line();
                }
                Some(_) => break,
            }
        }
        let mut para = Paragraph {
            line: self.line + 1,
            fields: Vec::with_capacity(24),
        };
        while let Some(l) = self.peek_line() {
            if is_blank(l) {
                break;
            }
            let (l, start) = self.next_line().unwrap_or((l, self.pos));
            let line = self.line;
            if l.starts_with('#') {
                continue;
            }
            if l.starts_with([' ', '\t']) {
                return Err(ControlError::OrphanContinuation { line });
            }
            let Some(colon) = l.find(':') else {
                return Err(not_a_field(line, l));
            };
            let name = l.get(..colon).unwrap_or_default();
            if !is_field_name(name) {
                return Err(not_a_field(line, l));
            }
            // The value runs over the continuation (and comment) lines that follow.
            let value_start = start + colon + 1;
            let mut value_end = start + l.len();
            while let Some(next) = self.peek_line() {
                if next.starts_with([' ', '\t']) && !is_blank(next) {
                    let (n, s) = self.next_line().unwrap_or((next, self.pos));
                    value_end = s + n.len();
                } else if next.starts_with('#') {
                    self.next_line();
                } else {
                    break;
                }
            }
            let value = self
                .text
                .get(value_start..value_end)
                .unwrap_or_default()
                .trim_start_matches([' ', '\t'])
                .trim_end();
            if para
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(name))
            {
                return Err(ControlError::DuplicateField {
                    line,
                    field: name.to_owned(),
                });
            }
            para.fields.push(Field { name, value, line });
        }
        Ok(Some(para))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, ControlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.paragraph() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn is_blank(l: &str) -> bool {
    l.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Policy 5.1: printable US-ASCII except `:`, not starting with `#` or `-`.
fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
}

fn not_a_field(line: usize, l: &str) -> ControlError {
    ControlError::NotAField {
        line,
        found: l.chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXT: &str = "# comment\nPackage: hello\nversion: 2.10-3\nDescription: short\n more\n .\n last\n\n\n \nPackage: b\nDepends: x,\n# inside\n y\n";

    #[test]
    fn splits_paragraphs_and_fields() {
        let ps: Vec<_> = paragraphs(TEXT).collect::<Result<_, _>>().unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].line, 2);
        assert_eq!(ps[0].get("VERSION"), Some("2.10-3"));
        let d = ps[0].field("description").unwrap();
        assert_eq!(d.lines().collect::<Vec<_>>(), ["short", "more", "", "last"]);
        assert_eq!(ps[1].line, 11);
        let dep = ps[1].field("Depends").unwrap();
        assert_eq!(dep.line, 12);
        assert_eq!(dep.lines().collect::<Vec<_>>(), ["x,", "y"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = paragraphs("A: 1\nnot a field\n").find_map(Result::err);
        assert_eq!(
            e,
            Some(ControlError::NotAField {
                line: 2,
                found: "not a field".into()
            })
        );
        let e = paragraphs("\n continued\n").find_map(Result::err);
        assert_eq!(e, Some(ControlError::OrphanContinuation { line: 2 }));
        let e = paragraphs("A: 1\na: 2\n").find_map(Result::err);
        assert!(matches!(
            e,
            Some(ControlError::DuplicateField { line: 2, .. })
        ));
    }

    #[test]
    fn empty_values_and_crlf() {
        let ps: Vec<_> = paragraphs("A:\r\nB:  x \r\n\r\nC: y")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ps[0].get("a"), Some(""));
        assert_eq!(ps[0].get("b"), Some("x"));
        assert_eq!(ps[1].get("c"), Some("y"));
    }

    fn emit(paras: &[Vec<(String, Vec<String>)>]) -> String {
        let mut out = String::new();
        for p in paras {
            for (name, lines) in p {
                out.push_str(name);
                out.push(':');
                for (i, l) in lines.iter().enumerate() {
                    if i == 0 {
                        out.push(' ');
                        out.push_str(l);
                    } else {
                        out.push_str("\n ");
                        out.push_str(if l.is_empty() { "." } else { l });
                    }
                }
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    proptest! {
        #[test]
        fn never_panics(text in "(?s).{0,300}") {
            for p in paragraphs(&text) {
                let _ = p;
            }
        }

        #[test]
        fn parse_of_emit_is_identity(
            paras in proptest::collection::vec(
                proptest::collection::btree_map(
                    "[A-Za-z][A-Za-z0-9-]{0,8}",
                    proptest::collection::vec("[a-z0-9][a-z0-9 ,.()|<>=-]{0,10}[a-z0-9]|", 1..4),
                    1..5,
                ),
                0..4,
            )
        ) {
            // Names that collide case-insensitively are dropped: they are an error.
            let paras: Vec<Vec<(String, Vec<String>)>> = paras
                .into_iter()
                .map(|m| {
                    let mut seen = std::collections::HashSet::new();
                    m.into_iter()
                        .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
                        .map(|(k, mut v)| {
                            // A continuation line cannot be empty and the first may not be needed.
                            let first = v.remove(0);
                            let mut lines = vec![first];
                            lines.extend(v.into_iter().filter(|l| !l.is_empty()));
                            (k, lines)
                        })
                        .collect()
                })
                .collect();
            let text = emit(&paras);
            let parsed: Vec<Vec<(String, Vec<String>)>> = paragraphs(&text)
                .map(|p| {
                    p.unwrap()
                        .fields
                        .iter()
                        .map(|f| (f.name.to_owned(), f.lines().map(str::to_owned).collect()))
                        .collect()
                })
                .collect();
            prop_assert_eq!(parsed, paras);
        }
    }
}
