//! `InRelease` and `Release`: the signed description of a suite, with the
//! size and SHA-256 of every index file in it.
//!
//! `InRelease` is a clearsigned OpenPGP message (RFC 4880 §7):
//!
//! ```text
//! -----BEGIN PGP SIGNED MESSAGE-----
//! Hash: SHA256
//!
//! Origin: Debian
//! ...
//! -----BEGIN PGP SIGNATURE-----
//! ...
//! -----END PGP SIGNATURE-----
//! ```
//!
//! [`signed_text`] hands out only the text between the armor headers and the
//! signature, with dash-escaping (`- `) undone and each line ending in `\n`:
//! the Release file as apt writes it after checking the signature. Checking
//! the signature is the caller's (forge runs the host's `gpgv` on the whole
//! `InRelease`); this parser's part is to make sure nothing outside the signed
//! part can reach [`Release::parse`]: text before the BEGIN line, armor
//! headers other than `Hash:`, a second message, or anything but blank lines
//! after the signature are errors, as they are for apt.
//!
//! Line numbers in [`Release::parse`] errors count lines of the signed text
//! (line 1 is the line after the blank line that ends the armor headers).

use super::deb822::{self, Paragraph};
use super::error::ReleaseError;

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// The signed text of a clearsigned `InRelease` (see the module docs).
pub fn signed_text(inrelease: &str) -> Result<String, ReleaseError> {
    let mut lines = inrelease
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l));
    match lines.next() {
        Some((_, l)) if l.trim_end() == BEGIN_MESSAGE => {}
        _ => return Err(ReleaseError::NotClearsigned),
    }
    // Armor headers, up to the blank line.
    loop {
        match lines.next() {
            None => return Err(ReleaseError::MissingSignature),
            Some((_, l)) if l.trim_end().is_empty() => break,
            Some((_, l)) if l.starts_with("Hash: ") => {}
            Some((line, l)) => {
                return Err(ReleaseError::BadArmorHeader {
                    line,
                    found: l.chars().take(80).collect(),
                })
            }
        }
    }
    let mut out = String::with_capacity(inrelease.len());
    loop {
        match lines.next() {
            None => return Err(ReleaseError::MissingSignature),
            Some((_, l)) if l.trim_end() == BEGIN_SIGNATURE => break,
            Some((_, l)) if l.starts_with("- ") => {
                out.push_str(l.get(2..).unwrap_or_default());
                out.push('\n');
            }
            Some((line, l)) if l.starts_with('-') => {
                return Err(ReleaseError::UnescapedDash {
                    line,
                    found: l.chars().take(80).collect(),
                })
            }
            Some((_, l)) => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    loop {
        match lines.next() {
            None => return Err(ReleaseError::UnterminatedSignature),
            Some((_, l)) if l.trim_end() == END_SIGNATURE => break,
            Some((line, l)) if l.starts_with("-----") => {
                return Err(ReleaseError::TrailingText {
                    line,
                    found: l.chars().take(80).collect(),
                })
            }
            Some(_) => {}
        }
    }
    for (line, l) in lines {
        if !l.trim().is_empty() {
            return Err(ReleaseError::TrailingText {
                line,
                found: l.chars().take(80).collect(),
            });
        }
    }
    Ok(out)
}

/// One line of the `SHA256` table: an index file of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// Relative to the suite's directory, e.g. `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// The fields of a Release file forge uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    /// `Date`, in seconds since the Unix epoch.
    pub date: Option<i64>,
    /// `Valid-Until`, in seconds since the Unix epoch.
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: index files may be fetched as `by-hash/SHA256/<hex>`.
    pub acquire_by_hash: bool,
    /// The `SHA256` table, in file order.
    pub sha256: Vec<IndexFile>,
}

impl Release {
    /// Parses a Release text (the output of [`signed_text`], or a plain `Release`).
    pub fn parse(text: &str) -> Result<Release, ReleaseError> {
        let para: Paragraph<'_> = match deb822::paragraphs(text).next() {
            Some(p) => p?,
            None => return Err(ReleaseError::Empty { line: 1 }),
        };
        let one = |name: &str| para.get(name).map(str::to_owned);
        let date = |name: &'static str| -> Result<Option<i64>, ReleaseError> {
            para.field(name)
                .map(|f| {
                    parse_date(f.value).ok_or_else(|| ReleaseError::InvalidField {
                        line: f.line,
                        field: name,
                        reason: format!("expected an RFC 2822 date, found {:?}", f.value),
                    })
                })
                .transpose()
        };
        let words = |name: &str| {
            para.get(name)
                .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let acquire_by_hash = match para.field("Acquire-By-Hash") {
            None => false,
            Some(f) => match f.value {
                "yes" => true,
                "no" => false,
                other => {
                    return Err(ReleaseError::InvalidField {
                        line: f.line,
                        field: "Acquire-By-Hash",
                        reason: format!("expected yes or no, found {other:?}"),
                    })
                }
            },
        };
        let mut sha256 = Vec::new();
        if let Some(f) = para.field("SHA256") {
            for (i, l) in f.lines().enumerate() {
                if l.is_empty() {
                    continue;
                }
                let bad = |reason: String| ReleaseError::InvalidField {
                    line: f.line + i,
                    field: "SHA256",
                    reason,
                };
                let mut parts = l.split_ascii_whitespace();
                let (Some(hash), Some(size), Some(path), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad(format!(
                        "expected `<sha256> <size> <path>`, found {l:?}"
                    )));
                };
                let mut digest = [0u8; 32];
                hex::decode_to_slice(hash, &mut digest)
                    .map_err(|_| bad(format!("{hash:?} is not 64 hex digits")))?;
                let size = size
                    .parse::<u64>()
                    .map_err(|_| bad(format!("size {size:?} is not a number")))?;
                sha256.push(IndexFile {
                    path: path.to_owned(),
                    size,
                    sha256: digest,
                });
            }
        }
        Ok(Release {
            origin: one("Origin"),
            label: one("Label"),
            suite: one("Suite"),
            codename: one("Codename"),
            version: one("Version"),
            date: date("Date")?,
            valid_until: date("Valid-Until")?,
            architectures: words("Architectures"),
            components: words("Components"),
            acquire_by_hash,
            sha256,
        })
    }

    /// The index file at `path` (`main/binary-amd64/Packages.xz`), if listed.
    pub fn file(&self, path: &str) -> Option<&IndexFile> {
        self.sha256.iter().find(|f| f.path == path)
    }
}

/// Seconds since the epoch of an RFC 2822 date as Debian writes it:
/// `Sat, 10 May 2025 08:52:04 UTC` (the weekday optional; the zone `UTC`,
/// `GMT`, `Z` or `±hhmm`).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((wd, rest)) => {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            DAYS.contains(&wd.trim()).then_some(rest)?
        }
        None => s,
    };
    let mut parts = s.split_ascii_whitespace();
    let day: u32 = num(parts.next()?, 1, 2)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let year: i64 = i64::from(num(parts.next()?, 4, 4)?);
    let mut hms = parts.next()?.split(':');
    let h: u32 = num(hms.next()?, 2, 2)?;
    let m: u32 = num(hms.next()?, 2, 2)?;
    let sec: u32 = match hms.next() {
        Some(x) => num(x, 2, 2)?,
        None => 0,
    };
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let offset: i64 = match parts.next()? {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        z => {
            let (sign, digits) = match z.as_bytes().first()? {
                b'+' => (1, z.get(1..)?),
                b'-' => (-1, z.get(1..)?),
                _ => return None,
            };
            let n: u32 = num(digits, 4, 4)?;
            if n % 100 > 59 {
                return None;
            }
            sign * i64::from(n / 100 * 3600 + n % 100 * 60)
        }
    };
    if parts.next().is_some() || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + i64::from(h * 3600 + m * 60 + sec) - offset)
}

fn num(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())?
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
