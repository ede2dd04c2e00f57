//! The `Range` request header (RFC 9110 §14): which bytes of an object a
//! client asked for. One range is answered (`bytes=a-b`, `bytes=a-`,
//! `bytes=-n`); a header that is not a byte range, is malformed, or asks
//! for several ranges is ignored and the whole object sent, as the RFC
//! allows. Pure: a header and a length in, an answer out.

/// What to send for a request's `Range` header over an object of a known
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The whole object (no header, or one to ignore): 200.
    Whole,
    /// The bytes `start..=end` (`end < len`): 206 with `Content-Range`.
    Part { start: u64, end: u64 },
    /// A range that starts past the end: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The answer to `header` (the `Range` value, if any) over `len` bytes.
pub fn answer(header: Option<&[u8]>, len: u64) -> Answer {
    let Some(spec) = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(str::trim)
        .and_then(|h| h.strip_prefix("bytes="))
    else {
        return Answer::Whole;
    };
    if spec.contains(',') {
        return Answer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Answer::Whole;
    };
    match (number(first), number(last)) {
        // `bytes=-n`: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || len == 0 {
                Answer::Unsatisfiable
            } else {
                Answer::Part {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        // `bytes=a-`: from a to the end.
        (Some(start), None) if last.is_empty() => from(start, len - len.min(1), len),
        // `bytes=a-b`, b clamped to the end.
        (Some(start), Some(end)) if start <= end => {
            from(start, end.min(len.saturating_sub(1)), len)
        }
        _ => Answer::Whole,
    }
}

fn from(start: u64, end: u64, len: u64) -> Answer {
    if start >= len {
        Answer::Unsatisfiable
    } else {
        Answer::Part { start, end }
    }
}

/// A non-empty run of ASCII digits that fits a u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn a(h: &str, len: u64) -> Answer {
        answer(Some(h.as_bytes()), len)
    }

    #[test]
    fn single_ranges_are_answered_and_others_ignored() {
        assert_eq!(answer(None, 10), Answer::Whole);
        assert_eq!(a("bytes=0-3", 10), Answer::Part { start: 0, end: 3 });
        assert_eq!(a("bytes=4-", 10), Answer::Part { start: 4, end: 9 });
        assert_eq!(a("bytes=-3", 10), Answer::Part { start: 7, end: 9 });
        assert_eq!(a("bytes=-30", 10), Answer::Part { start: 0, end: 9 });
        assert_eq!(a("bytes=5-500", 10), Answer::Part { start: 5, end: 9 });
        assert_eq!(a("bytes=10-", 10), Answer::Unsatisfiable);
        assert_eq!(a("bytes=10-20", 10), Answer::Unsatisfiable);
        assert_eq!(a("bytes=-0", 10), Answer::Unsatisfiable);
        assert_eq!(a("bytes=0-", 0), Answer::Unsatisfiable);
        for ignored in [
            "bytes=0-1,3-4",
            "bytes=3-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=",
            "items=0-1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(a(ignored, 10), Answer::Whole, "{ignored}");
        }
    }

    proptest! {
        /// Whatever the header, a part lies inside the object.
        #[test]
        fn a_part_is_inside_the_object(h in proptest::collection::vec(any::<u8>(), 0..24), len in 0u64..100) {
            if let Answer::Part { start, end } = answer(Some(&h), len) {
                prop_assert!(start <= end && end < len, "{start}-{end} of {len}");
            }
        }

        /// A well-formed range inside the object is answered exactly.
        #[test]
        fn a_range_inside_is_answered_exactly(len in 1u64..1_000_000, x in 0u64..1_000_000, y in 0u64..1_000_000) {
            let (start, end) = (x.min(y) % len, x.max(y) % len);
            let (start, end) = (start.min(end), start.max(end));
            prop_assert_eq!(a(&format!("bytes={start}-{end}"), len), Answer::Part { start, end });
        }
    }
}
