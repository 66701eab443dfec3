//! What the session does with each frame a relay sends.

use super::io::{ConnId, SessionEvent};
use super::machine::{Session, Welcomed, Which};
use super::outbox::Intent;
use crate::model::{ChatState, LastWriterWins, Role};
use crate::protocol::{ChatSync, ClientFrame, ErrorCode, ServerFrame};
use crate::time::Millis;

impl Session {
    pub(super) fn on_frame(&mut self, now: Millis, conn: ConnId, frame: ServerFrame) {
        let Some(which) = self.which(conn) else {
            return;
        };
        self.heard(now, which);
        match frame {
            ServerFrame::Welcome {
                deployment,
                role,
                chats,
                operators_online,
                you,
                mail,
                ..
            } => {
                self.promote(now, which);
                self.welcomed = Some(Welcomed {
                    name: deployment,
                    role,
                });
                if self.config.role == Role::Operator && you.role == Role::Operator {
                    self.identity.author = you;
                }
                self.operators_online = operators_online;
                self.mail = mail;
                self.on_welcome(now, chats);
                self.event(SessionEvent::Presence);
            }
            // Anything before the welcome of a replacement link is about to
            // arrive on the current one too; take it from there only.
            _ if which == Which::Next => {}
            ServerFrame::Chat { sync } => {
                self.merge_sync(&sync);
                self.settle(sync.chat);
            }
            ServerFrame::Message { msg } => {
                let (chat, id) = (msg.chat, msg.id);
                self.typing.message_from(chat, &msg.author);
                if self.chats.insert(msg) {
                    self.mark_dirty();
                    self.event(SessionEvent::Message { chat, id });
                }
            }
            ServerFrame::Ack { id } => {
                self.message_answered();
                if let Some(chat) = self.chats.ack(id) {
                    self.mark_dirty();
                    self.event(SessionEvent::Acked { chat, id });
                }
            }
            ServerFrame::OfflineAck { id } => {
                if self.outbox.ack_note(id) {
                    self.mark_dirty();
                    self.event(SessionEvent::OfflineAcked { id });
                }
            }
            ServerFrame::Typing { chat, who, on } => {
                let me = &self.identity.author;
                // Our own notice, echoed (the same operator in two consoles).
                if who.role != me.role || who.id != me.id {
                    self.typing.heard(now, chat, who.clone(), on);
                    self.event(SessionEvent::Typing { chat, who, on });
                }
            }
            ServerFrame::Status { chat, status } => {
                if self.chats.ensure(chat).status.merge_from(&status) {
                    self.mark_dirty();
                    self.event(SessionEvent::ChatStatus { chat });
                }
                self.settle(chat);
            }
            ServerFrame::Visitor { chat, info } => {
                if self.chats.ensure(chat).visitor.merge_from(&info) {
                    self.mark_dirty();
                    self.event(SessionEvent::Visitor { chat });
                }
                self.settle(chat);
            }
            ServerFrame::Rating { chat, rating } => self.merge_rating(chat, Some(&rating)),
            ServerFrame::TranscriptAck { id, .. } => self.transcript_acked(id),
            ServerFrame::Receipt { chat, side, up_to } => {
                self.on_receipt(super::receipts::Receipt { chat, side, up_to });
            }
            ServerFrame::Queue { chats } => {
                self.queue = chats;
                self.event(SessionEvent::Queue);
            }
            ServerFrame::Presence {
                operators_online,
                operators,
            } => {
                self.operators_online = operators_online;
                self.operators = operators;
                self.event(SessionEvent::Presence);
            }
            ServerFrame::Inbox { notes } => {
                self.inbox = notes;
                self.event(SessionEvent::Inbox);
            }
            ServerFrame::Migrate { to, .. } => {
                if let Some(role) = self.config.role_named(&to) {
                    let until = now.plus(self.config.timing.migrate_hold);
                    self.migrate_to = Some((role, until));
                    // The relay vouches for its peer; a deployment this
                    // client last saw down gets probed rather than ignored.
                    if self.routing.is_down(role) {
                        self.routing.hurry(now);
                    }
                    // Its own deployment: the node drains, the deployment
                    // serves on. Move to another of its nodes through the
                    // same URL, make before break, each client at its own
                    // moment within `migrate_spread`.
                    let on_it = self
                        .link
                        .as_ref()
                        .is_some_and(|l| l.is_ready() && l.role == role);
                    if on_it && self.relink_at.is_none() {
                        let spread = self.config.timing.migrate_spread;
                        self.relink_at = Some(now.plus(self.random.between(0, spread)));
                    }
                }
            }
            ServerFrame::Erased { chat } => self.on_erased(chat),
            ServerFrame::Pong { .. } => {}
            ServerFrame::Error { code, message, id } => {
                if id.is_some() {
                    self.message_answered();
                }
                self.on_error(now, code, message, id);
            }
        }
    }

    /// After a welcome: merge what the relay has, then send everything it
    /// lacks and everything not yet settled.
    fn on_welcome(&mut self, now: Millis, syncs: Vec<ChatSync>) {
        let me = self.identity.author.clone();
        let mut pushes = Vec::new();
        for sync in &syncs {
            // A register newer here than on the relay means the relay lost
            // the change (it was made on a deployment that failed before
            // replicating it): make it again.
            if let Some(local) = self.chats.get(sync.chat) {
                if local.status.stamp > sync.status.stamp {
                    match (&local.status.state, &local.status.operator) {
                        (ChatState::Closed, _) => pushes.push(Intent::Close { chat: sync.chat }),
                        (ChatState::Active, Some(op))
                            if me.role == Role::Operator && *op == me.id =>
                        {
                            pushes.push(Intent::Accept { chat: sync.chat })
                        }
                        _ => {}
                    }
                }
            }
            self.merge_sync(sync);
        }
        self.receipts_welcomed(&syncs);
        let replay = self.chats.replay(&syncs, &me);
        let mut frames: Vec<ClientFrame> = replay
            .into_iter()
            .map(|msg| ClientFrame::Send { msg })
            .collect();
        frames.extend(pushes.iter().map(Intent::frame));
        frames.extend(self.outbox.frames());
        frames.extend(self.ratings_lacking(&syncs));
        frames.extend(self.emails_lacking(&syncs));
        // After the messages they may name.
        frames.extend(self.receipts_lacking(&syncs));
        for frame in frames {
            self.send_now(now, frame);
        }
        for sync in &syncs {
            self.settle(sync.chat);
        }
        self.typing.forget_told();
        self.mark_dirty();
    }

    fn merge_sync(&mut self, sync: &ChatSync) {
        let merged = self.chats.merge_sync(sync);
        let chat = sync.chat;
        for id in merged.new_messages {
            self.mark_dirty();
            self.event(SessionEvent::Message { chat, id });
        }
        if merged.status_changed {
            self.mark_dirty();
            self.event(SessionEvent::ChatStatus { chat });
        }
        if merged.visitor_changed {
            self.mark_dirty();
            self.event(SessionEvent::Visitor { chat });
        }
        self.merge_rating(chat, sync.rating.as_deref());
        self.merge_seen(sync);
    }

    /// Drops outbox entries the chat's registers now show done.
    fn settle(&mut self, chat: crate::ChatId) {
        let Some(local) = self.chats.get(chat) else {
            return;
        };
        let (status, visitor) = (local.status.clone(), local.visitor.clone());
        let me = self.identity.author.id.clone();
        if self.outbox.settle_status(chat, &status, &me)
            | self.outbox.settle_visitor(chat, &visitor)
        {
            self.mark_dirty();
        }
    }

    fn on_error(
        &mut self,
        now: Millis,
        code: ErrorCode,
        message: String,
        id: Option<crate::MessageId>,
    ) {
        match (code, id) {
            // Not stored, try again shortly.
            (ErrorCode::RateLimited | ErrorCode::Unavailable, Some(_)) => {
                let at = now.plus(self.config.timing.resend_delay);
                self.resend_at = Some(self.resend_at.map_or(at, |t| t.min(at)));
            }
            // Resending cannot fix these.
            (
                ErrorCode::BadText
                | ErrorCode::Forbidden
                | ErrorCode::TooLarge
                | ErrorCode::Conflict
                | ErrorCode::OutOfRange,
                Some(id),
            ) => {
                if let Some(chat) = self.chats.refuse(id) {
                    self.mark_dirty();
                    self.event(SessionEvent::Refused { chat, id });
                }
            }
            (ErrorCode::BadToken, _) => self.token_refused = true,
            _ => {}
        }
        self.event(SessionEvent::Error { code, message });
    }
}
