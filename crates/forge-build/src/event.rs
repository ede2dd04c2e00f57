//! What the engine tells its caller while it works: [`Event`]s, heard by a
//! [`Reporter`] (the CLI draws progress from them, and `--json` prints them
//! as they are serialised here).

use std::collections::BTreeMap;

use forge_core::store_path::StorePath;
use serde::Serialize;

/// What a reporter hears about. Serialised (for `forge build --json`) as
/// one object with `"event"` naming the kind in kebab case, then
/// `"recipe"`, then the other fields in alphabetical order (as forge wrote
/// them before these were derived).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The graph is loaded: this many recipes.
    Planned { total: usize },
    /// A recipe's builder started.
    BuildStarted { recipe: String },
    /// An input is being fetched.
    Fetching { recipe: String, url: String },
    /// Bytes of a fetch so far, and in all when the server said.
    FetchProgress {
        recipe: String,
        done: u64,
        total: Option<u64>,
        url: String,
    },
    /// A pin in a lock file changed: `path` input (or, with
    /// `--update-locks`, seed) `input` now hashes to `new`.
    Repinned {
        recipe: String,
        input: String,
        kind: String,
        lock_file: std::path::PathBuf,
        new: String,
        old: String,
    },
    /// Another forge process (pid `pid`, if it said) holds the lock of
    /// what this one needs: it is `what` ("building x-1", "fetching URL");
    /// this one waits for it and then uses its result.
    Waiting {
        recipe: String,
        pid: Option<u32>,
        what: String,
    },
    /// A seed is being imported.
    ImportingSeed { recipe: String, seed: String },
    /// A recipe's outputs are being brought from a substituter.
    Substituting { recipe: String, from: String },
    /// None of the `asked` substituters had a recipe's outputs (or each
    /// failed): it is built.
    NotSubstituted { recipe: String, asked: usize },
    /// Asking a substituter for a recipe's outputs failed (`error` says
    /// why: unreachable, refused, corrupt); the next one is asked, then
    /// the recipe is built.
    SubstituteFailed {
        recipe: String,
        error: String,
        from: String,
    },
    /// A recipe is realised (`built` false: it was already, or it was
    /// substituted).
    Finished {
        recipe: String,
        built: bool,
        outputs: BTreeMap<String, StorePath>,
        seconds: f64,
    },
    /// A recipe failed: the error, and what to do about it if anything.
    Failed {
        recipe: String,
        hint: Option<String>,
        message: String,
    },
    /// A `--check` rebuild compared.
    Checked {
        recipe: String,
        #[serde(rename = "differences")]
        detail: Vec<String>,
        reproducible: bool,
    },
}

/// Receives [`Event`]s.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// A reporter that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: &Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_kind_in_kebab_case() {
        let e = Event::FetchProgress {
            recipe: "a-1".into(),
            url: "https://x/y".into(),
            done: 3,
            total: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"fetch-progress","recipe":"a-1","done":3,"total":null,"url":"https://x/y"}"#
        );
        let c = Event::Checked {
            recipe: "a-1".into(),
            reproducible: false,
            detail: vec!["d".into()],
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["event"], "checked");
        assert_eq!(v["differences"], serde_json::json!(["d"]));
    }
}
