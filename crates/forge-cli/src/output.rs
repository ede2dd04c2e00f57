//! Output conventions: data on stdout (text or `--json`), errors on stderr
//! in one style, and how a command ended ([`Outcome`]; `main` turns it into
//! the exit code).

use std::borrow::Cow;
use std::io::{self, Write};

use forge_core::diag::Hint;
use forge_store::StoreError;
use serde::Serialize;

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as expected.
    Success,
    /// A check ran and found problems (exit code 3).
    ProblemsFound,
    /// A command run in a sandbox (`forge sandbox run`, `forge shell`)
    /// ended with this status: its exit code, or 128 + the signal that
    /// ended it. forge exits with the same code.
    Exited(i32),
}

/// The result type of commands.
pub type CmdResult = anyhow::Result<Outcome>;

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// True if the error is a closed stdout (`forge … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
            || e.downcast_ref::<StoreError>().is_some_and(|e| {
                matches!(e, StoreError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
            })
    })
}

/// The hint of one error of a chain, for the error types that carry one
/// ([`Hint`], see `forge_core::diag`). The store's hints are the CLI's own:
/// they name its flags (`--root`) and commands.
fn hint_of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! hinted {
        ($($t:ty),* $(,)?) => {
            $(
                if let Some(e) = e.downcast_ref::<$t>() {
                    return e.hint().map(Cow::into_owned);
                }
            )*
        };
    }
    hinted!(
        forge_build::BuildError,
        forge_build::seed::SeedError,
        forge_build::fetch::FetchError,
        forge_build::fetch::UnpackError,
        forge_build::inputs::HostPathProblem,
        forge_sandbox::ProfileError,
        forge_sandbox::SandboxError,
        forge_build::inputs::PrefetchError,
        forge_sandbox::ViewError,
        crate::cmd::run::error::RunError,
        forge_core::diag::Located,
        forge_core::config::BadEnv,
        forge_core::signing::KeyError,
        forge_core::signing::TrustError,
        crate::cmd::key::error::KeyFileError,
        forge_cache::PushError,
        forge_cache::CacheError,
        forge_build::debian::DebianError,
        forge_build::inputs::registry::RegistryFetchError,
    );
    e.downcast_ref::<StoreError>().and_then(store_hint)
}

fn store_hint(e: &StoreError) -> Option<String> {
    match e {
        StoreError::SchemaTooNew { .. } => Some(
            "this store was written by a newer forge; use that forge, or point FORGE_ROOT (--root) at another store".into(),
        ),
        StoreError::NotValid(_) => Some(
            "the path is not in this store; check --root / FORGE_ROOT, or add it with `forge store add`".into(),
        ),
        StoreError::OutsideStore { .. } | StoreError::BadStorePath(_) => Some(
            "name a store path as /forge/store/<digest>-<name>, its physical location, or a symlink to it such as ./result".into(),
        ),
        StoreError::NoSuchFile { path } if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("result")) => Some(
            "a result link is made by `forge build RECIPE` (unless --no-link); or name the store path itself".into(),
        ),
        StoreError::SpecialFile { .. } => Some(
            "the store holds only regular files, directories and symlinks; remove or skip the special file".into(),
        ),
        StoreError::DatabaseOpen { .. } => Some(
            "check that the store root is writable by you, or choose another with --root".into(),
        ),
        StoreError::NoSuchRoot(_) => Some("list the roots with `forge store root list`".into()),
        StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => Some(
            "a store root of another user is not writable; choose your own with --root or FORGE_ROOT".into(),
        ),
        _ => None,
    }
}

/// The hints of an error and of its causes, outermost first, each once.
/// The walk stops after the store's error: what lies under it is the
/// store's own business.
fn hints(err: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cause in err.chain() {
        if let Some(h) = hint_of(cause) {
            if !out.contains(&h) {
                out.push(h);
            }
        }
        if cause.is::<StoreError>() {
            break;
        }
    }
    out
}

/// The first hint of an error's chain, for a front end that carries one
/// (the fetcher's failure report, `fetch::protocol`).
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    hints(err).into_iter().next()
}

/// The message of an error: its `Display`, except that the failures of a
/// `--keep-going` build are each followed by their own hints.
fn message(err: &anyhow::Error) -> String {
    match err.downcast_ref::<forge_build::BuildError>() {
        Some(forge_build::BuildError::Many(all)) => {
            // Those not built because a dependency failed did not fail.
            let skipped = all
                .iter()
                .filter(|e| matches!(e, forge_build::BuildError::DependencyFailed { .. }))
                .count();
            let failed = all.len() - skipped;
            let mut s = match (failed, skipped) {
                (1, 0) => "1 build failed:".to_owned(),
                (n, 0) => format!("{n} builds failed:"),
                (1, k) => format!("1 build failed, {k} not built because of it:"),
                (n, k) => format!("{n} builds failed, {k} not built because of them:"),
            };
            for e in all {
                s.push_str(&format!("\n  {e}"));
                if let Some(h) = e.hint() {
                    s.push_str(&format!("\nhint: {h}"));
                }
            }
            s
        }
        _ => err.to_string(),
    }
}

/// Prints an error in forge's one style:
///
/// ```text
/// error: <what failed>
///   caused by: <why>
/// hint: <what to do>
/// ```
///
/// Libraries never write `hint:` into their messages; the hints come from
/// the error chain ([`hints`]).
pub fn report_error(err: &anyhow::Error) {
    use std::io::IsTerminal;
    let tty = io::stderr().is_terminal();
    // Messages can quote a builder or a server (a failed fetch's output).
    let shown = |s: &str| crate::terminal::for_stream(s, tty).into_owned();
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", shown(&describe(err)));
    if !matches!(
        err.downcast_ref::<forge_build::BuildError>(),
        Some(forge_build::BuildError::Many(_))
    ) {
        for h in hints(err) {
            let _ = writeln!(stderr, "hint: {h}");
        }
    }
}

/// An error and its causes as [`report_error`] shows them, without the
/// `error: ` in front and the hints after:
///
/// ```text
/// <what failed>
///   caused by: <why>
/// ```
///
/// A cause whose text the message before it already contains is not
/// repeated (thiserror messages often embed their source).
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = message(err);
    let mut prev = err.to_string();
    for cause in err.chain().skip(1) {
        let msg = cause.to_string();
        if !prev.contains(&msg) {
            out.push_str(&format!("\n  caused by: {msg}"));
        }
        prev = msg;
    }
    out
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Formats a byte count for people (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Parses sizes on the command line and in `FORGE_*` variables, like `100`,
/// `10K`, `64k`, `1.5M`, `2G`, `3GiB` (units of 1024; recipes and profiles
/// use the stricter `forge_core::recipe::size`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (expected e.g. 500M, 2G, 1048576)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} (use K, M, G or T)")),
    };
    let bytes = num * mult as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("{s:?} is too large"));
    }
    Ok(bytes as u64)
}

/// [`parse_size`], or `none` (also `unlimited`) for no limit.
pub fn parse_limit(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    parse_size(t).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(format_time(1_709_251_200), "2024-03-01T00:00:00Z");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("1K").unwrap(), 1024);
        assert_eq!(parse_size("1.5M").unwrap(), 1_572_864);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("x").is_err());
        assert!(parse_size("3Q").is_err());
        assert_eq!(parse_limit("8G"), Ok(Some(8 << 30)));
        assert_eq!(parse_limit("512M"), Ok(Some(512 << 20)));
        assert_eq!(parse_limit("2MiB"), Ok(Some(2 << 20)));
        assert_eq!(parse_limit("64k"), Ok(Some(64 << 10)));
        assert_eq!(parse_limit("1500"), Ok(Some(1500)));
        assert_eq!(parse_limit("none"), Ok(None));
        assert!(parse_limit("8X").is_err());
        assert!(parse_limit("G").is_err());
        assert!(parse_limit("99999999999T").is_err());
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn hints_come_from_the_error_chain_once_each() {
        use forge_core::diag::{Kind, Located, Location};
        let located =
            Located::new("r.toml", Location::START, Kind::InvalidValue, "bad").with_hint("fix it");
        // Through a transparent wrapper and a context.
        let err = anyhow::Error::from(forge_build::BuildError::Recipe(located.clone()))
            .context("building r");
        assert_eq!(hints(&err), ["fix it"]);
        assert_eq!(message(&err), "building r");
        // A hint in a source is found once, not again by its wrapper.
        let unpack = forge_build::fetch::UnpackError::NoDataTar {
            archive: "a.deb".into(),
            members: vec![],
        };
        let err = anyhow::Error::from(forge_build::fetch::FetchError::Unpack {
            url: "https://x/a.deb".into(),
            source: unpack,
        });
        assert_eq!(
            hints(&err),
            ["check that the file is a Debian binary package"]
        );
        assert!(!err.to_string().contains("hint"));
        // --keep-going: each failure with its own hint.
        let many = forge_build::BuildError::Many(vec![
            forge_build::BuildError::Recipe(located),
            forge_build::BuildError::Interrupted,
        ]);
        assert_eq!(
            message(&anyhow::Error::from(many)),
            "2 builds failed:\n  r.toml:1:1: bad\nhint: fix it\n  interrupted"
        );
        // Skipped builds are not counted as failures.
        let skipped = forge_build::BuildError::Many(vec![
            forge_build::BuildError::Interrupted,
            forge_build::BuildError::DependencyFailed {
                name: "b-1".into(),
                dependency: "a-1".into(),
            },
        ]);
        assert_eq!(
            message(&anyhow::Error::from(skipped)),
            "1 build failed, 1 not built because of it:\n  interrupted\n  b-1: not built because a-1 failed"
        );
    }
}
