//! Python lock files: PEP 751 `pylock.toml`, uv's `uv.lock`, pip's
//! hash-checking `requirements.txt`, and pip's `install --report` JSON.
//!
//! - `pylock.toml`: `[[packages]]` with `name`, `version`, `wheels = [{url,
//!   size, hashes = {sha256 = …}}]` and `sdist = {url, size, hashes}`; a
//!   package given as `vcs`, `directory` or `archive` with a local `path`
//!   is skipped. Hashes: sha256 if given, else sha512.
//! - `uv.lock`: `[[package]]` with `source` (`registry` is imported;
//!   `virtual`/`editable` are the workspace; `path`, `directory`, `git` are
//!   skipped), `sdist = {url, hash = "sha256:…", size}`, `wheels = [{url,
//!   hash, size}]`.
//! - `requirements.txt` (as `uv export` and `pip-compile --generate-hashes`
//!   write it): `name==version \` followed by `--hash=sha256:…` options on
//!   continuation lines. No URL is written, so each requirement becomes a
//!   [`PendingPin`]: the file is found on the index later and must match one
//!   of its hashes. Option lines (`--index-url`…) are ignored; `-e` and
//!   `-r` lines, unpinned requirements and requirements without a hash are
//!   errors, since pip's hash-checking mode refuses them too.
//! - pip's report (`pip install --dry-run --report r.json`): each
//!   `install[]` has `download_info.url`, `download_info.archive_info.hashes`
//!   and `metadata.name`/`version`; `dir_info` and `vcs_info` entries are
//!   skipped.
//!
//! Every wheel and the sdist become [`Artifact`]s; choose among a package's
//! wheels with [`super::select_wheels`]. An artefact's file name is the last
//! segment of its URL, percent-decoded (`1.0%2Bcpu` is `1.0+cpu`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::{json_error, line_of, toml_error};
use super::{
    Artifact, ArtifactKind, Ecosystem, Import, ImportError, PendingPin, SkipReason, Skipped,
};
use crate::hash::{Hash, HashAlgo};

/// PEP 503 normalised name: lowercase, runs of `-`, `_`, `.` as one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The file name at the end of `url` (query and fragment dropped),
/// percent-decoded; `None` when it is empty or not UTF-8 once decoded.
pub fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next()?;
    let bytes = last.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    let name = String::from_utf8(out).ok()?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn kind_of(file_name: &str) -> ArtifactKind {
    if file_name.ends_with(".whl") {
        ArtifactKind::Wheel
    } else {
        ArtifactKind::Sdist
    }
}

/// The context a file entry is read in: the package and where it is.
struct Pkg<'a> {
    name: &'a str,
    version: &'a str,
    line: usize,
}

impl Pkg<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            line: self.line,
            package: self.label(),
            field,
            reason: reason.into(),
        }
    }

    fn artifact(&self, url: &str, hash: Hash, size: Option<u64>) -> Result<Artifact, ImportError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(self.invalid("url", format!("{url:?} is not an http(s) URL")));
        }
        let file_name = url_file_name(url)
            .ok_or_else(|| self.invalid("url", format!("{url:?} names no file")))?;
        Ok(Artifact {
            ecosystem: Ecosystem::Python,
            name: self.name.to_owned(),
            version: self.version.to_owned(),
            url: url.to_owned(),
            hash,
            size,
            kind: kind_of(&file_name),
            file_name,
            line: self.line,
            install_path: None,
            dev: false,
            optional: false,
        })
    }

    /// A `hashes = { sha256 = "…" }` table: sha256, else sha512.
    fn hashes_table(&self, hashes: &BTreeMap<String, String>) -> Result<Hash, ImportError> {
        for algo in [HashAlgo::Sha256, HashAlgo::Sha512] {
            if let Some(v) = hashes.get(algo.name()) {
                return Hash::parse_as(algo, v).map_err(|e| self.invalid("hashes", e.to_string()));
            }
        }
        match hashes.keys().next() {
            Some(algo) => Err(ImportError::WeakHash {
                line: self.line,
                package: self.label(),
                algo: algo.clone(),
            }),
            None => Err(ImportError::Missing {
                line: self.line,
                package: self.label(),
                field: "hashes",
            }),
        }
    }
}

fn skipped(name: &str, version: Option<&str>, reason: SkipReason, line: usize) -> Skipped {
    Skipped {
        ecosystem: Ecosystem::Python,
        name: name.to_owned(),
        version: version.map(str::to_owned),
        reason,
        line,
    }
}

// ---- pylock.toml ----

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPylock {
    lock_version: Option<Spanned<String>>,
    #[serde(default)]
    packages: Vec<Spanned<PylockPackage>>,
}

#[derive(Deserialize)]
struct PylockPackage {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<PylockFile>,
    sdist: Option<PylockFile>,
    vcs: Option<toml::Table>,
    directory: Option<toml::Table>,
    archive: Option<PylockFile>,
}

#[derive(Deserialize)]
struct PylockFile {
    url: Option<String>,
    path: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// Reads a PEP 751 `pylock.toml`.
pub fn parse_pylock(text: &str) -> Result<Import, ImportError> {
    let raw: RawPylock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if let Some(v) = &raw.lock_version {
        if !v.get_ref().starts_with("1.") && v.get_ref() != "1" {
            return Err(ImportError::Version {
                line: line_of(text, v.span().start),
                what: "pylock.toml",
                version: v.get_ref().clone(),
            });
        }
    }
    let mut out = Import::default();
    for p in raw.packages {
        let line = line_of(text, p.span().start);
        let p = p.into_inner();
        let name = p.name.ok_or(ImportError::Missing {
            line,
            package: "?".to_owned(),
            field: "name",
        })?;
        let version = p.version.as_deref();
        if let Some(vcs) = &p.vcs {
            let url = vcs
                .get("url")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            out.skipped.push(skipped(
                &name,
                version,
                SkipReason::Git(url.to_owned()),
                line,
            ));
            continue;
        }
        if let Some(dir) = &p.directory {
            let path = dir
                .get("path")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            out.skipped.push(skipped(
                &name,
                version,
                SkipReason::Path(path.to_owned()),
                line,
            ));
            continue;
        }
        let version = version.ok_or_else(|| ImportError::Missing {
            line,
            package: name.clone(),
            field: "version",
        })?;
        let pkg = Pkg {
            name: &name,
            version,
            line,
        };
        let files = p.wheels.iter().chain(&p.sdist).chain(&p.archive);
        let mut any = false;
        for f in files {
            any = true;
            match (&f.url, &f.path) {
                (Some(url), _) => {
                    let hash = pkg.hashes_table(&f.hashes)?;
                    out.artifacts.push(pkg.artifact(url, hash, f.size)?);
                }
                (None, Some(path)) => {
                    out.skipped.push(skipped(
                        &name,
                        Some(version),
                        SkipReason::Path(path.clone()),
                        line,
                    ));
                }
                (None, None) => {
                    return Err(ImportError::Missing {
                        line,
                        package: pkg.label(),
                        field: "url",
                    })
                }
            }
        }
        if !any {
            return Err(ImportError::Missing {
                line,
                package: pkg.label(),
                field: "wheels` or `sdist",
            });
        }
    }
    Ok(out)
}

// ---- uv.lock ----

#[derive(Deserialize)]
struct RawUvLock {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    package: Vec<Spanned<UvPackage>>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: Option<String>,
    version: Option<String>,
    source: Option<BTreeMap<String, toml::Value>>,
    sdist: Option<UvFile>,
    #[serde(default)]
    wheels: Vec<UvFile>,
}

#[derive(Deserialize)]
struct UvFile {
    url: Option<String>,
    path: Option<String>,
    hash: Option<String>,
    size: Option<u64>,
}

/// Reads uv's `uv.lock`.
pub fn parse_uv_lock(text: &str) -> Result<Import, ImportError> {
    let raw: RawUvLock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if let Some(v) = &raw.version {
        if *v.get_ref() != 1 {
            return Err(ImportError::Version {
                line: line_of(text, v.span().start),
                what: "uv.lock",
                version: v.get_ref().to_string(),
            });
        }
    }
    let mut out = Import::default();
    for p in raw.package {
        let line = line_of(text, p.span().start);
        let p = p.into_inner();
        let name = p.name.ok_or(ImportError::Missing {
            line,
            package: "?".to_owned(),
            field: "name",
        })?;
        let version = p.version.as_deref();
        let source = p.source.unwrap_or_default();
        let text_of = |k: &str| {
            source
                .get(k)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };
        if source.contains_key("virtual") || source.contains_key("editable") {
            out.skipped
                .push(skipped(&name, version, SkipReason::Workspace, line));
            continue;
        }
        if let Some(git) = text_of("git") {
            out.skipped
                .push(skipped(&name, version, SkipReason::Git(git), line));
            continue;
        }
        if let Some(path) = text_of("path").or_else(|| text_of("directory")) {
            out.skipped
                .push(skipped(&name, version, SkipReason::Path(path), line));
            continue;
        }
        let version = version.ok_or_else(|| ImportError::Missing {
            line,
            package: name.clone(),
            field: "version",
        })?;
        let pkg = Pkg {
            name: &name,
            version,
            line,
        };
        for f in p.sdist.iter().chain(&p.wheels) {
            let Some(url) = &f.url else {
                if let Some(path) = &f.path {
                    out.skipped.push(skipped(
                        &name,
                        Some(version),
                        SkipReason::Path(path.clone()),
                        line,
                    ));
                    continue;
                }
                return Err(ImportError::Missing {
                    line,
                    package: pkg.label(),
                    field: "url",
                });
            };
            let hash = f.hash.as_deref().ok_or_else(|| ImportError::Missing {
                line,
                package: pkg.label(),
                field: "hash",
            })?;
            let hash = Hash::parse(hash).map_err(|e| pkg.invalid("hash", e.to_string()))?;
            if hash.algo() == HashAlgo::Blake3 {
                return Err(pkg.invalid("hash", "a registry hash is sha256 or sha512"));
            }
            out.artifacts.push(pkg.artifact(url, hash, f.size)?);
        }
    }
    Ok(out)
}

// ---- requirements.txt ----

/// Reads a `requirements.txt` in pip's hash-checking form.
pub fn parse_requirements(text: &str) -> Result<Import, ImportError> {
    let mut out = Import::default();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if logical.is_empty() {
            start = line_no;
        }
        let without_comment = strip_comment(raw);
        match without_comment.trim_end().strip_suffix('\\') {
            Some(body) => {
                logical.push_str(body);
                logical.push(' ');
            }
            None => {
                logical.push_str(without_comment);
                let l = std::mem::take(&mut logical);
                requirement(&l, start, &mut out)?;
            }
        }
    }
    if !logical.is_empty() {
        requirement(&logical, start, &mut out)?;
    }
    Ok(out)
}

/// A line without its comment: `#` at the start or after whitespace.
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b.get(i - 1).is_some_and(u8::is_ascii_whitespace)) {
            return line.get(..i).unwrap_or(line);
        }
    }
    line
}

fn requirement(l: &str, line: usize, out: &mut Import) -> Result<(), ImportError> {
    let mut words = l.split_ascii_whitespace().peekable();
    let Some(first) = words.peek().copied() else {
        return Ok(());
    };
    let invalid = |package: &str, field: &'static str, reason: String| ImportError::Invalid {
        line,
        package: package.to_owned(),
        field,
        reason,
    };
    if first.starts_with('-') {
        let opt = first.split('=').next().unwrap_or(first);
        return match opt {
            "-e" | "--editable" | "-r" | "--requirement" | "-c" | "--constraint" => Err(invalid(
                "(option)",
                "requirement",
                format!("`{opt}` is not allowed in a hash-pinned requirements file"),
            )),
            _ => Ok(()),
        };
    }
    // The requirement runs until the first option; markers (`; …`) may
    // hold spaces.
    let mut spec = String::new();
    let mut hashes = Vec::new();
    for w in words {
        if let Some(h) = w
            .strip_prefix("--hash=")
            .or_else(|| w.strip_prefix("--hash:"))
        {
            // pip writes `sha256:<hex>`.
            let h = Hash::parse(h).map_err(|e| invalid(spec.trim(), "--hash", e.to_string()))?;
            if h.algo() == HashAlgo::Blake3 {
                return Err(invalid(
                    spec.trim(),
                    "--hash",
                    "pip hashes are sha256 or sha512".into(),
                ));
            }
            hashes.push(h);
        } else if w.starts_with("--") {
            // Other per-requirement options (`--config-settings`) are kept out.
        } else if hashes.is_empty() {
            spec.push_str(w);
            spec.push(' ');
        } else {
            return Err(invalid(
                spec.trim(),
                "requirement",
                format!("unexpected {w:?} after the hashes"),
            ));
        }
    }
    let req = spec.split(';').next().unwrap_or_default().trim();
    let (name_part, version) = match req.split_once("===").or_else(|| req.split_once("==")) {
        Some((n, v)) => (n.trim(), v.trim()),
        None => {
            return Err(invalid(
                req,
                "version",
                "not pinned with `==` (hash-checking mode pins every requirement)".into(),
            ));
        }
    };
    // `name[extra,…]`
    let name = name_part.split('[').next().unwrap_or(name_part).trim();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(invalid(
            req,
            "name",
            format!("{name:?} is not a package name"),
        ));
    }
    if version.is_empty() || version.contains(['*', ',', ' ']) {
        return Err(invalid(
            name,
            "version",
            format!("{version:?} is not one version"),
        ));
    }
    if hashes.is_empty() {
        return Err(ImportError::Missing {
            line,
            package: format!("{name} {version}"),
            field: "--hash",
        });
    }
    out.pending.push(PendingPin {
        ecosystem: Ecosystem::Python,
        name: name.to_owned(),
        version: version.to_owned(),
        hashes,
        line,
    });
    Ok(())
}

// ---- pip --report ----

#[derive(Deserialize)]
struct RawReport {
    version: Option<String>,
    #[serde(default)]
    install: Vec<ReportItem>,
}

#[derive(Deserialize)]
struct ReportItem {
    download_info: Option<DownloadInfo>,
    metadata: Option<ReportMetadata>,
}

#[derive(Deserialize)]
struct DownloadInfo {
    url: Option<String>,
    archive_info: Option<ArchiveInfo>,
    dir_info: Option<serde_json::Value>,
    vcs_info: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ArchiveInfo {
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    hash: Option<String>,
}

#[derive(Deserialize)]
struct ReportMetadata {
    name: Option<String>,
    version: Option<String>,
}

/// Reads the JSON `pip install --report` writes.
pub fn parse_pip_report(text: &str) -> Result<Import, ImportError> {
    let raw: RawReport = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    if let Some(v) = &raw.version {
        if v != "0" && v != "1" {
            let line = text.find("\"version\"").map_or(1, |o| line_of(text, o));
            return Err(ImportError::Version {
                line,
                what: "pip report",
                version: v.clone(),
            });
        }
    }
    let mut out = Import::default();
    let mut search_from = text.find("\"install\"").unwrap_or(0);
    for (i, item) in raw.install.into_iter().enumerate() {
        let info = item.download_info;
        // Entries appear in order: each one's line is where its URL is
        // first written after the previous entry.
        let line = info
            .as_ref()
            .and_then(|d| d.url.as_ref())
            .and_then(|u| serde_json::to_string(u).ok())
            .and_then(|u| {
                text.get(search_from..)
                    .and_then(|t| t.find(&u))
                    .map(|o| search_from + o)
            })
            .map_or(1, |o| {
                search_from = o + 1;
                line_of(text, o)
            });
        let meta = item.metadata.ok_or(ImportError::Missing {
            line,
            package: format!("install[{i}]"),
            field: "metadata",
        })?;
        let name = meta.name.ok_or(ImportError::Missing {
            line,
            package: format!("install[{i}]"),
            field: "metadata.name",
        })?;
        let version = meta.version.ok_or_else(|| ImportError::Missing {
            line,
            package: name.clone(),
            field: "metadata.version",
        })?;
        let pkg = Pkg {
            name: &name,
            version: &version,
            line,
        };
        let info = info.ok_or_else(|| ImportError::Missing {
            line,
            package: pkg.label(),
            field: "download_info",
        })?;
        let url = info.url.unwrap_or_default();
        if info.vcs_info.is_some() {
            out.skipped
                .push(skipped(&name, Some(&version), SkipReason::Git(url), line));
            continue;
        }
        if info.dir_info.is_some() || url.starts_with("file:") {
            out.skipped
                .push(skipped(&name, Some(&version), SkipReason::Path(url), line));
            continue;
        }
        let archive = info.archive_info.ok_or_else(|| ImportError::Missing {
            line,
            package: pkg.label(),
            field: "download_info.archive_info",
        })?;
        let mut hashes = archive.hashes;
        if hashes.is_empty() {
            // The older single `hash = "sha256=<hex>"`.
            if let Some((algo, hex)) = archive.hash.as_deref().and_then(|h| h.split_once('=')) {
                hashes.insert(algo.to_owned(), hex.to_owned());
            }
        }
        let hash = pkg.hashes_table(&hashes)?;
        out.artifacts.push(pkg.artifact(&url, hash, None)?);
    }
    Ok(out)
}
