//! What nodes tell each other that is not stored: typing indicators and
//! presence.
//!
//! - Typing frames go out as notifications on [`BUS_CHANNEL`], gathered
//!   for up to [`GATHER`] into one notification (NOTIFY takes a global lock
//!   at commit; a payload holds at most 8,000 bytes, so a batch is cut at
//!   [`MAX_PAYLOAD`]). They are best-effort like typing itself: one lost
//!   while a listener reconnects is never resent, and the next keystroke
//!   brings the indicator back.
//! - Presence is a row per node in `nodes`: the usernames of the operators
//!   online there and, from the node that runs replication, the peer
//!   deployment's operators and the replication lag. Each node rewrites its
//!   row every [`REFRESH`] (and at once when it changes, with a
//!   notification), and reads the others' rows that the database's own
//!   clock says are fresh ([`STALE`]): a node that dies drops out of
//!   everyone's presence within seconds, and no row is bounded by the
//!   payload limit.

use super::connect;
use crate::fanout;
use crate::state::Shared;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use twinline_core::ChatId;
use twinline_core::protocol::{ReplicationLag, ServerFrame};

/// The notification channel of the bus.
pub const BUS_CHANNEL: &str = "twinline_bus";

/// Frames queued for other nodes before new ones are dropped.
pub const OUTGOING: usize = 4096;

/// How long frames are gathered into one notification.
pub const GATHER: Duration = Duration::from_millis(2);

/// Largest notification payload sent (PostgreSQL's limit is 8,000 bytes).
pub const MAX_PAYLOAD: usize = 7_000;

/// How often a node rewrites its presence row and reads the others'.
pub const REFRESH: Duration = Duration::from_millis(500);

/// A presence row older than this (by the database's clock) is a dead
/// node's.
pub const STALE: Duration = Duration::from_secs(3);

/// A frame for other nodes' clients.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outgoing {
    /// The chat whose followers get it.
    pub chat: ChatId,
    /// The frame.
    pub frame: ServerFrame,
}

/// One notification on the bus.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    /// The sending node.
    node: String,
    /// Frames for chat followers.
    #[serde(default)]
    frames: Vec<Outgoing>,
    /// The sender's presence row changed.
    #[serde(default)]
    presence: bool,
}

/// A node's presence row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    /// Operators online on that node, by username.
    pub operators: Vec<String>,
    /// Set by the node that runs replication: what it knows of the peer.
    #[serde(default)]
    pub peer: Option<PeerView>,
}

/// The peer deployment as the replication node sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// The peer's operators online.
    pub operators: Vec<String>,
    /// Replication lag from the peer.
    pub lag: Option<ReplicationLag>,
}

/// What this node makes of the other nodes' fresh rows: the operators
/// online elsewhere in the deployment, and the peer as the replication
/// node reports it (if another node runs replication).
pub fn merge_presence(others: &[Presence]) -> (Vec<String>, Option<PeerView>) {
    let mut operators: Vec<String> = others
        .iter()
        .flat_map(|p| p.operators.iter().cloned())
        .collect();
    operators.sort();
    operators.dedup();
    let peer = others.iter().find_map(|p| p.peer.clone());
    (operators, peer)
}

/// Sends a chat frame (typing) to the followers of `chat` on the other
/// nodes; nothing with SQLite. Never waits: a full queue drops the frame.
pub fn chat_frame(state: &Shared, chat: ChatId, frame: &ServerFrame) {
    if let Some(cluster) = &state.cluster {
        let _ = cluster.outgoing.try_send(Outgoing {
            chat,
            frame: frame.clone(),
        });
    }
}

/// Sends queued frames, gathered into notifications.
pub async fn send(state: Shared, mut queued: mpsc::Receiver<Outgoing>) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let mut connection = None;
    while let Some(first) = queued.recv().await {
        let mut frames = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, queued.recv()).await {
            frames.push(frame);
            if frames.len() >= 64 {
                break;
            }
        }
        if connection.is_none() {
            connection = connect(&cluster.config)
                .await
                .ok()
                .map(|(client, _)| client);
        }
        let Some(client) = &connection else {
            // The database is away: typing is best-effort.
            continue;
        };
        for payload in payloads(&cluster.node, frames) {
            if let Err(error) = client
                .execute("SELECT pg_notify($1, $2)", &[&BUS_CHANNEL, &payload])
                .await
            {
                tracing::debug!(%error, "bus notification failed");
                connection = None;
                break;
            }
        }
    }
}

/// Notifications carrying `frames`, each under [`MAX_PAYLOAD`] (a frame
/// too large on its own is dropped).
fn payloads(node: &str, frames: Vec<Outgoing>) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut size = 0;
    let close = |batch: &mut Vec<Outgoing>, payloads: &mut Vec<String>| {
        if !batch.is_empty() {
            let notice = Notice {
                node: node.to_string(),
                frames: std::mem::take(batch),
                presence: false,
            };
            payloads.push(serde_json::to_string(&notice).unwrap_or_default());
        }
    };
    for frame in frames {
        let length = serde_json::to_string(&frame).map_or(usize::MAX, |t| t.len());
        if length > MAX_PAYLOAD - 100 {
            continue;
        }
        if size + length > MAX_PAYLOAD - 100 {
            close(&mut batch, &mut payloads);
            size = 0;
        }
        size += length + 1;
        batch.push(frame);
    }
    close(&mut batch, &mut payloads);
    payloads
}

/// Keeps this node's presence row fresh and the others' presence known,
/// and delivers other nodes' frames to local clients.
pub async fn announce(state: Shared) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    loop {
        match connect(&cluster.config).await {
            Ok((client, mut notifications)) => {
                if let Err(error) = client
                    .batch_execute(&format!(
                        "SET synchronous_commit = off; LISTEN {BUS_CHANNEL}"
                    ))
                    .await
                {
                    tracing::warn!(%error, "could not LISTEN on the node bus");
                } else {
                    serve(&state, &client, &mut notifications).await;
                }
            }
            Err(error) => tracing::debug!(%error, "node bus cannot connect"),
        }
        // Nobody else's presence can be known now.
        if state.hub.set_node_operators(Vec::new()) {
            fanout::presence(&state).await;
        }
        tokio::time::sleep(REFRESH).await;
    }
}

async fn serve(
    state: &Shared,
    client: &tokio_postgres::Client,
    notifications: &mut mpsc::UnboundedReceiver<tokio_postgres::Notification>,
) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let mut told: Option<Presence> = None;
    let mut tick = tokio::time::interval(REFRESH);
    let mut fast = tokio::time::interval(Duration::from_millis(100));
    loop {
        let mut refresh = false;
        tokio::select! {
            notification = notifications.recv() => {
                let Some(notification) = notification else { return };
                let Ok(notice) = serde_json::from_str::<Notice>(notification.payload()) else {
                    continue;
                };
                if notice.node == cluster.node {
                    continue;
                }
                for Outgoing { chat, frame } in notice.frames {
                    state.hub.publish_chat(chat, &frame, None);
                }
                refresh = notice.presence;
            }
            _ = tick.tick() => {
                // Rewritten even when unchanged: the row's time says the
                // node is alive.
                told = None;
                refresh = true;
            }
            _ = fast.tick() => {}
        }
        let mine = own_presence(state);
        if told.as_ref() != Some(&mine) {
            let body = serde_json::to_string(&mine).unwrap_or_default();
            let changed = told.is_some();
            let written = client
                .execute(
                    "INSERT INTO nodes (node, seen, body) VALUES ($1, clock_timestamp(), $2)
                     ON CONFLICT (node) DO UPDATE SET seen = EXCLUDED.seen, body = EXCLUDED.body",
                    &[&cluster.node, &body],
                )
                .await;
            if let Err(error) = written {
                tracing::debug!(%error, "could not write this node's presence");
                return;
            }
            told = Some(mine);
            if changed {
                let notice = Notice {
                    node: cluster.node.clone(),
                    frames: Vec::new(),
                    presence: true,
                };
                let payload = serde_json::to_string(&notice).unwrap_or_default();
                let _ = client
                    .execute("SELECT pg_notify($1, $2)", &[&BUS_CHANNEL, &payload])
                    .await;
            }
        }
        if refresh && !read_others(state, client).await {
            return;
        }
    }
}

/// This node's presence row.
fn own_presence(state: &Shared) -> Presence {
    let peer = state.replication.leading().then(|| PeerView {
        operators: state.hub.remote_operators(),
        lag: state.replication.lag(crate::clock::now()),
    });
    Presence {
        operators: state.hub.local_operators_online(),
        peer,
    }
}

/// Reads the other nodes' fresh rows; false when the connection failed.
async fn read_others(state: &Shared, client: &tokio_postgres::Client) -> bool {
    let Some(cluster) = &state.cluster else {
        return false;
    };
    let rows = client
        .query(
            "SELECT body FROM nodes
             WHERE node != $1 AND seen > clock_timestamp() - make_interval(secs => $2)",
            &[&cluster.node, &STALE.as_secs_f64()],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) => {
            tracing::debug!(%error, "could not read the other nodes' presence");
            return false;
        }
    };
    let others: Vec<Presence> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(row.get::<_, &str>(0)).ok())
        .collect();
    let (operators, peer) = merge_presence(&others);
    let mut changed = state.hub.set_node_operators(operators);
    if !state.replication.leading() {
        state
            .replication
            .relay_lag(peer.as_ref().and_then(|p| p.lag.clone()));
        let peer_operators = peer.map(|p| p.operators).unwrap_or_default();
        if state.hub.remote_operators() != peer_operators {
            state.hub.set_remote_operators(peer_operators);
            changed = true;
        }
    }
    if changed {
        fanout::presence(state).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::Ulid;

    #[test]
    fn presence_is_the_union_of_the_other_nodes_and_the_peer_comes_from_one() {
        let others = [
            Presence {
                operators: vec!["bob".into(), "ada".into()],
                peer: None,
            },
            Presence {
                operators: vec!["ada".into()],
                peer: Some(PeerView {
                    operators: vec!["eve".into()],
                    lag: None,
                }),
            },
        ];
        let (operators, peer) = merge_presence(&others);
        assert_eq!(operators, vec!["ada".to_string(), "bob".to_string()]);
        assert_eq!(peer.unwrap().operators, vec!["eve".to_string()]);
    }

    #[test]
    fn frames_are_cut_into_payloads_postgresql_takes() {
        let frame = |n: u128| Outgoing {
            chat: ChatId(Ulid(n)),
            frame: ServerFrame::Typing {
                chat: ChatId(Ulid(n)),
                who: twinline_core::Author {
                    role: twinline_core::Role::Visitor,
                    id: "v".repeat(40),
                    name: "n".repeat(40),
                },
                on: true,
            },
        };
        let payloads = payloads("node-1", (0..200).map(frame).collect());
        assert!(payloads.len() > 1);
        let mut count = 0;
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
            count += serde_json::from_str::<Notice>(payload)
                .unwrap()
                .frames
                .len();
        }
        assert_eq!(count, 200, "every frame in one of them");
    }
}
