//! A fake relay: what a client can observe of a real one, in memory.
//!
//! Its store survives a crash (the real one is SQLite with synchronous
//! writes, so whatever it acked is on disk). Connections do not.

use std::collections::{BTreeMap, BTreeSet};
use twinline_core::protocol::{ChatResume, ChatSync, ClientFrame, DeploymentRole, ServerFrame};
use twinline_core::session::ConnId;
use twinline_core::{Author, ChatId, Message, MessageId, Role};

/// A client connection as the relay sees it.
#[derive(Clone, Debug)]
pub struct Peer {
    pub client: usize,
    pub conn: ConnId,
    pub role: Option<Role>,
    pub chat: Option<ChatId>,
}

#[derive(Debug)]
pub struct Relay {
    pub role: DeploymentRole,
    pub name: &'static str,
    pub up: bool,
    pub draining_to: Option<&'static str>,
    pub store: BTreeMap<MessageId, Message>,
    /// Ids in the order they were stored: the change feed.
    pub feed: Vec<MessageId>,
    /// How far the peer's feed has been applied here.
    pub applied: usize,
    pub peers: Vec<Peer>,
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
        }
    }

    /// Handles one frame from a client; returns frames to send, each to a
    /// (client, conn).
    pub fn handle(
        &mut self,
        client: usize,
        conn: ConnId,
        frame: ClientFrame,
    ) -> Vec<(usize, ConnId, ServerFrame)> {
        let mut out = Vec::new();
        match frame {
            ClientFrame::Hello { role, resume, .. } => {
                let chat = match role {
                    Role::Visitor => resume.first().map(|r| r.chat),
                    _ => None,
                };
                self.peers
                    .retain(|p| !(p.client == client && p.conn == conn));
                self.peers.push(Peer {
                    client,
                    conn,
                    role: Some(role),
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
                    },
                ));
                if let Some(to) = self.draining_to {
                    out.push((
                        client,
                        conn,
                        ServerFrame::Migrate {
                            to: to.into(),
                            reason: "maintenance".into(),
                        },
                    ));
                }
            }
            ClientFrame::Send { msg } => {
                let id = msg.id;
                out.extend(self.store_and_fan_out(msg, Some((client, conn))));
                out.push((client, conn, ServerFrame::Ack { id }));
            }
            ClientFrame::Ping { nonce } => out.push((client, conn, ServerFrame::Pong { nonce })),
            _ => {}
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

    /// Stores a message (from a client or replication) and sends it to
    /// every other welcomed connection that may see it.
    pub fn store_and_fan_out(
        &mut self,
        msg: Message,
        from: Option<(usize, ConnId)>,
    ) -> Vec<(usize, ConnId, ServerFrame)> {
        if self.store.contains_key(&msg.id) {
            return Vec::new();
        }
        self.store.insert(msg.id, msg.clone());
        self.feed.push(msg.id);
        self.peers
            .iter()
            .filter(|p| Some((p.client, p.conn)) != from)
            .filter(|p| p.role == Some(Role::Operator) || p.chat == Some(msg.chat))
            .map(|p| (p.client, p.conn, ServerFrame::Message { msg: msg.clone() }))
            .collect()
    }

    pub fn drop_peer(&mut self, client: usize, conn: ConnId) {
        self.peers
            .retain(|p| !(p.client == client && p.conn == conn));
    }

    /// Messages the other relay has that this one lacks.
    pub fn lag_behind(&self, other: &Relay) -> u64 {
        other
            .store
            .keys()
            .filter(|id| !self.store.contains_key(id))
            .count() as u64
    }
}
