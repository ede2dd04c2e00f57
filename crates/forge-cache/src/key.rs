//! The names of objects in a cache: relative, `/`-separated, and unable to
//! leave the cache (no `..`, no absolute path, no empty or hidden
//! component), so a backend can map a key to a file or a URL without a
//! second check. The characters are those of store path names and hashes
//! plus `!` (realisations, `<digest>!<output>`).

use thiserror::Error;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 512;

/// The longest component of a key: a file name's limit on Linux
/// (`NAME_MAX`), so that every key can be a file (a cache's names are
/// under 100 bytes).
pub const MAX_COMPONENT_LEN: usize = 255;

/// A valid object name: `nix-cache-info`, `<digest>.narinfo`,
/// `nar/<hash>.nar.zst`, `realisations/<digest>!out.doi`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

/// Why a string is not a [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid cache object name {}: {why}", shown(.key))]
pub struct KeyError {
    /// The string, as given.
    pub key: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn shown(key: &str) -> String {
    let mut s: String = key.chars().take(80).collect();
    if key.chars().count() > 80 {
        s.push('…');
    }
    format!("`{}`", s.escape_default())
}

impl Key {
    /// `key` if it is a valid object name.
    pub fn new(key: &str) -> Result<Key, KeyError> {
        let bad = |why| KeyError {
            key: key.to_owned(),
            why,
        };
        if key.is_empty() {
            return Err(bad("it is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(bad("it is longer than 512 bytes"));
        }
        for part in key.split('/') {
            if part.is_empty() {
                return Err(bad(
                    "it has an empty component (a leading, trailing or double `/`)",
                ));
            }
            if part.len() > MAX_COMPONENT_LEN {
                return Err(bad("a component is longer than 255 bytes"));
            }
            if part.starts_with('.') {
                return Err(bad("a component starts with `.`"));
            }
            if !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-._?=!".contains(&b))
            {
                return Err(bad(
                    "it has a character other than A-Z a-z 0-9 + - . _ ? = ! and `/`",
                ));
            }
        }
        Ok(Key(key.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_that_could_leave_the_cache_are_refused() {
        for ok in [
            "nix-cache-info",
            "0rkc8abcdefghijklmnpqrsvwxyz0123.narinfo",
            "nar/1b2c.nar.zst",
            "realisations/ab12!out.doi",
        ] {
            assert_eq!(Key::new(ok).unwrap().as_str(), ok);
        }
        for (bad, why) in [
            ("", "it is empty"),
            (
                "/etc/passwd",
                "it has an empty component (a leading, trailing or double `/`)",
            ),
            (
                "nar//x",
                "it has an empty component (a leading, trailing or double `/`)",
            ),
            (
                "nar/",
                "it has an empty component (a leading, trailing or double `/`)",
            ),
            ("../x", "a component starts with `.`"),
            ("nar/..", "a component starts with `.`"),
            (".hidden", "a component starts with `.`"),
            (
                "a b",
                "it has a character other than A-Z a-z 0-9 + - . _ ? = ! and `/`",
            ),
            (
                "a\\b",
                "it has a character other than A-Z a-z 0-9 + - . _ ? = ! and `/`",
            ),
            (
                "a\0b",
                "it has a character other than A-Z a-z 0-9 + - . _ ? = ! and `/`",
            ),
        ] {
            assert_eq!(Key::new(bad).unwrap_err().why, why, "{bad:?}");
        }
        assert!(Key::new(&"a".repeat(513)).is_err());
        assert!(Key::new(&format!("nar/{}", "a".repeat(255))).is_ok());
        assert_eq!(
            Key::new("../x").unwrap_err().to_string(),
            "invalid cache object name `../x`: a component starts with `.`"
        );
    }

    /// Found by the `cache_server_requests` fuzz target: a request for a
    /// key with a component over `NAME_MAX` failed to open (`ENAMETOOLONG`)
    /// and `forge cache serve` answered 500 and logged an error, where
    /// such a name is simply not a cache object (400).
    #[test]
    fn regression_a_component_longer_than_a_file_name_is_refused() {
        let long = format!("nar/{}.nar", "a".repeat(300));
        assert_eq!(
            Key::new(&long).unwrap_err().why,
            "a component is longer than 255 bytes"
        );
        let tmp = tempfile::tempdir().unwrap();
        let name = "a".repeat(MAX_COMPONENT_LEN);
        std::fs::write(tmp.path().join(&name), b"").unwrap();
        assert!(
            Key::new(&name).is_ok(),
            "the longest component is a file name"
        );
    }

    proptest! {
        /// Whatever is accepted stays inside: no component is `..`, `.` or
        /// empty, and it is not absolute.
        #[test]
        fn accepted_keys_are_relative_and_stay_inside(s in "[a-z./!+=?_-]{0,24}") {
            if let Ok(k) = Key::new(&s) {
                let p = std::path::Path::new(k.as_str());
                prop_assert!(p.is_relative());
                for c in p.components() {
                    prop_assert!(matches!(c, std::path::Component::Normal(_)), "{:?}", c);
                }
            }
        }
    }
}
