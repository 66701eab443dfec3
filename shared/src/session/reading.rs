//! Read receipts in the session: the user interface says when a chat is
//! on screen ([`Session::mark_seen`]), the session sends `read` when that
//! says something new, keeps what each relay holds, and sends again what a
//! (new) relay lacks after its welcome. The decisions are
//! [`super::receipts::Receipts`]'; this ties them to frames and events.

use super::io::SessionEvent;
use super::machine::Session;
use super::receipts::Receipt;
use crate::id::{ChatId, MessageId};
use crate::model::Role;
use crate::protocol::{ChatSync, ClientFrame};
use crate::receipt::Side;
use crate::time::Millis;

/// This session's side of its chats.
pub(super) fn side_of(role: Role) -> Side {
    match role {
        Role::Visitor => Side::Visitor,
        // Only visitors and operators run sessions.
        Role::Operator | Role::System => Side::Operator,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Visitor => Side::Operator,
        Side::Operator => Side::Visitor,
    }
}

fn frame(receipt: &Receipt) -> ClientFrame {
    ClientFrame::Read {
        chat: receipt.chat,
        up_to: receipt.up_to,
    }
}

impl Session {
    /// This side has `chat` on screen (the widget's panel open on a
    /// visible page, the console's chat shown): everything in its
    /// transcript is seen. Sends a `read` when that is past what this side
    /// had seen (kept and sent again after the next welcome if no link is
    /// ready); true when it said something new.
    pub fn mark_seen(&mut self, now: Millis, chat: ChatId) -> bool {
        if self.shut {
            return false;
        }
        let Some(newest) = self
            .chats
            .get(chat)
            .and_then(|local| local.transcript.iter().map(|m| m.id).max())
        else {
            return false;
        };
        let Some(receipt) = self.receipts.seen(chat, newest) else {
            return false;
        };
        self.send_now(now, frame(&receipt));
        true
    }

    /// The newest message of `chat` the other side has seen (the
    /// visitor's widget shows "Seen" under its messages up to it, the
    /// console under the operators'), as a relay told it.
    pub fn seen_by_other(&self, chat: ChatId) -> Option<MessageId> {
        self.receipts.theirs(chat)
    }

    /// The newest message of `chat` this side has seen.
    pub fn seen_by_me(&self, chat: ChatId) -> Option<MessageId> {
        self.receipts.mine(chat)
    }

    /// A relay's `receipt` frame.
    pub(super) fn on_receipt(&mut self, receipt: Receipt) {
        if self.receipts.on_receipt(receipt) {
            self.event(SessionEvent::Seen { chat: receipt.chat });
        }
    }

    /// A sync's `seen` (a welcome's, a `chat` frame's): what the other side
    /// has seen, as that relay holds it.
    pub(super) fn merge_seen(&mut self, sync: &ChatSync) {
        let side = other(self.receipts_side());
        if let Some(up_to) = sync.seen.as_ref().and_then(|seen| seen.of(side)) {
            self.on_receipt(Receipt {
                chat: sync.chat,
                side,
                up_to,
            });
        }
    }

    /// A welcome's chats: what that relay holds of each side's receipts.
    /// Nothing of ours counts as held by it beyond what it says (it may be
    /// the other deployment, or a node that lost what the last one had).
    pub(super) fn receipts_welcomed(&mut self, syncs: &[ChatSync]) {
        self.receipts.on_link_lost();
        let me = self.receipts_side();
        for sync in syncs {
            // The other side's is merged with the rest of the sync.
            let mine = sync.seen.as_ref().and_then(|seen| seen.of(me));
            self.receipts.on_welcome(sync.chat, mine, None);
        }
    }

    /// After a welcome: this side's receipts the relay lacks, for the
    /// chats it welcomed.
    pub(super) fn receipts_lacking(&self, syncs: &[ChatSync]) -> Vec<ClientFrame> {
        self.receipts
            .to_replay()
            .iter()
            .filter(|r| syncs.iter().any(|s| s.chat == r.chat))
            .map(frame)
            .collect()
    }

    fn receipts_side(&self) -> Side {
        side_of(self.config.role)
    }
}
