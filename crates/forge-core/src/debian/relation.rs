//! Relation fields: `Depends`, `Pre-Depends`, `Provides`, `Conflicts`,
//! `Breaks` (deb-control(5), policy 7.1).
//!
//! ```text
//! a (>= 1.0) | b:any, c [amd64 !i386] <!nocheck> <stage1 cross>
//! ```
//!
//! A field is a comma-separated list of groups; a group is `|`-separated
//! alternatives; each alternative is a package name, an optional
//! architecture qualifier (`:any`, `:native`, `:amd64`), an optional
//! `(op version)`, optional architecture restrictions `[...]` and build
//! profile restrictions `<...>` (each `<...>` is an AND of terms, several of
//! them an OR). Whitespace, newlines included, may appear between tokens, so
//! folded fields parse as they are. The obsolete `<` and `>` mean `<=` and
//! `>=` (policy 7.1) and are kept as [`Op::Le`] and [`Op::Ge`]. An empty
//! field, or a trailing comma, gives no group.

use std::fmt;

use super::error::RelationError;
use super::version::Version;

/// A version comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`
    Lt,
    /// `<=` (or the obsolete `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (or the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl Op {
    /// Whether `have op want` holds.
    pub fn holds(self, have: &Version, want: &Version) -> bool {
        let o = have.cmp(want);
        match self {
            Op::Lt => o.is_lt(),
            Op::Le => o.is_le(),
            Op::Eq => o.is_eq(),
            Op::Ge => o.is_ge(),
            Op::Gt => o.is_gt(),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

/// One term of an architecture or profile restriction, `!` meaning not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negated: bool,
    pub name: String,
}

/// One alternative: `name[:arch] [(op version)] [[arches]] [<profiles>...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// The qualifier after `:` (`any`, `native`, an architecture).
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(Op, Version)>,
    /// `[amd64 !i386]` restrictions, empty when absent.
    pub arches: Vec<Term>,
    /// `<!nocheck> <stage1 cross>`: an OR of AND lists, empty when absent.
    pub profiles: Vec<Vec<Term>>,
}

impl Relation {
    /// Whether a package version `have` satisfies the version constraint.
    pub fn version_matches(&self, have: &Version) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|(op, want)| op.holds(have, want))
    }
}

/// A group of alternatives, any one of which satisfies it.
pub type Alternatives = Vec<Relation>;

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({} {v})", op.as_str())?;
        }
        let term = |t: &Term| format!("{}{}", if t.negated { "!" } else { "" }, t.name);
        if !self.arches.is_empty() {
            let a: Vec<_> = self.arches.iter().map(term).collect();
            write!(f, " [{}]", a.join(" "))?;
        }
        for p in &self.profiles {
            let a: Vec<_> = p.iter().map(term).collect();
            write!(f, " <{}>", a.join(" "))?;
        }
        Ok(())
    }
}

/// Writes groups back as a field value (`a (>= 1) | b, c`).
pub fn display_relations(groups: &[Alternatives]) -> String {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a relation field (see the module docs).
pub fn parse_relations(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    let mut p = Parser {
        s: field.as_bytes(),
        field,
        i: 0,
    };
    let mut groups = Vec::new();
    loop {
        p.ws();
        if p.at_end() {
            return Ok(groups);
        }
        if p.eat(b',') {
            // An empty group (`a, , b` or a leading comma) is skipped, as dpkg does.
            continue;
        }
        let mut group = vec![p.relation()?];
        loop {
            p.ws();
            if p.eat(b'|') {
                group.push(p.relation()?);
            } else if p.at_end() || p.eat(b',') {
                break;
            } else {
                return Err(p.err("expected `,`, `|` or the end of the field"));
            }
        }
        groups.push(group);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    field: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, reason: &str) -> RelationError {
        let column = self
            .field
            .get(..self.i)
            .map_or(self.i, |s| s.chars().count())
            + 1;
        RelationError {
            column,
            field: self.field.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// A run of bytes for which `ok` holds, as a string.
    fn token(&mut self, ok: impl Fn(u8) -> bool) -> &str {
        let start = self.i;
        while self.peek().is_some_and(&ok) {
            self.i += 1;
        }
        self.field.get(start..self.i).unwrap_or_default()
    }

    fn name(&mut self, what: &str) -> Result<String, RelationError> {
        let t = self.token(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.' | b'_'));
        if t.is_empty() {
            return Err(self.err(&format!("expected {what}")));
        }
        Ok(t.to_owned())
    }

    fn relation(&mut self) -> Result<Relation, RelationError> {
        self.ws();
        let name = self.name("a package name")?;
        let arch_qualifier = if self.eat(b':') {
            Some(self.name("an architecture after `:`")?)
        } else {
            None
        };
        self.ws();
        let constraint = if self.eat(b'(') {
            self.ws();
            let op = match (self.peek(), self.s.get(self.i + 1).copied()) {
                (Some(b'<'), Some(b'<')) => (Op::Lt, 2),
                (Some(b'<'), Some(b'=')) => (Op::Le, 2),
                (Some(b'>'), Some(b'>')) => (Op::Gt, 2),
                (Some(b'>'), Some(b'=')) => (Op::Ge, 2),
                (Some(b'='), _) => (Op::Eq, 1),
                (Some(b'<'), _) => (Op::Le, 1),
                (Some(b'>'), _) => (Op::Ge, 1),
                _ => return Err(self.err("expected one of <<, <=, =, >=, >>")),
            };
            self.i += op.1;
            self.ws();
            let at = self.i;
            let v = self.token(|c| !c.is_ascii_whitespace() && c != b')');
            let v = v.parse::<Version>().map_err(|e| {
                let mut err = self.err(&e.to_string());
                err.column = self.field.get(..at).map_or(at, |s| s.chars().count()) + 1;
                err
            })?;
            self.ws();
            if !self.eat(b')') {
                return Err(self.err("expected `)` after the version"));
            }
            self.ws();
            Some((op.0, v))
        } else {
            None
        };
        let mut arches = Vec::new();
        if self.eat(b'[') {
            arches = self.terms(b']', "an architecture")?;
            if arches.is_empty() {
                return Err(self.err("empty architecture restriction"));
            }
            self.ws();
        }
        let mut profiles = Vec::new();
        while self.eat(b'<') {
            let terms = self.terms(b'>', "a build profile")?;
            if terms.is_empty() {
                return Err(self.err("empty build profile restriction"));
            }
            profiles.push(terms);
            self.ws();
        }
        Ok(Relation {
            name,
            arch_qualifier,
            constraint,
            arches,
            profiles,
        })
    }

    fn terms(&mut self, close: u8, what: &str) -> Result<Vec<Term>, RelationError> {
        let mut terms = Vec::new();
        loop {
            self.ws();
            if self.eat(close) {
                return Ok(terms);
            }
            if self.at_end() {
                return Err(self.err(&format!("expected `{}`", close as char)));
            }
            let negated = self.eat(b'!');
            terms.push(Term {
                negated,
                name: self.name(what)?,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_full_syntax() {
        let g = parse_relations(
            "a (>= 1.0) | b:any, c [amd64 !i386] <!nocheck> <stage1 cross>,\n d (<< 2:3-1)",
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].len(), 2);
        assert_eq!(g[0][0].name, "a");
        assert_eq!(g[0][0].constraint, Some((Op::Ge, "1.0".parse().unwrap())));
        assert_eq!(g[0][1].arch_qualifier.as_deref(), Some("any"));
        assert_eq!(g[1][0].arches.len(), 2);
        assert!(g[1][0].arches[1].negated);
        assert_eq!(g[1][0].profiles.len(), 2);
        assert_eq!(g[1][0].profiles[1].len(), 2);
        assert_eq!(g[2][0].constraint.as_ref().unwrap().0, Op::Lt);
    }

    #[test]
    fn obsolete_ops_and_empty() {
        let g = parse_relations("a (< 1), b (> 2),").unwrap();
        assert_eq!(g[0][0].constraint.as_ref().unwrap().0, Op::Le);
        assert_eq!(g[1][0].constraint.as_ref().unwrap().0, Op::Ge);
        assert!(parse_relations("  ").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse_relations("a (>= 1.0").unwrap_err();
        assert_eq!(e.column, 10);
        let e = parse_relations("a, (>= 1)").unwrap_err();
        assert_eq!(e.column, 4);
        assert!(parse_relations("a | | b").is_err());
        assert!(parse_relations("a (~ 1)").is_err());
        assert!(parse_relations("a (>= )").is_err());
        assert!(parse_relations("a b").is_err());
        assert!(parse_relations("a [amd64").is_err());
    }

    fn relation() -> impl Strategy<Value = Relation> {
        let term =
            (any::<bool>(), "[a-z0-9]{1,6}").prop_map(|(negated, name)| Term { negated, name });
        (
            "[a-z0-9][a-z0-9+.-]{0,8}",
            proptest::option::of("any|native|amd64"),
            proptest::option::of((
                prop_oneof![
                    Just(Op::Lt),
                    Just(Op::Le),
                    Just(Op::Eq),
                    Just(Op::Ge),
                    Just(Op::Gt)
                ],
                "([0-9]:)?[0-9][0-9a-z.+~]{0,5}(-[0-9a-z.+~]{1,4})?",
            )),
            proptest::collection::vec(term.clone(), 0..3),
            proptest::collection::vec(proptest::collection::vec(term, 1..3), 0..3),
        )
            .prop_map(|(name, q, c, arches, profiles)| Relation {
                name,
                arch_qualifier: q,
                constraint: c.map(|(op, v)| (op, v.parse().unwrap())),
                arches,
                profiles,
            })
    }

    proptest! {
        #[test]
        fn parse_of_display_is_identity(
            groups in proptest::collection::vec(proptest::collection::vec(relation(), 1..4), 0..5)
        ) {
            let text = display_relations(&groups);
            prop_assert_eq!(parse_relations(&text).unwrap(), groups);
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = parse_relations(&s);
        }
    }
}
