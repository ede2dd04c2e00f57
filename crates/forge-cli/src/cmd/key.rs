//! `forge key …`: the ed25519 keys binary caches are signed with, in Nix's
//! file formats (docs/cli.md, "Signing keys"; docs/cache.md, "Keys and
//! trust").
//!
//! The formats and the signing are `forge_core::signing`'s; this module
//! draws the OS randomness a new key needs and reads and writes key files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use forge_core::signing::SecretKey;
use serde::Serialize;

use crate::output::{print_json, CmdResult, Outcome};

pub mod error;

pub use error::KeyFileError;

/// `forge key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new signing key: write the secret key to SECRET_FILE (mode
    /// 0600) and print its public key, `NAME:base64`.
    Generate {
        /// The key's name; by convention the cache's host name and a number
        /// to increment when the key is replaced (`cache.example.org-1`).
        #[arg(value_name = "NAME")]
        name: String,
        /// The file to write the secret key to; it must not exist.
        #[arg(short, long, value_name = "SECRET_FILE")]
        output: PathBuf,
        /// Replace SECRET_FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Print {name, public_key, secret_key_file} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key of a secret key file (forge's or Nix's).
    Public {
        /// The secret key file.
        #[arg(value_name = "SECRET_FILE")]
        secret_file: PathBuf,
        /// Print {name, public_key, secret_key_file} as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `--json` prints.
#[derive(Serialize)]
struct Shown {
    name: String,
    public_key: String,
    secret_key_file: String,
}

/// Runs a `forge key` command.
pub fn run(cmd: KeyCommand) -> CmdResult {
    let (key, file, json) = match cmd {
        KeyCommand::Generate {
            name,
            output,
            force,
            json,
        } => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed)
                .map_err(|e| anyhow::anyhow!("drawing randomness from the OS: {e}"))?;
            let key = SecretKey::generate(&name, seed).context("making the key")?;
            seed.fill(0);
            write_secret(&output, &key, force)?;
            (key, output, json)
        }
        KeyCommand::Public { secret_file, json } => (read_secret(&secret_file)?, secret_file, json),
    };
    let public = key.public().to_string();
    if json {
        print_json(&Shown {
            name: key.name().to_owned(),
            public_key: public,
            secret_key_file: file.display().to_string(),
        })?;
    } else {
        writeln!(std::io::stdout().lock(), "{public}")?;
    }
    Ok(Outcome::Success)
}

/// Reads a secret key file; surrounding whitespace (a newline an editor
/// added) is ignored.
pub fn read_secret(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret key file {}", path.display()))?;
    let key = SecretKey::parse(text.trim())
        .with_context(|| format!("reading the secret key file {}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} has mode {mode:04o}, open to other users; a secret key file should be 0600 (chmod 600 it)",
                path.display()
            );
        }
    }
    Ok(key)
}

/// Writes the key file, mode 0600 and, as Nix writes it, with no newline.
/// Without `force` an existing file (or symlink) is refused; with it, the
/// key goes to a new file beside it that then replaces it.
fn write_secret(path: &Path, key: &SecretKey, force: bool) -> anyhow::Result<()> {
    let context = || format!("writing the secret key file {}", path.display());
    if !force {
        let file = match create_private(path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(KeyFileError::Exists {
                    path: path.to_owned(),
                }
                .into())
            }
            other => other.with_context(context)?,
        };
        if let Err(e) = fill(file, key) {
            let _ = std::fs::remove_file(path);
            return Err(e).with_context(context);
        }
        return Ok(());
    }
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = create_private(&tmp)
        .and_then(|f| fill(f, key))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(context)
}

/// A new file only its owner may read and write, whatever the umask.
fn create_private(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Writes the key's text and syncs it.
fn fill(mut file: File, key: &SecretKey) -> std::io::Result<()> {
    file.write_all(key.to_text().as_bytes())?;
    file.sync_all()
}
