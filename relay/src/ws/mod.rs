//! `GET /v1/ws`: the WebSocket endpoint of docs/PROTOCOL.md.
//!
//! - [`upgrade`] checks the Origin, the client address's upgrade rate and
//!   its count of open WebSockets before upgrading.
//! - [`connection`] runs one socket: a reader loop, a writer task, idle
//!   detection.
//! - [`client`] holds what a connection has proven ([`identity`]: its
//!   token's claim) and dispatches frames; [`visitor`] and [`operator`] do
//!   each side's work, seeing only a [`context::Context`];
//!   [`messages`] stores a client's messages and acks them in order, over
//!   its [`pipeline`] of commits;
//!   [`status`] writes a chat's status; [`refusal`] names the error codes
//!   of refused records.
//!
//! What a client lacks of a chat is [`crate::catchup`]'s, what connected
//! clients are told of a change [`crate::fanout`]'s, and who follows what
//! [`crate::hub`]'s. The modules depend on each other one way only, top to
//! bottom: `connection` → `client` → `visitor`, `operator` → `status` →
//! `messages` → `context` → `pipeline`, `identity`, `refusal`;
//! `layering_tests.rs` fails if a `use` line closes a circle.

mod client;
mod connection;
mod context;
mod identity;
mod messages;
mod operator;
mod pipeline;
mod rating;
mod receipts;
mod refusal;
mod status;
mod transcript;
mod visitor;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod layering_tests;
#[cfg(test)]
mod span_tests;
#[cfg(test)]
mod test_socket;
#[cfg(test)]
mod welcome_tests;

use crate::http::{ApiError, is_same_origin, origin_of};
use crate::net::ClientIp;
use crate::net::refusal::busy;
use crate::state::Shared;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Messages larger than this close the socket with 1009 (the protocol's
/// own limit, `MAX_FRAME_BYTES`, is smaller and answered with a
/// `too_large` error frame that keeps the connection).
pub const SOCKET_MESSAGE_LIMIT: usize = 1024 * 1024;

/// The upgrade handler.
pub async fn upgrade(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
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
            tracing::warn!(%origin, %ip, "WebSocket upgrade from a foreign origin refused");
            return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "origin not allowed")
                .into_response();
        }
    }
    if let Err(limited) = state.rates.by_address(ip, Instant::now()) {
        state.metrics.rate_limited.fetch_add(1, Relaxed);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many connections from this {}; retry shortly",
                limited.scope
            ),
        )
        .retry_after(Duration::from_secs(limited.retry_after_secs))
        .into_response();
    }
    let admitted = match state.websockets.admit(ip, false) {
        Ok(admitted) => admitted,
        Err(why) => {
            state.metrics.rate_limited.fetch_add(1, Relaxed);
            return busy(why.to_string());
        }
    };
    let same_origin = origin
        .as_deref()
        .is_some_and(|origin| is_same_origin(&headers, origin));
    let peer = identity::Peer {
        origin,
        same_origin,
        ip,
    };
    // Small buffers: most of a chat connection's life is idle, and 10,000
    // of them must fit in a few hundred MB (tungstenite's default is 128
    // KiB each way per connection).
    ws.max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| connection::run(socket, state, peer, Some(admitted)))
}
