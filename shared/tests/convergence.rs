//! Property tests: merging transcripts and registers in any order, with any
//! duplication, converges to the same state everywhere.

use proptest::prelude::*;
use twinline_core::model::{ChatState, ChatStatus, LastWriterWins};
use twinline_core::{
    Author, ChatId, Hlc, Lamport, Message, MessageId, Millis, Role, Transcript, Ulid,
};

fn chat() -> ChatId {
    ChatId(Ulid::new(Millis(1), 1))
}

fn message() -> impl Strategy<Value = Message> {
    (0u64..20, 0usize..3, any::<u64>(), "[a-z ]{1,12}").prop_map(|(lamport, who, random, text)| {
        let (role, id) = [
            (Role::Visitor, "v"),
            (Role::Operator, "ann"),
            (Role::Operator, "bob"),
        ][who];
        Message {
            lamport: Lamport(lamport),
            author: Author {
                role,
                id: id.into(),
                name: String::new(),
            },
            id: MessageId(Ulid::new(Millis(lamport), u128::from(random))),
            chat: chat(),
            text,
            at: Millis(lamport),
            file: None,
        }
    })
}

/// A set of messages, and for each of three replicas a delivery schedule:
/// indices into the set, with repeats, in any order, covering every index.
fn schedules() -> impl Strategy<Value = (Vec<Message>, Vec<Vec<usize>>)> {
    prop::collection::vec(message(), 1..40).prop_flat_map(|messages| {
        let n = messages.len();
        let schedule = prop::collection::vec(0..n, 0..3 * n)
            .prop_map(move |extra| {
                let mut order: Vec<usize> = (0..n).chain(extra).collect();
                order.reverse();
                order
            })
            .prop_shuffle();
        (Just(messages), prop::collection::vec(schedule, 3))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_with_duplicates_converges((messages, schedules) in schedules()) {
        let replicas: Vec<Transcript> = schedules
            .iter()
            .map(|order| {
                let mut t = Transcript::new();
                for i in order {
                    t.insert(messages[*i].clone());
                }
                t
            })
            .collect();
        let mut expected: Vec<Message> = Transcript::from(messages.clone()).into();
        expected.sort_by(|a, b| a.display_key().cmp(&b.display_key()));
        for replica in &replicas {
            let shown: Vec<Message> = replica.iter().cloned().collect();
            prop_assert_eq!(&shown, &expected);
            let ids: std::collections::BTreeSet<MessageId> = shown.iter().map(|m| m.id).collect();
            prop_assert_eq!(ids.len(), shown.len(), "no duplicates");
        }
    }

    #[test]
    fn merging_replicas_pairwise_in_any_order_converges((messages, schedules) in schedules()) {
        let parts: Vec<Transcript> = schedules
            .iter()
            .map(|order| order.iter().take(order.len() / 2).map(|i| messages[*i].clone()).collect())
            .collect();
        let mut ab = parts[0].clone();
        ab.merge(&parts[1]);
        ab.merge(&parts[2]);
        let mut cb = parts[2].clone();
        cb.merge(&parts[1]);
        cb.merge(&parts[0]);
        cb.merge(&parts[0]);
        prop_assert_eq!(ab.ids(), cb.ids());
        prop_assert!(ab.iter().zip(ab.iter().skip(1)).all(|(x, y)| x.display_key() < y.display_key()));
    }

    #[test]
    fn registers_converge_to_the_latest_stamp(
        writes in prop::collection::vec((0u64..50, 0u32..3, 1u64..4, 0usize..3), 1..20),
        order in prop::collection::vec(any::<prop::sample::Index>(), 1..60),
    ) {
        // Stamps are unique: each writer's clock never repeats one.
        let mut seen = std::collections::BTreeSet::new();
        let values: Vec<ChatStatus> = writes
            .iter()
            .filter(|(wall, counter, node, _)| seen.insert((*wall, *counter, *node)))
            .map(|(wall, counter, node, state)| ChatStatus {
                state: [ChatState::Waiting, ChatState::Active, ChatState::Closed][*state],
                operator: Some(format!("op{node}")),
                stamp: Hlc { wall: Millis(*wall), counter: *counter, node: *node },
            })
            .collect();
        let latest = values.iter().max_by_key(|v| v.stamp).cloned().unwrap();
        let mut forward = ChatStatus::default();
        for v in &values {
            forward.merge_from(v);
        }
        let mut shuffled = ChatStatus::default();
        for i in &order {
            shuffled.merge_from(&values[i.index(values.len())]);
        }
        for v in values.iter().rev() {
            shuffled.merge_from(v);
        }
        prop_assert_eq!(forward.stamp, latest.stamp);
        prop_assert_eq!(&forward, &shuffled);
    }
}
