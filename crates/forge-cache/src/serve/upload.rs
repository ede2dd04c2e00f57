//! `PUT /<key>`: an upload, taken only with `Authorization: Bearer
//! <token>` when the server has a token ([`UploadToken`](super::UploadToken);
//! none: 403). The body streams through a bounded channel into
//! [`FileBackend::put`](crate::FileBackend) on a blocking thread, so it is
//! written to a temporary file beside its target and renamed into place:
//! a reader sees the old object or the new one, and an upload cut short
//! (too large, stalled, the client gone) leaves nothing. Objects under
//! `nar/` may be up to `max_nar_upload` bytes, others up to
//! `max_small_upload`; more is 413, before a byte is written when the
//! `Content-Length` says so.

use std::io::{self, Read};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::{reply, Shared};
use crate::backend::Backend;
use crate::key::Key;

/// Chunks in flight between the connection and the file.
const QUEUE: usize = 16;

/// Why a body did not arrive whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    TooLarge,
    Stalled,
    Broken,
}

/// The handler.
pub async fn put(shared: Arc<Shared>, key: Key, headers: &HeaderMap, body: Body) -> Response<Body> {
    let Some(token) = &shared.token else {
        return refuse(StatusCode::FORBIDDEN, body).await;
    };
    if !token.admits(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())) {
        tracing::warn!(key = %key, "an upload without the right token was refused");
        return refuse(StatusCode::UNAUTHORIZED, body).await;
    }
    let limit = if key.as_str().starts_with("nar/") {
        shared.limits.max_nar_upload
    } else {
        shared.limits.max_small_upload
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, body).await;
    }
    match shared.root.parents_are_real(&key) {
        Ok(true) => {}
        Ok(false) => {
            tracing::error!(key = %key, "refusing to write through a symlink below the cache directory");
            return reply::fail(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(e) => return reply::internal("checking where to write", &key, &e),
    }

    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let writer = {
        let shared = shared.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader {
                rx,
                chunk: Bytes::new(),
            };
            shared.backend.put(&key, &mut reader)
        })
    };
    let cut = feed(body, tx, limit, shared.limits.upload_idle_timeout).await;
    let written = writer.await;
    match (cut, written) {
        (Some(Cut::TooLarge), _) => reply::fail(StatusCode::PAYLOAD_TOO_LARGE),
        (Some(Cut::Stalled), _) => reply::fail(StatusCode::REQUEST_TIMEOUT),
        (Some(Cut::Broken), _) => reply::fail(StatusCode::BAD_REQUEST),
        (None, Ok(Ok(n))) => {
            tracing::info!(key = %key, bytes = n, "stored an upload");
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        (None, Ok(Err(e))) => reply::internal("storing an upload", &key, &e),
        (None, Err(e)) => reply::internal("storing an upload", &key, &e),
    }
}

/// The most of a refused upload's body read (and dropped) before the
/// refusal is sent, and for how long: a client still sending when the
/// connection closes sees a broken pipe instead of the status, so a small
/// body is let in first (as servers linger on close).
const DRAIN_BYTES: u64 = 1 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// `status`, once the body is read to its end (or [`DRAIN_BYTES`], or
/// [`DRAIN_TIME`]).
async fn refuse(status: StatusCode, mut body: Body) -> Response<Body> {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
    reply::fail(status)
}

/// Sends `body`'s data to the writer, at most `limit` bytes, each chunk
/// within `idle` of the last; on a cut the writer is sent an error (so it
/// drops its temporary file) and the cause is returned.
async fn feed(
    mut body: Body,
    tx: mpsc::Sender<io::Result<Bytes>>,
    limit: u64,
    idle: std::time::Duration,
) -> Option<Cut> {
    let mut total = 0u64;
    let cut = loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => break Cut::Stalled,
            Ok(None) => return None,
            Ok(Some(Err(_))) => break Cut::Broken,
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        if total > limit {
            break Cut::TooLarge;
        }
        if tx.send(Ok(data)).await.is_err() {
            // The writer failed and said why; its error is the answer.
            return None;
        }
    };
    let _ = tx
        .send(Err(io::Error::other("the upload was cut short")))
        .await;
    Some(cut)
}

/// The writer's side of the channel, as a [`Read`].
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(next)) => self.chunk = next,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
