//! Printing text that came from a builder to a terminal.
//!
//! A build log is the builder's bytes: it may hold escape sequences that
//! set the window title, clear the screen, move the cursor or, on some
//! terminals, answer back. When forge prints such text to a terminal (`-L`,
//! the tail of a failed build's log, `forge log`, error messages), every
//! control character except newline and tab is shown as a visible escape
//! (`\x1b`), as are DEL, the C1 controls (U+0080 to U+009F) and bytes that
//! are not UTF-8. The stored log keeps the raw bytes, and output that is not
//! a terminal (a pipe, a file) is written as it is.

use std::borrow::Cow;

/// Whether `c` is shown as an escape.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
}

/// `bytes` with every control character (see the module docs) replaced by
/// `\xNN`; borrowed when there is none.
pub fn neutralise(bytes: &[u8]) -> Cow<'_, [u8]> {
    let clean = match std::str::from_utf8(bytes) {
        Ok(s) => !s.chars().any(is_control),
        Err(_) => false,
    };
    if clean {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_control(c) {
                out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes());
            } else {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        for b in chunk.invalid() {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    Cow::Owned(out)
}

/// [`neutralise`] for text.
pub fn neutralise_str(s: &str) -> Cow<'_, str> {
    match neutralise(s.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(v) => Cow::Owned(String::from_utf8(v).expect("escapes are ASCII")),
    }
}

/// `text` as it should reach a stream: neutralised if `tty`.
pub fn for_stream(text: &str, tty: bool) -> Cow<'_, str> {
    if tty {
        neutralise_str(text)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(
            neutralise_str("title\x1b]0;pwned\x07 clear\x1b[2J"),
            "title\\x1b]0;pwned\\x07 clear\\x1b[2J"
        );
        // C1 CSI (U+009B), DEL, carriage return, NUL.
        assert_eq!(
            neutralise_str("a\u{9b}2J\x7f\r\0"),
            "a\\x9b2J\\x7f\\x0d\\x00"
        );
        // Bytes that are not UTF-8 (a raw 0x9b is CSI on 8-bit terminals).
        assert_eq!(&*neutralise(b"raw\x9b[2J\xff"), b"raw\\x9b[2J\\xff");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "compiling grüße.c\n\tcc -O2 日本語 🦀\n";
        assert!(matches!(neutralise_str(text), Cow::Borrowed(_)));
        assert_eq!(neutralise_str(text), text);
        assert_eq!(for_stream("\x1b[2J", false), "\x1b[2J");
        assert_eq!(for_stream("\x1b[2J", true), "\\x1b[2J");
    }
}
