//! Sandbox profiles as data: `sandbox/profiles/*.toml`.
//!
//! A [`Profile`] holds what a kind of build gets by default: network or not,
//! host files to expose (the fixed-output profile's resolver configuration
//! and CA bundle), the hostname and build identity, limits, the fixed
//! environment and the enforcement mode. The two built-in profiles,
//! `hermetic` (every build) and `fixed-output` (fetches), are the files in
//! `sandbox/profiles/` embedded in the binary, so forge works from any
//! directory. They hold the same values as the plain defaults of
//! [`crate::spec`] ([`SandboxSpec::new`], [`default_env`](crate::spec::default_env),
//! [`network_binds`](crate::spec::network_binds)); a test keeps them equal.
//!
//! [`Profile::parse`] reports problems the way recipes do, as a
//! [`Located`] error (`file:line:col: message`) with a hint where forge
//! knows what to do (see [`forge_core::diag`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use forge_core::diag::{Errors, Hint, Kind, Located, Suggest};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;
use thiserror::Error;

use crate::spec::{Bind, Enforcement, Limits, SandboxSpec};

/// The text of `sandbox/profiles/hermetic.toml`.
pub const HERMETIC_TOML: &str = include_str!("../../../sandbox/profiles/hermetic.toml");
/// The text of `sandbox/profiles/fixed-output.toml`.
pub const FIXED_OUTPUT_TOML: &str = include_str!("../../../sandbox/profiles/fixed-output.toml");

/// What a kind of build gets from the sandbox by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// A short name (`hermetic`, `fixed-output`).
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Whether the sandbox shares the host's network namespace.
    pub network: bool,
    /// Host paths shown read-only at the same path, those that exist.
    pub host_files: Vec<PathBuf>,
    /// The hostname inside.
    pub hostname: String,
    /// The build user inside.
    pub uid: u32,
    /// The build group inside.
    pub gid: u32,
    /// Hard or best-effort.
    pub enforcement: Enforcement,
    /// Limits.
    pub limits: Limits,
    /// The complete environment.
    pub env: BTreeMap<String, String>,
}

/// Why a profile cannot be used.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// A problem at a place in the file.
    #[error(transparent)]
    Invalid(Located),
    /// The file cannot be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Neither a built-in name nor a file.
    #[error("unknown sandbox profile {0:?}")]
    Unknown(String),
}

impl Hint for ProfileError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            ProfileError::Invalid(e) => e.hint(),
            ProfileError::Read { .. } => None,
            ProfileError::Unknown(_) => {
                Some("use hermetic, fixed-output, or the path of a .toml file".into())
            }
        }
    }
}

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a profile document")]
struct RawFile {
    profile: RawMeta,
    sandbox: RawSandbox,
    limits: RawLimits,
    env: BTreeMap<S<String>, S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [profile] table")]
struct RawMeta {
    name: S<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [sandbox] table"
)]
struct RawSandbox {
    network: bool,
    host_files: Vec<S<String>>,
    hostname: S<String>,
    uid: S<i64>,
    gid: S<i64>,
    enforcement: S<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [limits] table"
)]
struct RawLimits {
    max_processes: S<i64>,
    max_open_files: S<i64>,
    tmp_size: S<String>,
    timeout: Option<S<i64>>,
    silence_timeout: Option<S<i64>>,
}

/// The profile's checks of values, collected in [`Errors`] (the earliest in
/// the file is reported).
trait Checks {
    fn err(&mut self, span: Range<usize>, message: String, hint: Option<&str>);
    fn positive(&mut self, v: &S<i64>, what: &str) -> u64;
    fn id(&mut self, v: &S<i64>, what: &str) -> u32;
}

impl Checks for Errors<'_> {
    fn err(&mut self, span: Range<usize>, message: String, hint: Option<&str>) {
        let e = self.push(&span, Kind::InvalidValue, message);
        e.hint = hint.map(str::to_owned);
    }

    fn positive(&mut self, v: &S<i64>, what: &str) -> u64 {
        match u64::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => n,
            _ => {
                self.err(
                    v.span(),
                    format!("{what} must be a positive integer, got {}", v.get_ref()),
                    None,
                );
                1
            }
        }
    }

    fn id(&mut self, v: &S<i64>, what: &str) -> u32 {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n != u32::MAX => n,
            _ => {
                self.err(
                    v.span(),
                    format!(
                        "{what} must be between 0 and 4294967294, got {}",
                        v.get_ref()
                    ),
                    None,
                );
                0
            }
        }
    }
}

/// A size as profiles and recipes write it (`forge_core::recipe::size`).
fn parse_size(s: &str) -> Option<u64> {
    forge_core::recipe::size::parse(s).ok()
}

/// The shortest exact form [`parse_size`] reads back.
fn format_size(n: u64) -> String {
    forge_core::recipe::size::format(n)
}

/// A TOML basic string (one line, escaped): usable as a value or a key.
fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['=', '\0'])
}

fn is_host_path(s: &str) -> bool {
    let p = Path::new(s);
    !s.contains('\0')
        && p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

fn seconds(v: &Option<S<i64>>, what: &str, cx: &mut Errors<'_>) -> Option<Duration> {
    v.as_ref()
        .map(|v| Duration::from_secs(cx.positive(v, what)))
}

impl Profile {
    /// Parses a profile; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        // Profiles list the known keys of a table but guess no typo: the
        // keys are few and documented in the file itself.
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            ProfileError::Invalid(Located::from_toml(text, file, &e, Suggest::KnownKeys))
        })?;
        let mut cx = Errors::new(text, file);
        let name = raw.profile.name.get_ref().clone();
        if !is_name(&name) {
            cx.err(
                raw.profile.name.span(),
                format!("invalid profile name {name:?}"),
                Some("names are 1 to 64 characters of a-z 0-9 -"),
            );
        }
        let s = &raw.sandbox;
        let mut host_files = Vec::new();
        for f in &s.host_files {
            if is_host_path(f.get_ref()) {
                host_files.push(PathBuf::from(f.get_ref()));
            } else {
                cx.err(
                    f.span(),
                    format!(
                        "host file {:?} must be an absolute path without `.` or `..`",
                        f.get_ref()
                    ),
                    None,
                );
            }
        }
        if !is_hostname(s.hostname.get_ref()) {
            cx.err(
                s.hostname.span(),
                format!("invalid hostname {:?}", s.hostname.get_ref()),
                Some("a hostname is 1 to 64 characters of A-Z a-z 0-9 - . and starts with a letter or digit"),
            );
        }
        let uid = cx.id(&s.uid, "uid");
        let gid = cx.id(&s.gid, "gid");
        let enforcement = match s.enforcement.get_ref().as_str() {
            "hard" => Enforcement::Hard,
            "best-effort" => Enforcement::BestEffort,
            other => {
                cx.err(
                    s.enforcement.span(),
                    format!("unknown enforcement {other:?}"),
                    Some("use \"hard\" or \"best-effort\""),
                );
                Enforcement::Hard
            }
        };
        let l = &raw.limits;
        let tmp_size = match parse_size(l.tmp_size.get_ref()) {
            Some(n) if n > 0 => n,
            _ => {
                cx.err(
                    l.tmp_size.span(),
                    format!("invalid size {:?}", l.tmp_size.get_ref()),
                    Some(
                        "write a positive number of bytes, optionally with K, M, G or T (\"512M\")",
                    ),
                );
                1
            }
        };
        let limits = Limits {
            max_processes: cx.positive(&l.max_processes, "max-processes"),
            max_open_files: cx.positive(&l.max_open_files, "max-open-files"),
            tmp_size,
            build_size: None,
            memory: None,
            wall_timeout: seconds(&l.timeout, "timeout", &mut cx),
            silence_timeout: seconds(&l.silence_timeout, "silence-timeout", &mut cx),
        };
        let mut env = BTreeMap::new();
        for (k, v) in &raw.env {
            if !is_env_name(k.get_ref()) {
                cx.err(
                    k.span(),
                    format!("invalid environment variable name {:?}", k.get_ref()),
                    Some("names are not empty and have no `=`"),
                );
            }
            if v.get_ref().contains('\0') {
                cx.err(
                    v.span(),
                    format!("the value of {} contains a NUL byte", k.get_ref()),
                    None,
                );
            }
            env.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        if let Some(e) = cx.first() {
            return Err(ProfileError::Invalid(e));
        }
        Ok(Profile {
            name,
            description: raw.profile.description.unwrap_or_default(),
            network: s.network,
            host_files,
            hostname: s.hostname.get_ref().clone(),
            uid,
            gid,
            enforcement,
            limits,
            env,
        })
    }

    /// Reads and parses a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Profile::parse(&text, &path.display().to_string())
    }

    /// A built-in profile by name, or a profile file (a name ending in
    /// `.toml` or containing `/`).
    pub fn resolve(name_or_path: &str) -> Result<Profile, ProfileError> {
        if let Some(p) = Profile::builtin(name_or_path) {
            return Ok(p.clone());
        }
        if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            return Profile::load(Path::new(name_or_path));
        }
        Err(ProfileError::Unknown(name_or_path.to_owned()))
    }

    /// The default profile of builds (`sandbox/profiles/hermetic.toml`).
    pub fn hermetic() -> &'static Profile {
        static P: OnceLock<Profile> = OnceLock::new();
        P.get_or_init(|| {
            Profile::parse(HERMETIC_TOML, "sandbox/profiles/hermetic.toml")
                .expect("the embedded hermetic profile parses (tested)")
        })
    }

    /// The profile of fixed-output fetches (`sandbox/profiles/fixed-output.toml`).
    pub fn fixed_output() -> &'static Profile {
        static P: OnceLock<Profile> = OnceLock::new();
        P.get_or_init(|| {
            Profile::parse(FIXED_OUTPUT_TOML, "sandbox/profiles/fixed-output.toml")
                .expect("the embedded fixed-output profile parses (tested)")
        })
    }

    /// The built-in profiles with their source files.
    pub fn builtins() -> [(&'static Profile, &'static str); 2] {
        [
            (Profile::hermetic(), "sandbox/profiles/hermetic.toml"),
            (
                Profile::fixed_output(),
                "sandbox/profiles/fixed-output.toml",
            ),
        ]
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<&'static Profile> {
        Profile::builtins()
            .into_iter()
            .map(|(p, _)| p)
            .find(|p| p.name == name)
    }

    /// The host files of this profile that exist on this host, as read-only
    /// binds at the same path. Symlinks on the host (`/etc/resolv.conf` ->
    /// `../run/systemd/resolve/stub-resolv.conf`) are resolved here, as the
    /// host's own configuration: the sandbox never binds through a symlink
    /// (it recreates one as a symlink inside, which would dangle).
    pub fn host_binds(&self) -> Vec<Bind> {
        crate::spec::host_binds(self.host_files.iter().map(PathBuf::as_path))
    }

    /// A spec for `command` with this profile's settings and nothing
    /// exposed but its host files.
    pub fn spec(&self, command: Vec<String>) -> SandboxSpec {
        let mut spec = SandboxSpec::new(command);
        self.apply(&mut spec);
        spec
    }

    /// Puts this profile's settings into `spec` (environment, network,
    /// identity, limits, enforcement) and adds its host files; binds and
    /// layers already there stay.
    pub fn apply(&self, spec: &mut SandboxSpec) {
        spec.env = self.env.clone();
        spec.network = self.network;
        spec.hostname = self.hostname.clone();
        spec.uid = self.uid;
        spec.gid = self.gid;
        spec.limits = self.limits.clone();
        spec.enforcement = self.enforcement;
        for b in self.host_binds() {
            if !spec.binds.iter().any(|x| x.inside == b.inside) {
                spec.binds.push(b);
            }
        }
    }

    /// The profile as TOML that [`Profile::parse`] reads back equal.
    pub fn to_toml(&self) -> String {
        let q = |s: &str| basic_string(s);
        let key = |s: &str| {
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                s.to_owned()
            } else {
                q(s)
            }
        };
        let mut out = String::new();
        out.push_str("[profile]\n");
        out.push_str(&format!("name = {}\n", q(&self.name)));
        out.push_str(&format!("description = {}\n\n", q(&self.description)));
        out.push_str("[sandbox]\n");
        out.push_str(&format!("network = {}\n", self.network));
        let files: Vec<String> = self
            .host_files
            .iter()
            .map(|p| q(&p.to_string_lossy()))
            .collect();
        out.push_str(&format!("host-files = [{}]\n", files.join(", ")));
        out.push_str(&format!("hostname = {}\n", q(&self.hostname)));
        out.push_str(&format!("uid = {}\ngid = {}\n", self.uid, self.gid));
        let enforcement = match self.enforcement {
            Enforcement::Hard => "hard",
            Enforcement::BestEffort => "best-effort",
        };
        out.push_str(&format!("enforcement = {}\n\n", q(enforcement)));
        let l = &self.limits;
        out.push_str("[limits]\n");
        out.push_str(&format!("max-processes = {}\n", l.max_processes));
        out.push_str(&format!("max-open-files = {}\n", l.max_open_files));
        out.push_str(&format!("tmp-size = {}\n", q(&format_size(l.tmp_size))));
        if let Some(t) = l.wall_timeout {
            out.push_str(&format!("timeout = {}\n", t.as_secs()));
        }
        if let Some(t) = l.silence_timeout {
            out.push_str(&format!("silence-timeout = {}\n", t.as_secs()));
        }
        out.push_str("\n[env]\n");
        for (k, v) in &self.env {
            out.push_str(&format!("{} = {}\n", key(k), q(v)));
        }
        out
    }
}

#[cfg(test)]
mod tests;
