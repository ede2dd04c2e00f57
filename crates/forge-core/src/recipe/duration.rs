//! Durations as people write them in recipes: `30s`, `10m`, `1h30m`, `2d`.
//!
//! A duration is one or more `<digits><unit>` parts with units `d`, `h`, `m`
//! and `s`, largest first, each at most once. It must be positive. The
//! canonical form, which [`format()`] prints, uses the largest units that fit
//! and leaves out zero parts: 90 seconds is `1m30s`.

use std::time::Duration;

/// Parses a duration; the error says what was expected.
pub(crate) fn parse(s: &str) -> Result<Duration, String> {
    const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let expected = "expected a duration such as 30s, 10m, 1h or 1h30m (units d, h, m, s)";
    if s.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}; {expected}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {s:?} is too long"))?;
        let unit = rest[digits..]
            .chars()
            .next()
            .ok_or_else(|| format!("duration {s:?} has a number without a unit; {expected}"))?;
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(|| {
                if UNITS.iter().any(|(u, _)| *u == unit) {
                    format!("duration {s:?} repeats a unit or has units out of order (write them largest first: d, h, m, s)")
                } else {
                    format!("duration {s:?} has unknown unit {unit:?}; {expected}")
                }
            })?;
        let (_, scale) = UNITS[next_unit + pos];
        next_unit += pos + 1;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    if total == 0 {
        return Err(format!(
            "duration {s:?} is zero; a timeout must be positive"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// The canonical text of a whole number of seconds.
pub(crate) fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, scale) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        let n = secs / scale;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push(unit);
            secs %= scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse("30s").unwrap().as_secs(), 30);
        assert_eq!(parse("10m").unwrap().as_secs(), 600);
        assert_eq!(parse("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse("2d").unwrap().as_secs(), 172_800);
        assert_eq!(parse("90s").unwrap().as_secs(), 90);
        for bad in [
            "",
            "1",
            "h",
            "1x",
            "1m1h",
            "1h1h",
            "0s",
            "-1s",
            "1 h",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("1x")
            .unwrap_err()
            .contains("expected a duration such as"));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(3600)), "1h");
        assert_eq!(format(Duration::from_secs(86_400 + 1)), "1d1s");
    }

    proptest! {
        #[test]
        fn round_trips(secs in 1u64..10_000_000_000) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
