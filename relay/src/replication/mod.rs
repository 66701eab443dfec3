//! Replication between the two deployments, both ways.
//!
//! Each relay's store keeps a change feed (the `changes` table). Each relay
//! runs a [`puller`] that follows its peer's feed over a WebSocket stream
//! (`/v1/replication/stream?since=<checkpoint>`): the peer first sends
//! everything after the checkpoint in pages (catch-up after an outage), then
//! every new change as it commits (live, one commit away). Pages are applied
//! through the same merge as local writes, in one transaction with the new
//! checkpoint, so a crash mid-way resumes exactly where it stopped and a
//! repeated page changes nothing. A change never goes back to the deployment
//! it came from (`origin`), so there are no echo loops. Changes that alter
//! the local store are fanned out to local clients, which is how a visitor
//! on one deployment and an operator on the other still chat live.
//!
//! The endpoints ([`feed`]) require a bearer token derived from the shared
//! secret; anything else gets 401 and a log line.

pub mod decode;
pub mod feed;
pub mod peer_clock;
pub mod puller;
pub mod status;

#[cfg(test)]
mod span_tests;

use crate::state::Shared;
use axum::Router;
use axum::routing::get;
use sha2::{Digest, Sha256};

/// Replication's HTTP routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/replication/changes", get(feed::changes))
        .route("/v1/replication/stream", get(feed::stream))
}

/// Starts following the peer's feed, if a peer is configured. On a
/// deployment of several nodes the replication lease decides which node
/// follows it (`cluster::lease`), so nothing starts here.
pub fn spawn(state: Shared) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if state.config.peer.is_some() && state.cluster.is_none() {
            puller::run(state).await;
        }
    })
}

/// The bearer token both deployments derive from the shared secret
/// (domain-separated from token signing, so neither can stand in for the
/// other).
pub fn bearer(secret: &str) -> String {
    let digest = Sha256::digest(format!("twinline-replication-v1:{secret}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
