//! What a `[build] script` names: the shell variables it expands (`$name`,
//! `${name}`, `${name%.c}`…) and the ones it sets itself (`x=1`,
//! `for x in`, `read x`, `local x`, `export x=…`), for `forge recipe
//! check`'s warning about a variable that no input, output or forge
//! variable defines (docs/recipes.md, "Checking recipes").
//!
//! This is a lexer of POSIX sh, not a parser: it knows quotes (nothing in
//! `'…'` expands), backslash escapes, comments, here-documents (a quoted
//! delimiter, `<<'EOF'`, keeps the body literal) and the forms of `${…}`,
//! and errs towards silence: any word that looks like an assignment or
//! follows `export`, `local`, `readonly`, `read`, `getopts`, `for` or
//! `unset` counts as set, and `${name:-…}`-style expansions, which say what
//! happens when `name` is unset, are marked [`Reference::guarded`].

use std::collections::BTreeSet;

/// One expansion of a named variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The variable's name.
    pub name: String,
    /// The expansion as written up to the name: `$name` or `${name`.
    pub token: String,
    /// How many times `token` occurs in the script before this one (to
    /// find it in the file: [`super::SourceMap::in_script`]).
    pub nth: usize,
    /// `${name-…}`, `${name:-…}`, `${name=…}`, `${name+…}`, `${name?…}` (with
    /// or without `:`): the script says what an unset `name` means.
    pub guarded: bool,
}

/// What [`scan`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every expansion of a named variable, in order.
    pub references: Vec<Reference>,
    /// Every name the script sets (or declares) anywhere.
    pub assigned: BTreeSet<String>,
}

/// Commands whose identifier arguments are variables they set.
const SETTERS: &[&str] = &[
    "export", "local", "readonly", "read", "getopts", "for", "select", "unset", "typeset",
    "declare",
];

/// Reserved words that may start a line before the command itself.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "case",
    "esac", "in",
];

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The expansions and assignments of `script`.
pub fn scan(script: &str) -> Scan {
    let mut l = Lexer {
        s: script.as_bytes(),
        text: script,
        i: 0,
        out: Scan::default(),
        words: Vec::new(),
        word: String::new(),
        heredocs: Vec::new(),
    };
    l.run();
    l.out
}

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    out: Scan,
    /// The words of the simple command being read (literal text only).
    words: Vec<String>,
    word: String,
    /// Here-documents whose bodies start at the next newline: (delimiter,
    /// body expands, `<<-`).
    heredocs: Vec<(String, bool, bool)>,
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    fn run(&mut self) {
        let mut in_dq = false;
        while let Some(c) = self.peek(0) {
            match c {
                b'\\' => {
                    if let Some(n) = self.peek(1) {
                        if n != b'\n' {
                            self.word.push(n as char);
                        }
                    }
                    self.i += 2;
                }
                b'\'' if !in_dq => {
                    let end = self.s[self.i + 1..]
                        .iter()
                        .position(|&b| b == b'\'')
                        .map_or(self.s.len(), |p| self.i + 1 + p);
                    self.word.push_str(&self.text[self.i + 1..end]);
                    self.i = end + 1;
                }
                b'"' => {
                    in_dq = !in_dq;
                    self.i += 1;
                }
                b'$' => self.dollar(),
                b'#' if !in_dq && self.word.is_empty() => {
                    while self.peek(0).is_some_and(|b| b != b'\n') {
                        self.i += 1;
                    }
                }
                b'<' if !in_dq && self.peek(1) == Some(b'<') && self.peek(2) != Some(b'<') => {
                    self.end_word();
                    self.i += 2;
                    self.heredoc_operator();
                }
                b'\n' if !in_dq => {
                    self.end_command();
                    self.i += 1;
                    self.heredoc_bodies();
                }
                b' ' | b'\t' if !in_dq => {
                    self.end_word();
                    self.i += 1;
                }
                b';' | b'&' | b'|' | b'(' | b')' | b'`' if !in_dq => {
                    self.end_command();
                    self.i += 1;
                }
                _ => {
                    let ch = self.text[self.i..].chars().next().unwrap_or(' ');
                    self.word.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
        self.end_command();
    }

    /// At a `$`: records the variable it expands, if it names one.
    fn dollar(&mut self) {
        let start = self.i;
        // A word with an expansion in it is not a literal name.
        self.word.push('\0');
        match self.peek(1) {
            Some(b'{') => {
                let mut j = self.i + 2;
                if self.s.get(j) == Some(&b'#')
                    && self.s.get(j + 1).is_some_and(|&b| is_name_start(b))
                {
                    j += 1; // ${#name}: its length
                }
                let name_start = j;
                while self.s.get(j).is_some_and(|&b| is_name_char(b)) {
                    j += 1;
                }
                let name = &self.text[name_start..j];
                if !name.is_empty() && is_name_start(name.as_bytes()[0]) {
                    let rest = &self.s[j..];
                    let rest = rest.strip_prefix(b":").unwrap_or(rest);
                    let guarded = matches!(rest.first(), Some(b'-' | b'=' | b'+' | b'?'));
                    if guarded && rest.first() == Some(&b'=') {
                        self.out.assigned.insert(name.to_owned());
                    }
                    self.reference(start, &self.text[start..j], name, guarded);
                }
                self.i = j;
            }
            Some(b) if is_name_start(b) => {
                let mut j = self.i + 1;
                while self.s.get(j).is_some_and(|&b| is_name_char(b)) {
                    j += 1;
                }
                let name = &self.text[self.i + 1..j];
                self.reference(start, &self.text[start..j], name, false);
                self.i = j;
            }
            // $1, $@, $?, $$, $(…), $((…)): nothing named.
            Some(b'$') => self.i += 2,
            _ => self.i += 1,
        }
    }

    fn reference(&mut self, at: usize, token: &str, name: &str, guarded: bool) {
        let nth = self.text[..at].matches(token).count();
        self.out.references.push(Reference {
            name: name.to_owned(),
            token: token.to_owned(),
            nth,
            guarded,
        });
    }

    fn end_word(&mut self) {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
    }

    /// The end of a simple command: what its words set.
    fn end_command(&mut self) {
        self.end_word();
        let words = std::mem::take(&mut self.words);
        let mut rest = words
            .iter()
            .skip_while(|w| KEYWORDS.contains(&w.as_str()))
            .peekable();
        while let Some(w) = rest.peek() {
            match assignment(w) {
                Some(name) => {
                    self.out.assigned.insert(name.to_owned());
                    rest.next();
                }
                None => break,
            }
        }
        let Some(command) = rest.next() else { return };
        if SETTERS.contains(&command.as_str()) {
            for w in rest {
                let name = assignment(w).unwrap_or(w);
                if name.bytes().next().is_some_and(is_name_start) && name.bytes().all(is_name_char)
                {
                    self.out.assigned.insert(name.to_owned());
                }
            }
        }
    }

    /// After `<<`: the delimiter word, and whether the body expands.
    fn heredoc_operator(&mut self) {
        let strip_tabs = self.peek(0) == Some(b'-');
        if strip_tabs {
            self.i += 1;
        }
        while matches!(self.peek(0), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        let mut delim = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek(0) {
            match c {
                b'\'' | b'"' => {
                    quoted = true;
                    let end = self.s[self.i + 1..]
                        .iter()
                        .position(|&b| b == c)
                        .map_or(self.s.len(), |p| self.i + 1 + p);
                    delim.push_str(&self.text[self.i + 1..end]);
                    self.i = end + 1;
                }
                b'\\' => {
                    quoted = true;
                    self.i += 1;
                }
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b')' => break,
                _ => {
                    let ch = self.text[self.i..].chars().next().unwrap_or(' ');
                    delim.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
        if !delim.is_empty() {
            self.heredocs.push((delim, !quoted, strip_tabs));
        }
    }

    /// At the start of a line after one with `<<` operators: their bodies.
    fn heredoc_bodies(&mut self) {
        for (delim, expands, strip_tabs) in std::mem::take(&mut self.heredocs) {
            while self.i < self.s.len() {
                let end = self.s[self.i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.s.len(), |p| self.i + p);
                let line = &self.text[self.i..end];
                let bare = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if bare == delim {
                    self.i = (end + 1).min(self.s.len());
                    break;
                }
                if expands {
                    let mut k = self.i;
                    while k < end {
                        match self.s[k] {
                            b'\\' => k += 2,
                            b'$' => {
                                self.i = k;
                                self.dollar();
                                k = self.i.max(k + 1);
                            }
                            _ => k += 1,
                        }
                    }
                }
                self.i = (end + 1).min(self.s.len());
            }
        }
        self.word.clear();
    }
}

/// `name` when `word` is `name=…`.
fn assignment(word: &str) -> Option<&str> {
    let (name, _) = word.split_once('=')?;
    let b = name.as_bytes();
    (b.first().is_some_and(|&c| is_name_start(c)) && b.iter().all(|&c| is_name_char(c)))
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(script: &str) -> Vec<(String, bool)> {
        scan(script)
            .references
            .into_iter()
            .map(|r| (r.name, r.guarded))
            .collect()
    }

    fn unguarded(script: &str) -> Vec<String> {
        names(script)
            .into_iter()
            .filter(|(_, g)| !g)
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn finds_both_forms_and_skips_specials() {
        assert_eq!(
            unguarded("cp $src/a \"${out}/b\" $1 $@ $? $$ $(pwd) $((1+2)) ${#x} ${x%.c}"),
            ["src", "out", "x", "x"]
        );
    }

    #[test]
    fn single_quotes_escapes_and_comments_do_not_expand() {
        assert_eq!(
            unguarded("echo '$a' \\$b \"'$c'\" # $d\necho x#$e"),
            ["c", "e"]
        );
    }

    #[test]
    fn defaults_are_guarded() {
        assert_eq!(
            names("${a:-x} ${b-} ${c:=1} ${d+y} ${e:?no}"),
            [
                ("a".into(), true),
                ("b".into(), true),
                ("c".into(), true),
                ("d".into(), true),
                ("e".into(), true)
            ]
        );
        assert!(scan("${c:=1}").assigned.contains("c"));
    }

    #[test]
    fn assignments_loops_reads_and_declarations_set_names() {
        let s = scan(
            "a=1 b=2 make\nfor f in *.c; do echo $f; done\nread -r line\nlocal l\nexport E=1 F\nif true; then t=1; fi\nwhile read -r x y; do :; done",
        );
        for n in ["a", "b", "f", "line", "l", "E", "F", "t", "x", "y"] {
            assert!(s.assigned.contains(n), "{n}: {:?}", s.assigned);
        }
        assert!(!s.assigned.contains("make"));
    }

    #[test]
    fn here_documents_expand_unless_their_delimiter_is_quoted() {
        assert_eq!(
            unguarded("cat > f <<EOF\n$a '$b' \\$c\nEOF\ncat <<'X'\n$d\nX\ncat <<-\"Y\"\n\t$e\n\tY\necho $f"),
            ["a", "b", "f"]
        );
    }

    #[test]
    fn nth_counts_earlier_occurrences_of_the_token() {
        let s = scan("echo '$x' $x ${x}");
        let r: Vec<(&str, usize)> = s
            .references
            .iter()
            .map(|r| (r.token.as_str(), r.nth))
            .collect();
        assert_eq!(r, [("$x", 1), ("${x", 0)]);
    }
}
