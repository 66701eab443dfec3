//! One connected client: what it has proven, and frame dispatch.
//!
//! A connection starts anonymous; `hello` with a valid token makes it a
//! visitor (bound to one site and chat) or an operator. Every frame after
//! that is checked against that identity, so a token for one chat can never
//! touch another. Parsing, limits and refusals answer with an error frame
//! and keep the connection; only a bad token or protocol version ends it.
//!
//! Messages are pipelined: a `send` is queued for the store writer at once
//! and the connection reads on while it commits, so a client that sends
//! many messages (a console replaying after a failover, a busy operator)
//! gets them committed together instead of one commit per message. What
//! follows a commit (fan-out, ack) runs in the order the messages came, and
//! every other frame, and every refusal, first waits for the messages
//! before it: what the client sees is the order it sent.

use super::connection::queue;
use super::{operator, visitor};
use crate::authz::Access;
use crate::hub::{Closing, ConnKey, Outgoing};
use crate::limits::TokenBucket;
use crate::state::Shared;
use crate::store::records::Record;
use crate::store::records::Refusal;
use crate::tokens::Claim;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use tokio::sync::mpsc;
use twinline_core::model::RecordError;
use twinline_core::protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Author, ChatId, Message, MessageId, Role, VisitorId};

/// Where the upgrade came from.
#[derive(Clone, Debug)]
pub struct Context {
    /// The Origin header, if the client sent one.
    pub origin: Option<String>,
    /// Whether that origin is this relay (its own console).
    pub same_origin: bool,
    /// The client's address.
    pub ip: IpAddr,
}

/// A visitor's proven identity.
#[derive(Clone, Debug)]
pub struct VisitorAuth {
    /// Site id.
    pub site: String,
    /// Visitor id.
    pub visitor: VisitorId,
    /// The one chat they may use.
    pub chat: ChatId,
}

/// An operator's proven identity: its token, checked against its account
/// at hello.
#[derive(Clone, Debug)]
pub struct OperatorAuth {
    /// Login name, role and sites, from the account.
    pub access: Access,
    /// Display name.
    pub name: String,
    /// Availability for new chats.
    pub online: bool,
    /// The account version the session was issued at.
    pub version: u64,
}

/// What the connection has proven.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Before `hello`.
    Anonymous,
    /// A visitor.
    Visitor(VisitorAuth),
    /// An operator.
    Operator(OperatorAuth),
}

/// Most messages of one connection waiting for their commit; the
/// connection stops reading until the oldest is done.
pub const PIPELINE_DEPTH: usize = 256;

/// A message's commit: resolves once the store has it (or failed to).
type Completion = Pin<Box<dyn Future<Output = Committed> + Send>>;

/// A message the store has answered for; what follows (fan-out, ack) is
/// done by [`Client::after_commit`] in the order the messages came.
pub struct Committed {
    id: MessageId,
    chat: ChatId,
    from_visitor: bool,
    received: Instant,
    outcome: Result<crate::store::records::Applied, crate::store::StoreError>,
}

/// One connection's protocol state.
pub struct Client {
    pub(super) state: Shared,
    pub(super) key: ConnKey,
    tx: mpsc::Sender<Outgoing>,
    pub(super) context: Context,
    pub(super) identity: Identity,
    bucket: TokenBucket,
    /// Pings (JSON and WebSocket), before and after hello.
    pings: TokenBucket,
    /// The close frame the last `Break` ends the connection with.
    refusal: Closing,
    /// Messages submitted to the store, oldest first. Only ever reached
    /// through `&mut self` (`Mutex::get_mut`, no locking): the mutex is
    /// there to make `Client` `Sync`, which handlers holding `&Client`
    /// across an await need.
    pending: Mutex<FuturesOrdered<Completion>>,
}

impl Client {
    pub(super) fn new(
        state: Shared,
        key: ConnKey,
        tx: mpsc::Sender<Outgoing>,
        context: Context,
    ) -> Client {
        let rate = state.config.frame_rate;
        Client {
            bucket: TokenBucket::new(rate, rate.saturating_mul(5), Instant::now()),
            pings: TokenBucket::new(
                crate::limits::defaults::PING_RATE,
                crate::limits::defaults::PING_BURST,
                Instant::now(),
            ),
            refusal: Closing::policy("hello refused"),
            state,
            key,
            tx,
            context,
            identity: Identity::Anonymous,
            pending: Mutex::new(FuturesOrdered::new()),
        }
    }

    /// How many messages wait for their commit.
    pub(super) fn pending(&mut self) -> usize {
        self.pipeline().len()
    }

    fn pipeline(&mut self) -> &mut FuturesOrdered<Completion> {
        self.pending
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The oldest pending message once it is committed; `None` when
    /// nothing is pending. Cancel-safe (the connection loop selects on it):
    /// hand what it returns to [`Client::after_commit`].
    pub(super) async fn next_committed(&mut self) -> Option<Committed> {
        self.pipeline().next().await
    }

    /// Waits until every pending message is committed, fanned out and acked.
    pub(super) async fn settle(&mut self) {
        while let Some(done) = self.pipeline().next().await {
            self.after_commit(done).await;
        }
    }

    /// Settles, then queues an error frame: a refusal never overtakes the
    /// acks of the messages sent before it.
    pub(super) async fn refuse(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
    ) {
        self.settle().await;
        self.reply_error(code, message, id).await;
    }

    /// Queues a frame to this client.
    pub(super) async fn reply(&self, frame: &ServerFrame) {
        queue(&self.tx, frame).await;
    }

    /// Queues an error frame to this client.
    pub(super) async fn reply_error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
    ) {
        self.state.metrics.errors_sent.fetch_add(1, Relaxed);
        self.reply(&ServerFrame::Error {
            code,
            message: message.into(),
            id,
        })
        .await;
    }

    /// Handles one text frame; `Break` ends the connection (with
    /// [`Client::refusal`] as the reason).
    pub(super) async fn handle_text(&mut self, text: &str) -> ControlFlow<()> {
        self.state.metrics.frames_in.fetch_add(1, Relaxed);
        let anonymous = matches!(self.identity, Identity::Anonymous);
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(error) => {
                self.refuse(error.code(), error.to_string(), None).await;
                return self.continue_unless(anonymous, "hello expected first");
            }
        };
        // Before hello, nothing but hello: an unauthenticated socket gets
        // no work done for it.
        if anonymous && !matches!(frame, ClientFrame::Hello { .. }) {
            return self.refuse_before_hello().await;
        }
        if !matches!(frame, ClientFrame::Send { .. }) {
            self.settle().await;
        }
        if let ClientFrame::Ping { nonce } = frame {
            self.take_ping()?;
            self.reply(&ServerFrame::Pong { nonce }).await;
            return ControlFlow::Continue(());
        }
        if !self.bucket.take(Instant::now()) {
            self.state.metrics.rate_limited.fetch_add(1, Relaxed);
            self.refuse(
                ErrorCode::RateLimited,
                "too many frames; this one was not processed, send it again shortly",
                frame.ack_id(),
            )
            .await;
            return ControlFlow::Continue(());
        }
        match (frame, self.identity.clone()) {
            (
                ClientFrame::Hello {
                    v,
                    role,
                    site,
                    token,
                    resume,
                },
                Identity::Anonymous,
            ) => self.hello(v, role, site, token, resume).await,
            (ClientFrame::Hello { .. }, _) => {
                self.reply_error(ErrorCode::BadFrame, "hello was already accepted", None)
                    .await;
                ControlFlow::Continue(())
            }
            (_, Identity::Anonymous) => self.refuse_before_hello().await,
            (frame, Identity::Visitor(auth)) => visitor::handle(self, &auth, frame).await,
            // A session ended meanwhile (logout, password change): its
            // connection is closing; nothing more is done for it.
            (_, Identity::Operator(_)) if !self.state.hub.is_operator(self.key) => {
                ControlFlow::Break(())
            }
            (frame, Identity::Operator(auth)) => operator::handle(self, &auth, frame).await,
        }
    }

    async fn refuse_before_hello(&mut self) -> ControlFlow<()> {
        self.reply_error(ErrorCode::HelloFirst, "send hello with a token first", None)
            .await;
        self.refusal = Closing::policy("hello expected first");
        ControlFlow::Break(())
    }

    /// Handles a binary frame: refused (frames are JSON text), and before
    /// hello it ends the connection.
    pub(super) async fn handle_binary(&mut self) -> ControlFlow<()> {
        self.state.metrics.frames_in.fetch_add(1, Relaxed);
        let anonymous = matches!(self.identity, Identity::Anonymous);
        let (code, message) = if anonymous {
            (ErrorCode::HelloFirst, "send hello with a token first")
        } else {
            super::connection::BINARY_REFUSAL
        };
        self.refuse(code, message, None).await;
        self.continue_unless(anonymous, "hello expected first")
    }

    /// Takes a token from the ping bucket; `Break` when it is empty (no
    /// honest client pings this often).
    pub(super) fn take_ping(&mut self) -> ControlFlow<()> {
        if self.pings.take(Instant::now()) {
            ControlFlow::Continue(())
        } else {
            self.state.metrics.rate_limited.fetch_add(1, Relaxed);
            self.refusal = Closing::policy("too many pings");
            ControlFlow::Break(())
        }
    }

    /// The close frame owed when a handler answered `Break`.
    pub(super) fn refusal(&self) -> Closing {
        self.refusal
    }

    fn continue_unless(&mut self, end: bool, reason: &'static str) -> ControlFlow<()> {
        if end {
            self.refusal = Closing::policy(reason);
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    async fn hello(
        &mut self,
        v: u32,
        role: Role,
        site: String,
        token: String,
        resume: Vec<twinline_core::protocol::ChatResume>,
    ) -> ControlFlow<()> {
        if v != PROTOCOL_VERSION {
            self.reply_error(
                ErrorCode::Version,
                format!("this relay speaks protocol {PROTOCOL_VERSION}, not {v}"),
                None,
            )
            .await;
            return ControlFlow::Break(());
        }
        let claim = match self.state.signer.verify(&token, crate::clock::now()) {
            Ok(claim) => claim,
            Err(error) => {
                self.reply_error(ErrorCode::BadToken, error.to_string(), None)
                    .await;
                return ControlFlow::Break(());
            }
        };
        match (role, claim) {
            (
                Role::Visitor,
                Claim::Visitor {
                    site: token_site,
                    visitor,
                    chat,
                    ..
                },
            ) => {
                if let Err(limited) = self.state.rates.by_visitor(visitor, Instant::now()) {
                    self.state.metrics.rate_limited.fetch_add(1, Relaxed);
                    self.reply_error(
                        ErrorCode::RateLimited,
                        format!(
                            "too many connections for this visitor; retry in {} s",
                            limited.retry_after_secs
                        ),
                        None,
                    )
                    .await;
                    return ControlFlow::Break(());
                }
                if token_site != site {
                    self.reply_error(ErrorCode::Forbidden, "the token is for another site", None)
                        .await;
                    return ControlFlow::Break(());
                }
                if let Some(origin) = &self.context.origin
                    && !self.context.same_origin
                    && !self.state.config.site_allows(&site, origin)
                {
                    self.state.metrics.origin_refused.fetch_add(1, Relaxed);
                    self.reply_error(
                        ErrorCode::Forbidden,
                        format!("origin {origin} may not embed site {site:?}"),
                        None,
                    )
                    .await;
                    return ControlFlow::Break(());
                }
                tracing::debug!(ip = %self.context.ip, %chat, "visitor connected");
                let auth = VisitorAuth {
                    site,
                    visitor,
                    chat,
                };
                self.identity = Identity::Visitor(auth.clone());
                // From here a `Break` is the store failing, not the client.
                self.refusal = Closing::INTERNAL;
                visitor::welcome(self, &auth, resume).await
            }
            (
                Role::Operator,
                Claim::Operator {
                    username,
                    name,
                    ver,
                    ..
                },
            ) => {
                let origin_ok = self.context.origin.as_deref().is_none_or(|origin| {
                    self.context.same_origin || self.state.config.peer_origin() == Some(origin)
                });
                if !origin_ok {
                    self.state.metrics.origin_refused.fetch_add(1, Relaxed);
                    self.reply_error(
                        ErrorCode::Forbidden,
                        "operators connect from the console the deployments serve",
                        None,
                    )
                    .await;
                    return ControlFlow::Break(());
                }
                let lookup = username.clone();
                let account = match self
                    .state
                    .store
                    .read(move |conn| crate::store::reads::account(conn, &lookup))
                    .await
                {
                    Ok(account) => account,
                    Err(error) => {
                        tracing::error!(%error, "could not read an operator account");
                        self.refusal = Closing::INTERNAL;
                        self.reply_error(
                            ErrorCode::Unavailable,
                            "storage unavailable; retry",
                            None,
                        )
                        .await;
                        return ControlFlow::Break(());
                    }
                };
                let Some(account) = account.filter(|a| !a.removed && a.version == ver) else {
                    tracing::info!(ip = %self.context.ip, %username, "revoked operator session refused");
                    self.reply_error(
                        ErrorCode::BadToken,
                        "this session has ended (signed out, password changed or account \
                         removed): sign in again",
                        None,
                    )
                    .await;
                    return ControlFlow::Break(());
                };
                tracing::debug!(ip = %self.context.ip, %username, "operator connected");
                let auth = OperatorAuth {
                    access: Access::of(&account),
                    name,
                    online: true,
                    version: account.version,
                };
                self.identity = Identity::Operator(auth.clone());
                self.refusal = Closing::INTERNAL;
                operator::welcome(self, &auth, resume).await
            }
            _ => {
                self.reply_error(
                    ErrorCode::Forbidden,
                    "the token does not match the role in hello",
                    None,
                )
                .await;
                ControlFlow::Break(())
            }
        }
    }

    /// Stores a message (idempotent by id), fans it out, then acks it.
    /// `author` is the identity the connection proved; the frame must match.
    pub(super) async fn store_message(&mut self, msg: Message, author: &Author) {
        if msg.author.role != author.role || msg.author.id != author.id {
            self.refuse(
                ErrorCode::Forbidden,
                "a message's author must be the connection's own identity",
                Some(msg.id),
            )
            .await;
            return;
        }
        self.store_unchecked(msg).await;
    }

    /// Stores a message someone else wrote that an operator's console
    /// replays after a failover. Operators are authenticated staff and may
    /// vouch for any message of a chat they hold; visitors never reach this.
    pub(super) async fn store_replay(&mut self, msg: Message) {
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
        self.store_unchecked(msg).await;
    }

    /// Checks the text, submits the message to the store and queues what
    /// follows its commit: fan-out to the chat's other followers, the
    /// operators' queue if the chat waits, then the ack. A duplicate is
    /// acked again; a message that could not be stored gets an error frame
    /// instead of an ack.
    async fn store_unchecked(&mut self, mut msg: Message) {
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
        if matches!(self.identity, Identity::Visitor(_)) && !self.may_wait(chat).await {
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
        self.pipeline().push_back(Box::pin(async move {
            Committed {
                id,
                chat,
                from_visitor,
                received,
                outcome: committed.await,
            }
        }));
    }

    /// Whether a visitor message may (keep) `chat` in the operators' queue
    /// under the per-address cap: counted already, room left, or room
    /// once the address's counted chats that no longer wait are let go.
    async fn may_wait(&self, chat: ChatId) -> bool {
        let ip = self.context.ip;
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
                    .into_iter()
                    .filter(|chat| !waiting.contains(chat))
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
    pub(super) async fn after_commit(&self, done: Committed) {
        let Committed {
            id,
            chat,
            from_visitor,
            received,
            outcome,
        } = done;
        match outcome {
            Ok(crate::store::records::Applied {
                refused: Some(refusal),
                ..
            }) => {
                tracing::info!(%id, %chat, %refusal, "message refused");
                self.reply_error(refusal_code(&refusal), refusal.to_string(), Some(id))
                    .await;
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
                    operator::publish_queue_if_waiting(&self.state, chat).await;
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

    /// Called when the socket ends: messages already submitted are still
    /// committed and fanned out (their acks go nowhere; the client replays
    /// them and gets them acked again).
    pub(super) async fn finish(&mut self) {
        self.settle().await;
        if let Identity::Operator(auth) = &self.identity {
            self.state.hub.unregister(self.key);
            super::fanout::presence(&self.state).await;
            tracing::debug!(username = %auth.access.username, "operator disconnected");
        }
    }
}

/// The error code for a record that fails the core's checks.
pub(super) fn record_error_code(error: &RecordError) -> ErrorCode {
    match error {
        RecordError::Text(..) => ErrorCode::BadText,
        RecordError::OutOfRange { .. } | RecordError::LamportJump { .. } => ErrorCode::OutOfRange,
    }
}

/// The error code for a record the store refused.
pub(super) fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal {
        Refusal::IdTaken(_) => ErrorCode::Conflict,
        Refusal::Invalid(error) => record_error_code(error),
    }
}
