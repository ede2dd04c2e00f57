//! Sizes as people write them in recipes and sandbox profiles: `512M`,
//! `4G`, `1048576`. Digits and an optional unit `K`, `M`, `G` or `T`
//! (powers of 1024). The canonical form, which [`format()`] prints, is the
//! largest unit that divides the size exactly.

/// Parses a size in bytes; the error says what was expected.
pub fn parse(s: &str) -> Result<u64, String> {
    let expected = "expected a size such as 512M, 4G or 1048576 (units K, M, G, T)";
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("invalid size {s:?}; {expected}")),
    };
    if num.is_empty() {
        return Err(format!("invalid size {s:?}; {expected}"));
    }
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// The shortest exact form [`parse`] reads back.
pub fn format(n: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n % (1u64 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_and_bad_ones_say_what_is_expected() {
        assert_eq!(parse("4G"), Ok(4 << 30));
        assert_eq!(parse("512M"), Ok(512 << 20));
        assert_eq!(parse("1048576"), Ok(1 << 20));
        assert_eq!(format(1 << 20), "1M");
        assert_eq!(format(1000), "1000");
        for n in [0, 1, 1023, 1024, 3 << 30, 5 << 40] {
            assert_eq!(parse(&format(n)), Ok(n));
        }
        assert_eq!(
            parse("4GB").unwrap_err(),
            "invalid size \"4GB\"; expected a size such as 512M, 4G or 1048576 (units K, M, G, T)"
        );
        assert!(parse("G").is_err());
        assert!(parse("").is_err());
        assert!(parse("-1M").is_err());
        assert_eq!(
            parse("99999999999T").unwrap_err(),
            "size \"99999999999T\" is too large"
        );
    }
}
