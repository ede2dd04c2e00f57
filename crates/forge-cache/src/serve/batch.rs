//! `POST /_forge/narinfos`: many narinfos in one request. The body is a
//! JSON list of store path digests (the 32 nix32 characters a narinfo is
//! named by), at most [`Limits::max_batch`](super::Limits) of them; the
//! answer is a JSON object mapping each digest to its narinfo's text, or
//! to `null` when the cache has none. A malformed body or digest is 400
//! (the whole request), too many digests 413.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Response, StatusCode};

use super::{reply, Shared};
use crate::key::Key;

/// The largest narinfo answered (a narinfo is a few hundred bytes; one
/// with thousands of references a few hundred KiB).
const MAX_NARINFO: u64 = 1 << 20;

/// The handler.
pub async fn narinfos(State(shared): State<Arc<Shared>>, body: Body) -> Response<Body> {
    // 40 bytes a digest (32, quotes, comma, some space) and some slack.
    let limit = shared.limits.max_batch.saturating_mul(40) + 1024;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return reply::fail(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let digests = match parse(&bytes, shared.limits.max_batch) {
        Ok(d) => d,
        Err(status) => return reply::fail(status),
    };
    let timeout = shared.limits.request_timeout;
    let work = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || answer(&shared, &digests))
    };
    let map = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(map)) => map,
        Ok(Err(e)) => {
            tracing::error!("batch narinfo query: {e}");
            return reply::fail(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(_) => return reply::fail(StatusCode::GATEWAY_TIMEOUT),
    };
    let text = serde_json::Value::Object(map).to_string();
    let mut r = Response::new(Body::from(text));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(reply::NO_STORE),
    );
    r
}

/// The digests a body asks for: a JSON list of at most `max` digests.
pub(crate) fn parse(body: &[u8], max: usize) -> Result<Vec<String>, StatusCode> {
    let list: Vec<String> = serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)?;
    if list.len() > max {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    if !list.iter().all(|d| is_digest(d)) {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(list)
}

/// 32 characters of Nix's base-32 alphabet.
fn is_digest(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| forge_core::base32::ALPHABET.contains(&b))
}

/// Each digest's narinfo text or null; one that cannot be read is logged
/// and answered null, as a miss.
fn answer(shared: &Shared, digests: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for d in digests {
        let text = Key::new(&forge_core::cache::layout::narinfo_for_digest(d))
            .ok()
            .and_then(|key| match read(shared, &key) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(key = %key, "batch narinfo query: {e}");
                    None
                }
            });
        map.insert(
            d.clone(),
            text.map_or(serde_json::Value::Null, serde_json::Value::String),
        );
    }
    map
}

fn read(shared: &Shared, key: &Key) -> Result<Option<String>, String> {
    use std::io::Read;
    let Some((file, len)) = shared.open(key)? else {
        return Ok(None);
    };
    if len > MAX_NARINFO {
        return Err(format!("larger than {MAX_NARINFO} bytes"));
    }
    let mut text = String::new();
    file.take(MAX_NARINFO)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const D: &str = "0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4s";

    #[test]
    fn bodies_are_lists_of_digests() {
        assert_eq!(parse(format!("[\"{D}\"]").as_bytes(), 10).unwrap(), [D]);
        assert_eq!(parse(b"[]", 10).unwrap(), Vec::<String>::new());
        for bad in [
            &b"{}"[..],
            b"[1]",
            b"[\"../../etc/passwd\"]",
            b"[\"0rkc8a9xvy4q2hgl6b1w3z5m7n0p2r4e\"]",
            b"not json",
        ] {
            assert_eq!(parse(bad, 10).unwrap_err(), StatusCode::BAD_REQUEST);
        }
        let many = serde_json::to_vec(&vec![D; 11]).unwrap();
        assert_eq!(parse(&many, 10).unwrap_err(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    proptest! {
        /// Any body: no panic, and every digest accepted names a narinfo key.
        #[test]
        fn any_body_yields_digests_or_an_error(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(list) = parse(&body, 10) {
                for d in list {
                    let name = format!("{d}.narinfo");
                    prop_assert!(Key::new(&name).is_ok());
                }
            }
        }
    }
}
