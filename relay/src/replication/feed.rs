//! Serving this relay's change feed to the peer: a page at a time over HTTP
//! (`/v1/replication/changes`, for inspection and tools) or as a stream over
//! a WebSocket (`/v1/replication/stream`, what the peer's puller uses).

use super::bearer;
use crate::http::{ApiError, constant_time_eq};
use crate::state::Shared;
use crate::store::reads;
use crate::store::records::ChangesPage;
use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Longest quiet gap on the stream; the follower treats twice this without
/// a frame as a dead link.
pub const KEEPALIVE: Duration = Duration::from_secs(1);

/// Most changes in one page. A catch-up commits a page (or the few in
/// flight) per transaction, so a bigger page pays the fsync and the per-page
/// work (status, fan-out) less often: 5,000 against 2,000 took the 100,000
/// message catch-up benchmark from about 45,000 to 50,000–55,000 msg/s here.
/// A page of messages near the size limit stays well under the follower's
/// 64 MB frame limit.
pub const PAGE_LIMIT: usize = 5_000;

/// Query of both endpoints.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    /// Send changes after this position.
    #[serde(default)]
    pub since: u64,
    /// The asking deployment's name: its own changes are left out.
    pub peer: String,
    /// Page size (at most [`PAGE_LIMIT`]).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One frame of the stream.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StreamFrame {
    /// Changes, if any were pending.
    pub page: ChangesPage,
    /// Operators online at the sending deployment.
    pub operators: Vec<String>,
    /// The sender's clock as it sent the frame: the receiver compares it
    /// with its own (`peer_clock_offset_ms` in health). Absent from a peer
    /// of an older version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<twinline_core::Millis>,
}

fn authorize(state: &Shared, headers: &HeaderMap, peer: SocketAddr) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), bearer(&state.config.secret).as_bytes()) {
        Ok(())
    } else {
        tracing::warn!(ip = %peer.ip(), "replication request with a wrong or missing secret refused");
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "replication needs the deployments' shared secret",
        ))
    }
}

async fn page(
    state: &Shared,
    since: u64,
    limit: usize,
    peer: String,
) -> Result<ChangesPage, ApiError> {
    state
        .store
        .read(move |conn| bounded_page(conn, since, limit, &peer))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                error.to_string(),
            )
        })
}

/// Most bytes of records in one page, about: a page of file chunks (87 KB
/// each) ends here rather than at [`PAGE_LIMIT`] changes, so a frame stays
/// far under the follower's 64 MB limit whatever the feed holds.
pub const PAGE_BYTES: usize = 16 * 1024 * 1024;

/// Rows read at a time while a page is gathered: what a page may overshoot
/// [`PAGE_BYTES`] by in memory before it is cut.
const PAGE_STEP: usize = 500;

/// A record's size in a page, roughly: its large fields.
fn weight(record: &crate::store::records::Record) -> usize {
    use crate::store::records::Record;
    match record {
        Record::FileChunk(chunk) => chunk.data.len(),
        Record::Message(message) => message.text.len(),
        _ => 256,
    }
}

/// Up to `limit` changes after `since` (the asker's own left out), ended
/// early once they weigh [`PAGE_BYTES`]: `next` is then the last change
/// sent, and the next page goes on from there.
pub fn bounded_page(
    conn: &mut dyn crate::store::backend::Reads,
    since: u64,
    limit: usize,
    peer: &str,
) -> Result<ChangesPage, crate::store::StoreError> {
    let mut page = ChangesPage {
        next: since,
        ..ChangesPage::default()
    };
    let (mut asked, mut bytes) = (0, 0);
    while asked < limit {
        let step = PAGE_STEP.min(limit - asked);
        asked += step;
        let part = reads::changes_since(conn, page.next, step, peer)?;
        page.head = part.head;
        let end = part.next == page.next;
        for change in part.changes {
            bytes += weight(&change.record);
            let seq = change.seq;
            page.changes.push(change);
            if bytes >= PAGE_BYTES {
                page.next = seq;
                return Ok(page);
            }
        }
        page.next = part.next;
        if end {
            break;
        }
    }
    Ok(page)
}

/// `GET /v1/replication/changes?since=N&peer=NAME`
pub async fn changes(
    State(state): State<Shared>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    authorize(&state, &headers, from)?;
    let limit = query.limit.unwrap_or(PAGE_LIMIT).clamp(1, PAGE_LIMIT);
    Ok(Json(page(&state, query.since, limit, query.peer).await?))
}

/// `GET /v1/replication/stream?since=N&peer=NAME` (WebSocket)
pub async fn stream(
    State(state): State<Shared>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(error) = authorize(&state, &headers, from) {
        return error.into_response();
    }
    tracing::info!(peer = %query.peer, since = query.since, "peer following our change feed");
    // Every line of the stream carries the follower's name and address.
    let span = tracing::info_span!("replication_feed", peer = %query.peer, ip = %from.ip());
    ws.max_message_size(64 * 1024 * 1024)
        .on_upgrade(move |socket| serve_stream(socket, state, query).instrument(span))
}

async fn serve_stream(socket: WebSocket, state: Shared, query: FeedQuery) {
    let (mut sink, mut incoming) = socket.split();
    let mut head = state.store.head();
    let mut cursor = query.since;
    let mut told_operators: Option<Vec<String>> = None;
    let mut presence_tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_sent = Instant::now();
    loop {
        let operators = state.hub.deployment_operators_online();
        let behind = *head.borrow_and_update() > cursor;
        // A frame at least every KEEPALIVE, so the follower can tell a
        // silent dead link from a quiet feed.
        let due = last_sent.elapsed() >= KEEPALIVE;
        if behind || due || told_operators.as_ref() != Some(&operators) {
            let page = match page(&state, cursor, PAGE_LIMIT, query.peer.clone()).await {
                Ok(page) => page,
                Err(_) => break,
            };
            cursor = page.next;
            let frame = StreamFrame {
                page,
                operators: operators.clone(),
                now: Some(crate::clock::now()),
            };
            let text = serde_json::to_string(&frame).unwrap_or_default();
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
            told_operators = Some(operators);
            last_sent = Instant::now();
            if *head.borrow() > cursor {
                // More pages to send (catch-up): go on without waiting.
                continue;
            }
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { break },
            _ = presence_tick.tick() => {}
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::info!(peer = %query.peer, "peer stopped following our change feed");
}
