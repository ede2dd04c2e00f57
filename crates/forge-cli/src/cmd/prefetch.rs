//! `forge prefetch URL`: download once into the store and print the sha256
//! and the input line a recipe takes (docs/cli.md, docs/recipes.md "fetch").
//! `forge prefetch deb:NAME[=VERSION]` finds the package in the verified
//! indices of a Debian suite family first (docs/bootstrap.md).

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
    /// What to download: an https://, http:// or file:///absolute/path URL;
    /// or a registry's artefact, pinned to the hash the registry publishes:
    /// `pypi:NAME==VER`, `crate:NAME@VER`, `npm:NAME@VER`, or
    /// `deb:NAME[=VERSION]` (a Debian package of `--suite`).
    #[arg(value_name = "URL")]
    url: String,
    /// With pypi:NAME==VER: which of the version's files (default: the
    /// sdist, else the first wheel).
    #[arg(long, value_name = "FILE")]
    file: Option<String>,
    /// With deb:NAME: the suite family (default: this host's release, from
    /// /etc/os-release), with every `<family>-*` suite apt's sources add
    /// (updates, security).
    #[arg(long, value_name = "FAMILY")]
    suite: Option<String>,
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
    /// With deb:NAME: the package found.
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<Package>,
    /// With pypi:, crate:, npm:: the file found.
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<RegistryFile>,
}

#[derive(Serialize)]
struct RegistryFile {
    file_name: String,
    yanked: bool,
    other_files: Vec<String>,
}

#[derive(Serialize)]
struct Package {
    name: String,
    version: String,
    architecture: String,
    suite: String,
    size: u64,
}

/// `forge prefetch`.
pub fn run(global: &GlobalArgs, args: PrefetchArgs) -> CmdResult {
    let progress = Retries {
        quiet: global.quiet(),
    };
    use forge_build::inputs::registry::{prefetch_registry, Spec};
    let spec = Spec::parse(&args.url)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let deb = args.url.strip_prefix("deb:");
    if args.file.is_some() && !matches!(spec, Some(Spec::Pypi { .. })) {
        anyhow::bail!("--file applies to pypi:NAME==VERSION only");
    }
    if args.suite.is_some() && deb.is_none() {
        anyhow::bail!("--suite applies to deb:NAME only");
    }
    let mut registry = None;
    let mut package = None;
    let got: Prefetched = match (deb, spec) {
        (Some(name), _) => {
            let (found, got) = prefetch_deb(global, &args, name, &progress)?;
            package = Some(Package {
                name: found.name,
                version: found.version,
                architecture: found.architecture,
                suite: found.suite,
                size: found.size,
            });
            got
        }
        (None, Some(spec)) => {
            if args.unpack.is_some() {
                anyhow::bail!(
                    "{}: the registry's kind of file decides how it is unpacked; leave --unpack out",
                    args.url
                );
            }
            let (located, got) = prefetch_registry(
                &global.root(),
                &registries(),
                &spec,
                args.file.as_deref(),
                &progress,
            )?;
            registry = Some(RegistryFile {
                file_name: located.file_name,
                yanked: located.yanked,
                other_files: located.others,
            });
            got
        }
        (None, None) => {
            forge_build::inputs::prefetch(&global.root(), &args.url, args.unpack, &progress)?
        }
    };
    let line = got.input_line(&args.name);
    if args.json {
        print_json(&Json {
            url: &got.url,
            sha256: got.sha256.to_hex(),
            store_path: got.store_path.to_string(),
            name: &args.name,
            unpack: got.unpack.map(Unpack::as_str),
            input_line: line,
            package,
            registry,
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
        if let Some(r) = &registry {
            if r.yanked {
                eprintln!("warning: {} is yanked on its registry", r.file_name);
            }
            if !r.other_files.is_empty() {
                eprintln!(
                    "other files of this version (--file): {}",
                    r.other_files.join(", ")
                );
            }
        }
        if let Some(p) = &package {
            eprintln!(
                "{} {} ({}) from {}, {} bytes",
                p.name, p.version, p.architecture, p.suite, p.size
            );
        }
        eprintln!("{how}: {}", got.store_path);
    }
    Ok(Outcome::Success)
}

/// `deb:NAME[=VERSION]`: the package in the suite family's verified
/// indices, its `.deb` prefetched and checked against the index.
fn prefetch_deb(
    global: &GlobalArgs,
    args: &PrefetchArgs,
    spec: &str,
    progress: &dyn FetchProgress,
) -> Result<(forge_build::debian::prefetch::Found, Prefetched), anyhow::Error> {
    use forge_build::debian::{prefetch, sources};
    if args.unpack.is_some_and(|u| u != Unpack::Deb) {
        anyhow::bail!("deb:{spec} is unpacked as deb; leave --unpack out");
    }
    let (name, version) = match spec.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    if name.is_empty() {
        anyhow::bail!("deb: needs a package name, like deb:hello or deb:hello=2.10-3");
    }
    let family = match &args.suite {
        Some(s) => s.clone(),
        None => host_codename().ok_or_else(|| {
            anyhow::anyhow!(
                "/etc/os-release names no VERSION_CODENAME: say which suite family with --suite"
            )
        })?,
    };
    let files = sources::apt_source_files(std::path::Path::new("/etc/apt"));
    let suites = sources::suites_for(&family, &files)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let arch = debian_arch()
        .ok_or_else(|| anyhow::anyhow!("no Debian architecture for {}", std::env::consts::ARCH))?;
    Ok(prefetch::prefetch_deb(
        &global.root(),
        &suites,
        name,
        version,
        arch,
        now,
        progress,
    )?)
}

/// The registries, the public ones unless `FORGE_PYPI_URL`,
/// `FORGE_CRATES_INDEX_URL`, `FORGE_CRATES_DOWNLOAD_URL` or `FORGE_NPM_URL`
/// name a mirror.
fn registries() -> forge_build::inputs::registry::Registries {
    let mut r = forge_build::inputs::registry::Registries::default();
    for (var, field) in [
        ("FORGE_PYPI_URL", &mut r.pypi),
        ("FORGE_CRATES_INDEX_URL", &mut r.crates_index),
        ("FORGE_CRATES_DOWNLOAD_URL", &mut r.crates_downloads),
        ("FORGE_NPM_URL", &mut r.npm),
    ] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                *field = v.trim_end_matches('/').to_owned();
            }
        }
    }
    r
}

/// `VERSION_CODENAME` of /etc/os-release.
fn host_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// This machine's architecture as Debian names it.
fn debian_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("arm64"),
        "x86" => Some("i386"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}
