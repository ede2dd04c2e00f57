//! `forge prefetch URL`: download once into the store and print the sha256
//! and the input line a recipe takes (docs/cli.md, docs/recipes.md "fetch").

use std::io::Write;
use std::time::Duration;

use clap::Args;
use forge_build::fetch::{FetchProgress, Unpack};
use forge_build::inputs::Prefetched;
use serde::Serialize;

use crate::output::{print_json, CmdResult, Outcome};
use crate::GlobalArgs;

/// Arguments of `forge prefetch`.
#[derive(Debug, Args)]
pub struct PrefetchArgs {
    /// What to download: an https://, http:// or file:///absolute/path URL.
    #[arg(value_name = "URL")]
    url: String,
    /// Unpack it as a recipe's `unpack` would (tar, tar.gz, tar.xz, tar.zst,
    /// tar.bz2, zip, whl, deb); the sha256 printed is still the file's, as
    /// a recipe pins it.
    #[arg(long, value_name = "FORMAT", value_parser = parse_unpack)]
    unpack: Option<Unpack>,
    /// The input's name in the printed line.
    #[arg(long, value_name = "N", default_value = "src", value_parser = parse_input_name)]
    name: String,
    /// Print {url, sha256, store_path, name, unpack, input_line} as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_unpack(text: &str) -> Result<Unpack, String> {
    text.parse().map_err(|_| {
        let known: Vec<&str> = Unpack::ALL.iter().map(|u| u.as_str()).collect();
        format!(
            "unknown unpack format; expected one of {}",
            known.join(", ")
        )
    })
}

fn parse_input_name(text: &str) -> Result<String, String> {
    if forge_core::recipe::is_input_name(text) {
        Ok(text.to_owned())
    } else {
        Err("input names are letters, digits and _, not starting with a digit, and not one forge sets (HOME, PATH…)".into())
    }
}

/// Retries on stderr (nothing else: a prefetch is short, or says why not).
struct Retries {
    quiet: bool,
}

impl FetchProgress for Retries {
    fn retrying(&self, url: &str, attempt: u32, delay: Duration, reason: &str) {
        if !self.quiet {
            eprintln!("fetching {url} failed ({reason}); attempt {attempt} again in {delay:?}");
        }
    }
}

#[derive(Serialize)]
struct Json<'a> {
    url: &'a str,
    sha256: String,
    store_path: String,
    name: &'a str,
    unpack: Option<&'static str>,
    input_line: String,
}

/// `forge prefetch`.
pub fn run(global: &GlobalArgs, args: PrefetchArgs) -> CmdResult {
    let progress = Retries {
        quiet: global.quiet(),
    };
    let got: Prefetched =
        forge_build::inputs::prefetch(&global.root(), &args.url, args.unpack, &progress)?;
    let line = got.input_line(&args.name);
    if args.json {
        print_json(&Json {
            url: &got.url,
            sha256: got.sha256.to_hex(),
            store_path: got.store_path.to_string(),
            name: &args.name,
            unpack: got.unpack.map(Unpack::as_str),
            input_line: line,
        })?;
        return Ok(Outcome::Success);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", got.sha256.to_hex())?;
    writeln!(out, "{line}")?;
    if !global.quiet() {
        let how = if got.already_present {
            "already in the store"
        } else {
            "added"
        };
        eprintln!("{how}: {}", got.store_path);
    }
    Ok(Outcome::Success)
}
