//! `GET /v1/ws`: the WebSocket endpoint of docs/PROTOCOL.md.
//!
//! - [`upgrade`] checks the Origin and the per-IP limit before upgrading.
//! - [`connection`] runs one socket: a reader loop, a writer task, idle
//!   detection.
//! - [`client`] holds what a connection has proven (its token's claim) and
//!   dispatches frames; [`visitor`] and [`operator`] do each side's work;
//!   [`sync`] builds the catch-up a client gets in `welcome`; [`fanout`]
//!   tells connected clients about changes, local or replicated.

mod client;
mod connection;
pub mod fanout;
mod operator;
mod sync;
mod visitor;

use crate::http::{is_same_origin, origin_of};
use crate::state::Shared;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

/// Frames larger than this close the socket (the protocol's own limit,
/// `MAX_FRAME_BYTES`, is smaller and answered with a `too_large` error frame
/// that keeps the connection).
const SOCKET_MESSAGE_LIMIT: usize = 1024 * 1024;

/// The upgrade handler.
pub async fn upgrade(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Cross-site WebSocket hijacking: browsers always send Origin on a
    // WebSocket upgrade, so a page from a site we do not serve is refused
    // here. Native clients send none and must still prove a token.
    let origin = origin_of(&headers).map(str::to_string);
    if let Some(origin) = &origin {
        let allowed = state.config.any_site_allows(origin)
            || is_same_origin(&headers, origin)
            || state.config.peer_origin() == Some(origin.as_str());
        if !allowed {
            state.metrics.origin_refused.fetch_add(1, Relaxed);
            tracing::warn!(%origin, ip = %peer.ip(), "WebSocket upgrade from a foreign origin refused");
            return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
        }
    }
    if !state.ip_limiter.allow(peer.ip()) {
        state.metrics.rate_limited.fetch_add(1, Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address",
        )
            .into_response();
    }
    let same_origin = origin
        .as_deref()
        .is_some_and(|origin| is_same_origin(&headers, origin));
    let context = client::Context {
        origin,
        same_origin,
        ip: peer.ip(),
    };
    // Small buffers: most of a chat connection's life is idle, and 10,000
    // of them must fit in a few hundred MB (tungstenite's default is 128
    // KiB each way per connection).
    ws.max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| connection::run(socket, state, context))
}
