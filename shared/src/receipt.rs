//! A read receipt: "side S of chat C has seen every message up to id X".
//!
//! Message ids are ULIDs, so they order, and a receipt only ever moves
//! forward: two receipts of one side of one chat merge by the larger id, in
//! any order, any number of times, on any deployment, as a message merges
//! by id. That is what makes a receipt safe to send twice, to replicate
//! both ways and to replay after a failover. The relay stores one per chat
//! and side (`relay/src/store/receipts.rs`); the session's part is
//! `session/receipts.rs`.

use crate::id::{ChatId, MessageId};
use crate::model::MAX_CLOCK_SKEW_MS;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Which side of a chat a receipt is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The visitor has seen the operators' messages up to the id.
    Visitor,
    /// The operators have seen the visitor's messages up to the id.
    Operator,
}

impl Side {
    /// The name on the wire, in the store's keys and in the JS API.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Visitor => "visitor",
            Side::Operator => "operator",
        }
    }
}

/// "`side` of `chat` has seen every message up to `up_to`."
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The chat.
    pub chat: ChatId,
    /// Who has seen.
    pub side: Side,
    /// The newest message seen (ULID order).
    pub up_to: MessageId,
}

/// `held` merged with `other`: the larger, so merging is commutative,
/// associative and idempotent. `None` is "nothing seen yet".
pub fn merge_up_to(held: Option<MessageId>, other: Option<MessageId>) -> Option<MessageId> {
    held.max(other)
}

/// Why a relay refuses a `read`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// `up_to` names a message from further ahead than clocks drift: since
    /// a receipt never moves back, it would mark every later message seen.
    #[error(
        "up_to is a message id from {ahead_ms} ms ahead of this relay's clock, more than {MAX_CLOCK_SKEW_MS}"
    )]
    FromTheFuture {
        /// How far ahead.
        ahead_ms: u64,
    },
}

impl Receipt {
    /// Whether a relay whose clock reads `now` takes this receipt: its
    /// `up_to` is a message id (the frame's parser checked its shape) no
    /// further ahead than [`MAX_CLOCK_SKEW_MS`].
    pub fn check(&self, now: Millis) -> Result<(), ReceiptError> {
        let at = self.up_to.0.millis();
        if at.0 > now.0.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(ReceiptError::FromTheFuture {
                ahead_ms: at.0 - now.0,
            });
        }
        Ok(())
    }
}

/// What a relay holds of one chat's receipts, as its welcome and chat
/// syncs carry them: the newest message each side has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// What the visitor has seen, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<MessageId>,
    /// What the operators have seen, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<MessageId>,
}

impl Seen {
    /// Nothing seen by either side (left out of a sync).
    pub fn is_empty(&self) -> bool {
        self.visitor.is_none() && self.operator.is_none()
    }

    /// What `side` has seen.
    pub fn of(&self, side: Side) -> Option<MessageId> {
        match side {
            Side::Visitor => self.visitor,
            Side::Operator => self.operator,
        }
    }

    /// Merges a receipt in (the larger id stays).
    pub fn add(&mut self, receipt: &Receipt) {
        let slot = match receipt.side {
            Side::Visitor => &mut self.visitor,
            Side::Operator => &mut self.operator,
        };
        *slot = merge_up_to(*slot, Some(receipt.up_to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Ulid;

    #[test]
    fn a_receipt_from_further_ahead_than_clocks_drift_is_refused() {
        let now = Millis(1_764_000_000_000);
        let at = |ms: u64| Receipt {
            chat: ChatId(Ulid(1)),
            side: Side::Visitor,
            up_to: MessageId::new(Millis(ms), 7),
        };
        assert_eq!(at(now.0).check(now), Ok(()));
        assert_eq!(at(now.0 + MAX_CLOCK_SKEW_MS).check(now), Ok(()));
        assert_eq!(
            at(now.0 + MAX_CLOCK_SKEW_MS + 1).check(now),
            Err(ReceiptError::FromTheFuture {
                ahead_ms: MAX_CLOCK_SKEW_MS + 1
            })
        );
    }

    #[test]
    fn seen_keeps_the_larger_id_of_each_side() {
        let mut seen = Seen::default();
        assert!(seen.is_empty());
        let receipt = |side, n| Receipt {
            chat: ChatId(Ulid(1)),
            side,
            up_to: MessageId(Ulid(n)),
        };
        seen.add(&receipt(Side::Visitor, 5));
        seen.add(&receipt(Side::Visitor, 3));
        seen.add(&receipt(Side::Operator, 2));
        assert_eq!(seen.of(Side::Visitor), Some(MessageId(Ulid(5))));
        assert_eq!(seen.of(Side::Operator), Some(MessageId(Ulid(2))));
    }
}
