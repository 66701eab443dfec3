//! Read receipts in a session: what this side has seen, what the other
//! side has seen, and what a relay must be told again after a failover.
//!
//! A receipt says "side S of chat C has seen every message up to id X"
//! ([`crate::receipt`]): two receipts of one side merge by the larger id,
//! in any order, any number of times, which is what makes a receipt safe
//! to send twice and to replay.
//!
//! [`Receipts`] is the session's part, pure and driven by its caller:
//! - [`Receipts::seen`]: this side has shown the chat up to a message (the
//!   widget's panel open and visible, an operator's chat on screen); the
//!   receipt to send, or `None` when it says nothing new.
//! - [`Receipts::on_receipt`]: a relay told a receipt. Ours confirms what
//!   that relay holds; the other side's moves what is shown as "Seen".
//! - [`Receipts::on_welcome`]: a (new) relay's view of a chat. What it holds
//!   of ours is all it is known to hold; whatever we had seen beyond it is
//!   sent again ([`Receipts::to_replay`]), so a receipt given while the
//!   primary was dying reaches the redundant too.
//! - [`Receipts::on_link_lost`]: nothing is known of the next relay.
//!
//! The session ([`super::Session`]) drives it: a `read` frame for each
//! receipt [`Receipts::seen`] returns and for each of
//! [`Receipts::to_replay`] after a welcome, [`Receipts::on_receipt`] on a
//! `receipt` frame, [`Receipts::on_welcome`] on each chat's `seen`.

pub use crate::receipt::{Receipt, Side, merge_up_to};

use crate::id::{ChatId, MessageId};
use crate::sorted::SortedMap;

/// What one chat's receipts stand at in this session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ChatReceipts {
    /// The newest message this side has seen.
    mine: Option<MessageId>,
    /// What the relay we are on is known to hold of ours (its welcome, or
    /// its echo of our receipt); `None` after a link loss.
    confirmed: Option<MessageId>,
    /// The newest message the other side has seen, as any relay told it.
    theirs: Option<MessageId>,
}

/// The receipts of every chat of a session, for `me`, the session's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipts {
    me: Side,
    chats: SortedMap<ChatId, ChatReceipts>,
}

impl Receipts {
    /// No receipts yet, for a session on side `me`.
    pub fn new(me: Side) -> Receipts {
        Receipts {
            me,
            chats: SortedMap::new(),
        }
    }

    /// This side has seen `chat` up to `up_to`: the receipt to send, or
    /// `None` when that is not past what it had already seen.
    pub fn seen(&mut self, chat: ChatId, up_to: MessageId) -> Option<Receipt> {
        let entry = self.chats.get_or_insert_with(chat, ChatReceipts::default);
        if entry.mine >= Some(up_to) {
            return None;
        }
        entry.mine = Some(up_to);
        Some(Receipt {
            chat,
            side: self.me,
            up_to,
        })
    }

    /// A relay told `receipt` (the echo of ours once stored, or the other
    /// side's). True when what the other side has seen moved forward (what
    /// a user interface shows changed).
    pub fn on_receipt(&mut self, receipt: Receipt) -> bool {
        let entry = self
            .chats
            .get_or_insert_with(receipt.chat, ChatReceipts::default);
        let up_to = Some(receipt.up_to);
        if receipt.side == self.me {
            entry.confirmed = merge_up_to(entry.confirmed, up_to);
            // Seen in another tab or on another device of this side.
            entry.mine = merge_up_to(entry.mine, up_to);
            return false;
        }
        let before = entry.theirs;
        entry.theirs = merge_up_to(entry.theirs, up_to);
        entry.theirs != before
    }

    /// A relay's welcome for `chat`: what it holds of this side's receipt
    /// (`mine`) and of the other side's (`theirs`). Returns whether the
    /// other side's moved forward. What that relay lacks of ours is then
    /// in [`Receipts::to_replay`].
    pub fn on_welcome(
        &mut self,
        chat: ChatId,
        mine: Option<MessageId>,
        theirs: Option<MessageId>,
    ) -> bool {
        let entry = self.chats.get_or_insert_with(chat, ChatReceipts::default);
        // All this relay is known to hold: a lower value than it echoed
        // before means it is another deployment, or lost what it had.
        entry.confirmed = mine;
        entry.mine = merge_up_to(entry.mine, mine);
        let before = entry.theirs;
        entry.theirs = merge_up_to(entry.theirs, theirs);
        entry.theirs != before
    }

    /// The link is lost: the next relay may be another deployment, so
    /// nothing of ours counts as held until its welcome says so.
    pub fn on_link_lost(&mut self) {
        self.chats.retain(|_, entry| {
            entry.confirmed = None;
            true
        });
    }

    /// This side's receipts the relay we are on is not known to hold, to
    /// send (again) once it is ready: after a welcome, every receipt given
    /// while the link was down or the previous relay was dying.
    pub fn to_replay(&self) -> Vec<Receipt> {
        self.chats
            .iter()
            .filter_map(|(chat, entry)| {
                let up_to = entry.mine?;
                (entry.confirmed < Some(up_to)).then_some(Receipt {
                    chat: *chat,
                    side: self.me,
                    up_to,
                })
            })
            .collect()
    }

    /// The newest message of `chat` the other side has seen, if any: where
    /// a user interface shows "Seen".
    pub fn theirs(&self, chat: ChatId) -> Option<MessageId> {
        self.chats.get(&chat)?.theirs
    }

    /// The newest message of `chat` this side has seen, if any.
    pub fn mine(&self, chat: ChatId) -> Option<MessageId> {
        self.chats.get(&chat)?.mine
    }

    /// `chat` is gone (erased): nothing of it is kept or sent again.
    pub fn forget(&mut self, chat: ChatId) {
        self.chats.remove(&chat);
    }
}

#[cfg(test)]
#[path = "receipts_tests.rs"]
mod tests;
