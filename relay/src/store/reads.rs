//! The queries, as functions over any backend's reader, for
//! [`super::Store::read`]: `store.read(move |conn| reads::messages(conn,
//! chat))` runs on SQLite and PostgreSQL alike. Each is one
//! [`Reads`] method; the SQL is in the backends.

use super::StoreError;
use super::api_keys::ApiKey;
use super::backend::Reads;
use super::records::{Account, ChangesPage, ChatRecord};
use super::webhooks::{Delivery, Subscription};
use twinline_core::protocol::QueueEntry;
use twinline_core::{ChatId, Message, MessageId, OfflineNote, Seen};

/// One chat's header.
pub fn chat_in(conn: &mut dyn Reads, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
    conn.chat(chat)
}

/// What each side of a chat has seen, from its read receipts.
pub fn seen(conn: &mut dyn Reads, chat: ChatId) -> Result<Seen, StoreError> {
    let mut seen = Seen::default();
    for receipt in conn.receipts(chat)? {
        seen.add(&receipt);
    }
    Ok(seen)
}

/// Every message of a chat.
pub fn messages(conn: &mut dyn Reads, chat: ChatId) -> Result<Vec<Message>, StoreError> {
    conn.messages(chat)
}

/// What a client holding `have` of a chat lacks, and what the store lacks
/// of it: [`Reads::catch_up`].
pub fn catch_up(
    conn: &mut dyn Reads,
    chat: ChatId,
    have: &[MessageId],
) -> Result<CatchUp, StoreError> {
    let mut held = Held::new(have);
    let mut missing = conn.catch_up(chat, &mut held)?;
    missing.sort_by_key(|m| (m.lamport, m.id));
    Ok(CatchUp {
        missing,
        lacking: held.lacking(),
    })
}

/// A chat's catch-up for one client ([`catch_up`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CatchUp {
    /// The stored messages the client does not hold, in Lamport order
    /// (ties by id), as [`Reads::messages`] orders them.
    pub missing: Vec<Message>,
    /// The ids the client holds that the store does not, sorted.
    pub lacking: Vec<MessageId>,
}

/// The ids a client holds of one chat, written as the store keys messages
/// ([`crate::store::records::Record::key`]). A catch-up reads each stored
/// message's key beside its body and parses the body only when the client
/// lacks it: a reconnecting widget holds every message it was acked, and
/// parsing their JSON only to drop them was half of what a welcome cost.
#[derive(Debug)]
pub struct Held {
    /// (key, id, seen in the store), sorted by key, no key twice.
    ids: Vec<(String, MessageId, bool)>,
}

impl Held {
    /// The ids of `have` (duplicates are one).
    pub fn new(have: &[MessageId]) -> Held {
        let mut ids: Vec<_> = have.iter().map(|id| (id.to_string(), *id, false)).collect();
        ids.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        ids.dedup_by(|a, b| a.0 == b.0);
        Held { ids }
    }

    /// Whether the client holds the stored message keyed `key`; remembers
    /// that the store has it.
    pub fn holds(&mut self, key: &str) -> bool {
        match self
            .ids
            .binary_search_by(|(held, ..)| held.as_str().cmp(key))
        {
            Ok(at) => {
                self.ids[at].2 = true;
                true
            }
            Err(_) => false,
        }
    }

    /// The held ids no stored message had, sorted (call once every stored
    /// message was offered to [`Held::holds`]).
    pub fn lacking(self) -> Vec<MessageId> {
        let mut lacking: Vec<MessageId> = self
            .ids
            .into_iter()
            .filter(|(.., seen)| !seen)
            .map(|(_, id, _)| id)
            .collect();
        lacking.sort_unstable();
        lacking
    }
}

/// Chats an operator holds open (active and assigned to them).
pub fn chats_of_operator(
    conn: &mut dyn Reads,
    username: &str,
) -> Result<Vec<ChatRecord>, StoreError> {
    conn.chats_of_operator(username)
}

/// Waiting chats of the given sites in fair order ([`Reads::queue`]).
pub fn queue(
    conn: &mut dyn Reads,
    limit: usize,
    sites: Option<&[String]>,
) -> Result<Vec<QueueEntry>, StoreError> {
    conn.queue(limit, sites)
}

/// The newest offline notes of the given sites, newest first.
pub fn notes(
    conn: &mut dyn Reads,
    limit: usize,
    sites: Option<&[String]>,
) -> Result<Vec<OfflineNote>, StoreError> {
    conn.notes(limit, sites)
}

/// An operator account.
pub fn account(conn: &mut dyn Reads, username: &str) -> Result<Option<Account>, StoreError> {
    conn.account(username)
}

/// Every account, removed ones too, by username.
pub fn accounts(conn: &mut dyn Reads) -> Result<Vec<Account>, StoreError> {
    conn.accounts()
}

/// An API key by its public id.
pub fn api_key(conn: &mut dyn Reads, id: &str) -> Result<Option<ApiKey>, StoreError> {
    conn.api_key(id)
}

/// Every API key, revoked ones too.
pub fn api_keys(conn: &mut dyn Reads) -> Result<Vec<ApiKey>, StoreError> {
    conn.api_keys()
}

/// Webhook subscriptions of `site` (all when `None`), deleted ones too.
pub fn webhooks(conn: &mut dyn Reads, site: Option<&str>) -> Result<Vec<Subscription>, StoreError> {
    conn.webhooks(site)
}

/// One webhook subscription.
pub fn webhook(conn: &mut dyn Reads, id: &str) -> Result<Option<Subscription>, StoreError> {
    conn.webhook(id)
}

/// A subscription's newest deliveries (the delivery log).
pub fn deliveries(
    conn: &mut dyn Reads,
    subscription: &str,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    conn.deliveries(subscription, limit)
}

/// Pending deliveries, soonest due first (the sender's work).
pub fn pending_deliveries(conn: &mut dyn Reads, limit: usize) -> Result<Vec<Delivery>, StoreError> {
    conn.pending_deliveries(limit)
}

/// The feed's newest position.
pub fn head(conn: &mut dyn Reads) -> Result<u64, StoreError> {
    conn.head()
}

/// How far this deployment has pulled `peer`'s feed.
pub fn checkpoint(conn: &mut dyn Reads, peer: &str) -> Result<u64, StoreError> {
    conn.checkpoint(peer)
}

/// Up to `limit` changes after `after`, without those from `exclude_origin`.
pub fn changes_since(
    conn: &mut dyn Reads,
    after: u64,
    limit: usize,
    exclude_origin: &str,
) -> Result<ChangesPage, StoreError> {
    conn.changes_since(after, limit, exclude_origin)
}

/// Counts, for tests and the replication benchmark: (chats, messages, notes, accounts).
pub fn counts(conn: &mut dyn Reads) -> Result<(u64, u64, u64, u64), StoreError> {
    conn.counts()
}

/// Every message id (for digests).
pub fn message_ids(conn: &mut dyn Reads) -> Result<Vec<String>, StoreError> {
    conn.message_ids()
}

/// Ids as a backend read them back, parsed (the backends' id lists).
pub(crate) fn parse_ids<T: std::str::FromStr>(
    ids: impl IntoIterator<Item = String>,
) -> Result<Vec<T>, StoreError> {
    ids.into_iter()
        .map(|id| {
            id.parse()
                .map_err(|_| StoreError::Unavailable(format!("a stored id does not parse: {id:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use twinline_core::{Author, Lamport, Millis, Role};

    fn message(chat: ChatId, id: MessageId, lamport: u64) -> Message {
        Message {
            id,
            chat,
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            text: "hi".into(),
            lamport: Lamport(lamport),
            at: Millis(1),
            file: None,
        }
    }

    /// The catch-up as it was computed before [`Held`]: every stored
    /// message parsed, then filtered by the client's set.
    fn by_full_read(stored: &[Message], have: &[MessageId]) -> CatchUp {
        let have: BTreeSet<MessageId> = have.iter().copied().collect();
        let ids: BTreeSet<MessageId> = stored.iter().map(|m| m.id).collect();
        let mut missing: Vec<Message> = stored
            .iter()
            .filter(|m| !have.contains(&m.id))
            .cloned()
            .collect();
        missing.sort_by_key(|m| (m.lamport, m.id));
        CatchUp {
            missing,
            lacking: have.difference(&ids).copied().collect(),
        }
    }

    /// The catch-up through [`Held`], rows offered in the order given.
    fn by_keys(stored: &[Message], have: &[MessageId]) -> CatchUp {
        let mut held = Held::new(have);
        let mut missing: Vec<Message> = stored
            .iter()
            .filter(|m| !held.holds(&m.id.to_string()))
            .cloned()
            .collect();
        missing.sort_by_key(|m| (m.lamport, m.id));
        CatchUp {
            missing,
            lacking: held.lacking(),
        }
    }

    proptest! {
        /// Skipping the bodies of held messages changes nothing a client
        /// is told: the same missing messages in the same order, the same
        /// lacking ids, whatever the client holds (duplicates, ids the
        /// store never had) and in whatever order the rows come.
        #[test]
        fn held_keys_give_the_catch_up_a_full_read_gives(
            stored in proptest::collection::vec((0u128..40, 0u64..6), 0..30),
            held in proptest::collection::vec(0u128..60, 0..40),
        ) {
            let chat = ChatId::new(Millis(5), 5);
            let mut seen = BTreeSet::new();
            let stored: Vec<Message> = stored
                .into_iter()
                .filter(|(n, _)| seen.insert(*n))
                .map(|(n, lamport)| message(chat, MessageId::new(Millis(n as u64 % 7), n * 1_000_003), lamport))
                .collect();
            let have: Vec<MessageId> = held
                .into_iter()
                .map(|n| MessageId::new(Millis(n as u64 % 7), n * 1_000_003))
                .collect();
            prop_assert_eq!(by_keys(&stored, &have), by_full_read(&stored, &have));
        }
    }

    #[test]
    fn a_held_key_is_the_stored_key_of_that_message() {
        let id = MessageId::new(Millis(1_700_000_000_000), 42);
        let key =
            crate::store::records::Record::Message(message(ChatId::new(Millis(1), 1), id, 1)).key();
        let mut held = Held::new(&[id, id]);
        assert!(held.holds(&key));
        assert!(!held.holds("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(
            held.lacking().is_empty(),
            "seen in the store, so not lacking"
        );
    }
}
