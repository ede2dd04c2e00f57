//! Reading the configuration: which files, and the environment, handed to
//! the pure layering in [`forge_core::config`] (docs/cli.md,
//! "Configuration").
//!
//! The files are the system one (`/etc/forge/config.toml`) and the user's
//! (`$XDG_CONFIG_HOME/forge/config.toml`, else `~/.config/forge/config.toml`),
//! both optional; or, when `FORGE_CONFIG` names a file, that one alone (and
//! then it must exist). Each command applies its own flags last
//! ([`forge_core::config::Setting::flag`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use forge_core::config::{ConfigFile, Defaults, Settings};

/// The system-wide file.
pub const SYSTEM_FILE: &str = "/etc/forge/config.toml";

/// What was read: the settings (before any command's flags) and the files
/// that existed, in the order applied.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective settings.
    pub settings: Settings,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// A variable of the environment, `None` when unset, empty or not UTF-8.
fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// The user's file: under `$XDG_CONFIG_HOME` when it is an absolute path,
/// else under `~/.config`.
pub fn user_file() -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("forge").join("config.toml"))
}

/// The files to read, each with whether it must exist.
fn candidates() -> Vec<(PathBuf, bool)> {
    if let Some(named) = env("FORGE_CONFIG") {
        return vec![(PathBuf::from(named), true)];
    }
    let mut files = vec![(PathBuf::from(SYSTEM_FILE), false)];
    files.extend(user_file().map(|f| (f, false)));
    files
}

/// Reads the files and the environment.
pub fn load() -> anyhow::Result<Loaded> {
    let defaults = Defaults {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        root: forge_store::layout::default_root(),
    };
    let mut settings = Settings::defaults(&defaults);
    let mut files = Vec::new();
    for (file, required) in candidates() {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => {
                let why = if required {
                    " (named by FORGE_CONFIG)"
                } else {
                    ""
                };
                return Err(e)
                    .with_context(|| format!("reading the config file {}{why}", file.display()));
            }
        };
        let name = file.display().to_string();
        let config = ConfigFile::parse(&text, &name)?;
        settings.apply_file(&config, &name);
        files.push(file);
    }
    settings.apply_env(env)?;
    Ok(Loaded { settings, files })
}

/// A `--X` / `--no-X` pair as a flag value: `Some` when either was given
/// (clap's `overrides_with` leaves only the last one set).
pub fn flag_pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
