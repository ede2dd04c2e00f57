//! `forge hash …`: hashes as the store computes them.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use forge_core::hash::{Hash, HashAlgo, Hasher};

use crate::output::{CmdResult, Outcome};
use crate::progress::Bar;
use crate::GlobalArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Algo {
    Blake3,
    Sha256,
}

impl From<Algo> for HashAlgo {
    fn from(a: Algo) -> Self {
        match a {
            Algo::Blake3 => HashAlgo::Blake3,
            Algo::Sha256 => HashAlgo::Sha256,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// `algo:<hex>` (forge's canonical form)
    Hex,
    /// `algo:<nix base32>` (Nix's form)
    Nix32,
    /// `algo-<base64>` (Subresource Integrity)
    Sri,
}

#[derive(Debug, Subcommand)]
pub enum HashCommand {
    /// Hash the NAR serialisation of a file or tree (like `nix hash path`).
    Path {
        path: PathBuf,
        #[arg(long, value_enum, default_value = "blake3")]
        algo: Algo,
        #[arg(long, value_enum, default_value = "hex")]
        format: Format,
    },
    /// Hash a file's bytes (like `sha256sum`), as fetch pins do.
    File {
        path: PathBuf,
        #[arg(long, value_enum, default_value = "sha256")]
        algo: Algo,
        #[arg(long, value_enum, default_value = "hex")]
        format: Format,
    },
}

fn show(h: &Hash, f: Format) -> String {
    match f {
        Format::Hex => h.to_string(),
        Format::Nix32 => h.to_nix_string(),
        Format::Sri => h.to_sri(),
    }
}

pub fn run(global: &GlobalArgs, cmd: HashCommand) -> CmdResult {
    match cmd {
        HashCommand::Path { path, algo, format } => {
            let sha = matches!(algo, Algo::Sha256);
            let bar = Bar::new("hashing", global.quiet());
            let res = forge_store::hash_path(&path, sha, &bar);
            bar.finish();
            let (b3, sha256, _) = res.with_context(|| format!("hashing {}", path.display()))?;
            let h = if sha {
                sha256.expect("asked for sha256")
            } else {
                b3
            };
            println!("{}", show(&h, format));
        }
        HashCommand::File { path, algo, format } => {
            let mut f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let mut h = Hasher::new(algo.into());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f
                    .read(&mut buf)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            println!("{}", show(&h.finalize(), format));
        }
    }
    Ok(Outcome::Success)
}
