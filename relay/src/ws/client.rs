//! One connected client: what it has proven, and frame dispatch.
//!
//! A connection starts anonymous; `hello` with a valid token makes it a
//! visitor (bound to one site and chat) or an operator. Every frame after
//! that is checked against that identity, so a token for one chat can never
//! touch another. Parsing, limits and refusals answer with an error frame
//! and keep the connection; only a bad token or protocol version ends it.
//!
//! The [`Client`] owns the connection's state (identity, rate buckets, the
//! reason it will close with, its [`Pipeline`]); the handlers it
//! dispatches to see only a [`Context`] and the identity they act for.
//! Every frame but a `send` first waits for the messages before it
//! ([`super::messages`]).

use super::context::Context;
use super::identity::{Identity, OperatorAuth, Peer, VisitorAuth};
use super::pipeline::{Committed, Pipeline};
use super::{operator, visitor};
use crate::authz::Access;
use crate::hub::{Closing, ConnKey, Outbox};
use crate::limits::TokenBucket;
use crate::state::Shared;
use crate::tokens::Claim;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use twinline_core::protocol::{ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{MessageId, Role};

/// The error a binary frame gets (frames are JSON text).
const BINARY_REFUSAL: (ErrorCode, &str) = (ErrorCode::BadFrame, "frames are JSON text, not binary");

/// One connection's protocol state.
pub struct Client {
    state: Shared,
    key: ConnKey,
    outbox: Outbox,
    peer: Peer,
    identity: Identity,
    bucket: TokenBucket,
    /// Pings (JSON and WebSocket), before and after hello.
    pings: TokenBucket,
    /// The close frame the last `Break` ends the connection with.
    refusal: Closing,
    pipeline: Pipeline,
}

impl Client {
    pub(super) fn new(state: Shared, key: ConnKey, outbox: Outbox, peer: Peer) -> Client {
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
            outbox,
            peer,
            identity: Identity::Anonymous,
            pipeline: Pipeline::default(),
        }
    }

    /// What a handler gets of this connection.
    fn context(&mut self) -> Context<'_> {
        Context {
            state: self.state.clone(),
            key: self.key,
            peer: &self.peer,
            outbox: &self.outbox,
            pipeline: &mut self.pipeline,
        }
    }

    /// Whether `hello` has not been accepted yet.
    /// A visitor connection's chat, once its hello was accepted.
    pub(super) fn visitor_chat(&self) -> Option<twinline_core::ChatId> {
        match &self.identity {
            Identity::Visitor(auth) => Some(auth.chat),
            _ => None,
        }
    }

    pub(super) fn is_anonymous(&self) -> bool {
        matches!(self.identity, Identity::Anonymous)
    }

    /// This connection's own end of its outgoing queue.
    pub(super) fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// How many messages wait for their commit.
    pub(super) fn pending(&mut self) -> usize {
        self.pipeline.len()
    }

    /// The oldest pending message once it is committed; `None` when
    /// nothing is pending. Cancel-safe (the connection loop selects on it):
    /// hand what it returns to [`Client::after_commit`].
    pub(super) async fn next_committed(&mut self) -> Option<Committed> {
        self.pipeline.next_committed().await
    }

    /// Fans out and acks a committed message.
    pub(super) async fn after_commit(&mut self, done: Committed) {
        self.context().after_commit(done).await;
    }

    async fn settle(&mut self) {
        self.context().settle().await;
    }

    async fn refuse(&mut self, code: ErrorCode, message: impl Into<String>, id: Option<MessageId>) {
        self.context().refuse(code, message, id).await;
    }

    async fn reply(&mut self, frame: &ServerFrame) {
        self.context().reply(frame).await;
    }

    async fn reply_error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
    ) {
        self.context().reply_error(code, message, id).await;
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
        if let ClientFrame::Hello {
            v,
            role,
            site,
            token,
            resume,
        } = frame
        {
            if !anonymous {
                self.reply_error(ErrorCode::BadFrame, "hello was already accepted", None)
                    .await;
                return ControlFlow::Continue(());
            }
            return self.hello(v, role, site, token, resume).await;
        }
        // A session ended meanwhile (logout, password change): its
        // connection is closing; nothing more is done for it.
        if matches!(self.identity, Identity::Operator(_)) && !self.state.hub.is_operator(self.key) {
            return ControlFlow::Break(());
        }
        let Client {
            state,
            key,
            outbox,
            peer,
            identity,
            pipeline,
            ..
        } = self;
        let mut client = Context {
            state: state.clone(),
            key: *key,
            peer,
            outbox,
            pipeline,
        };
        match identity {
            Identity::Visitor(auth) => visitor::handle(&mut client, auth, frame).await,
            Identity::Operator(auth) => operator::handle(&mut client, auth, frame).await,
            Identity::Anonymous => self.refuse_before_hello().await,
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
            BINARY_REFUSAL
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
                if let Some(origin) = &self.peer.origin
                    && !self.peer.same_origin
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
                let span = tracing::Span::current();
                span.record("site", site.as_str());
                span.record("chat", tracing::field::display(chat));
                tracing::debug!("visitor connected");
                let mut auth = VisitorAuth {
                    site,
                    visitor,
                    chat,
                    header_pending: false,
                };
                // From here a `Break` is the store failing, not the client.
                self.refusal = Closing::INTERNAL;
                let flow = visitor::welcome(&mut self.context(), &mut auth, resume).await;
                self.identity = Identity::Visitor(auth);
                flow
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
                let origin_ok = self.peer.origin.as_deref().is_none_or(|origin| {
                    self.peer.same_origin || self.state.config.peer_origin() == Some(origin)
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
                    tracing::info!(%username, "revoked operator session refused");
                    self.reply_error(
                        ErrorCode::BadToken,
                        "this session has ended (signed out, password changed or account \
                         removed): sign in again",
                        None,
                    )
                    .await;
                    return ControlFlow::Break(());
                };
                tracing::Span::current().record("operator", username.as_str());
                tracing::debug!("operator connected");
                let auth = OperatorAuth {
                    access: Access::of(&account),
                    name,
                    online: true,
                    version: account.version,
                };
                self.identity = Identity::Operator(auth.clone());
                self.refusal = Closing::INTERNAL;
                operator::welcome(&mut self.context(), &auth, resume).await
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

    /// Called when the socket ends: messages already submitted are still
    /// committed and fanned out (their acks go nowhere; the client replays
    /// them and gets them acked again).
    pub(super) async fn finish(&mut self) {
        self.settle().await;
        if let Identity::Operator(auth) = &self.identity {
            self.state.hub.unregister(self.key);
            crate::fanout::presence(&self.state).await;
            tracing::debug!(username = %auth.access.username, "operator disconnected");
        }
    }
}
