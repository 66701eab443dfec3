//! The cross-node fan-out: follow the deployment's feed from this node's
//! position and tell local clients what other nodes committed.
//!
//! The position starts at the feed's head when the node starts (clients
//! that connect later get their catch-up from the store in their welcome)
//! and only moves over changes that were read, so nothing is skipped: feed
//! positions are handed out in commit order (see `store::postgres`), and a
//! reader that has seen position N never later finds a smaller one.
//! Changes this node's own writer made were fanned out when they were
//! acked, so they are passed over; changes the replication node applied
//! from the peer deployment reach every other node's clients this way.

use super::connect;
use crate::state::Shared;
use crate::store::backend::NodeChange;
use crate::store::postgres::FEED_CHANNEL;
use crate::store::records::Applied;
use std::time::Duration;

/// Read the feed at least this often, notification or not (one lost while
/// the listener reconnected, say).
pub const POLL: Duration = Duration::from_secs(1);

/// Changes read per query.
const PAGE: usize = 1000;

/// Wait before connecting again.
const BACKOFF: Duration = Duration::from_millis(500);

/// Runs forever (aborted at shutdown).
pub async fn run(state: Shared) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let mut cursor = *state.store.head().borrow();
    loop {
        match connect(&cluster.config).await {
            Ok((client, mut notifications)) => {
                match client
                    .batch_execute(&format!("LISTEN {FEED_CHANNEL}"))
                    .await
                {
                    Ok(()) => {
                        // Whatever committed while nobody listened.
                        cursor = catch_up(&state, cursor).await;
                        loop {
                            tokio::select! {
                                notification = notifications.recv() => {
                                    let Some(notification) = notification else { break };
                                    // Several commits may have notified: one read covers them.
                                    let mut others = notification.payload() != cluster.node;
                                    while let Ok(more) = notifications.try_recv() {
                                        others |= more.payload() != cluster.node;
                                    }
                                    if others {
                                        cursor = catch_up(&state, cursor).await;
                                    }
                                }
                                () = tokio::time::sleep(POLL) => {
                                    cursor = catch_up(&state, cursor).await;
                                }
                            }
                        }
                        tracing::warn!("feed listener disconnected; reconnecting");
                    }
                    Err(error) => tracing::warn!(%error, "could not LISTEN for the feed"),
                }
            }
            Err(error) => tracing::debug!(%error, "feed listener cannot connect"),
        }
        tokio::time::sleep(BACKOFF).await;
    }
}

/// Reads and fans out everything after `cursor`; returns the new cursor
/// (unchanged when the database cannot be read: the next try resumes
/// there).
pub async fn catch_up(state: &Shared, mut cursor: u64) -> u64 {
    let Some(cluster) = &state.cluster else {
        return cursor;
    };
    loop {
        let after = cursor;
        let changes = match state
            .store
            .read(move |conn| conn.node_changes(after, PAGE))
            .await
        {
            Ok(changes) => changes,
            Err(error) => {
                tracing::debug!(%error, "could not read the feed");
                return cursor;
            }
        };
        let Some(last) = changes.last().map(|c| c.change.seq) else {
            return cursor;
        };
        let full = changes.len() == PAGE;
        state.store.advance_head(last);
        let theirs = from_other_nodes(changes, &cluster.node);
        if !theirs.is_empty() {
            crate::replication::puller::fan_out(state, theirs).await;
        }
        cursor = last;
        if !full {
            return cursor;
        }
    }
}

/// The changes other nodes' writers committed, as the store would have
/// answered them there.
fn from_other_nodes(changes: Vec<NodeChange>, node: &str) -> Vec<Applied> {
    changes
        .into_iter()
        .filter(|c| c.node != node)
        .map(|c| Applied {
            changed: true,
            record: c.change.record,
            refused: None,
            chat_state: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{Account, Change, OperatorRole, Record};
    use twinline_core::{Hlc, Millis};

    fn change(seq: u64, node: &str) -> NodeChange {
        NodeChange {
            node: node.into(),
            change: Change {
                seq,
                origin: "primary".into(),
                at: Millis(seq),
                record: Record::Account(Account {
                    username: format!("user{seq}"),
                    name: String::new(),
                    hash: String::new(),
                    stamp: Hlc::zero(1),
                    role: OperatorRole::Agent,
                    sites: Vec::new(),
                    version: 0,
                    removed: false,
                }),
            },
        }
    }

    #[test]
    fn only_other_nodes_changes_are_fanned_out() {
        let changes = vec![change(1, "a"), change(2, "b"), change(3, "a")];
        let theirs = from_other_nodes(changes, "a");
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0].record.key(), "user2");
        assert!(theirs[0].changed);
    }
}
