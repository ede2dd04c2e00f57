//! `forge run`: runs what forge built on this host, in a view of the host
//! with the store at `/forge/store` (`forge_sandbox::view`: namespaces and
//! mounts, not a sandbox). This module finds the store path (a result
//! link, a store path, or a recipe's last build) and the program to run;
//! see docs/cli.md and docs/sandbox.md.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use forge_core::derivation::OutputName;
use forge_core::store_path::{StorePath, STORE_DIR};
use forge_sandbox::ViewRequest;

pub(crate) mod error;

pub use error::RunError;

use crate::output::{CmdResult, Outcome};
use crate::GlobalArgs;

/// Arguments of `forge run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A result link (./result), a store path (logical or physical), or a
    /// recipe directory or recipe.toml built before (its `out` output).
    #[arg(value_name = "RESULT|PATH|RECIPE")]
    what: PathBuf,
    /// The command and its arguments (default: the output's one program
    /// in bin/). A name without a slash is looked up in the output's bin/
    /// first, then in PATH.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// `forge run`.
pub fn run(global: &GlobalArgs, args: RunArgs) -> CmdResult {
    let root = global.root();
    let store = forge_store::Store::open(&root)?;
    let (path, sub) = if forge_build::graph::is_recipe_arg(&args.what) {
        (recipe_output(&store, &args.what)?, PathBuf::new())
    } else {
        store.resolve(&args.what)?
    };
    store.path_info(&path)?;
    let (mut physical, mut logical) = (
        store.physical(&path),
        Path::new(STORE_DIR).join(path.base_name()),
    );
    if !sub.as_os_str().is_empty() {
        physical.push(&sub);
        logical.push(&sub);
    }
    let (program, rest) = program(&physical, &logical, &args)?;
    let store_dir = std::fs::canonicalize(store.layout().store_dir())
        .with_context(|| format!("resolving {}", store.layout().store_dir().display()))?;
    // No database handle or lock is carried into the command.
    drop(store);
    let request = ViewRequest {
        store_dir,
        cwd: std::env::current_dir().context("reading the current directory")?,
        program,
        args: rest,
    };
    Ok(Outcome::Exited(forge_sandbox::view::run(&request)?))
}

/// The `out` output of the recipe's last build, if it was realised.
fn recipe_output(store: &forge_store::Store, what: &Path) -> anyhow::Result<StorePath> {
    let root = store.layout().root().to_owned();
    let not_built = || RunError::NotBuilt {
        recipe: what.to_owned(),
        root: root.clone(),
    };
    let digest = forge_build::log::last_build(&root, what)?.ok_or_else(not_built)?;
    let found = store.realisation(&digest, &OutputName::out())?;
    Ok(found.ok_or_else(not_built)?.path)
}

/// The program to exec (a logical path when it is the output's) and its
/// arguments: `-- CMD ARGS…` with CMD looked up in the output's `bin/`
/// first, else the output itself when it is a file, else its one program.
fn program(
    physical: &Path,
    logical: &Path,
    args: &RunArgs,
) -> Result<(OsString, Vec<OsString>), RunError> {
    if let Some((cmd, rest)) = args.command.split_first() {
        let in_bin = physical.join("bin").join(cmd);
        let program = if !cmd.as_bytes().contains(&b'/') && in_bin.symlink_metadata().is_ok() {
            logical.join("bin").join(cmd).into_os_string()
        } else {
            cmd.clone()
        };
        return Ok((program, rest.to_vec()));
    }
    if physical.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
        return Ok((logical.as_os_str().to_owned(), Vec::new()));
    }
    let mut programs: Vec<String> = std::fs::read_dir(physical.join("bin"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    programs.sort();
    match programs.as_slice() {
        [one] => Ok((logical.join("bin").join(one).into_os_string(), Vec::new())),
        [] => Err(RunError::NoProgram {
            path: logical.display().to_string(),
            what: args.what.clone(),
        }),
        _ => Err(RunError::SeveralPrograms {
            path: logical.display().to_string(),
            what: args.what.clone(),
            programs,
        }),
    }
}
