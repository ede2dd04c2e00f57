//! `forge log`: a build's stored log, with a header saying which build it is.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use forge_core::derivation::ActionDigest;
use forge_core::store_path::StorePath;

use crate::output::{CmdResult, Outcome};
use crate::GlobalArgs;

/// Arguments of `forge log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// A store path (or ./result), or a recipe directory.
    #[arg(value_name = "PATH|RECIPE")]
    what: PathBuf,
}

/// `forge log`: the stored log on stdout, byte for byte (escape sequences
/// neutralised on a terminal); on stderr, unless `-q`, a header saying
/// which build it is of (recipe, derivation, date, how the builder ended),
/// whether a later derivation of the recipe gave the same bytes (early
/// cutoff), and that the log is empty when it is.
pub fn log(global: &GlobalArgs, args: LogArgs) -> CmdResult {
    let root = global.root();
    // The build, and the store path asked for if one was.
    let (digest, path) = if forge_build::graph::is_recipe_arg(&args.what) {
        let digest = forge_build::log::last_build(&root, &args.what)?.with_context(|| {
            format!(
                "{} has not been built in the store at {}",
                args.what.display(),
                root.display()
            )
        })?;
        (digest, None)
    } else {
        let store = forge_store::Store::open(&root)?;
        let (path, _) = store.resolve(&args.what)?;
        let info = store.path_info(&path)?;
        let deriver = info.deriver.with_context(|| {
            format!(
                "{path} was not built by forge (it was added or fetched), so it has no build log"
            )
        })?;
        let digest: ActionDigest = deriver
            .parse()
            .with_context(|| format!("{path} has a malformed deriver {deriver}"))?;
        (digest, Some(path))
    };
    let hex = digest.as_hash().to_hex();
    let file = forge_build::log::log_file(&root, &hex);
    let bytes = forge_build::log::read_log(&file)
        .with_context(|| format!("reading the build log {}", file.display()))?;
    if !global.quiet() {
        eprint!(
            "{}",
            header(&root, &digest, path.as_ref(), bytes.is_empty())
        );
    }
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        out.write_all(&crate::terminal::neutralise(&bytes))?;
    } else {
        out.write_all(&bytes)?;
    }
    Ok(Outcome::Success)
}

/// The header (lines ending in a newline).
fn header(root: &Path, digest: &ActionDigest, path: Option<&StorePath>, empty: bool) -> String {
    let mut h = String::new();
    match forge_build::log::read_record(root, &digest.as_hash().to_hex()) {
        Some(r) => {
            h.push_str(&format!(
                "log of {} ({}), derivation {}\n",
                r.recipe,
                r.file.display(),
                r.action_digest
            ));
            h.push_str(&format!(
                "built {}, in {:.2}s; the builder {}\n",
                crate::output::format_time(r.started),
                r.seconds,
                r.status
            ));
            if let Some(p) = path {
                if let Some(latest) = forge_build::log::rebuilt_to_same_path(root, &r, p) {
                    h.push_str(&format!(
                        "{p} was made by this build; the recipe's latest derivation ({latest}) gave the same bytes, its log is `forge log {}`\n",
                        forge_build::error::recipe_arg(&r.file)
                    ));
                }
            }
        }
        None => h.push_str(&format!("log of derivation {digest}\n")),
    }
    if empty {
        h.push_str("the log is empty: the builder printed nothing\n");
    }
    h
}
