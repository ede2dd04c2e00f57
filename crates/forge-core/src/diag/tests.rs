use super::*;
use proptest::prelude::*;
use serde::Deserialize;

/// An error as the CLI shows it: its message, then its hint on a line of
/// its own.
pub(crate) fn shown(e: &Located) -> String {
    match e.hint() {
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

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
fn displays_like_a_compiler_without_the_hint() {
    let e = Located::new(
        "r.toml",
        Location {
            line: 7,
            column: 10,
        },
        Kind::InvalidValue,
        "bad",
    );
    assert_eq!(e.to_string(), "r.toml:7:10: bad");
    assert_eq!(e.hint(), None);
    let e = e.with_hint("fix it");
    assert_eq!(e.to_string(), "r.toml:7:10: bad");
    assert_eq!(e.hint().as_deref(), Some("fix it"));
}

proptest! {
    /// Splitting the text at the offset and counting by hand gives the
    /// same line and column; the location is never past the text.
    #[test]
    fn location_counts_lines_and_characters(
        lines in proptest::collection::vec("[a-zé€\t ]{0,8}", 1..6),
        pick in any::<prop::sample::Index>(),
    ) {
        let text = lines.join("\n");
        let offset = pick.index(text.len() + 1);
        let at = Location::of_offset(&text, offset);
        let mut boundary = offset;
        while !text.is_char_boundary(boundary) {
            boundary -= 1;
        }
        let before = &text[..boundary];
        let line = before.split('\n').count();
        let column = before.split('\n').next_back().unwrap().chars().count() + 1;
        prop_assert_eq!(at, Location { line: line as u32, column: column as u32 });
        prop_assert!(at.line as usize <= lines.len());
    }

    /// Any offset, in any text, gives a location (no panic), and offsets
    /// past the end give the location of the end.
    #[test]
    fn location_of_any_offset(text in "\\PC{0,40}", offset in 0usize..200) {
        let at = Location::of_offset(&text, offset);
        prop_assert!(at.line >= 1 && at.column >= 1);
        if offset >= text.len() {
            prop_assert_eq!(at, Location::of_offset(&text, text.len()));
        }
    }

    /// A word is always its own best suggestion, and so is a spelling
    /// that differs only in case, `-` or `_`.
    #[test]
    fn did_you_mean_finds_the_word_itself(
        word in "[a-z][a-z_-]{0,12}",
        others in proptest::collection::vec("[a-z]{1,12}", 0..5),
    ) {
        let mut candidates: Vec<&str> = others.iter().map(String::as_str).collect();
        candidates.push(&word);
        let best = did_you_mean(&word, &candidates).unwrap();
        prop_assert_eq!(best.to_ascii_lowercase().replace(['-', '_'], ""),
            word.replace(['-', '_'], ""));
        let upper = word.to_ascii_uppercase().replace('-', "_");
        prop_assert!(did_you_mean(&upper, &candidates).is_some());
    }

    /// One edit (insert, delete, substitute) or a swap of two neighbours
    /// is always close enough; the suggestion is one of the candidates.
    #[test]
    fn did_you_mean_catches_one_typo(
        word in "[a-z]{3,12}",
        at in any::<prop::sample::Index>(),
        c in "[a-z]",
        edit in 0u8..4,
    ) {
        let chars: Vec<char> = word.chars().collect();
        let i = at.index(chars.len());
        let mut typo = chars.clone();
        let c = c.chars().next().unwrap();
        match edit {
            0 => typo.insert(i, c),
            1 => { typo.remove(i); }
            2 => typo[i] = c,
            _ => if i + 1 < typo.len() { typo.swap(i, i + 1) },
        }
        let typo: String = typo.into_iter().collect();
        prop_assert_eq!(did_you_mean(&typo, &[word.as_str(), "zzzzzzzzzzzzzzzzzzzz"]), Some(word.as_str()));
    }

    /// A suggestion is within the distance the rule allows.
    #[test]
    fn did_you_mean_never_suggests_something_far(
        word in "[a-z]{1,10}",
        candidates in proptest::collection::vec("[a-z]{1,10}", 0..6),
    ) {
        let cands: Vec<&str> = candidates.iter().map(String::as_str).collect();
        if let Some(best) = did_you_mean(&word, &cands) {
            prop_assert!(cands.contains(&best));
            prop_assert!(edit_distance(&word, best) <= 2.max(best.len() / 3));
        }
    }
}

#[test]
fn did_you_mean_picks_the_closest_and_rejects_unrelated_words() {
    assert_eq!(
        did_you_mean("scirpt", &["command", "script"]),
        Some("script")
    );
    assert_eq!(
        did_you_mean("Silence_Timeout", &["silence-timeout"]),
        Some("silence-timeout")
    );
    assert_eq!(did_you_mean("colour", &["paths", "name"]), None);
    assert_eq!(did_you_mean("x", &[]), None);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Table {
    network: Option<bool>,
    host_files: Option<Vec<String>>,
    mode: Option<Mode>,
    needed: Option<Needed>,
    empty: Option<Empty>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Hard,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Needed {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn conv(text: &str, suggest: Suggest<'_>) -> Located {
    let e = toml::from_str::<Table>(text).unwrap_err();
    Located::from_toml(text, "t.toml", &e, suggest)
}

#[test]
fn an_unknown_key_lists_the_known_ones_and_may_suggest_one() {
    let text = "network = true\nnetwrok = 1\n";
    let e = conv(text, Suggest::Closest(&[]));
    assert_eq!(e.to_string(), "t.toml:2:1: unknown key `netwrok`");
    assert_eq!(e.kind, Kind::UnknownKey);
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `network`? the keys known here are `network`, `host-files`, `mode`, `needed`, `empty`")
    );
    let e = conv(text, Suggest::KnownKeys);
    assert_eq!(
        e.hint.as_deref(),
        Some("the keys known here are `network`, `host-files`, `mode`, `needed`, `empty`")
    );
    // Other candidates are suggested too, but not listed as known here.
    let e = conv("paths = 1\n", Suggest::Closest(&["path"]));
    assert!(e
        .hint
        .unwrap()
        .starts_with("did you mean `path`? the keys known here are `network`"));
    let e = conv("[empty]\nx = 1\n", Suggest::Closest(&[]));
    assert_eq!(e.location(), Location { line: 2, column: 1 });
    assert_eq!(e.hint.as_deref(), Some("this table takes no keys"));
}

#[test]
fn serde_errors_keep_their_message_and_get_a_kind() {
    let e = conv("network = \"no\"\n", Suggest::KnownKeys);
    assert_eq!(e.kind, Kind::WrongType);
    assert_eq!(
        e.location(),
        Location {
            line: 1,
            column: 11
        }
    );
    assert!(
        e.message
            .starts_with("invalid type: string \"no\", expected a boolean"),
        "{e}"
    );
    let e = conv("[needed]\n", Suggest::KnownKeys);
    assert_eq!(e.kind, Kind::MissingKey);
    assert!(e.message.starts_with("missing field `name`"), "{e}");
    let e = conv("mode = \"soft\"\n", Suggest::KnownKeys);
    assert_eq!(e.kind, Kind::InvalidValue);
    assert!(e.message.starts_with("unknown variant `soft`"), "{e}");
    assert_eq!(e.hint, None);
}

#[test]
fn syntax_errors_say_invalid_toml_on_one_line() {
    let e = conv("network = true\nnetwork = false\n", Suggest::KnownKeys);
    assert_eq!(e.kind, Kind::Syntax);
    assert!(e.message.starts_with("invalid TOML: duplicate key"), "{e}");
    assert!(!e.message.contains('\n'), "{e}");
    assert_eq!(e.line, 2);
    let e = conv("x = \"unterminated\n", Suggest::KnownKeys);
    assert_eq!(e.kind, Kind::Syntax);
    assert!(!e.to_string().ends_with('.'), "{e}");
}

#[test]
fn errors_report_the_earliest_problem() {
    let text = "a\nb\nc\n";
    let mut errs = Errors::new(text, "f");
    assert!(errs.is_empty());
    errs.push(&(4..5), Kind::InvalidValue, "third line".into());
    errs.push_hint(&(2..3), Kind::Conflict, "second line".into(), "do this");
    errs.push(&(2..2), Kind::InvalidValue, "also second".into());
    let first = errs.first().unwrap();
    assert_eq!(first.to_string(), "f:2:1: second line");
    assert_eq!(first.hint.as_deref(), Some("do this"));
    assert_eq!(Errors::new("", "f").first(), None);
}
