//! Output conventions: data on stdout (text or `--json`), errors on stderr
//! in one style, and how a command ended ([`Outcome`]; `main` turns it into
//! the exit code).

use std::io::{self, Write};

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

/// A hint the user can act on, for errors where there is one.
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<forge_build::BuildError>() {
            if let Some(h) = e.hint() {
                return Some(h);
            }
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return match e {
                StoreError::SchemaTooNew { .. } => Some(
                    "this store was written by a newer forge; use that forge, or point FORGE_ROOT (--root) at another store".into(),
                ),
                StoreError::NotValid(_) => Some(
                    "the path is not in this store; check --root / FORGE_ROOT, or add it with `forge store add`".into(),
                ),
                StoreError::OutsideStore { .. } | StoreError::BadStorePath(_) => Some(
                    "name a store path as /forge/store/<digest>-<name>, its physical location, or a symlink to it such as ./result".into(),
                ),
                StoreError::SpecialFile { .. } => Some(
                    "the store holds only regular files, directories and symlinks; remove or skip the special file".into(),
                ),
                StoreError::DatabaseOpen { .. } => Some(
                    "check that the store root is writable by you, or choose another with --root".into(),
                ),
                StoreError::NoSuchRoot(_) => {
                    Some("list the roots with `forge store root list`".into())
                }
                StoreError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => Some(
                    "a store root of another user is not writable; choose your own with --root or FORGE_ROOT".into(),
                ),
                _ => None,
            };
        }
    }
    None
}

/// Prints an error in forge's one style:
///
/// ```text
/// error: <what failed>
///   caused by: <why>
/// hint: <what to do>
/// ```
pub fn report_error(err: &anyhow::Error) {
    use std::io::IsTerminal;
    let tty = io::stderr().is_terminal();
    // Messages can quote a builder or a server (a failed fetch's output).
    let shown = |s: &str| crate::terminal::for_stream(s, tty).into_owned();
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", shown(&err.to_string()));
    let mut prev = err.to_string();
    for cause in err.chain().skip(1) {
        let msg = cause.to_string();
        // thiserror messages often embed their source; don't say it twice.
        if !prev.contains(&msg) {
            let _ = writeln!(stderr, "  caused by: {}", shown(&msg));
        }
        prev = msg;
    }
    if let Some(h) = hint(err) {
        let _ = writeln!(stderr, "hint: {h}");
    }
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

/// Parses sizes like `100`, `10K`, `1.5M`, `2G`, `3GiB`.
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
    Ok((num * mult as f64) as u64)
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
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
