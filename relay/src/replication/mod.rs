//! Replication between the two deployments (issue 4 fills this in).

pub mod status;

use crate::state::Shared;
use axum::Router;

/// Replication's HTTP routes.
pub fn routes() -> Router<Shared> {
    Router::new()
}

/// Starts replication from the peer, if one is configured.
pub fn spawn(_state: Shared) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}
