//! `recipe.lock`: the pinned hashes of a recipe's `path` and `seed` inputs.
//!
//! A `path` input may carry its hash in the recipe; when it does not, and
//! for every `seed` (whose hash depends on the host it is taken from), the
//! hash lives in `recipe.lock` next to `recipe.toml`, like `Cargo.lock`:
//! written by `forge lock` (or by the first build), read by every build,
//! committed with the recipe. A build whose input no longer matches its
//! locked hash fails and shows the new hash, unless run with
//! `--update-locks`.
//!
//! ```toml
//! # recipe.lock: written by forge (`forge lock`); commit it with recipe.toml.
//! version = 1
//!
//! [inputs.busybox]
//! kind = "seed"
//! blake3 = "…"
//!
//! [inputs.src]
//! kind = "path"
//! blake3 = "…"
//! ```
//!
//! The hash is the BLAKE3 of the input's NAR (for a seed: of the assembled
//! seed tree). The file is rewritten atomically (temporary file + rename)
//! and only when its contents change. A file that does not parse is a
//! [`forge_core::diag::Located`] error at its line and column, like a recipe.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use forge_core::diag::{Errors, Kind, Located, Suggest};
use forge_core::hash::{Hash, HashAlgo};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use crate::error::BuildError;

/// The lock file's name.
pub const LOCK_FILE: &str = "recipe.lock";

const HEADER: &str =
    "# recipe.lock: written by forge (`forge lock`); commit it with recipe.toml.\n";

/// One locked input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// `path` or `seed`.
    pub kind: String,
    /// BLAKE3 of the input's NAR, hex.
    pub blake3: String,
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Text {
    version: u32,
    inputs: BTreeMap<String, Locked>,
}

/// The file as read: every value with where it was written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    version: Spanned<u32>,
    #[serde(default)]
    inputs: BTreeMap<String, RawLocked>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocked {
    kind: Spanned<String>,
    blake3: Spanned<String>,
}

/// A recipe's lock file, loaded (or empty if there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFile {
    /// Where it is (or would be).
    pub file: PathBuf,
    /// Locked inputs by name.
    pub inputs: BTreeMap<String, Locked>,
    /// What the file held when loaded, to skip writes that change nothing.
    loaded: BTreeMap<String, Locked>,
}

impl LockFile {
    /// Loads `dir/recipe.lock`; a missing file is an empty lock.
    pub fn load(dir: &Path) -> Result<LockFile, BuildError> {
        let file = dir.join(LOCK_FILE);
        let inputs = match crate::inputs::read_regular_string(&file) {
            Ok(text) => Self::parse(&text, &file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(BuildError::Io {
                    what: format!("reading {}", file.display()),
                    source,
                })
            }
        };
        Ok(LockFile {
            file,
            loaded: inputs.clone(),
            inputs,
        })
    }

    /// Parses lock-file text; `file` names it in errors. When there are
    /// several problems, the first in the file is reported.
    pub fn parse(text: &str, file: &Path) -> Result<BTreeMap<String, Locked>, BuildError> {
        let name = file.display().to_string();
        let t: RawText = toml::from_str(text).map_err(|e| {
            BuildError::BadLockFile(Located::from_toml(text, &name, &e, Suggest::KnownKeys))
        })?;
        let mut cx = Errors::new(text, &name);
        if *t.version.get_ref() != 1 {
            cx.push(
                &t.version.span(),
                Kind::InvalidValue,
                format!(
                    "version {} is not known to this forge (it writes version 1)",
                    t.version.get_ref()
                ),
            );
        }
        let mut inputs = BTreeMap::new();
        for (input, l) in t.inputs {
            let kind = l.kind.get_ref();
            if kind != "path" && kind != "seed" {
                cx.push(
                    &l.kind.span(),
                    Kind::InvalidValue,
                    format!("input `{input}`: kind `{kind}` is not `path` or `seed`"),
                );
            }
            if let Err(e) = Hash::parse_as(HashAlgo::Blake3, l.blake3.get_ref()) {
                cx.push(
                    &l.blake3.span(),
                    Kind::InvalidValue,
                    format!("input `{input}`: {e}"),
                );
            }
            let locked = Locked {
                kind: l.kind.into_inner(),
                blake3: l.blake3.into_inner(),
            };
            inputs.insert(input, locked);
        }
        match cx.first() {
            Some(e) => Err(BuildError::BadLockFile(e)),
            None => Ok(inputs),
        }
    }

    /// Prints the lock file's canonical text.
    pub fn to_text(inputs: &BTreeMap<String, Locked>) -> String {
        let t = Text {
            version: 1,
            inputs: inputs.clone(),
        };
        let body = toml::to_string(&t).expect("lock files serialise");
        format!("{HEADER}{body}")
    }

    /// The locked hash of input `name` of `kind`, if any.
    pub fn hash(&self, name: &str, kind: &str) -> Option<Hash> {
        self.inputs
            .get(name)
            .filter(|l| l.kind == kind)
            .and_then(|l| Hash::parse_as(HashAlgo::Blake3, &l.blake3).ok())
    }

    /// Records `hash` for input `name`.
    pub fn set(&mut self, name: &str, kind: &str, hash: &Hash) {
        self.inputs.insert(
            name.to_owned(),
            Locked {
                kind: kind.to_owned(),
                blake3: hash.to_hex(),
            },
        );
    }

    /// Drops entries for inputs the recipe no longer has (or that no longer
    /// need locking).
    pub fn retain(&mut self, keep: impl Fn(&str, &str) -> bool) {
        self.inputs.retain(|name, l| keep(name, &l.kind));
    }

    /// Whether the contents differ from the file on disk.
    pub fn is_dirty(&self) -> bool {
        self.inputs != self.loaded
    }

    /// Writes the file if it changed (atomically). Returns whether it wrote.
    ///
    /// Only this process's changes are written: they are applied to what
    /// the file holds *now*, so that an entry another `forge` re-pinned
    /// since this one loaded the file is not put back to its old hash. The
    /// caller serialises concurrent saves (the engine holds a lock in the
    /// store for it).
    pub fn save(&mut self) -> Result<bool, BuildError> {
        if !self.is_dirty() {
            return Ok(false);
        }
        let on_disk = match crate::inputs::read_regular_string(&self.file) {
            Ok(text) => Self::parse(&text, &self.file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(BuildError::Io {
                    what: format!("reading {}", self.file.display()),
                    source,
                })
            }
        };
        let mut merged = on_disk.clone();
        for (name, l) in &self.inputs {
            if self.loaded.get(name) != Some(l) {
                merged.insert(name.clone(), l.clone());
            }
        }
        for name in self.loaded.keys() {
            if !self.inputs.contains_key(name) {
                merged.remove(name);
            }
        }
        self.inputs = merged;
        if self.inputs == on_disk {
            self.loaded = on_disk;
            return Ok(false);
        }
        let io = |source| BuildError::Io {
            what: format!("writing {}", self.file.display()),
            source,
        };
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(Self::to_text(&self.inputs).as_bytes())
            .map_err(io)?;
        // A temporary file is 0600; a lock file is as readable as the recipe.
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(forge_core::recipe::RECIPE_FILE))
                .map(|m| m.permissions().mode() & 0o666)
                .unwrap_or(0o644);
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io)?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.file).map_err(|e| io(e.error))?;
        self.loaded = self.inputs.clone();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forge_core::diag::Hint;
    use proptest::prelude::*;

    fn arb_inputs() -> impl Strategy<Value = BTreeMap<String, Locked>> {
        proptest::collection::btree_map(
            "[A-Za-z_][A-Za-z0-9_]{0,12}",
            (prop_oneof![Just("path"), Just("seed")], any::<[u8; 32]>()).prop_map(|(k, b)| {
                Locked {
                    kind: k.to_owned(),
                    blake3: hex::encode(b),
                }
            }),
            0..6,
        )
    }

    proptest! {
        #[test]
        fn print_then_parse_round_trips(inputs in arb_inputs()) {
            let text = LockFile::to_text(&inputs);
            let back = LockFile::parse(&text, Path::new("recipe.lock")).unwrap();
            prop_assert_eq!(back, inputs);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = LockFile::parse(&text, Path::new("recipe.lock"));
        }
    }

    #[test]
    fn saving_keeps_entries_another_process_changed_since_loading() {
        let d = tempfile::tempdir().unwrap();
        let h = |b: u8| Hash::parse_as(HashAlgo::Blake3, &hex::encode([b; 32])).unwrap();
        let mut first = LockFile::load(d.path()).unwrap();
        first.set("src", "path", &h(1));
        first.set("old", "path", &h(2));
        assert!(first.save().unwrap());
        // Two processes load the same file.
        let mut a = LockFile::load(d.path()).unwrap();
        let mut b = LockFile::load(d.path()).unwrap();
        // b re-pins src and saves first; a then pins a new input and drops
        // one, and saves.
        b.set("src", "path", &h(3));
        assert!(b.save().unwrap());
        a.set("new", "seed", &h(4));
        a.retain(|name, _| name != "old");
        assert!(a.save().unwrap());
        let now = LockFile::load(d.path()).unwrap();
        assert_eq!(now.hash("src", "path"), Some(h(3)), "b's re-pin survives");
        assert_eq!(now.hash("new", "seed"), Some(h(4)));
        assert_eq!(now.hash("old", "path"), None);
        // Nothing to change: no write.
        let mut c = LockFile::load(d.path()).unwrap();
        c.set("src", "path", &h(3));
        assert!(!c.save().unwrap());
    }

    #[test]
    fn errors_name_the_file_and_input() {
        let text = "version = 1\n[inputs.src]\nkind = \"path\"\nblake3 = \"abc\"\n";
        let e = LockFile::parse(text, Path::new("r/recipe.lock")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("r/recipe.lock"), "{msg}");
        assert!(msg.contains("`src`"), "{msg}");
        let e = LockFile::parse("version = 2\n", Path::new("x.lock")).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        let e = LockFile::parse("version = 1\nextra = 3\n", Path::new("x.lock")).unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
    }

    #[test]
    fn errors_are_located() {
        let text = "version = 1\n[inputs.src]\nkind = \"path\"\nblake3 = \"abc\"\n";
        let e = LockFile::parse(text, Path::new("r/recipe.lock")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("r/recipe.lock:4:10: input `src`: "),
            "{e}"
        );
        let e = LockFile::parse("version = 2\n", Path::new("x.lock")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.lock:1:11: version 2 is not known to this forge (it writes version 1)"
        );
        let e = LockFile::parse("version = 1\nextra = 3\n", Path::new("x.lock")).unwrap_err();
        assert_eq!(e.to_string(), "x.lock:2:1: unknown key `extra`");
        assert_eq!(
            e.hint().as_deref(),
            Some("the keys known here are `version`, `inputs`")
        );
        // The earliest problem in the file wins.
        let text = format!(
            "version = 1\n[inputs.b]\nkind = \"x\"\nblake3 = \"{}\"\n[inputs.a]\nkind = \"y\"\nblake3 = \"{}\"\n",
            "0".repeat(64),
            "0".repeat(64)
        );
        let e = LockFile::parse(&text, Path::new("x.lock")).unwrap_err();
        assert!(
            e.to_string().starts_with("x.lock:3:8: input `b`: kind `x`"),
            "{e}"
        );
        let e = LockFile::parse("version = \"1\"\n", Path::new("x.lock")).unwrap_err();
        assert!(
            e.to_string().starts_with("x.lock:1:11: invalid type"),
            "{e}"
        );
    }
}
