//! `forge recipe …`: recipe files. `check` renders what
//! [`forge_build::preflight`] finds (docs/recipes.md, "Checking recipes").

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Subcommand;
use forge_build::preflight::{self, Checked, Severity};
use forge_core::diag::Hint;

use crate::output::{print_json, CmdResult, Outcome};

/// One file's result, for `--json`.
#[derive(serde::Serialize)]
struct CheckJson {
    file: String,
    /// No errors (warnings allowed).
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// The first error, as before `problems` existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ProblemJson>,
    problems: Vec<ProblemJson>,
}

#[derive(serde::Serialize, Clone)]
struct ProblemJson {
    severity: Severity,
    file: String,
    line: u32,
    column: u32,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Check recipes short of building them: they parse, their inputs
    /// exist (path, recipe, seed), no cycles, the program the build runs is
    /// in its root layers, the script's variables are defined. Arguments
    /// that are not recipes are skipped.
    Check {
        #[arg(required = true, value_name = "RECIPE")]
        recipes: Vec<PathBuf>,
        /// Print one JSON record per file, with its problems.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: crate::cmd::build::HostAccessArgs,
    },
}

pub fn run(cmd: RecipeCommand) -> CmdResult {
    match cmd {
        RecipeCommand::Check {
            recipes,
            json,
            access,
        } => check(&recipes, json, &access.to_access()),
    }
}

fn check(args: &[PathBuf], json: bool, access: &forge_build::inputs::HostAccess) -> CmdResult {
    let mut errors = 0;
    let mut records = Vec::new();
    // A dependency's problem is found from each recipe that loads it: once.
    let mut seen = BTreeSet::new();
    for arg in args {
        let shown = arg.display().to_string();
        let (file, name, findings) = match preflight::check(arg, access) {
            Checked::NotARecipe => {
                if !json {
                    eprintln!("skipped {shown}: not a recipe");
                }
                records.push(CheckJson {
                    file: shown,
                    ok: true,
                    skipped: Some("not a recipe"),
                    name: None,
                    version: None,
                    error: None,
                    problems: Vec::new(),
                });
                continue;
            }
            Checked::Recipe {
                file,
                name,
                findings,
            } => (file, name, findings),
        };
        let n_errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        let n_warnings = findings.len() - n_errors;
        let mut problems = Vec::new();
        for f in findings {
            // Still counted above: this recipe has the problem too.
            if !seen.insert(f.key()) {
                continue;
            }
            let p = ProblemJson {
                severity: f.severity,
                file: f.file,
                line: f.location.line,
                column: f.location.column,
                message: f.problem.to_string(),
                hint: f.problem.hint().map(|h| h.into_owned()),
            };
            if !json {
                let level = match p.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                };
                eprintln!("{level}: {}:{}:{}: {}", p.file, p.line, p.column, p.message);
                if let Some(h) = &p.hint {
                    eprintln!("hint: {h}");
                }
            }
            problems.push(p);
        }
        errors += n_errors;
        if !json {
            if let (0, Some((n, v))) = (n_errors, &name) {
                match n_warnings {
                    0 => eprintln!("{file}: ok ({n} {v})"),
                    1 => eprintln!("{file}: ok ({n} {v}), 1 warning"),
                    w => eprintln!("{file}: ok ({n} {v}), {w} warnings"),
                }
            }
        }
        let (name, version) = name.unzip();
        records.push(CheckJson {
            file,
            ok: n_errors == 0,
            skipped: None,
            name,
            version,
            error: problems
                .iter()
                .find(|p| p.severity == Severity::Error)
                .cloned(),
            problems,
        });
    }
    if json {
        print_json(&records)?;
    }
    Ok(if errors == 0 {
        Outcome::Success
    } else {
        Outcome::ProblemsFound
    })
}
