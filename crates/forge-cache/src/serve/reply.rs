//! What the server says: the content type and caching of each kind of
//! object, and failures as a status with a short fixed text. The details
//! of a failure (an I/O error, a path) go to the log, never to a client.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

use crate::key::Key;

/// `Cache-Control` of a NAR: named by the hash of its bytes, it never
/// changes.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of a narinfo, listing, realisation or `nix-cache-info`:
/// these may be replaced (re-signed, re-pushed), so a few minutes.
pub const SHORT: &str = "public, max-age=300";

/// `Cache-Control` of a failure (a miss may be filled by the next push)
/// and of batch answers.
pub const NO_STORE: &str = "no-store";

/// The content type and cache policy of an object, by its name.
pub fn kind(key: &Key) -> (&'static str, &'static str) {
    let k = key.as_str();
    if k == "nix-cache-info" {
        ("text/x-nix-cache-info", SHORT)
    } else if k.starts_with("nar/") {
        ("application/x-nix-nar", IMMUTABLE)
    } else if k.ends_with(".narinfo") {
        ("text/x-nix-narinfo", SHORT)
    } else if k.ends_with(".ls") || k.ends_with(".doi") {
        ("application/json", SHORT)
    } else {
        ("application/octet-stream", SHORT)
    }
}

/// A failure: `status` with its fixed text (`not found`, `bad request`…)
/// and nothing from the server's inside.
pub fn fail(status: StatusCode) -> Response<Body> {
    let text = match status {
        StatusCode::BAD_REQUEST => "bad request\n",
        StatusCode::UNAUTHORIZED => "unauthorized\n",
        StatusCode::FORBIDDEN => "uploads are not enabled on this server\n",
        StatusCode::NOT_FOUND => "not found\n",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed\n",
        StatusCode::PAYLOAD_TOO_LARGE => "payload too large\n",
        StatusCode::RANGE_NOT_SATISFIABLE => "range not satisfiable\n",
        StatusCode::SERVICE_UNAVAILABLE => "busy, try again\n",
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => "timed out\n",
        _ => "internal error\n",
    };
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    if status == StatusCode::UNAUTHORIZED {
        h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, PUT"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// A failure inside the server: logged with its detail, answered 500.
pub fn internal(what: &str, key: &Key, err: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(key = %key, "{what}: {err}");
    fail(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kinds_by_name() {
        let k = |s| kind(&Key::new(s).unwrap());
        assert_eq!(k("nix-cache-info").0, "text/x-nix-cache-info");
        assert_eq!(k("abc.narinfo").0, "text/x-nix-narinfo");
        assert_eq!(k("nar/abc.nar.zst"), ("application/x-nix-nar", IMMUTABLE));
        assert_eq!(k("realisations/ab!out.doi").0, "application/json");
        assert_eq!(k("abc.ls").0, "application/json");
    }
}
