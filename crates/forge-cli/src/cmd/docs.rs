//! `forge completions` and `forge man`: shell completions and manual pages
//! generated from the clap definitions, so they never drift from `--help`
//! (docs/cli.md, "Completions and manual pages").

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::output::{CmdResult, Outcome};

/// Arguments of `forge completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Arguments of `forge man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write forge.1 and one page per subcommand (forge-build.1,
    /// forge-store-gc.1…) into DIR instead of printing forge.1.
    #[arg(short, long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// `forge completions SHELL`: the completion script on stdout.
pub fn completions(mut cmd: clap::Command, args: CompletionsArgs) -> CmdResult {
    let name = cmd.get_name().to_owned();
    // Into a buffer first: clap_complete panics on a failed write (a closed
    // pipe), and a closed stdout is not an error here (docs/cli.md).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(Outcome::Success)
}

/// What the manual's NAME line says of forge.
const ABOUT: &str = "hermetic builds into an immutable, content-addressed store";

/// The page of `cmd`, titled in capitals as manual pages are (`FORGE-BUILD`).
fn page(cmd: clap::Command) -> clap_mangen::Man {
    let man = clap_mangen::Man::new(cmd);
    let title = man.get_filename();
    let title = title.trim_end_matches(".1").to_uppercase();
    man.title(title)
}

/// `cmd` and its visible subcommands, depth first, each named as its page
/// (`forge-store-gc`).
fn pages(cmd: clap::Command, out: &mut Vec<clap_mangen::Man>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub.clone(), out);
    }
    out.push(page(cmd));
}

/// `forge man [-o DIR]`: roff on stdout, or every page into DIR.
pub fn man(cmd: clap::Command, args: ManArgs) -> CmdResult {
    let mut cmd = cmd.about(ABOUT).disable_help_subcommand(true);
    cmd.build();
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut all = Vec::new();
            pages(cmd, &mut all);
            for man in all {
                man.generate_to(&dir)
                    .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            }
        }
        None => {
            let mut roff = Vec::new();
            page(cmd).render(&mut roff)?;
            std::io::stdout().lock().write_all(&roff)?;
        }
    }
    Ok(Outcome::Success)
}
