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
use twinline_core::{ChatId, Message, OfflineNote};

/// One chat's header.
pub fn chat_in(conn: &mut dyn Reads, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
    conn.chat(chat)
}

/// Every message of a chat.
pub fn messages(conn: &mut dyn Reads, chat: ChatId) -> Result<Vec<Message>, StoreError> {
    conn.messages(chat)
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
