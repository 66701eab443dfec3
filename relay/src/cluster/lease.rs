//! Replication to the other deployment on exactly one node at a time.
//!
//! The lease is a session-level advisory lock ([`REPLICATION_LOCK`]) held
//! on a connection of its own. The node that gets it runs the puller (see
//! `replication::puller`), which applies the peer's pages with their
//! checkpoint in one transaction, and the deployment's one webhook sender
//! (`webhooks::sender`); the others try again every [`RETRY`].
//! A node that dies (SIGKILL, power) loses its session, PostgreSQL releases
//! the lock, and the next try elsewhere takes over from the stored
//! checkpoint, within about a second.
//!
//! A holder that loses its connection stops its puller as soon as it
//! notices (the next check, [`RETRY`]), and a partitioned one only when its
//! TCP keepalives give up, so two pullers may overlap for a moment. That is
//! harmless by construction: pages merge by id and stamp, and a checkpoint
//! only moves forward.

use super::connect;
use crate::state::Shared;
use std::time::Duration;

/// The replication lease.
pub const REPLICATION_LOCK: i64 = 0x7477_6c6e_7265_706c; // "twlnrepl"

/// How often a node tries for the lease, and the holder checks it still
/// has its session.
pub const RETRY: Duration = Duration::from_millis(500);

/// Runs forever (aborted at shutdown); does nothing without a peer.
pub async fn run(state: Shared) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    if state.config.peer.is_none() {
        return;
    }
    loop {
        let Ok((client, _notifications)) = connect(&cluster.config).await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let held = loop {
            match client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&REPLICATION_LOCK])
                .await
            {
                Ok(row) if row.get::<_, bool>(0) => break true,
                Ok(_) => tokio::time::sleep(RETRY).await,
                Err(_) => break false,
            }
        };
        if !held {
            tokio::time::sleep(RETRY).await;
            continue;
        }
        tracing::info!(node = %cluster.node, "this node holds the replication lease");
        state.replication.set_leading(true);
        let puller = tokio::spawn(crate::replication::puller::run(state.clone()));
        // The deployment's one webhook sender runs with the lease too.
        let webhooks = tokio::spawn(crate::webhooks::sender::run(state.clone()));
        loop {
            tokio::time::sleep(RETRY).await;
            if client.is_closed() || client.simple_query("SELECT 1").await.is_err() {
                break;
            }
        }
        puller.abort();
        webhooks.abort();
        let _ = puller.await;
        state.replication.set_leading(false);
        state.replication.set_connected(false);
        if state.hub.clear_remote_operators() {
            crate::fanout::presence(&state).await;
        }
        tracing::warn!(node = %cluster.node, "lost the replication lease (database connection)");
    }
}
