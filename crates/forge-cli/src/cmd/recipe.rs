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
        #[command(flatten)]
        access: crate::cmd::build::HostAccessArgs,
    },
}

/// The first `path` input of `recipe` (in `file`) that a build would
/// refuse to read (outside the repository, private, a special file), as
/// (line, column, message, hint). Inputs that do not exist yet are not
/// reported: a build says so.
fn host_path_problem(
    recipe: &Recipe,
    file: &std::path::Path,
    access: &forge_build::inputs::HostAccess,
) -> Option<(u32, u32, String, Option<String>)> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let dir = std::fs::canonicalize(dir).ok()?;
    let repository = forge_build::inputs::repository_root(&dir);
    for (name, input) in &recipe.inputs {
        let forge_core::recipe::Input::Path { path, .. } = input else {
            continue;
        };
        let Ok(host) = std::fs::canonicalize(dir.join(path)) else {
            continue;
        };
        if let Err(problem) = forge_build::inputs::check_path_input(&host, &repository, access) {
            let loc = recipe.input_location(name);
            return Some((
                loc.line,
                loc.column,
                format!("path input `{name}`: {problem}"),
                forge_core::diag::Hint::hint(&problem).map(|h| h.into_owned()),
            ));
        }
    }
    None
}

pub fn run(cmd: RecipeCommand) -> CmdResult {
    match cmd {
        RecipeCommand::Check {
            recipes,
            json,
            access,
        } => {
            let access = access.to_access();
            let mut failed = 0;
            let mut parsed = Vec::new();
            for arg in recipes {
                let file = if arg.is_dir() {
                    arg.join("recipe.toml")
                } else {
                    arg
                };
                let text = forge_build::inputs::read_regular_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let shown = file.display().to_string();
                let parsed_one = Recipe::parse(&text, &shown).map(|r| {
                    let problem = host_path_problem(&r, &file, &access);
                    (r, problem)
                });
                match parsed_one {
                    Ok((r, Some((line, column, message, hint)))) => {
                        failed += 1;
                        if !json {
                            eprintln!("error: {shown}:{line}:{column}: {message}");
                            if let Some(h) = &hint {
                                eprintln!("hint: {h}");
                            }
                        }
                        parsed.push(CheckJson {
                            file: shown,
                            ok: false,
                            name: Some(r.name.to_string()),
                            version: Some(r.version.clone()),
                            error: Some(ErrorJson {
                                line,
                                column,
                                message,
                                hint,
                            }),
                        });
                    }
                    Ok((r, None)) => {
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
                            if let Some(h) = &e.hint {
                                eprintln!("hint: {h}");
                            }
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
