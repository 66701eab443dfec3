//! A fake relay: what a client or the moderator can observe of a real one,
//! in memory.
//!
//! Like the real relay it pipelines: a `send` is read, waits for the next
//! group commit, and only then is stored, fanned out and acked (an `ack`
//! means durable). A crash loses what was read but not committed, and every
//! connection; the committed store survives it (the real one is SQLite with
//! `synchronous=FULL`). Its `/v1/health` says what the real one says: ready
//! while it runs, `draining` while drained, and its replication lag.

use std::collections::{BTreeMap, BTreeSet};
use twinline_core::protocol::{
    ChatResume, ChatSync, ClientFrame, DeploymentRole, Health, ReplicationLag, ServerFrame,
};
use twinline_core::session::ConnId;
use twinline_core::{Author, ChatId, Message, MessageId, Role};

/// Frames to send, each to a (client, conn).
pub type Out = Vec<(usize, ConnId, ServerFrame)>;

/// A client connection as the relay sees it.
#[derive(Clone, Debug)]
pub struct Peer {
    pub client: usize,
    pub conn: ConnId,
    pub role: Role,
    pub chat: Option<ChatId>,
}

#[derive(Debug)]
pub struct Relay {
    pub role: DeploymentRole,
    pub name: &'static str,
    pub up: bool,
    pub draining_to: Option<String>,
    /// Committed messages: what survives a crash.
    pub store: BTreeMap<MessageId, Message>,
    /// Ids in the order they were committed: the change feed.
    pub feed: Vec<MessageId>,
    /// How far the peer's feed has been applied here.
    pub applied: usize,
    pub peers: Vec<Peer>,
    /// Sends read and not yet committed, with who sent them.
    committing: Vec<(usize, ConnId, Message)>,
    commit_scheduled: bool,
    /// The group commit's time to disk, in ms (from, to).
    pub commit_ms: (u64, u64),
    /// A deliberately broken relay that acks on receipt, before its commit:
    /// only for the test that shows the checkers catch it.
    pub acks_before_commit: bool,
}

impl Relay {
    pub fn new(role: DeploymentRole, name: &'static str) -> Relay {
        Relay {
            role,
            name,
            up: true,
            draining_to: None,
            store: BTreeMap::new(),
            feed: Vec::new(),
            applied: 0,
            peers: Vec::new(),
            committing: Vec::new(),
            commit_scheduled: false,
            commit_ms: (1, 3),
            acks_before_commit: false,
        }
    }

    /// Handles one frame from a client.
    pub fn handle(&mut self, client: usize, conn: ConnId, frame: ClientFrame) -> Out {
        let mut out = Vec::new();
        match frame {
            ClientFrame::Hello { role, resume, .. } => {
                let chat = match role {
                    Role::Visitor => resume.first().map(|r| r.chat),
                    _ => None,
                };
                self.drop_peer(client, conn);
                self.peers.push(Peer {
                    client,
                    conn,
                    role,
                    chat,
                });
                let chats = self.syncs(role, &resume);
                out.push((
                    client,
                    conn,
                    ServerFrame::Welcome {
                        v: 1,
                        deployment: self.name.into(),
                        role: self.role,
                        epoch: 1,
                        you: Author {
                            role,
                            id: format!("client{client}"),
                            name: String::new(),
                        },
                        chats,
                        operators_online: 1,
                        mail: false,
                    },
                ));
                if let Some(to) = &self.draining_to {
                    out.push((client, conn, migrate(to)));
                }
            }
            ClientFrame::Send { msg } => {
                if self.acks_before_commit {
                    out.push((client, conn, ServerFrame::Ack { id: msg.id }));
                }
                self.committing.push((client, conn, msg));
            }
            ClientFrame::Ping { nonce } => out.push((client, conn, ServerFrame::Pong { nonce })),
            _ => {}
        }
        out
    }

    /// True once per batch that needs a commit: the caller schedules it.
    pub fn take_commit_request(&mut self) -> bool {
        let wanted = !self.committing.is_empty() && !self.commit_scheduled;
        self.commit_scheduled |= wanted;
        wanted
    }

    /// The group commit: stores the batch, fans it out and acks it, in the
    /// order it was read.
    pub fn commit(&mut self) -> Out {
        self.commit_scheduled = false;
        let mut out = Vec::new();
        for (client, conn, msg) in std::mem::take(&mut self.committing) {
            let id = msg.id;
            out.extend(self.store_and_fan_out(msg, Some((client, conn))));
            if !self.acks_before_commit {
                out.push((client, conn, ServerFrame::Ack { id }));
            }
        }
        out
    }

    fn syncs(&self, role: Role, resume: &[ChatResume]) -> Vec<ChatSync> {
        let mut chats: BTreeSet<ChatId> = resume.iter().map(|r| r.chat).collect();
        if role == Role::Operator {
            chats.extend(self.store.values().map(|m| m.chat));
        }
        chats
            .into_iter()
            .map(|chat| {
                let have: BTreeSet<MessageId> = resume
                    .iter()
                    .filter(|r| r.chat == chat)
                    .flat_map(|r| r.have.iter().copied())
                    .collect();
                ChatSync {
                    chat,
                    missing: self
                        .store
                        .values()
                        .filter(|m| m.chat == chat && !have.contains(&m.id))
                        .cloned()
                        .collect(),
                    lacking: have
                        .iter()
                        .filter(|id| !self.store.contains_key(id))
                        .copied()
                        .collect(),
                    ..ChatSync::default()
                }
            })
            .collect()
    }

    /// Stores a committed message (from a client or replication) and sends
    /// it to every other welcomed connection that may see it.
    pub fn store_and_fan_out(&mut self, msg: Message, from: Option<(usize, ConnId)>) -> Out {
        if self.store.contains_key(&msg.id) {
            return Vec::new();
        }
        self.store.insert(msg.id, msg.clone());
        self.feed.push(msg.id);
        self.peers
            .iter()
            .filter(|p| Some((p.client, p.conn)) != from)
            .filter(|p| p.role == Role::Operator || p.chat == Some(msg.chat))
            .map(|p| (p.client, p.conn, ServerFrame::Message { msg: msg.clone() }))
            .collect()
    }

    pub fn drop_peer(&mut self, client: usize, conn: ConnId) {
        self.peers
            .retain(|p| !(p.client == client && p.conn == conn));
    }

    /// SIGKILL: connections and uncommitted sends are gone, the store stays.
    pub fn crash(&mut self) {
        self.up = false;
        self.peers.clear();
        self.draining_to = None;
        self.committing.clear();
        self.commit_scheduled = false;
    }

    /// `POST /v1/admin/drain`: every client is told to migrate, and so is
    /// every client that connects until the undrain.
    pub fn drain(&mut self, to: &str) -> Out {
        self.draining_to = Some(to.into());
        self.peers
            .iter()
            .map(|p| (p.client, p.conn, migrate(to)))
            .collect()
    }

    /// Messages the peer has committed that this relay lacks.
    pub fn lag_behind(&self, peer: &Relay) -> u64 {
        peer.store
            .keys()
            .filter(|id| !self.store.contains_key(id))
            .count() as u64
    }

    /// `/v1/health`, as the real relay answers it.
    pub fn health(&self, peer: &Relay, replication_cut: bool) -> Health {
        Health {
            deployment: self.name.into(),
            role: self.role,
            epoch: 1,
            ready: true,
            draining: self.draining_to.is_some(),
            lag: Some(ReplicationLag {
                changes: self.lag_behind(peer),
                seconds: 0.0,
                connected: peer.up && !replication_cut,
            }),
            version: String::new(),
        }
    }
}

fn migrate(to: &str) -> ServerFrame {
    ServerFrame::Migrate {
        to: to.into(),
        reason: "maintenance".into(),
    }
}
