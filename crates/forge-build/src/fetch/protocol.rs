//! How the engine and the fetcher process talk: the one definition of the
//! fetcher's command line ([`FetcherArgs`]) and of what it reports on its
//! standard error ([`Report`]), used by both sides.
//!
//! The engine runs the fetcher (`forge __fetch ARGS…`, the CLI's hidden
//! command) in the fixed-output sandbox with [`FetcherArgs::to_args`]; the
//! fetcher reads them back with [`FetcherArgs::parse`]. The fetcher writes
//! each [`Report`] as one line, `forge-fetch <kind> <fields…>`
//! ([`Report::to_line`]), between whatever else it prints; the engine's log
//! hook picks them out ([`Report::parse`]):
//!
//! ```text
//! forge-fetch start <total bytes or ->
//! forge-fetch progress <bytes done> <total bytes or ->
//! forge-fetch retry <attempt> <delay in ms> <reason>
//! forge-fetch unpack <kind>
//! forge-fetch failed <JSON: {"message": …, "hint": … or null}>
//! ```
//!
//! On success the fetcher exits 0 with the result at `out`; on failure,
//! bad arguments included, it exits 1 after a `failed` report (the engine
//! falls back to the log's last lines if the fetcher died without one).

use std::path::PathBuf;
use std::time::Duration;

use forge_core::hash::{Hash, HashAlgo};
use forge_core::recipe::Unpack;
use serde::{Deserialize, Serialize};

/// The hidden CLI command that runs a fetch.
pub const COMMAND: &str = "__fetch";

const PREFIX: &str = "forge-fetch ";

/// What the fetcher is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherArgs {
    /// The URL (https, http or file).
    pub url: String,
    /// The expected hash of the file as downloaded.
    pub hash: Hash,
    /// Unpack the file into a directory at `out`.
    pub unpack: Option<Unpack>,
    /// Where the result goes; must not exist.
    pub out: PathBuf,
    /// Where the download is kept meanwhile (default: a fresh directory
    /// next to `out`, removed afterwards).
    pub work_dir: Option<PathBuf>,
    /// With `unpack`, keep the download at `<work_dir>/download`.
    pub keep_download: bool,
    /// Retries for transient failures (default: the fetcher's own).
    pub retries: Option<u32>,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Read timeout.
    pub read_timeout: Option<Duration>,
}

/// A fetcher command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("forge {COMMAND}: {0}")]
pub struct BadArgs(String);

impl FetcherArgs {
    /// A fetch of `url`, checked against `hash`, into `out`.
    pub fn new(url: &str, hash: Hash, out: PathBuf) -> FetcherArgs {
        FetcherArgs {
            url: url.to_owned(),
            hash,
            unpack: None,
            out,
            work_dir: None,
            keep_download: false,
            retries: None,
            connect_timeout: None,
            read_timeout: None,
        }
    }

    /// The arguments after `forge __fetch`.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--url".to_owned(),
            self.url.clone(),
            "--hash".to_owned(),
            self.hash.to_string(),
            "--out".to_owned(),
            self.out.display().to_string(),
        ];
        if let Some(u) = self.unpack {
            a.extend(["--unpack".to_owned(), u.as_str().to_owned()]);
        }
        if let Some(d) = &self.work_dir {
            a.extend(["--work-dir".to_owned(), d.display().to_string()]);
        }
        if self.keep_download {
            a.push("--keep-download".to_owned());
        }
        if let Some(r) = self.retries {
            a.extend(["--retries".to_owned(), r.to_string()]);
        }
        if let Some(t) = self.connect_timeout {
            a.extend(["--connect-timeout".to_owned(), t.as_secs().to_string()]);
        }
        if let Some(t) = self.read_timeout {
            a.extend(["--read-timeout".to_owned(), t.as_secs().to_string()]);
        }
        a
    }

    /// Reads back what [`FetcherArgs::to_args`] wrote (`--flag value`, or
    /// `--flag=value`).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<FetcherArgs, BadArgs> {
        let mut url = None;
        let mut hash = None;
        let mut out = None;
        let mut parsed = FetcherArgs::new("", HashAlgo::Blake3.digest(b""), PathBuf::new());
        let mut it = args.iter().map(AsRef::as_ref);
        while let Some(arg) = it.next() {
            if arg == "--keep-download" {
                parsed.keep_download = true;
                continue;
            }
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, value),
                _ => (
                    arg,
                    it.next()
                        .ok_or_else(|| BadArgs(format!("{arg} needs a value")))?,
                ),
            };
            let secs = |v: &str| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| BadArgs(format!("{flag}: not a number of seconds: {v}")))
            };
            match flag {
                "--url" => url = Some(value.to_owned()),
                "--hash" => {
                    hash = Some(Hash::parse(value).map_err(|e| BadArgs(format!("--hash: {e}")))?)
                }
                "--out" => out = Some(PathBuf::from(value)),
                "--unpack" => {
                    parsed.unpack = Some(
                        value
                            .parse::<Unpack>()
                            .map_err(|e| BadArgs(format!("--unpack: {e}")))?,
                    )
                }
                "--work-dir" => parsed.work_dir = Some(PathBuf::from(value)),
                "--retries" => {
                    parsed.retries = Some(
                        value
                            .parse()
                            .map_err(|_| BadArgs(format!("--retries: not a number: {value}")))?,
                    )
                }
                "--connect-timeout" => parsed.connect_timeout = Some(secs(value)?),
                "--read-timeout" => parsed.read_timeout = Some(secs(value)?),
                other => return Err(BadArgs(format!("unknown argument {other}"))),
            }
        }
        if parsed.keep_download && parsed.work_dir.is_none() {
            return Err(BadArgs("--keep-download needs --work-dir".to_owned()));
        }
        parsed.url = url.ok_or_else(|| BadArgs("--url is required".to_owned()))?;
        parsed.hash = hash.ok_or_else(|| BadArgs("--hash is required".to_owned()))?;
        parsed.out = out.ok_or_else(|| BadArgs("--out is required".to_owned()))?;
        Ok(parsed)
    }
}

/// What the fetcher failed with, as the user should read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error and its causes.
    pub message: String,
    /// What to do about it, if anything.
    pub hint: Option<String>,
}

/// One line the fetcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The download began; the server said how big it is, or not.
    Start { total: Option<u64> },
    /// Bytes so far.
    Progress { done: u64, total: Option<u64> },
    /// A transient failure; the next attempt is in `delay`.
    Retry {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// Unpacking began.
    Unpack { kind: Unpack },
    /// The fetch failed.
    Failed(Failure),
}

fn total(t: Option<u64>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

impl Report {
    /// The report as one line (no newline).
    pub fn to_line(&self) -> String {
        let body = match self {
            Report::Start { total: t } => format!("start {}", total(*t)),
            Report::Progress { done, total: t } => format!("progress {done} {}", total(*t)),
            Report::Retry {
                attempt,
                delay,
                reason,
            } => format!(
                "retry {attempt} {} {}",
                delay.as_millis(),
                reason.replace(['\n', '\r'], " ")
            ),
            Report::Unpack { kind } => format!("unpack {kind}"),
            Report::Failed(f) => format!(
                "failed {}",
                serde_json::to_string(f).unwrap_or_else(|_| "{}".to_owned())
            ),
        };
        format!("{PREFIX}{body}")
    }

    /// The report a line holds, if it is one.
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix(PREFIX)?;
        let (kind, fields) = rest.split_once(' ').unwrap_or((rest, ""));
        let total = |s: Option<&str>| -> Option<Option<u64>> {
            match s? {
                "-" => Some(None),
                n => n.parse().ok().map(Some),
            }
        };
        match kind {
            "start" => Some(Report::Start {
                total: total(Some(fields))?,
            }),
            "progress" => {
                let mut w = fields.split(' ');
                let done = w.next()?.parse().ok()?;
                Some(Report::Progress {
                    done,
                    total: total(w.next())?,
                })
            }
            "retry" => {
                let mut w = fields.splitn(3, ' ');
                let attempt = w.next()?.parse().ok()?;
                let delay = Duration::from_millis(w.next()?.parse().ok()?);
                Some(Report::Retry {
                    attempt,
                    delay,
                    reason: w.next().unwrap_or("").to_owned(),
                })
            }
            "unpack" => Some(Report::Unpack {
                kind: fields.parse().ok()?,
            }),
            "failed" => serde_json::from_str(fields).ok().map(Report::Failed),
            _ => None,
        }
    }

    /// Whether `line` is a report line (for filtering a log's tail).
    pub fn is_report(line: &str) -> bool {
        line.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn arguments_round_trip() {
        let mut a = FetcherArgs::new(
            "https://example.org/x.tar.gz",
            HashAlgo::Sha256.digest(b"x"),
            PathBuf::from("/build/out"),
        );
        assert_eq!(FetcherArgs::parse(&a.to_args()).unwrap(), a);
        a.unpack = Some(Unpack::TarGz);
        a.work_dir = Some(PathBuf::from("/build/work"));
        a.keep_download = true;
        a.retries = Some(2);
        a.read_timeout = Some(Duration::from_secs(9));
        assert_eq!(FetcherArgs::parse(&a.to_args()).unwrap(), a);
    }

    #[test]
    fn values_may_follow_an_equals_sign() {
        let a = FetcherArgs::parse(&["--url=https://x/y?a=b", "--hash", "sha256:00", "--out=/o"]);
        let e = a.unwrap_err();
        assert!(e.to_string().contains("--hash"), "{e}");
        let h = HashAlgo::Sha256.digest(b"x");
        let a = FetcherArgs::parse(&[
            "--url=https://x/y?a=b".to_owned(),
            format!("--hash={h}"),
            "--out=/o".to_owned(),
        ])
        .unwrap();
        assert_eq!(a.url, "https://x/y?a=b");
        assert_eq!(a.hash, h);
        assert_eq!(a.out, PathBuf::from("/o"));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let e = FetcherArgs::parse(&["--url", "x"]).unwrap_err();
        assert!(e.to_string().contains("--hash is required"), "{e}");
        let e = FetcherArgs::parse(&["--url"]).unwrap_err();
        assert!(e.to_string().contains("--url needs a value"), "{e}");
        let e = FetcherArgs::parse(&["--frob", "1"]).unwrap_err();
        assert!(e.to_string().contains("unknown argument --frob"), "{e}");
    }

    #[test]
    fn a_failure_with_newlines_is_one_line() {
        let r = Report::Failed(Failure {
            message: "hash mismatch:\n    expected sha256 = \"aa\"".into(),
            hint: Some("paste it".into()),
        });
        let line = r.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(Report::parse(&line), Some(r));
    }

    fn report() -> impl Strategy<Value = Report> {
        prop_oneof![
            proptest::option::of(any::<u64>()).prop_map(|total| Report::Start { total }),
            (any::<u64>(), proptest::option::of(any::<u64>()))
                .prop_map(|(done, total)| Report::Progress { done, total }),
            (any::<u32>(), 0u64..1 << 40, "[^\n\r]*").prop_map(|(attempt, ms, reason)| {
                Report::Retry {
                    attempt,
                    delay: Duration::from_millis(ms),
                    reason,
                }
            }),
            (any::<String>(), proptest::option::of(any::<String>()))
                .prop_map(|(message, hint)| Report::Failed(Failure { message, hint })),
        ]
    }

    proptest! {
        #[test]
        fn reports_round_trip(r in report()) {
            let line = r.to_line();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(Report::parse(&line), Some(r));
        }

        #[test]
        fn any_line_parses_or_is_ignored(line in any::<String>()) {
            let _ = Report::parse(&line);
        }
    }
}
