//! Receipts merge by the larger id whatever the order, and what a new relay
//! lacks is sent again.

use super::*;
use crate::id::Ulid;
use proptest::prelude::*;

fn id(n: u128) -> MessageId {
    MessageId(Ulid(n))
}

fn chat(n: u128) -> ChatId {
    ChatId(Ulid(n))
}

fn theirs_side(me: Side) -> Side {
    match me {
        Side::Visitor => Side::Operator,
        Side::Operator => Side::Visitor,
    }
}

#[test]
fn seeing_only_moves_forward() {
    let mut r = Receipts::new(Side::Visitor);
    let c = chat(1);
    let first = r.seen(c, id(5)).expect("a first receipt");
    assert_eq!(
        first,
        Receipt {
            chat: c,
            side: Side::Visitor,
            up_to: id(5)
        }
    );
    assert_eq!(r.seen(c, id(5)), None, "the same again says nothing");
    assert_eq!(r.seen(c, id(3)), None, "an older message says nothing");
    assert_eq!(r.seen(c, id(9)).map(|r| r.up_to), Some(id(9)));
    assert_eq!(r.mine(c), Some(id(9)));
    assert_eq!(
        r.seen(chat(2), id(1)).map(|r| r.chat),
        Some(chat(2)),
        "per chat"
    );
}

#[test]
fn the_other_sides_receipt_moves_seen_forward_only() {
    let mut r = Receipts::new(Side::Visitor);
    let c = chat(1);
    assert_eq!(r.theirs(c), None);
    let operator = |n| Receipt {
        chat: c,
        side: Side::Operator,
        up_to: id(n),
    };
    assert!(r.on_receipt(operator(4)));
    assert!(!r.on_receipt(operator(4)), "twice is once");
    assert!(
        !r.on_receipt(operator(2)),
        "a late, older receipt changes nothing"
    );
    assert_eq!(r.theirs(c), Some(id(4)));
    assert!(r.on_receipt(operator(7)));
    assert_eq!(r.theirs(c), Some(id(7)));
    // Our own echo is no "Seen" for us.
    assert!(!r.on_receipt(Receipt {
        chat: c,
        side: Side::Visitor,
        up_to: id(99)
    }));
    assert_eq!(r.theirs(c), Some(id(7)));
}

#[test]
fn a_receipt_given_while_the_primary_dies_is_replayed_to_the_redundant() {
    let mut r = Receipts::new(Side::Visitor);
    let c = chat(1);
    // Welcomed by the primary, which holds nothing yet.
    r.on_welcome(c, None, None);
    r.seen(c, id(3)).expect("sent to the primary");
    r.on_receipt(Receipt {
        chat: c,
        side: Side::Visitor,
        up_to: id(3),
    });
    assert_eq!(r.to_replay(), vec![], "the primary holds it");
    // Seen while the primary is dying: sent, never echoed.
    r.seen(c, id(8)).expect("sent, lost with the primary");
    r.on_link_lost();
    // The redundant had only the first receipt replicated.
    r.on_welcome(c, Some(id(3)), None);
    assert_eq!(
        r.to_replay(),
        vec![Receipt {
            chat: c,
            side: Side::Visitor,
            up_to: id(8)
        }]
    );
    r.on_receipt(Receipt {
        chat: c,
        side: Side::Visitor,
        up_to: id(8),
    });
    assert_eq!(r.to_replay(), vec![], "stored on the redundant");
}

#[test]
fn after_a_link_loss_every_receipt_waits_for_the_next_welcome() {
    let mut r = Receipts::new(Side::Operator);
    r.seen(chat(1), id(2));
    r.seen(chat(2), id(4));
    for c in [chat(1), chat(2)] {
        r.on_welcome(c, r.mine(c), None);
    }
    assert_eq!(r.to_replay(), vec![]);
    r.on_link_lost();
    assert_eq!(r.to_replay().len(), 2, "nothing is known of the next relay");
    // A relay holding more than we saw here (another device of this side).
    assert!(
        r.on_welcome(chat(1), Some(id(6)), Some(id(1))),
        "the other side's moved"
    );
    assert_eq!(r.theirs(chat(1)), Some(id(1)));
    assert_eq!(r.mine(chat(1)), Some(id(6)));
    assert_eq!(
        r.seen(chat(1), id(5)),
        None,
        "behind what this side has seen"
    );
    let left: Vec<_> = r.to_replay().iter().map(|r| r.chat).collect();
    assert_eq!(left, vec![chat(2)]);
}

proptest! {
    /// Any order, any repetition: the merge ends at the largest id (what
    /// makes the store, replication and replay safe to repeat).
    #[test]
    fn receipts_merge_to_the_largest_whatever_the_order(
        ids in proptest::collection::vec(0u128..64, 1..20),
        me_visitor in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let me = if me_visitor { Side::Visitor } else { Side::Operator };
        let c = chat(1);
        let mut shuffled = ids.clone();
        // A deterministic shuffle with repeats.
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        shuffled.extend(ids.iter().take(3));
        let mut a = Receipts::new(me);
        let mut b = Receipts::new(me);
        for n in &ids {
            a.on_receipt(Receipt { chat: c, side: theirs_side(me), up_to: id(*n) });
            a.on_welcome(c, Some(id(*n)), None);
        }
        for n in &shuffled {
            b.on_welcome(c, Some(id(*n)), None);
            b.on_receipt(Receipt { chat: c, side: theirs_side(me), up_to: id(*n) });
        }
        let max = ids.iter().copied().max().map(id);
        prop_assert_eq!(a.theirs(c), max);
        prop_assert_eq!(b.theirs(c), max);
        prop_assert_eq!(a.mine(c), max);
        prop_assert_eq!(b.mine(c), max);
        let folded = ids.iter().fold(None, |held, n| merge_up_to(held, Some(id(*n))));
        prop_assert_eq!(folded, max);
    }
}
