//! forge's configuration file (`config.toml`) and how its settings are
//! layered: built-in default < system file < user file < environment
//! variable < command-line flag (docs/cli.md, "Configuration").
//!
//! This module is pure: [`ConfigFile::parse`] takes the text and the name to
//! report, [`Settings::apply_env`] a lookup function. The CLI reads the files
//! and the environment and hands them in, so the layering is unit-tested
//! without touching the host.
//!
//! Errors are [`Located`] (`file:line:col: message`): an unknown key names the
//! key and, when one is close, the key meant ([`crate::diag::did_you_mean`]);
//! a value of the wrong type names its line.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::diag::{Located, Suggest};
use crate::signing::{PublicKey, TrustedKeys};

/// Every key the file takes, as written in it.
pub const KEYS: &[&str] = &[
    "jobs",
    "cores",
    "root",
    "locked",
    "keep-outputs",
    "keep-going",
    "substituters",
    "trusted-public-keys",
    "secret-key-file",
];

/// The environment variable of each setting that has one.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("jobs", "FORGE_JOBS"),
    ("cores", "FORGE_BUILD_CORES"),
    ("root", "FORGE_ROOT"),
    ("locked", "FORGE_LOCKED"),
    ("keep-outputs", "FORGE_KEEP_OUTPUTS"),
    ("keep-going", "FORGE_KEEP_GOING"),
];

/// One configuration file as written: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Builds run at once (`forge build -j`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<NonZeroUsize>,
    /// Cores each build is told it may use (`FORGE_BUILD_CORES` in the build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<NonZeroUsize>,
    /// Physical root of the store (`--root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<AbsolutePath>,
    /// Refuse any change to a lock file (`forge build --locked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Keep the build-time inputs of rooted paths (`forge store gc --keep-outputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_outputs: Option<bool>,
    /// Go on with independent builds after a failure (`forge build --keep-going`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_going: Option<bool>,
    /// Binary caches to substitute from, by URL, in priority order
    /// (`forge build --substituters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substituters: Option<Vec<String>>,
    /// Keys whose signatures substituted realisations and paths may carry,
    /// each parsed when the file is read (`name:base64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_public_keys: Option<Vec<PublicKey>>,
    /// The secret key `forge copy` and `forge push` sign with
    /// (`--secret-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<AbsolutePath>,
}

/// An absolute path in a configuration file (a relative one would depend on
/// the directory forge happens to run in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AbsolutePath(String);

impl AbsolutePath {
    /// The path, if `text` is absolute.
    pub fn new(text: &str) -> Option<AbsolutePath> {
        text.starts_with('/').then(|| AbsolutePath(text.to_owned()))
    }

    /// As a path.
    pub fn to_path(&self) -> PathBuf {
        PathBuf::from(&self.0)
    }
}

impl<'de> Deserialize<'de> for AbsolutePath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        AbsolutePath::new(&text).ok_or_else(|| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &"an absolute path")
        })
    }
}

impl ConfigFile {
    /// Parses `text`, read from `file` (the name errors report).
    pub fn parse(text: &str, file: &str) -> Result<ConfigFile, Located> {
        toml::from_str(text).map_err(|e| Located::from_toml(text, file, &e, Suggest::Closest(&[])))
    }

    /// The file's text (what [`ConfigFile::parse`] reads back equal).
    pub fn to_text(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Source {
    /// forge's built-in default.
    Default,
    /// A configuration file.
    File {
        /// The file, as read.
        file: String,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag (`--jobs`).
        flag: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { file } => f.write_str(file),
            Source::Env { var } => write!(f, "env {var}"),
            Source::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting<T> {
    /// The value in effect.
    pub value: T,
    /// Where it was set.
    #[serde(flatten)]
    pub source: Source,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            source: Source::Default,
        }
    }

    fn set(&mut self, value: Option<T>, source: impl FnOnce() -> Source) {
        if let Some(value) = value {
            *self = Setting {
                value,
                source: source(),
            };
        }
    }

    /// This setting, overridden by the command-line flag `flag` when it was
    /// given (`value` is `Some`).
    #[must_use]
    pub fn flag(mut self, value: Option<T>, flag: &str) -> Self {
        self.set(value, || Source::Flag {
            flag: flag.to_owned(),
        });
        self
    }
}

/// The built-in defaults that depend on the machine (the caller finds them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The cores of this machine.
    pub cores: usize,
    /// The default store root for this user.
    pub root: PathBuf,
}

/// Every setting in effect, each with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// Builds at once.
    pub jobs: Setting<usize>,
    /// Cores each build is told it may use.
    pub cores: Setting<usize>,
    /// Physical root of the store.
    pub root: Setting<PathBuf>,
    /// Refuse lock-file changes.
    pub locked: Setting<bool>,
    /// Keep build-time inputs in GC.
    pub keep_outputs: Setting<bool>,
    /// Keep going after a failed build.
    pub keep_going: Setting<bool>,
    /// Binary caches to substitute from, in priority order.
    pub substituters: Setting<Vec<String>>,
    /// Trusted signing keys, parsed.
    pub trusted_public_keys: Setting<Vec<PublicKey>>,
    /// The key pushes sign with, if any.
    pub secret_key_file: Setting<Option<PathBuf>>,
}

/// An environment variable whose value is not one its setting takes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("environment variable {var}={value:?}: expected {expected}")]
pub struct BadEnv {
    /// The variable.
    pub var: String,
    /// Its value.
    pub value: String,
    /// What it takes.
    pub expected: &'static str,
}

impl crate::diag::Hint for BadEnv {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(format!("unset {} or give it {}", self.var, self.expected).into())
    }
}

/// `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Settings {
    /// The built-in defaults: as many jobs and cores as the machine has,
    /// the user's default root, every switch off, no caches.
    pub fn defaults(d: &Defaults) -> Settings {
        let cores = d.cores.max(1);
        Settings {
            jobs: Setting::default(cores),
            cores: Setting::default(cores),
            root: Setting::default(d.root.clone()),
            locked: Setting::default(false),
            keep_outputs: Setting::default(false),
            keep_going: Setting::default(false),
            substituters: Setting::default(Vec::new()),
            trusted_public_keys: Setting::default(Vec::new()),
            secret_key_file: Setting::default(None),
        }
    }

    /// The trusted keys as the set signatures are checked against.
    pub fn trusted_keys(&self) -> TrustedKeys {
        TrustedKeys::new(self.trusted_public_keys.value.iter().cloned())
    }

    /// Overrides with what `config` (read from `file`) sets.
    pub fn apply_file(&mut self, config: &ConfigFile, file: &str) {
        let src = || Source::File {
            file: file.to_owned(),
        };
        self.jobs.set(config.jobs.map(NonZeroUsize::get), src);
        self.cores.set(config.cores.map(NonZeroUsize::get), src);
        self.root
            .set(config.root.as_ref().map(AbsolutePath::to_path), src);
        self.locked.set(config.locked, src);
        self.keep_outputs.set(config.keep_outputs, src);
        self.keep_going.set(config.keep_going, src);
        self.substituters.set(config.substituters.clone(), src);
        self.trusted_public_keys
            .set(config.trusted_public_keys.clone(), src);
        self.secret_key_file.set(
            config.secret_key_file.as_ref().map(|p| Some(p.to_path())),
            src,
        );
    }

    /// Overrides with the environment variables ([`ENV_VARS`]) that `get`
    /// finds set to something other than the empty string.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), BadEnv> {
        let lookup = |key: &str| {
            let var = ENV_VARS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, v)| v);
            get(var)
                .filter(|v| !v.is_empty())
                .map(|value| (var.to_owned(), value))
        };
        let src = |var: &str| Source::Env {
            var: var.to_owned(),
        };
        let bad = |var: String, value: String, expected| BadEnv {
            var,
            value,
            expected,
        };
        for (key, setting) in [("jobs", &mut self.jobs), ("cores", &mut self.cores)] {
            if let Some((var, value)) = lookup(key) {
                let n = value
                    .trim()
                    .parse::<NonZeroUsize>()
                    .map_err(|_| bad(var.clone(), value, "a whole number above 0"))?;
                setting.set(Some(n.get()), || src(&var));
            }
        }
        if let Some((var, value)) = lookup("root") {
            self.root.set(Some(PathBuf::from(value)), || src(&var));
        }
        for (key, setting) in [
            ("locked", &mut self.locked),
            ("keep-outputs", &mut self.keep_outputs),
            ("keep-going", &mut self.keep_going),
        ] {
            if let Some((var, value)) = lookup(key) {
                let b = parse_bool(&value).ok_or_else(|| {
                    bad(var.clone(), value, "1, true, yes, on or 0, false, no, off")
                })?;
                setting.set(Some(b), || src(&var));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
