//! Read receipts as a replicated record: one per chat and side ("the
//! visitor has seen chat C up to message X", "the operators have"), keyed
//! `<chat>/<side>`, merged by the larger message id.
//!
//! The larger id wins whatever order copies meet in, so the merge is
//! commutative, associative and idempotent: a `read` sent twice, a replay
//! after a failover, a late copy from the peer or an older `read` from a
//! second tab change nothing, and both deployments settle on the same
//! receipt. A receipt goes with its chat: an erasure or the retention
//! deletes it (`Tx::erase`), and its chat's guard drops a late copy
//! (`erasures::guards_of`). The rule itself is the core's
//! ([`twinline_core::receipt`]); this is its place in the store.

use super::backend::{Cell, ColumnType, Table};
use super::kinds::{Kind, Outcome};
use super::records::Record;
use twinline_core::{ChatId, Receipt, Side};

/// Read receipts: `receipts (key, chat, body)`, `key` `<chat>/<side>`.
pub static RECEIPTS: Table = Table {
    name: "receipts",
    key: "key",
    columns: &[("chat", ColumnType::Text)],
};

/// The store's key of `side`'s receipt of `chat`.
pub fn key(chat: ChatId, side: Side) -> String {
    format!("{chat}/{}", side.as_str())
}

impl Kind for Receipt {
    const TABLE: &'static Table = &RECEIPTS;

    fn key(&self) -> String {
        key(self.chat, self.side)
    }

    fn cells(&self) -> Vec<Cell> {
        vec![Cell::Text(Some(self.chat.to_string()))]
    }

    /// The larger `up_to` wins; the same or an older one changes nothing.
    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            Some(stored) if stored.up_to >= incoming.up_to => Outcome::Unchanged(*stored),
            _ => Outcome::Changed(incoming),
        }
    }

    fn into_record(self) -> Record {
        Record::Receipt(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{MessageId, Ulid};

    fn receipt(side: Side, n: u128) -> Receipt {
        Receipt {
            chat: ChatId(Ulid(1)),
            side,
            up_to: MessageId(Ulid(n)),
        }
    }

    #[test]
    fn the_larger_id_wins_and_the_same_or_an_older_changes_nothing() {
        let stored = receipt(Side::Visitor, 5);
        assert_eq!(Receipt::merge(None, stored), Outcome::Changed(stored));
        assert_eq!(
            Receipt::merge(Some(&stored), receipt(Side::Visitor, 9)),
            Outcome::Changed(receipt(Side::Visitor, 9))
        );
        assert_eq!(
            Receipt::merge(Some(&stored), stored),
            Outcome::Unchanged(stored)
        );
        assert_eq!(
            Receipt::merge(Some(&stored), receipt(Side::Visitor, 2)),
            Outcome::Unchanged(stored)
        );
    }

    #[test]
    fn each_side_of_a_chat_has_its_own_key() {
        assert_ne!(
            receipt(Side::Visitor, 1).key(),
            receipt(Side::Operator, 1).key()
        );
        assert_eq!(
            receipt(Side::Operator, 1).key(),
            format!("{}/operator", ChatId(Ulid(1)))
        );
    }
}
