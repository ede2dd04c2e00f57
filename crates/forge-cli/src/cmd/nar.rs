//! `forge nar …`: the NAR format on host files.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use forge_core::nar::{read_nar, NarEncoder, NarVisitor};

use crate::output::{CmdResult, Outcome};

#[derive(Debug, Subcommand)]
pub enum NarCommand {
    /// Serialise a host file or tree as NAR on stdout (like `nix-store --dump`).
    Dump { path: PathBuf },
    /// List the contents of a NAR file (`-` for stdin), checking that it is
    /// well-formed and canonical.
    Ls { nar: PathBuf },
}

struct Lister<W: Write> {
    out: W,
}

fn show(path: &[Vec<u8>]) -> String {
    if path.is_empty() {
        return ".".into();
    }
    path.iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

impl<W: Write> NarVisitor for Lister<W> {
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        _contents: &mut dyn Read,
    ) -> io::Result<()> {
        let mode = if executable {
            "-r-xr-xr-x"
        } else {
            "-r--r--r--"
        };
        writeln!(self.out, "{mode} {size:>12} {}", show(path))
    }
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        writeln!(
            self.out,
            "lrwxrwxrwx {:>12} {} -> {}",
            "",
            show(path),
            String::from_utf8_lossy(target)
        )
    }
    fn begin_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        writeln!(self.out, "dr-xr-xr-x {:>12} {}", "", show(path))
    }
}

pub fn run(cmd: NarCommand) -> CmdResult {
    match cmd {
        NarCommand::Dump { path } => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write a binary NAR to a terminal; redirect stdout");
            }
            let mut enc = NarEncoder::new(io::BufWriter::with_capacity(1 << 16, stdout.lock()))?;
            forge_store::tree::dump_tree(&path, &mut enc, None, &forge_store::tree::NoProgress)
                .with_context(|| format!("serialising {}", path.display()))?;
            enc.finish()?.flush()?;
        }
        NarCommand::Ls { nar } => {
            let input: Box<dyn Read> = if nar.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(File::open(&nar).with_context(|| format!("opening {}", nar.display()))?)
            };
            let mut lister = Lister {
                out: io::BufWriter::new(io::stdout().lock()),
            };
            read_nar(BufReader::with_capacity(1 << 16, input), &mut lister)
                .with_context(|| format!("reading NAR {}", nar.display()))?;
            lister.out.flush()?;
        }
    }
    Ok(Outcome::Success)
}
