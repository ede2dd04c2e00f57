//! `nix-cache-info`: the file at the root of a cache that says which store
//! directory its paths belong to and how clients should use it
//! (docs/cache.md, "Formats").
//!
//! ```text
//! StoreDir: /forge/store
//! WantMassQuery: 1
//! Priority: 30
//! ```
//!
//! Only `StoreDir` is required (Nix's `nix copy --to file://…` writes only
//! it). Unknown keys are ignored, as Nix ignores them, so a later forge can
//! add some. A client refuses a cache whose `StoreDir` is not its own: the
//! paths it holds could not be used here.

use std::fmt;
use std::str::FromStr;

use super::text::{self, ParseError, Seen, ValueError};
use crate::store_path::STORE_DIR;

/// The contents of `nix-cache-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// `StoreDir`: the logical store directory of every path in the cache
    /// (an absolute path without a trailing `/`).
    pub store_dir: String,
    /// `WantMassQuery`: whether clients may ask for many narinfos at once
    /// (`1`) rather than only for what they are about to build (`0`).
    pub want_mass_query: Option<bool>,
    /// `Priority`: lower is preferred among substituters; Nix's default for
    /// a cache that says nothing is 50.
    pub priority: Option<u32>,
}

impl CacheInfo {
    /// The file name at the root of a cache.
    pub const FILE_NAME: &'static str = "nix-cache-info";

    /// The priority forge's caches announce unless told otherwise (Nix's
    /// default; lower is preferred).
    pub const DEFAULT_PRIORITY: u32 = 50;

    /// What forge writes for a cache of its own store: `StoreDir:
    /// /forge/store`, `WantMassQuery: 1` and `priority`.
    pub fn forge(priority: u32) -> Self {
        CacheInfo {
            store_dir: STORE_DIR.to_owned(),
            want_mass_query: Some(true),
            priority: Some(priority),
        }
    }

    /// Whether the cache holds paths of forge's store directory.
    pub fn is_forge_store(&self) -> bool {
        self.store_dir == STORE_DIR
    }

    /// Parses the file's text (see the module docs).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut seen = Seen::default();
        let mut store_dir = None;
        let mut want_mass_query = None;
        let mut priority = None;
        for field in text::fields(text)? {
            match field.key {
                "StoreDir" => {
                    seen.once("StoreDir", &field)?;
                    let v = field.value;
                    let ok =
                        v.starts_with('/') && (v == "/" || !v.ends_with('/')) && text::is_token(v);
                    if !ok {
                        return Err(ParseError::value(
                            &field,
                            ValueError::invalid(v, "an absolute directory without a trailing /"),
                        ));
                    }
                    store_dir = Some(v.to_owned());
                }
                "WantMassQuery" => {
                    seen.once("WantMassQuery", &field)?;
                    want_mass_query = Some(match field.value {
                        "1" => true,
                        "0" => false,
                        v => return Err(ParseError::value(&field, ValueError::Bool(v.into()))),
                    });
                }
                "Priority" => {
                    seen.once("Priority", &field)?;
                    let n = text::number(&field)?;
                    let n = u32::try_from(n).map_err(|_| {
                        ParseError::value(&field, ValueError::Number(field.value.to_owned()))
                    })?;
                    priority = Some(n);
                }
                _ => {}
            }
        }
        Ok(CacheInfo {
            store_dir: store_dir.ok_or(ParseError::Missing { key: "StoreDir" })?,
            want_mass_query,
            priority,
        })
    }

    /// The file's canonical text: `StoreDir`, then `WantMassQuery` and
    /// `Priority` when set.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for CacheInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "StoreDir: {}", self.store_dir)?;
        if let Some(w) = self.want_mass_query {
            writeln!(f, "WantMassQuery: {}", u8::from(w))?;
        }
        if let Some(p) = self.priority {
            writeln!(f, "Priority: {p}")?;
        }
        Ok(())
    }
}

impl FromStr for CacheInfo {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_and_writes_forge_cache_info() {
        let info = CacheInfo::forge(30);
        let text = info.to_text();
        assert_eq!(
            text,
            "StoreDir: /forge/store\nWantMassQuery: 1\nPriority: 30\n"
        );
        assert_eq!(CacheInfo::parse(&text).unwrap(), info);
        assert!(info.is_forge_store());
    }

    #[test]
    fn reads_what_nix_writes_and_ignores_unknown_keys() {
        let info = CacheInfo::parse("StoreDir: /nix/store\nFutureKey: x\n").unwrap();
        assert_eq!(info.store_dir, "/nix/store");
        assert!(!info.is_forge_store());
        assert_eq!((info.want_mass_query, info.priority), (None, None));
    }

    #[test]
    fn errors_name_line_and_key() {
        let cases = [
            ("WantMassQuery: 1\n", "missing `StoreDir`"),
            (
                "StoreDir: /a\nStoreDir: /b\n",
                "line 2: `StoreDir` appears twice (first on line 1)",
            ),
            (
                "StoreDir: a\n",
                "line 1: `StoreDir`: \"a\" is not an absolute",
            ),
            ("StoreDir: /a/\n", "line 1: `StoreDir`:"),
            (
                "StoreDir: /a\nWantMassQuery: yes\n",
                "line 2: `WantMassQuery`: \"yes\" is not 0 or 1",
            ),
            (
                "StoreDir: /a\nPriority: 4294967296\n",
                "line 2: `Priority`:",
            ),
            ("StoreDir: /a\nPriority: -1\n", "line 2: `Priority`:"),
        ];
        for (text, want) in cases {
            let e = CacheInfo::parse(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    fn cache_info() -> impl Strategy<Value = CacheInfo> {
        (
            "(/[a-z0-9._-]{1,8}){1,3}",
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(store_dir, want_mass_query, priority)| CacheInfo {
                store_dir,
                want_mass_query,
                priority,
            })
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(info in cache_info()) {
            prop_assert_eq!(CacheInfo::parse(&info.to_text()).unwrap(), info);
        }

        #[test]
        fn parse_never_panics(s in "(\\PC{0,30}\n?){0,5}") {
            let _ = CacheInfo::parse(&s);
        }
    }
}
