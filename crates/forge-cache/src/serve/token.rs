//! The bearer token that guards uploads: read from a file, kept only as
//! its SHA-256, and compared in constant time (over digests of equal
//! length, so neither the bytes nor the length of the token leak through
//! timing). Neither `Debug` nor any log shows it.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::CacheError;

/// The longest token file read.
const MAX_TOKEN_FILE: u64 = 4096;

/// The token an upload must carry (`Authorization: Bearer <token>`).
#[derive(Clone)]
pub struct UploadToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for UploadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadToken(…)")
    }
}

impl UploadToken {
    /// The token `text` (surrounding whitespace dropped); it must be
    /// non-empty and printable ASCII without spaces, as a header carries it.
    pub fn new(text: &str) -> Result<UploadToken, &'static str> {
        let token = text.trim();
        if token.is_empty() {
            return Err("it is empty");
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a token is printable ASCII without spaces");
        }
        Ok(UploadToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// The token in the file at `path`.
    pub fn from_file(path: &Path) -> Result<UploadToken, CacheError> {
        let bad = |why: String| CacheError::UploadToken {
            path: path.to_owned(),
            why,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if meta.len() > MAX_TOKEN_FILE {
            return Err(bad(format!("it is larger than {MAX_TOKEN_FILE} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        UploadToken::new(&text).map_err(|why| bad(why.to_owned()))
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(bearer) else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given).into();
        given.ct_eq(&self.digest).into()
    }
}

/// The credentials of `Bearer <token>` (the scheme in any case, one or
/// more spaces), if that is what the header holds.
pub(crate) fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    let token = &rest[start..];
    let end = token.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    Some(&token[..end]).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_token_admits() {
        let t = UploadToken::new("s3cret-token\n").unwrap();
        assert!(t.admits(Some(b"Bearer s3cret-token")));
        assert!(t.admits(Some(b"bearer  s3cret-token ")));
        for no in [
            &b"Bearer s3cret-tokeN"[..],
            b"Bearer s3cret-token2",
            b"Bearer ",
            b"Bearer",
            b"Basic czNjcmV0LXRva2Vu",
            b"s3cret-token",
            b"",
        ] {
            assert!(!t.admits(Some(no)), "{}", String::from_utf8_lossy(no));
        }
        assert!(!t.admits(None));
        assert_eq!(format!("{t:?}"), "UploadToken(…)");
        assert!(UploadToken::new(" \n").is_err());
        assert!(UploadToken::new("a b").is_err());
    }

    proptest! {
        /// Any header: no panic, and only the token itself admits.
        #[test]
        fn arbitrary_headers_are_refused(h in proptest::collection::vec(any::<u8>(), 0..40)) {
            let t = UploadToken::new("the-token").unwrap();
            let admitted = t.admits(Some(&h));
            prop_assert_eq!(admitted, bearer(&h) == Some(&b"the-token"[..]));
        }
    }
}
