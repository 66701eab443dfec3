//! A deployment of several relay nodes over one PostgreSQL database: what
//! the nodes tell each other.
//!
//! Every node serves visitors, operators, health and the replication feed,
//! behind a load balancer. What they share lives in the database (chats,
//! messages, notes, accounts, the change feed); what each node adds here:
//!
//! - [`follower`]: the cross-node fan-out. Each node follows the feed from
//!   its own position and tells its clients what other nodes' writers
//!   committed (a visitor on node 1, the operator on node 2). LISTEN/NOTIFY
//!   is only the wake-up, one notification per commit batch; the feed is
//!   the truth, read from a stored position, so a notification lost while
//!   the listener reconnects costs latency, never a change (a poll every
//!   [`follower::POLL`] covers that too).
//! - [`bus`]: what is not stored: typing indicators (a notification each,
//!   sent in batches) and which operators are online on each node (a row
//!   per node, refreshed every second and dropped when it goes stale), so
//!   presence is the same whichever node a client reaches; the node that
//!   runs replication adds the peer deployment's operators and lag, which
//!   every node's health reports.
//! - [`lease`]: replication to the other deployment runs on exactly one
//!   node at a time, the holder of a session-level advisory lock; when that
//!   node dies, PostgreSQL drops its session and another node takes over
//!   within [`lease::RETRY`].
//!
//! With SQLite (one node) none of this runs.

pub mod bus;
pub mod follower;
pub mod lease;

use crate::state::Shared;
use crate::store::StoreError;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Notification};

/// This node's link to the others (in the shared state; `None` with
/// SQLite).
#[derive(Debug)]
pub struct Cluster {
    /// This node's name.
    pub node: String,
    /// Connection settings.
    config: tokio_postgres::Config,
    /// Frames for other nodes' clients (typing), sent by [`bus`].
    outgoing: mpsc::Sender<bus::Outgoing>,
    receiver: std::sync::Mutex<Option<mpsc::Receiver<bus::Outgoing>>>,
}

impl Cluster {
    /// The link for a node of the deployment in database `url`.
    pub fn new(url: &str, node: &str) -> Result<Cluster, StoreError> {
        let (outgoing, receiver) = mpsc::channel(bus::OUTGOING);
        Ok(Cluster {
            node: node.to_string(),
            config: crate::store::postgres::config(url, node)?,
            outgoing,
            receiver: std::sync::Mutex::new(Some(receiver)),
        })
    }
}

/// Starts the follower, the bus and the replication lease (which runs the
/// puller while this node holds it).
pub fn spawn(state: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(cluster) = &state.cluster else {
        return Vec::new();
    };
    let receiver = cluster
        .receiver
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take();
    let mut tasks = vec![
        tokio::spawn(follower::run(state.clone())),
        tokio::spawn(bus::announce(state.clone())),
        tokio::spawn(lease::run(state.clone())),
    ];
    if let Some(receiver) = receiver {
        tasks.push(tokio::spawn(bus::send(state.clone(), receiver)));
    }
    tasks
}

/// An async connection whose notifications come out of the receiver; the
/// receiver ends when the connection does.
async fn connect(
    config: &tokio_postgres::Config,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (notify, notifications) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    if notify.send(notification).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%error, "cluster connection ended");
                    return;
                }
                None => return,
            }
        }
    });
    Ok((client, notifications))
}
