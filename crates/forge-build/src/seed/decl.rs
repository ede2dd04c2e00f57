//! The seed declaration file, `recipes/seeds/NAME.toml`, and its parser.
//!
//! ```toml
//! [seed]
//! name = "busybox"
//! description = "busybox-static: /bin/sh and the core utilities"
//! paths = ["/bin/busybox"]          # host files or directories, copied at the same path
//! exclude = ["/usr/share/doc/**"]   # optional: globs over host paths not to copy
//!
//! [seed.links]                      # optional: extra symlinks in the tree, path -> target
//! "/bin/sh" = "busybox"
//! ```
//!
//! Rules, each checked with a `file:line:col` error and a hint:
//!
//! - `name`: what recipes write in `{ seed = "NAME" }`; the file must be
//!   called `NAME.toml`. Letters, digits, `+ - . _`, not starting with `.`,
//!   at most [`MAX_SEED_NAME`] characters (the store path is `seed-NAME`).
//! - `paths`: at least one; absolute, normalised (no `.`, `..`, `//` or
//!   trailing `/`), not `/` itself, no duplicates.
//! - `exclude`: absolute glob patterns: `*` and `?` match within one path
//!   component, `**` as a whole component matches any number of them. They
//!   are matched against the *real* host path of each entry met while
//!   walking a declared directory (after symlinked components such as
//!   Debian's `/lib -> usr/lib` are resolved), so write `/usr/lib/...`, not
//!   `/lib/...`. Declared paths themselves are never excluded.
//! - `links`: keys are normalised absolute paths, not also in `paths`;
//!   targets are non-empty, without NUL, relative (to the link's directory)
//!   or absolute (inside the tree).
//!
//! Unknown keys are errors, with a "did you mean" hint when one is close.
//! Errors are [`forge_core::diag`]'s located errors, as for recipes.

use std::collections::BTreeMap;
use std::ops::Range;

use forge_core::diag::{Errors, Kind, Located, Location, Suggest};
use serde::Deserialize;
use serde_spanned::Spanned;

/// Longest seed name: the store path name `seed-NAME` must fit Nix's 211.
pub const MAX_SEED_NAME: usize = 200;

/// A parsed seed declaration.
///
/// Plain data: two declarations that differ only in how they were written
/// (key order, quoting, comments) are equal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedDecl {
    /// The seed's name.
    pub name: String,
    /// One line for people.
    pub description: Option<String>,
    /// Host paths to copy, in the order written.
    pub paths: Vec<String>,
    /// Glob patterns over real host paths not to copy from directories.
    pub exclude: Vec<String>,
    /// Extra symlinks: absolute path in the tree -> target.
    pub links: BTreeMap<String, String>,
    /// The file it was read from, for messages during assembly; not part
    /// of what the declaration means, so equality ignores it.
    #[serde(skip)]
    pub file: String,
}

impl PartialEq for SeedDecl {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.name,
            &self.description,
            &self.paths,
            &self.exclude,
            &self.links,
        ) == (
            &other.name,
            &other.description,
            &other.paths,
            &other.exclude,
            &other.links,
        )
    }
}

impl Eq for SeedDecl {}

/// A problem in a seed declaration, at a line and column of its file: the
/// shared [`Located`] error (`file:line:col: message`; its hint through
/// [`forge_core::diag::Hint`]).
pub type DeclError = Located;

/// What sort of problem a [`DeclError`] reports.
pub type DeclErrorKind = Kind;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a seed declaration with a [seed] table"
)]
struct RawFile {
    seed: Option<RawSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [seed] table")]
struct RawSeed {
    name: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    exclude: Option<Spanned<Vec<Spanned<String>>>>,
    links: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

const KEYS: [&str; 5] = ["name", "description", "paths", "exclude", "links"];

/// Collects problems with their hints; the earliest in the file wins.
trait Report {
    fn err(&mut self, span: &Range<usize>, kind: Kind, message: String, hint: Option<&str>);
}

impl Report for Errors<'_> {
    fn err(&mut self, span: &Range<usize>, kind: Kind, message: String, hint: Option<&str>) {
        self.push(span, kind, message).hint = hint.map(str::to_owned);
    }
}

impl SeedDecl {
    /// Parses the text of a seed declaration; `file` is used in messages
    /// only. When there are several problems, the first in the file is
    /// reported.
    pub fn parse(text: &str, file: &str) -> Result<SeedDecl, DeclError> {
        // A key of [seed] written elsewhere is suggested too.
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| Located::from_toml(text, file, &e, Suggest::Closest(&KEYS)))?;
        let mut cx = Errors::new(text, file);
        let decl = validate(&mut cx, raw);
        match (cx.first(), decl) {
            (Some(e), _) => Err(e),
            (None, Some(mut d)) => {
                d.file = file.to_owned();
                Ok(d)
            }
            (None, None) => Err(Located::new(
                file,
                Location::START,
                Kind::InvalidValue,
                "invalid seed declaration",
            )),
        }
    }

    /// The canonical text of this declaration: parsing it gives back an
    /// equal declaration, and printing that gives the same text.
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let list = |v: &[String]| {
            if v.is_empty() {
                "[]".to_owned()
            } else {
                let items: Vec<String> = v.iter().map(|s| format!("    {},\n", q(s))).collect();
                format!("[\n{}]", items.concat())
            }
        };
        let mut out = String::from("[seed]\n");
        out += &format!("name = {}\n", q(&self.name));
        if let Some(d) = &self.description {
            out += &format!("description = {}\n", q(d));
        }
        out += &format!("paths = {}\n", list(&self.paths));
        if !self.exclude.is_empty() {
            out += &format!("exclude = {}\n", list(&self.exclude));
        }
        if !self.links.is_empty() {
            out += "\n[seed.links]\n";
            for (k, v) in &self.links {
                out += &format!("{} = {}\n", q(k), q(v));
            }
        }
        out
    }

    /// The store path name of this seed: `seed-NAME`.
    pub fn store_name(&self) -> String {
        format!("seed-{}", self.name)
    }
}

fn validate(cx: &mut Errors<'_>, raw: RawFile) -> Option<SeedDecl> {
    let Some(seed) = raw.seed else {
        cx.err(
            &(0..0),
            DeclErrorKind::MissingKey,
            "missing [seed] table".into(),
            Some("a seed file starts with [seed] and sets name and paths"),
        );
        return None;
    };
    let header = table_span(cx.text());
    let name = match seed.name {
        None => {
            cx.err(
                &header,
                DeclErrorKind::MissingKey,
                "missing key `name` in [seed]".into(),
                Some("add name = \"NAME\"; recipes refer to the seed by it"),
            );
            None
        }
        Some(n) => {
            let span = n.span();
            let n = n.into_inner();
            match name_problem(&n) {
                Some(problem) => {
                    cx.err(
                        &span,
                        DeclErrorKind::InvalidValue,
                        format!("invalid seed name {n:?}: {problem}"),
                        Some("seed names are letters, digits and + - . _, not starting with '.'"),
                    );
                    None
                }
                None => Some(n),
            }
        }
    };
    let mut paths = Vec::new();
    match seed.paths {
        None => cx.err(
            &header,
            DeclErrorKind::MissingKey,
            "missing key `paths` in [seed]".into(),
            Some("list the host files and directories to copy: paths = [\"/bin/busybox\"]"),
        ),
        Some(list) => {
            let span = list.span();
            let list = list.into_inner();
            if list.is_empty() {
                cx.err(
                    &span,
                    DeclErrorKind::InvalidValue,
                    "`paths` is empty; a seed copies at least one host path".into(),
                    None,
                );
            }
            for p in list {
                let span = p.span();
                let p = p.into_inner();
                if let Some(problem) = path_problem(&p) {
                    cx.err(
                        &span,
                        DeclErrorKind::InvalidValue,
                        format!("invalid path {p:?} in `paths`: {problem}"),
                        Some("write the absolute host path, as `ls` shows it: \"/usr/bin/gcc\""),
                    );
                } else if paths.contains(&p) {
                    cx.err(
                        &span,
                        DeclErrorKind::InvalidValue,
                        format!("path {p:?} is listed twice in `paths`"),
                        Some("remove one of them"),
                    );
                } else {
                    paths.push(p);
                }
            }
        }
    }
    let mut exclude = Vec::new();
    for g in seed.exclude.map(Spanned::into_inner).unwrap_or_default() {
        let span = g.span();
        let g = g.into_inner();
        if let Some(problem) = glob_problem(&g) {
            cx.err(
                &span,
                DeclErrorKind::InvalidValue,
                format!("invalid pattern {g:?} in `exclude`: {problem}"),
                Some("patterns are absolute host paths with * ? and ** components: \"/usr/lib/gcc/*/12/cc1plus\""),
            );
        } else {
            exclude.push(g);
        }
    }
    let mut links = BTreeMap::new();
    for (k, v) in seed.links.unwrap_or_default() {
        let (kspan, vspan) = (k.span(), v.span());
        let (k, v) = (k.into_inner(), v.into_inner());
        if let Some(problem) = path_problem(&k) {
            cx.err(
                &kspan,
                DeclErrorKind::InvalidValue,
                format!("invalid link path {k:?}: {problem}"),
                Some("a link is written \"/absolute/path/in/tree\" = \"target\""),
            );
        } else if paths.contains(&k) {
            cx.err(
                &kspan,
                DeclErrorKind::InvalidValue,
                format!("link {k:?} is also listed in `paths`"),
                Some("a path is either copied from the host or made a link, not both"),
            );
        } else if v.is_empty() || v.contains('\0') {
            cx.err(
                &vspan,
                DeclErrorKind::InvalidValue,
                format!(
                    "invalid target {v:?} for link {k:?}: targets are non-empty and without NUL"
                ),
                None,
            );
        } else {
            links.insert(k, v);
        }
    }
    let description = seed.description.map(Spanned::into_inner);
    Some(SeedDecl {
        name: name?,
        description,
        paths,
        exclude,
        links,
        file: String::new(),
    })
}

/// Why `name` is not a valid seed name, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > MAX_SEED_NAME {
        return Some(format!(
            "it is {} bytes long; the limit is {MAX_SEED_NAME}",
            name.len()
        ));
    }
    if name.starts_with('.') {
        return Some("it starts with '.'".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')))
        .map(|c| format!("{c:?} is not allowed"))
}

/// Why `p` is not a normalised absolute path other than `/`, if it is not.
pub fn path_problem(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        return Some("it is not absolute");
    }
    if p == "/" {
        return Some("the whole root cannot be a seed path");
    }
    if p.contains('\0') {
        return Some("it contains NUL");
    }
    if p.ends_with('/') {
        return Some("it ends with '/'");
    }
    for c in p[1..].split('/') {
        match c {
            "" => return Some("it contains '//'"),
            "." | ".." => return Some("it contains '.' or '..' components"),
            _ => {}
        }
    }
    None
}

fn glob_problem(g: &str) -> Option<&'static str> {
    if let Some(p) = path_problem(g) {
        return Some(p);
    }
    if g[1..].split('/').any(|c| c.contains("**") && c != "**") {
        return Some("`**` must be a whole path component");
    }
    None
}

/// Whether `path` (absolute, normalised) matches the glob `pattern` (see
/// the module docs). Work is bounded by the product of the two lengths.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let comps: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // matches[i][j]: pat[i..] matches comps[j..]; filled from the end.
    let mut next = vec![false; comps.len() + 1];
    next[comps.len()] = true;
    for i in (0..pat.len()).rev() {
        let mut cur = vec![false; comps.len() + 1];
        for j in (0..=comps.len()).rev() {
            cur[j] = if pat[i] == "**" {
                next[j] || (j < comps.len() && cur[j + 1])
            } else {
                j < comps.len() && component_matches(pat[i], comps[j]) && next[j + 1]
            };
        }
        next = cur;
    }
    next[0]
}

/// `*` and `?` within one component.
fn component_matches(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Where `[seed]` is written, for errors about the table as a whole.
fn table_span(text: &str) -> Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("[seed]")
            || trimmed.starts_with("seed.")
            || trimmed.starts_with("seed =")
        {
            let at = offset + (line.len() - trimmed.len());
            return at..at;
        }
        offset += line.len();
    }
    0..0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches(
            "/usr/lib/*/12/cc1plus",
            "/usr/lib/gcc/12/cc1plus"
        ));
        assert!(!glob_matches(
            "/usr/lib/*/12/cc1plus",
            "/usr/lib/gcc/x/12/cc1plus"
        ));
        assert!(glob_matches("/usr/share/doc/**", "/usr/share/doc/a/b/c"));
        assert!(glob_matches("/usr/share/doc/**", "/usr/share/doc"));
        assert!(glob_matches("/usr/**/*.a", "/usr/lib/x/libfoo.a"));
        assert!(glob_matches("/usr/lib/lib*san*", "/usr/lib/libasan.so.8"));
        assert!(!glob_matches("/usr/lib/lib*san*", "/usr/lib/libc.so"));
        assert!(glob_matches("/a/b?", "/a/bc"));
        assert!(!glob_matches("/a/b?", "/a/b"));
    }

    #[test]
    fn typos() {
        use forge_core::diag::did_you_mean;
        assert_eq!(did_you_mean("path", &KEYS), Some("paths"));
        assert_eq!(did_you_mean("exlcude", &KEYS), Some("exclude"));
        assert_eq!(did_you_mean("Name", &KEYS), Some("name"));
        assert_eq!(did_you_mean("colour", &KEYS), None);
    }

    #[test]
    fn toml_errors_become_located_errors() {
        let e = SeedDecl::parse("[seed]\nname = \"x\"\npath = [\"/x\"]\n", "s.toml").unwrap_err();
        assert_eq!(e.to_string(), "s.toml:3:1: unknown key `path`");
        assert_eq!(e.kind, DeclErrorKind::UnknownKey);
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean `paths`? the keys known here are `name`"),
            "{e:?}"
        );
        let e = SeedDecl::parse("[seed]\nname = 1\n", "s.toml").unwrap_err();
        assert_eq!((e.line, e.column, e.kind), (2, 8, DeclErrorKind::WrongType));
        let e = SeedDecl::parse("[seed\n", "s.toml").unwrap_err();
        assert_eq!(e.kind, DeclErrorKind::Syntax);
        assert!(e.message.starts_with("invalid TOML: "), "{e}");
    }
}
