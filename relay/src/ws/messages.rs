//! A client's messages: checked, submitted to the store, then fanned out
//! and acked in the order they came.
//!
//! What follows a commit (fan-out, ack) runs in the order the messages
//! came, and every other frame, and every refusal, first waits for the
//! messages before it ([`Context::settle`], [`Context::refuse`]): what the
//! client sees is the order it sent.

use super::context::Context;
use super::pipeline::Committed;
use super::refusal::{record_error_code, refusal_code};
use crate::store::records::{Applied, Record, Refusal};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use twinline_core::protocol::{ErrorCode, ServerFrame};
use twinline_core::{Author, ChatId, Message, MessageId, Role};

impl Context<'_> {
    /// Waits until every pending message is committed, fanned out and acked.
    pub async fn settle(&mut self) {
        while let Some(done) = self.pipeline.next_committed().await {
            self.after_commit(done).await;
        }
    }

    /// Settles, then queues an error frame: a refusal never overtakes the
    /// acks of the messages sent before it.
    pub async fn refuse(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
    ) {
        self.settle().await;
        self.reply_error(code, message, id).await;
    }

    /// Stores a message (idempotent by id), fans it out, then acks it.
    /// `author` is the identity the connection proved; the frame must match.
    pub async fn store_message(&mut self, msg: Message, author: &Author) {
        if msg.author.role != author.role || msg.author.id != author.id {
            self.refuse(
                ErrorCode::Forbidden,
                "a message's author must be the connection's own identity",
                Some(msg.id),
            )
            .await;
            return;
        }
        // A visitor's own message may put its chat in the operators' queue.
        self.store_unchecked(msg, author.role == Role::Visitor)
            .await;
    }

    /// Stores a message someone else wrote that an operator's console
    /// replays after a failover. Operators are authenticated staff and may
    /// vouch for any message of a chat they hold; visitors never reach this.
    pub async fn store_replay(&mut self, msg: Message) {
        if msg.author.role == Role::System {
            self.refuse(
                ErrorCode::Forbidden,
                "system messages are written by relays only",
                Some(msg.id),
            )
            .await;
            return;
        }
        self.state.metrics.messages_replayed.fetch_add(1, Relaxed);
        self.store_unchecked(msg, false).await;
    }

    /// Checks the text, submits the message to the store and queues what
    /// follows its commit: fan-out to the chat's other followers, the
    /// operators' queue if the chat waits, then the ack. A duplicate is
    /// acked again; a message that could not be stored gets an error frame
    /// instead of an ack. `by_visitor`: sent by a visitor connection, so
    /// held to the per-address cap on waiting chats.
    async fn store_unchecked(&mut self, mut msg: Message, by_visitor: bool) {
        let received = Instant::now();
        let id = msg.id;
        // The time that orders things is when this relay got it, not what
        // the client says (docs/PROTOCOL.md, "Numbers and times").
        msg.at = crate::clock::now();
        if let Err(error) = msg.check() {
            self.refuse(record_error_code(&error), error.to_string(), Some(id))
                .await;
            return;
        }
        let chat = msg.chat;
        let from_visitor = msg.author.role == Role::Visitor;
        if by_visitor && !self.may_wait(chat).await {
            self.state.metrics.rate_limited.fetch_add(1, Relaxed);
            self.refuse(
                ErrorCode::RateLimited,
                "too many chats are waiting from this address; this message was not \
                 processed, send it again shortly",
                Some(id),
            )
            .await;
            return;
        }
        let committed = self
            .state
            .store
            .submit(Record::Message(msg), &self.state.config.name);
        self.pipeline.push(async move {
            Committed {
                id,
                chat,
                from_visitor,
                received,
                outcome: committed.await,
            }
        });
    }

    /// Whether a visitor message may (keep) `chat` in the operators' queue
    /// under the per-address cap: counted already, room left, or room
    /// once the address's counted chats that no longer wait are let go.
    async fn may_wait(&self, chat: ChatId) -> bool {
        let ip = self.peer.ip;
        let Err(counted) = self.state.waiting.admit(ip, chat) else {
            return true;
        };
        let no_longer_waiting = self
            .state
            .store
            .read(move |conn| {
                let mut waiting = Vec::new();
                for chat in counted.iter() {
                    if let Some(record) = crate::store::reads::chat_in(conn, *chat)?
                        && record.status.state == twinline_core::ChatState::Waiting
                    {
                        waiting.push(*chat);
                    }
                }
                Ok(counted
                    .iter()
                    .filter(|chat| !waiting.contains(chat))
                    .copied()
                    .collect::<Vec<_>>())
            })
            .await;
        match no_longer_waiting {
            Ok(gone) => {
                self.state.waiting.forget(ip, &gone);
                self.state.waiting.admit(ip, chat).is_ok()
            }
            // Cannot tell: do not refuse a visitor for the store's sake.
            Err(_) => true,
        }
    }

    /// What follows a message's commit: fan-out to the chat's other
    /// followers and the operators' queue if the chat waits, then the ack
    /// (a duplicate is acked again); an error frame instead of an ack if the
    /// store failed.
    pub async fn after_commit(&self, done: Committed) {
        let Committed {
            id,
            chat,
            from_visitor,
            received,
            outcome,
        } = done;
        match outcome {
            Ok(Applied {
                refused: Some(refusal),
                ..
            }) => {
                tracing::info!(%id, %chat, %refusal, "message refused");
                self.reply_error(refusal_code(&refusal), refusal.to_string(), Some(id))
                    .await;
                if refusal == Refusal::Erased {
                    // The replay rule: the client drops the chat.
                    self.reply(&ServerFrame::Erased { chat }).await;
                }
                return;
            }
            Ok(applied) if applied.changed => {
                self.state.metrics.messages_stored.fetch_add(1, Relaxed);
                if let Record::Message(msg) = applied.record {
                    self.state.hub.publish_chat(
                        chat,
                        &ServerFrame::Message { msg },
                        Some(self.key),
                    );
                }
                if from_visitor {
                    crate::fanout::queue_if_waiting(&self.state, applied.chat_state).await;
                }
            }
            Ok(_) => {
                self.state.metrics.messages_duplicate.fetch_add(1, Relaxed);
            }
            Err(error) => {
                tracing::error!(%error, "storing a message failed; not acknowledged");
                self.reply_error(
                    ErrorCode::Unavailable,
                    "the message could not be stored; it was not acknowledged, send it again",
                    Some(id),
                )
                .await;
                return;
            }
        }
        self.reply(&ServerFrame::Ack { id }).await;
        self.state.metrics.observe_ack(received.elapsed());
    }
}
