//! `forge recipe …`: recipe files.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use forge_core::recipe::Recipe;

use crate::output::{print_json, CmdResult, Outcome};

/// One file's result, for `--json`.
#[derive(serde::Serialize)]
struct CheckJson {
    file: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorJson>,
}

#[derive(serde::Serialize)]
struct ErrorJson {
    line: u32,
    column: u32,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Parse and validate recipe files (a recipe directory or its recipe.toml).
    Check {
        #[arg(required = true)]
        recipes: Vec<PathBuf>,
        /// Print the parsed recipes as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: RecipeCommand) -> CmdResult {
    match cmd {
        RecipeCommand::Check { recipes, json } => {
            let mut failed = 0;
            let mut parsed = Vec::new();
            for arg in recipes {
                let file = if arg.is_dir() {
                    arg.join("recipe.toml")
                } else {
                    arg
                };
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let shown = file.display().to_string();
                match Recipe::parse(&text, &shown) {
                    Ok(r) => {
                        if !json {
                            eprintln!("{shown}: ok ({} {})", r.name, r.version);
                        }
                        parsed.push(CheckJson {
                            file: shown,
                            ok: true,
                            name: Some(r.name.to_string()),
                            version: Some(r.version.clone()),
                            error: None,
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        if !json {
                            eprintln!("error: {e}");
                        }
                        parsed.push(CheckJson {
                            file: shown,
                            ok: false,
                            name: None,
                            version: None,
                            error: Some(ErrorJson {
                                line: e.line,
                                column: e.column,
                                message: e.message.clone(),
                                hint: e.hint.clone(),
                            }),
                        });
                    }
                }
            }
            if json {
                print_json(&parsed)?;
            }
            Ok(if failed == 0 {
                Outcome::Success
            } else {
                Outcome::ProblemsFound
            })
        }
    }
}
