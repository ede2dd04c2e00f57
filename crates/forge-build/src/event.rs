//! What the engine tells its caller while it works: [`Event`]s, heard by a
//! [`Reporter`] (the CLI draws progress from them, and `--json` prints them
//! as they are serialised here).

use std::collections::BTreeMap;

use forge_core::store_path::StorePath;
use serde::Serialize;

/// What a reporter hears about. Serialised (for `forge build --json`) as
/// one object with `"event"` naming the kind in kebab case.
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
        url: String,
        done: u64,
        total: Option<u64>,
    },
    /// A seed is being imported.
    ImportingSeed { recipe: String, seed: String },
    /// A recipe's outputs are being brought from a substituter.
    Substituting { recipe: String, from: String },
    /// A recipe is realised (`built` false: it was already, or it was
    /// substituted).
    Finished {
        recipe: String,
        built: bool,
        outputs: BTreeMap<String, StorePath>,
        seconds: f64,
    },
    /// A recipe failed.
    Failed { recipe: String, message: String },
    /// A `--check` rebuild compared.
    Checked {
        recipe: String,
        reproducible: bool,
        #[serde(rename = "differences")]
        detail: Vec<String>,
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
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"event": "fetch-progress", "recipe": "a-1", "url": "https://x/y", "done": 3, "total": null})
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
