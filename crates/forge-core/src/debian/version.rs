//! Debian version numbers, `[epoch:]upstream[-revision]`, ordered as dpkg
//! orders them (deb-version(7), dpkg's `verrevcmp`).
//!
//! - The epoch is a number (0 when absent) and is compared first.
//! - The upstream part runs to the last `-`; the revision is what follows it
//!   (none when there is no `-`, which compares like an empty revision).
//! - Upstream and revision are compared alike: alternately a run of
//!   non-digits, compared character by character with `~` before everything
//!   (even the end of the string), then the end, then letters, then all other
//!   characters in ASCII order; and a run of digits compared as a number.
//!
//! So `1.0~rc1 < 1.0 < 1.0a < 1.0+b1` (letters sort before other
//! characters), and `1.9 < 1.10`. Equality is dpkg's, not textual: `1.0`, `0:1.0` and
//! `1.0-0` are equal (and [`Display`](std::fmt::Display) still gives back
//! the text as written).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::error::VersionError;

/// A parsed Debian version; `Display` gives back the text it was parsed from.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    epoch: u32,
    /// Byte range of the upstream part in `text`.
    upstream: (usize, usize),
    /// Byte offset of the revision in `text` (after the `-`), if any.
    revision: Option<usize>,
}

impl Version {
    /// The epoch (0 when not written).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        self.text
            .get(self.upstream.0..self.upstream.1)
            .unwrap_or("")
    }

    /// The Debian revision, if written.
    pub fn revision(&self) -> Option<&str> {
        self.revision.and_then(|r| self.text.get(r..))
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        let err_text = || s.to_owned();
        if let Some(found) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':')))
        {
            return Err(VersionError::BadChar {
                version: err_text(),
                found,
            });
        }
        let (epoch, up_start) = match s.find(':') {
            Some(i) => {
                let e = s.get(..i).unwrap_or_default();
                let epoch = if e.bytes().all(|b| b.is_ascii_digit()) {
                    e.parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32)
                } else {
                    None
                };
                match epoch {
                    Some(n) => (n, i + 1),
                    None => {
                        return Err(VersionError::BadEpoch {
                            version: err_text(),
                        })
                    }
                }
            }
            None => (0, 0),
        };
        let rest = s.get(up_start..).unwrap_or_default();
        let (up_end, revision) = match rest.rfind('-') {
            Some(i) => (up_start + i, Some(up_start + i + 1)),
            None => (s.len(), None),
        };
        if up_end == up_start {
            return Err(VersionError::EmptyUpstream {
                version: err_text(),
            });
        }
        if revision.is_some_and(|r| r == s.len()) {
            return Err(VersionError::EmptyRevision {
                version: err_text(),
            });
        }
        // A `:` is allowed in upstream only when there is an epoch (dpkg);
        // in the revision never.
        let upstream = s.get(up_start..up_end).unwrap_or_default();
        let rev = revision.and_then(|r| s.get(r..)).unwrap_or_default();
        if let Some(found) = rev.chars().find(|&c| c == ':') {
            return Err(VersionError::BadChar {
                version: err_text(),
                found,
            });
        }
        if up_start == 0 && upstream.contains(':') {
            return Err(VersionError::BadEpoch {
                version: err_text(),
            });
        }
        Ok(Version {
            text: s.to_owned(),
            epoch,
            upstream: (up_start, up_end),
            revision,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| {
                verrevcmp(
                    self.revision().unwrap_or(""),
                    other.revision().unwrap_or(""),
                )
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// The weight of a character in a non-digit run; `None` is the end of the part.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` over one part (upstream or revision).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a.get(i).cmp(&b.get(j));
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    /// Each row was checked with `dpkg --compare-versions A lt B` (and `eq`
    /// for the equal rows) on Debian bookworm's dpkg 1.21.
    const LESS: &[(&str, &str)] = &[
        ("1.0~rc1", "1.0"),
        ("1.0", "1.0+b1"),
        ("1.0a", "1.0+b1"),
        ("1.0", "1.0a"),
        ("1.0~~", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0~~a", "1.0~"),
        ("1.9", "1.10"),
        ("1.09", "1.10"),
        ("2.36-9+deb12u9", "2.36-9+deb12u10"),
        ("1:0.1", "2:0.0"),
        ("9.9", "1:0.1"),
        ("1.0-1", "1.0-1.1"),
        ("1.0-1", "1.0-2"),
        ("1.0", "1.0-1"),
        ("1.0-0.1", "1.0-1"),
        ("12.2.0-14", "12.2.0-14+deb12u1"),
        ("1.85.0+dfsg3-1~deb12u3", "1.96.0+dfsg1-1~deb12u2"),
        ("1.2.3-1~bpo12+1", "1.2.3-1"),
        ("a", "b"),
        ("1.0.0", "1.0.0.0"),
        ("1a", "1.0"),
        ("0:1.0-1", "1.0-1.0.1"),
        ("2.0-1", "10.0-1"),
        ("1-2-3", "1-2-4"),
        ("1.2", "1:1.0"),
        ("3.0+really2.9", "3.0+z"),
        ("1:2.0.0~beta", "1:2.0.0"),
    ];
    const EQUAL: &[(&str, &str)] = &[
        ("1.0", "0:1.0"),
        ("1.0", "1.0-0"),
        ("1.00", "1.0"),
        ("1.001", "1.1"),
        ("0:1.0-0", "1.0"),
    ];

    #[test]
    fn known_dpkg_comparisons() {
        for (a, b) in LESS {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Less, "{a} < {b}");
            assert_eq!(v(b).cmp(&v(a)), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in EQUAL {
            assert_eq!(v(a), v(b), "{a} = {b}");
        }
    }

    #[test]
    fn parts() {
        let x = v("2:1.2-3-4");
        assert_eq!(
            (x.epoch(), x.upstream(), x.revision()),
            (2, "1.2-3", Some("4"))
        );
        let y = v("1:2:3");
        assert_eq!((y.epoch(), y.upstream(), y.revision()), (1, "2:3", None));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            ":1",
            "a:1",
            "1-",
            "-1",
            "1 0",
            "1_0",
            "1.0-a:b",
            "1:",
            "2:3:4-5:6",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert!(matches!(
            "x:1".parse::<Version>(),
            Err(VersionError::BadEpoch { .. })
        ));
        assert!(matches!(
            "99999999999:1".parse::<Version>(),
            Err(VersionError::BadEpoch { .. })
        ));
    }

    fn version() -> impl Strategy<Value = String> {
        "([0-9]{1,2}:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?"
    }

    proptest! {
        #[test]
        fn display_round_trips(s in version()) {
            let x = v(&s);
            prop_assert_eq!(x.to_string(), s.clone());
            prop_assert_eq!(v(&x.to_string()), x);
        }

        #[test]
        fn total_order(a in version(), b in version(), c in version()) {
            let (a, b, c) = (v(&a), v(&b), v(&c));
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Version>();
        }
    }
}
