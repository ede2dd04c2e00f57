//! `${name}` references inside recipe strings.
//!
//! Values in `[build] env` and the words of `[build] command` may mention an
//! input or an output by name: `${zlib}/lib` becomes the store path of the
//! input `zlib`, `${out}/bin` the path of the output `out`. The rules are
//! small on purpose:
//!
//! - `${name}` is a reference; `name` matches `[A-Za-z_][A-Za-z0-9_]*`;
//! - `$$` is one literal `$` (so `$${x}` is the text `${x}`);
//! - any other `$` is itself (`-Wl,-rpath,$ORIGIN` needs no escaping);
//! - a `${` that does not continue as `name}` is an error, never text, so a
//!   typo such as `${zlib/lib` cannot slip through silently.
//!
//! Scripts are not templates: `/bin/sh` expands `$src` and `${out}` itself,
//! from the environment forge sets.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text taken as it is.
    Text(&'a str),
    /// A reference to an input or output by name.
    Ref(&'a str),
}

/// Why a string is not a valid template. `offset` is the byte offset of the
/// offending `$` in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Whether `s` is a valid identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `s` into text and references.
pub(crate) fn parse(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = s;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if after.starts_with('$') {
            pieces.push(Piece::Text(&rest[..=i]));
            offset += i + 2;
            rest = &rest[i + 2..];
        } else if let Some(body) = after.strip_prefix('{') {
            if i > 0 {
                pieces.push(Piece::Text(&rest[..i]));
            }
            let end = body.find('}').ok_or_else(|| TemplateError {
                offset: offset + i,
                message: "unterminated `${` (expected `${name}`)".to_owned(),
            })?;
            let name = &body[..end];
            if !is_identifier(name) {
                return Err(TemplateError {
                    offset: offset + i,
                    message: format!(
                        "`${{{name}}}` is not a reference: names match [A-Za-z_][A-Za-z0-9_]*"
                    ),
                });
            }
            pieces.push(Piece::Ref(name));
            let consumed = i + 2 + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        } else {
            pieces.push(Piece::Text(&rest[..=i]));
            offset += i + 1;
            rest = after;
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Replaces every reference in `s` by `lookup(name)`. The template must be
/// valid and every name known; callers validate first.
pub(crate) fn expand(
    s: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    for piece in parse(s)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(name) => match lookup(name) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(TemplateError {
                        offset: 0,
                        message: format!("`${{{name}}}` names no input or output"),
                    })
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pieces() {
        use Piece::*;
        assert_eq!(
            parse("-L${zlib}/lib $$ $ORIGIN $").unwrap(),
            vec![
                Text("-L"),
                Ref("zlib"),
                Text("/lib $"),
                Text(" $"),
                Text("ORIGIN $"),
            ]
        );
        assert_eq!(parse("$${x}").unwrap(), vec![Text("$"), Text("{x}")]);
        assert!(parse("${zlib/lib").is_err());
        assert_eq!(parse("ab${1x}").unwrap_err().offset, 2);
        assert!(parse("${}").is_err());
    }

    #[test]
    fn expands() {
        let got = expand("${a}/x$$y$z", |n| (n == "a").then(|| "/p".to_owned())).unwrap();
        assert_eq!(got, "/p/x$y$z");
        assert!(expand("${b}", |_| None).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "[a-z${}]{0,40}") {
            let _ = parse(&s);
        }
    }
}
