//! `GET` and `HEAD /<key>`: an object of the cache, streamed from its
//! file (a NAR is never read whole; objects up to [`INLINE`] bytes are
//! read when opened and sent from memory), with its content type and
//! cache policy ([`reply::kind`]) and one `Range` ([`range`]). Every other path
//! of the server that is not its own endpoint comes here, so `PUT` is
//! passed on to [`upload`] and other methods are refused.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;

use super::range::{self, Answer};
use super::{key_of, reply, upload, Shared};
use crate::key::Key;

/// The size of the chunks a body is streamed in.
const CHUNK: usize = 256 * 1024;

/// Objects up to this size are read whole when opened and sent from
/// memory; larger ones are streamed from their file.
const INLINE: u64 = 64 * 1024;

/// What an open found: a small object's bytes, or a file to stream and
/// its length.
enum Opened {
    Read(Vec<u8>),
    File(std::fs::File, u64),
}

/// Reads an opened file whole when it is at most [`INLINE`] bytes (and
/// the body is wanted), so it is sent from memory. Blocking.
fn read_small((file, len): (std::fs::File, u64), head: bool) -> Result<Opened, String> {
    if len > INLINE || head {
        return Ok(Opened::File(file, len));
    }
    let mut bytes = Vec::with_capacity(len as usize + 1);
    file.take(INLINE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > INLINE {
        // It grew since it was measured: not a file this server wrote.
        return Err(format!("the file grew past {INLINE} bytes while read"));
    }
    Ok(Opened::Read(bytes))
}

/// Any request for `/<key>`.
pub async fn object(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let Some(key) = key_of(uri.path()) else {
        tracing::debug!(path = uri.path(), "not a cache object name");
        return reply::fail(StatusCode::BAD_REQUEST);
    };
    match method {
        Method::GET | Method::HEAD => {
            let head = method == Method::HEAD;
            let timeout = shared.limits.request_timeout;
            match tokio::time::timeout(timeout, get(shared, key, &headers, head)).await {
                Ok(r) => r,
                Err(_) => reply::fail(StatusCode::GATEWAY_TIMEOUT),
            }
        }
        Method::PUT => upload::put(shared, key, &headers, body).await,
        _ => reply::fail(StatusCode::METHOD_NOT_ALLOWED),
    }
}

async fn get(shared: Arc<Shared>, key: Key, headers: &HeaderMap, head: bool) -> Response<Body> {
    if key.as_str() == "nix-cache-info" {
        if let Some(text) = &shared.cache_info {
            return small(&key, text.clone(), head);
        }
    }
    // Objects outside `nar/` (narinfos, realisations, listings: small,
    // and usually in the page cache) are opened and read on this thread,
    // as nginx does: a trip to the blocking pool and back costs more than
    // the open and the read (the narinfo latency in bench/cache.sh: 27 µs
    // against 60 to 100 µs). NARs, and in `--store` mode anything not made
    // yet (making it compresses a NAR), go to the blocking pool.
    let read = move |found: Result<Option<(std::fs::File, u64)>, String>| {
        found.and_then(|f| f.map(|f| read_small(f, head)).transpose())
    };
    let here = if key.as_str().starts_with("nar/") {
        None
    } else {
        match shared.root.open(&key) {
            Ok(None) if shared.fill.is_some() => None,
            found => Some(read(found.map_err(|e| e.to_string()))),
        }
    };
    let opened = match here {
        Some(opened) => opened,
        None => {
            let shared = shared.clone();
            let key = key.clone();
            tokio::task::spawn_blocking(move || read(shared.open(&key)))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
    };
    let opened = match opened {
        Ok(Some(opened)) => opened,
        Ok(None) if key.as_str() == "nix-cache-info" => {
            return small(&key, shared.default_cache_info.clone(), head)
        }
        Ok(None) => return reply::fail(StatusCode::NOT_FOUND),
        Err(e) => return reply::internal("opening", &key, &e),
    };
    let len = match &opened {
        Opened::Read(bytes) => bytes.len() as u64,
        Opened::File(_, len) => *len,
    };
    let (content_type, cache_control) = reply::kind(&key);
    let wanted = range::answer(headers.get(header::RANGE).map(HeaderValue::as_bytes), len);
    let (status, start, count) = match wanted {
        Answer::Whole => (StatusCode::OK, 0, len),
        Answer::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Answer::Unsatisfiable => {
            let mut r = reply::fail(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let body = match opened {
        _ if head => Body::empty(),
        Opened::Read(mut bytes) => {
            // `start + count <= len`, checked by `range::answer`.
            bytes.truncate((start + count) as usize);
            bytes.drain(..start as usize);
            Body::from(bytes)
        }
        Opened::File(mut file, _) => {
            if start > 0 {
                if let Err(e) = file.seek(SeekFrom::Start(start)) {
                    return reply::internal("seeking in", &key, &e);
                }
            }
            let reader = tokio::fs::File::from_std(file).take(count);
            Body::from_stream(ReaderStream::with_capacity(reader, CHUNK))
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + count - 1;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    tracing::debug!(key = %key, status = status.as_u16(), bytes = count, "served");
    r
}

/// A small object the server makes itself.
fn small(key: &Key, text: String, head: bool) -> Response<Body> {
    let (content_type, cache_control) = reply::kind(key);
    let len = text.len() as u64;
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::from(text)
    });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}
