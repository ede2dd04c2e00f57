//! `forge config show`: every effective setting and where it came from
//! (docs/cli.md, "Configuration").

use std::io::Write;

use clap::Subcommand;
use forge_core::config::Settings;
use serde::Serialize;

use crate::output::{print_json, CmdResult, Outcome};
use crate::GlobalArgs;

/// `forge config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting and where it came from (default, a
    /// config file, an environment variable, a flag).
    Show {
        /// Print the settings as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `config show --json` prints.
#[derive(Serialize)]
struct Shown {
    /// The files read, in the order applied.
    files: Vec<String>,
    /// Each setting: `value`, `source` and the file, variable or flag.
    settings: Settings,
}

/// Runs a `forge config` command.
pub fn run(global: &GlobalArgs, cmd: ConfigCommand) -> CmdResult {
    let ConfigCommand::Show { json } = cmd;
    let mut settings = global.settings().clone();
    settings.root = global.root_setting();
    if json {
        print_json(&Shown {
            files: global
                .config_files()
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            settings,
        })?;
        return Ok(Outcome::Success);
    }
    let value = serde_json::to_value(&settings)?;
    let mut out = std::io::stdout().lock();
    for key in forge_core::config::KEYS {
        let entry = &value[key];
        let source = settings_source(entry);
        writeln!(out, "{key} = {}  # {source}", entry["value"])?;
    }
    Ok(Outcome::Success)
}

/// `default`, the file, `env VAR` or `flag --X`, from a setting's JSON.
fn settings_source(entry: &serde_json::Value) -> String {
    let s = |k: &str| entry[k].as_str().unwrap_or_default().to_owned();
    match entry["source"].as_str() {
        Some("file") => s("file"),
        Some("env") => format!("env {}", s("var")),
        Some("flag") => format!("flag {}", s("flag")),
        _ => "default".to_owned(),
    }
}
