//! `GET` and `HEAD /<key>`: an object of the cache, streamed from its
//! file (a NAR is never read whole), with its content type and cache
//! policy ([`reply::kind`]) and one `Range` ([`range`]). Every other path
//! of the server that is not its own endpoint comes here, so `PUT` is
//! passed on to [`upload`] and other methods are refused.

use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::range::{self, Answer};
use super::{key_of, reply, upload, Shared};
use crate::key::Key;

/// The size of the chunks a body is streamed in.
const CHUNK: usize = 256 * 1024;

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
    let opened = {
        let shared = shared.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || shared.open(&key)).await
    };
    let (file, len) = match opened {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) if key.as_str() == "nix-cache-info" => {
            return small(&key, shared.default_cache_info.clone(), head)
        }
        Ok(Ok(None)) => return reply::fail(StatusCode::NOT_FOUND),
        Ok(Err(e)) => return reply::internal("opening", &key, &e),
        Err(e) => return reply::internal("opening", &key, &e),
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
    let body = if head {
        Body::empty()
    } else {
        let mut file = file;
        if start > 0 {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                return reply::internal("seeking in", &key, &e);
            }
        }
        let reader = tokio::fs::File::from_std(file).take(count);
        Body::from_stream(ReaderStream::with_capacity(reader, CHUNK))
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
