//! Who is connected to this relay and which chats they follow: the in-memory
//! fan-out table. What to tell them when something changes is
//! [`crate::fanout`]'s.
//!
//! Frames are serialised once and the same `Arc<str>` is queued to every
//! subscriber. Each connection has a bounded outgoing queue, made here when
//! it registers: the hub keeps the sending end to publish on, and the
//! connection gets its [`Registration`] (its key, an [`Outbox`] for its own
//! replies, and the receiving end its writer drains). A client that
//! cannot keep up is disconnected rather than allowed to grow the relay's
//! memory. That loses nothing: everything in a chat is in the store, and the
//! client's `hello` on reconnect brings it back up to date. The hub is fed
//! both by local clients and by replication, which is how a visitor on one
//! deployment and an operator on the other still see each other live.

use crate::authz::Access;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use twinline_core::ChatId;
use twinline_core::protocol::ServerFrame;

/// Frames queued per connection before it counts as too slow.
pub const OUTGOING_QUEUE: usize = 1024;

/// Identifies one WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey(pub u64);

/// What a connection's writer task is asked to do.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// Send this JSON text frame.
    Text(Arc<str>),
    /// Close the connection with this close frame.
    Close(Closing),
}

/// A close frame: its RFC 6455 status code and a short reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closing {
    /// The status code.
    pub code: u16,
    /// Why, in a few words (sent to the client).
    pub reason: &'static str,
}

impl Closing {
    /// 1001: the relay is going away (shutdown, drain, a client too slow
    /// to keep up); the client reconnects, possibly elsewhere.
    pub const fn going_away(reason: &'static str) -> Closing {
        Closing { code: 1001, reason }
    }

    /// 1008: the client broke a rule (no hello in time, a frame before
    /// hello, a refused token, too many pings), or its operator session
    /// ended (signed out, password changed, account removed).
    pub const fn policy(reason: &'static str) -> Closing {
        Closing { code: 1008, reason }
    }

    /// 1009: a message larger than the socket's limit.
    pub const TOO_BIG: Closing = Closing {
        code: 1009,
        reason: "message too big",
    };

    /// 1011: the relay could not serve the connection (its store failed).
    pub const INTERNAL: Closing = Closing {
        code: 1011,
        reason: "storage unavailable; retry",
    };

    /// 1007: a text message that is not UTF-8.
    pub const BAD_UTF8: Closing = Closing {
        code: 1007,
        reason: "text is not valid UTF-8",
    };
}

#[derive(Debug)]
struct Connection {
    /// Its key, for its log lines (the `key` of its `connection` span).
    key: ConnKey,
    tx: mpsc::Sender<Outgoing>,
    kick: Arc<Notify>,
    operator: Option<OperatorPresence>,
    /// A visitor connection's site (presence counts operators per site).
    visitor_site: Option<String>,
    /// A visitor connection's chat (whether the chat's visitor is
    /// connected here: `twinline_core::presence`).
    visitor_chat: Option<ChatId>,
    /// Whether `welcome` has been queued. Broadcasts never precede it:
    /// until then they wait in `early` (a client subscribes before its
    /// catch-up is read, so nothing published in between is missed).
    welcomed: bool,
    early: Vec<Arc<str>>,
}

/// Most broadcasts kept for a connection that has not been welcomed yet.
const EARLY_LIMIT: usize = 512;

/// An operator connection's presence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorPresence {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Available for new chats.
    pub online: bool,
    /// The sites it serves (what its queue and inbox hold).
    pub access: Access,
    /// The account version its session was issued at.
    pub version: u64,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    connections: HashMap<ConnKey, Connection>,
    chats: HashMap<ChatId, HashSet<ConnKey>>,
    /// Operators online at the peer deployment, as replication reports them.
    remote_operators: Vec<String>,
    /// Operators online on the deployment's other relay nodes (PostgreSQL),
    /// as their presence rows say.
    node_operators: Vec<String>,
}

/// A connection's own end of its outgoing queue, for its replies: unlike a
/// broadcast, a reply waits while the queue is full, so a client's replies
/// pace its own reading.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
}

impl Outbox {
    /// Queues a frame, waiting for room.
    pub async fn send(&self, frame: &ServerFrame) {
        let _ = self.tx.send(Outgoing::Text(frame.to_json().into())).await;
    }

    /// Queues the close frame behind what is queued already, waiting at
    /// most `within` for room (a client that does not read gets its socket
    /// dropped instead).
    pub async fn close(&self, closing: Closing, within: Duration) {
        let _ = tokio::time::timeout(within, self.tx.send(Outgoing::Close(closing))).await;
    }
}

/// What a connection gets when it registers.
#[derive(Debug)]
pub struct Registration {
    /// Its key in the hub.
    pub key: ConnKey,
    /// Its own replies.
    pub outbox: Outbox,
    /// Everything queued for it, replies and broadcasts, in order: its
    /// writer drains this. It ends once the connection is unregistered and
    /// its outbox dropped.
    pub queue: mpsc::Receiver<Outgoing>,
    /// Tells its writer to hang up at once (too slow, shutting down).
    pub kick: Arc<Notify>,
}

/// The fan-out table; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Registers a connection: makes its outgoing queue (of
    /// [`OUTGOING_QUEUE`] frames) and its key.
    pub fn register(&self) -> Registration {
        let (tx, queue) = mpsc::channel(OUTGOING_QUEUE);
        let outbox = Outbox { tx: tx.clone() };
        let mut inner = self.lock();
        inner.next += 1;
        let key = ConnKey(inner.next);
        let kick = Arc::new(Notify::new());
        inner.connections.insert(
            key,
            Connection {
                key,
                tx,
                kick: kick.clone(),
                operator: None,
                visitor_site: None,
                visitor_chat: None,
                welcomed: false,
                early: Vec::new(),
            },
        );
        Registration {
            key,
            outbox,
            queue,
            kick,
        }
    }

    /// Forgets a connection and its subscriptions.
    pub fn unregister(&self, key: ConnKey) {
        let mut inner = self.lock();
        inner.connections.remove(&key);
        inner.chats.retain(|_, subscribers| {
            subscribers.remove(&key);
            !subscribers.is_empty()
        });
    }

    /// Connections currently open.
    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Marks a connection as welcomed: from now on it gets broadcasts.
    pub fn mark_welcomed(&self, key: ConnKey) {
        if let Some(connection) = self.lock().connections.get_mut(&key) {
            connection.welcomed = true;
            for text in std::mem::take(&mut connection.early) {
                offer(connection, Outgoing::Text(text));
            }
        }
    }

    /// Follows a chat.
    pub fn subscribe(&self, key: ConnKey, chat: ChatId) {
        self.lock().chats.entry(chat).or_default().insert(key);
    }

    /// Stops following a chat.
    pub fn unsubscribe(&self, key: ConnKey, chat: ChatId) {
        let mut inner = self.lock();
        if let Some(subscribers) = inner.chats.get_mut(&chat) {
            subscribers.remove(&key);
            if subscribers.is_empty() {
                inner.chats.remove(&chat);
            }
        }
    }

    /// Whether a connection follows a chat.
    pub fn follows(&self, key: ConnKey, chat: ChatId) -> bool {
        self.lock()
            .chats
            .get(&chat)
            .is_some_and(|subscribers| subscribers.contains(&key))
    }

    /// Marks a connection as an operator's, with its availability.
    pub fn set_operator(&self, key: ConnKey, presence: OperatorPresence) {
        if let Some(connection) = self.lock().connections.get_mut(&key) {
            connection.operator = Some(presence);
        }
    }

    /// Marks a connection as a visitor's of `site`.
    pub fn set_visitor(&self, key: ConnKey, site: &str, chat: ChatId) {
        if let Some(connection) = self.lock().connections.get_mut(&key) {
            connection.visitor_site = Some(site.to_string());
            connection.visitor_chat = Some(chat);
        }
    }

    /// How many connections of `chat`'s visitor this relay holds (its
    /// browser's leader tab, and for a moment after a reconnect the old
    /// socket too).
    pub fn visitor_connections(&self, chat: ChatId) -> usize {
        self.lock()
            .connections
            .values()
            .filter(|connection| connection.visitor_chat == Some(chat))
            .count()
    }

    /// The distinct accesses of connected operators, each with its
    /// connections: queue and inbox frames are read once per access.
    pub fn operator_accesses(&self) -> Vec<(Access, Vec<ConnKey>)> {
        let inner = self.lock();
        let mut groups: Vec<(Access, Vec<ConnKey>)> = Vec::new();
        for (key, connection) in &inner.connections {
            let Some(presence) = &connection.operator else {
                continue;
            };
            let mut access = presence.access.clone();
            // The username does not change what a queue holds.
            access.username = String::new();
            match groups.iter_mut().find(|(a, _)| *a == access) {
                Some((_, keys)) => keys.push(*key),
                None => groups.push((access, vec![*key])),
            }
        }
        groups
    }

    /// Operator sessions of `username` issued at another account version
    /// than `current` (every one of them when `current` is `None`: the
    /// account is gone).
    pub fn stale_sessions(&self, username: &str, current: Option<u64>) -> Vec<ConnKey> {
        self.operator_keys_where(|p| p.username == username && Some(p.version) != current)
    }

    /// Usernames and session versions of the operators connected here.
    pub fn operator_sessions(&self) -> Vec<(String, u64)> {
        let mut sessions: Vec<(String, u64)> = self
            .lock()
            .connections
            .values()
            .filter_map(|c| c.operator.as_ref())
            .map(|p| (p.username.clone(), p.version))
            .collect();
        sessions.sort();
        sessions.dedup();
        sessions
    }

    /// Queues an error frame and then a close to one connection, and stops
    /// sending it anything else (a revoked session).
    pub fn end_session(&self, key: ConnKey, frame: &ServerFrame) {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        if let Some(connection) = inner.connections.get_mut(&key) {
            connection.operator = None;
            let _ = connection.tx.try_send(Outgoing::Text(text));
            let _ = connection
                .tx
                .try_send(Outgoing::Close(Closing::policy("session ended")));
        }
        inner.chats.retain(|_, subscribers| {
            subscribers.remove(&key);
            !subscribers.is_empty()
        });
    }

    /// Presence to everyone: operators get the names of those online,
    /// visitors only how many of them serve their site (`serving`).
    pub fn publish_presence(&self, names: &[String], serving: impl Fn(&str) -> u32) {
        let to_operators: Arc<str> = ServerFrame::Presence {
            operators_online: names.len() as u32,
            operators: names.to_vec(),
        }
        .to_json()
        .into();
        let mut per_site: HashMap<String, Arc<str>> = HashMap::new();
        let mut inner = self.lock();
        for connection in inner.connections.values_mut() {
            let text = match (&connection.operator, &connection.visitor_site) {
                (Some(_), _) => to_operators.clone(),
                (None, Some(site)) => per_site
                    .entry(site.clone())
                    .or_insert_with(|| {
                        ServerFrame::Presence {
                            operators_online: serving(site),
                            operators: Vec::new(),
                        }
                        .to_json()
                        .into()
                    })
                    .clone(),
                // Not yet said hello: nothing to tell.
                (None, None) => continue,
            };
            deliver(connection, &text);
        }
    }

    /// Records who is online at the peer deployment.
    pub fn set_remote_operators(&self, usernames: Vec<String>) {
        self.lock().remote_operators = usernames;
    }

    /// The peer deployment's operators online, as last reported.
    pub fn remote_operators(&self) -> Vec<String> {
        self.lock().remote_operators.clone()
    }

    /// Records who is online on the deployment's other nodes; true if that
    /// changed.
    pub fn set_node_operators(&self, usernames: Vec<String>) -> bool {
        let mut inner = self.lock();
        let changed = inner.node_operators != usernames;
        inner.node_operators = usernames;
        changed
    }

    /// Online operators of this deployment (this node and its other
    /// nodes), by username: what replication tells the peer.
    pub fn deployment_operators_online(&self) -> Vec<String> {
        let mut names = self.local_operators_online();
        names.extend(self.lock().node_operators.iter().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// Forgets the peer's operators (link down); true if there were any.
    pub fn clear_remote_operators(&self) -> bool {
        let mut inner = self.lock();
        let had = !inner.remote_operators.is_empty();
        inner.remote_operators.clear();
        had
    }

    /// Online operators connected here, by username (several tabs count once).
    pub fn local_operators_online(&self) -> Vec<String> {
        let inner = self.lock();
        let names: HashSet<&str> = inner
            .connections
            .values()
            .filter_map(|c| c.operator.as_ref())
            .filter(|p| p.online)
            .map(|p| p.username.as_str())
            .collect();
        let mut names: Vec<String> = names.into_iter().map(str::to_string).collect();
        names.sort();
        names
    }

    /// Online operators here, on the deployment's other nodes and at the
    /// peer, by username.
    pub fn operators_online(&self) -> Vec<String> {
        let mut names = self.deployment_operators_online();
        names.extend(self.lock().remote_operators.iter().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// Queues a frame to one connection.
    pub fn send_to(&self, key: ConnKey, frame: &ServerFrame) {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        if let Some(connection) = inner.connections.get_mut(&key) {
            deliver(connection, &text);
        }
    }

    /// Queues one frame to several connections.
    pub fn send_to_all(&self, keys: &[ConnKey], frame: &ServerFrame) {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        for key in keys {
            if let Some(connection) = inner.connections.get_mut(key) {
                deliver(connection, &text);
            }
        }
    }

    /// Queues a frame to every follower of a chat, except `skip`.
    pub fn publish_chat(&self, chat: ChatId, frame: &ServerFrame, skip: Option<ConnKey>) -> usize {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(subscribers) = inner.chats.get(&chat) else {
            return 0;
        };
        if subscribers.iter().all(|key| Some(*key) == skip) {
            return 0;
        }
        // Serialised once for every follower (under the lock: frames are
        // small, and this keeps the order of frames per chat).
        let text: Arc<str> = frame.to_json().into();
        let mut sent = 0;
        for key in subscribers {
            if Some(*key) == skip {
                continue;
            }
            if let Some(connection) = inner.connections.get_mut(key) {
                deliver(connection, &text);
                sent += 1;
            }
        }
        sent
    }

    /// Queues a frame to every operator connection.
    pub fn publish_operators(&self, frame: &ServerFrame) {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        for connection in inner.connections.values_mut() {
            if connection.operator.is_some() {
                deliver(connection, &text);
            }
        }
    }

    /// Queues a frame to the connections of one operator (all their tabs).
    pub fn publish_operator(&self, username: &str, frame: &ServerFrame) -> Vec<ConnKey> {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        let mut keys = Vec::new();
        for (key, connection) in &mut inner.connections {
            if connection
                .operator
                .as_ref()
                .is_some_and(|p| p.username == username)
            {
                deliver(connection, &text);
                keys.push(*key);
            }
        }
        keys
    }

    /// The operator connections whose presence passes `wanted`.
    fn operator_keys_where(&self, wanted: impl Fn(&OperatorPresence) -> bool) -> Vec<ConnKey> {
        self.lock()
            .connections
            .iter()
            .filter(|(_, c)| c.operator.as_ref().is_some_and(&wanted))
            .map(|(key, _)| *key)
            .collect()
    }

    /// The connections of one operator (all their tabs).
    pub fn operator_keys(&self, username: &str) -> Vec<ConnKey> {
        self.operator_keys_where(|p| p.username == username)
    }

    /// The connections of one operator whose access serves `site` (every
    /// one while the site is not known yet).
    pub fn operator_keys_serving(&self, username: &str, site: &str) -> Vec<ConnKey> {
        self.operator_keys_where(|p| {
            p.username == username && (site.is_empty() || p.access.serves(site))
        })
    }

    /// Whether a connection is (still) an operator's: false once its
    /// session was ended.
    pub fn is_operator(&self, key: ConnKey) -> bool {
        self.lock()
            .connections
            .get(&key)
            .is_some_and(|c| c.operator.is_some())
    }

    /// Queues a frame to every welcomed connection (presence, drain).
    pub fn publish_all(&self, frame: &ServerFrame) -> usize {
        let text: Arc<str> = frame.to_json().into();
        let mut inner = self.lock();
        let mut sent = 0;
        for connection in inner.connections.values_mut() {
            sent += usize::from(connection.welcomed);
            deliver(connection, &text);
        }
        sent
    }

    /// Asks every connection to close (shutdown).
    pub fn close_all(&self, reason: &'static str) {
        let inner = self.lock();
        for connection in inner.connections.values() {
            let _ = connection
                .tx
                .try_send(Outgoing::Close(Closing::going_away(reason)));
            connection.kick.notify_one();
        }
    }

    /// Followers per chat, for /metrics: (chats followed, subscriptions).
    pub fn subscription_counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let subscriptions = inner.chats.values().map(HashSet::len).sum();
        (inner.chats.len(), subscriptions)
    }

    /// Operators by username with their display names (for presence frames).
    pub fn operator_names(&self) -> BTreeMap<String, String> {
        self.lock()
            .connections
            .values()
            .filter_map(|c| c.operator.as_ref())
            .map(|p| (p.username.clone(), p.name.clone()))
            .collect()
    }
}

/// Queues a broadcast now, or keeps it until the connection is welcomed.
fn deliver(connection: &mut Connection, text: &Arc<str>) {
    if connection.welcomed {
        offer(connection, Outgoing::Text(text.clone()));
    } else if connection.early.len() < EARLY_LIMIT {
        connection.early.push(text.clone());
    } else {
        connection.kick.notify_one();
    }
}

/// Queues without waiting; a full queue means the client is too slow, so it
/// is kicked (it resyncs from the store when it reconnects).
fn offer(connection: &Connection, item: Outgoing) {
    if let Err(mpsc::error::TrySendError::Full(_)) = connection.tx.try_send(item) {
        tracing::warn!(
            key = connection.key.0,
            "a client's outgoing queue is full; disconnecting it so it resyncs"
        );
        connection.kick.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::Ulid;

    fn access(username: &str) -> Access {
        Access {
            username: username.into(),
            role: crate::store::records::OperatorRole::Agent,
            sites: vec!["demo".into()],
        }
    }

    fn text(item: Outgoing) -> String {
        match item {
            Outgoing::Text(text) => text.to_string(),
            Outgoing::Close(closing) => format!("close: {}", closing.reason),
        }
    }

    #[tokio::test]
    async fn a_chat_frame_reaches_every_follower_but_the_sender() {
        let hub = Hub::default();
        let Registration {
            key: a,
            queue: mut rx_a,
            ..
        } = hub.register();
        let Registration {
            key: b,
            queue: mut rx_b,
            ..
        } = hub.register();
        let chat = ChatId(Ulid(1));
        hub.subscribe(a, chat);
        hub.subscribe(b, chat);
        hub.mark_welcomed(a);
        hub.mark_welcomed(b);
        let frame = ServerFrame::Pong { nonce: 7 };
        assert_eq!(hub.publish_chat(chat, &frame, Some(a)), 1);
        assert!(text(rx_b.recv().await.unwrap()).contains("pong"));
        assert!(rx_a.try_recv().is_err());
        hub.unregister(b);
        assert_eq!(hub.publish_chat(chat, &frame, Some(a)), 0);
    }

    #[tokio::test]
    async fn broadcasts_wait_for_welcome_and_then_arrive_in_order() {
        let hub = Hub::default();
        let Registration {
            key,
            outbox,
            queue: mut rx,
            ..
        } = hub.register();
        let chat = ChatId(Ulid(2));
        hub.subscribe(key, chat);
        hub.publish_chat(chat, &ServerFrame::Pong { nonce: 1 }, None);
        hub.publish_all(&ServerFrame::Pong { nonce: 2 });
        assert!(rx.try_recv().is_err(), "nothing before welcome");
        // The welcome stands in as a pong with nonce 0.
        outbox.send(&ServerFrame::Pong { nonce: 0 }).await;
        hub.mark_welcomed(key);
        assert!(text(rx.recv().await.unwrap()).contains("\"nonce\":0"));
        assert!(text(rx.recv().await.unwrap()).contains("\"nonce\":1"));
        assert!(text(rx.recv().await.unwrap()).contains("\"nonce\":2"));
    }

    #[test]
    fn presence_counts_each_online_operator_once_and_merges_the_peer() {
        let hub = Hub::default();
        let first_tab = hub.register().key;
        let second_tab = hub.register().key;
        let away = hub.register().key;
        let ada = OperatorPresence {
            username: "ada".into(),
            name: "Ada".into(),
            online: true,
            access: access("ada"),
            version: 1,
        };
        hub.set_operator(first_tab, ada.clone());
        hub.set_operator(second_tab, ada);
        hub.set_operator(
            away,
            OperatorPresence {
                username: "bob".into(),
                name: "Bob".into(),
                online: false,
                access: access("bob"),
                version: 1,
            },
        );
        assert_eq!(hub.local_operators_online(), vec!["ada".to_string()]);
        hub.set_remote_operators(vec!["cy".into(), "ada".into()]);
        assert_eq!(hub.operators_online(), vec!["ada".to_string(), "cy".into()]);
    }

    #[tokio::test]
    async fn visitors_learn_how_many_operators_serve_their_site_never_who() {
        let hub = Hub::default();
        let Registration {
            key: op,
            queue: mut op_rx,
            ..
        } = hub.register();
        let Registration {
            key: visitor,
            queue: mut visitor_rx,
            ..
        } = hub.register();
        hub.set_operator(
            op,
            OperatorPresence {
                username: "ada".into(),
                name: "Ada".into(),
                online: true,
                access: access("ada"),
                version: 1,
            },
        );
        hub.set_visitor(visitor, "demo", ChatId::default());
        hub.mark_welcomed(op);
        hub.mark_welcomed(visitor);
        hub.publish_presence(&["ada".to_string()], |site| u32::from(site == "demo"));
        let to_operator = text(op_rx.recv().await.unwrap());
        let to_visitor = text(visitor_rx.recv().await.unwrap());
        assert!(to_operator.contains("\"ada\""));
        assert!(!to_visitor.contains("ada"), "{to_visitor}");
        assert!(to_visitor.contains("\"operators_online\":1"));
    }

    #[tokio::test]
    async fn a_revoked_session_gets_its_error_then_a_close() {
        let hub = Hub::default();
        let Registration {
            key, queue: mut rx, ..
        } = hub.register();
        hub.set_operator(
            key,
            OperatorPresence {
                username: "ada".into(),
                name: "Ada".into(),
                online: true,
                access: access("ada"),
                version: 1,
            },
        );
        hub.mark_welcomed(key);
        assert!(hub.stale_sessions("ada", Some(1)).is_empty());
        assert_eq!(hub.stale_sessions("ada", Some(2)), vec![key]);
        assert_eq!(hub.stale_sessions("ada", None), vec![key]);
        hub.end_session(key, &ServerFrame::Pong { nonce: 9 });
        assert!(text(rx.recv().await.unwrap()).contains("pong"));
        assert_eq!(text(rx.recv().await.unwrap()), "close: session ended");
        assert!(hub.operator_sessions().is_empty());
    }

    #[tokio::test]
    async fn a_client_that_cannot_keep_up_is_kicked_and_the_warning_names_it() {
        let log = crate::test_relay::captured_log();
        let hub = Hub::default();
        let _ = hub.register();
        let Registration {
            key,
            queue: _unread,
            kick,
            ..
        } = hub.register();
        hub.mark_welcomed(key);
        let kicked = kick.notified();
        for nonce in 0..=OUTGOING_QUEUE as u64 {
            hub.send_to(key, &ServerFrame::Pong { nonce });
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), kicked)
            .await
            .expect("the writer is told to hang up");
        let needle = format!("key={}", key.0);
        assert!(
            log.text()
                .lines()
                .any(|line| line.contains("outgoing queue is full") && line.contains(&needle)),
            "{}",
            log.text()
        );
    }
}
