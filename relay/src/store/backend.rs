//! What a storage engine provides to the store: the primitives the merge
//! rules run on, and the queries that need SQL of their own.
//!
//! The split is the point of this module. Everything that decides (which
//! copy of a record wins, what is refused, what goes into the change feed)
//! lives once, in Rust, in [`super::merge`] and [`super::kinds`]; a backend
//! only moves rows. So a new replicated kind of record is a
//! [`Kind`](super::kinds::Kind) and a table in each schema, never a second
//! copy of its merge, and a behaviour added to one engine fails the shared
//! test suite ([`super::tests`]) on the other until it is ported.
//!
//! Two backends implement it: [`super::sqlite`] (embedded, one machine, one
//! writer thread) and [`super::postgres`] (a deployment of many relay
//! nodes sharing one database, each with its own writer). The primitives are
//! bulk ones (a slice of keys or rows at a time) because for PostgreSQL each
//! call is a round trip: a batch of many messages costs a handful of round
//! trips, not a few per message.

use super::StoreError;
use super::api_keys::ApiKey;
use super::erasures::{ErasedRows, Erasure};
use super::records::{Account, ChangesPage, ChatRecord};
use super::webhooks::{Delivery, Subscription};
use twinline_core::protocol::QueueEntry;
use twinline_core::{ChatId, Lamport, Message, Millis, OfflineId, OfflineNote, Receipt};

/// A table the merge rules write: one row per record, keyed by the record's
/// key, holding the record's JSON (`body`) and the columns the backend's
/// own queries filter and sort on.
#[derive(Debug)]
pub struct Table {
    /// Table name (the same in every backend's schema).
    pub name: &'static str,
    /// Key column.
    pub key: &'static str,
    /// Columns kept beside the body, in the order of [`Row::cells`].
    pub columns: &'static [(&'static str, ColumnType)],
}

/// The type of a [`Table`] column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (may be NULL).
    Text,
    /// A 64-bit integer (may be NULL).
    Int,
}

/// One column value of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// A text column's value.
    Text(Option<String>),
    /// An integer column's value.
    Int(Option<i64>),
}

/// A row to write: key, columns in the table's order, and the JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The record's key.
    pub key: String,
    /// Column values, in [`Table::columns`] order.
    pub cells: Vec<Cell>,
    /// The record as JSON.
    pub body: String,
}

/// A change to append to the feed.
#[derive(Clone, Debug)]
pub struct NewChange {
    /// The record kind ([`super::records::Record::kind`]).
    pub kind: &'static str,
    /// The record's key.
    pub key: String,
    /// The deployment where it first happened.
    pub origin: String,
    /// When this deployment wrote it.
    pub at: Millis,
    /// The record's JSON.
    pub body: String,
}

/// What new messages do to their chat's row: the latest activity and the
/// queue's preview. Commutative (the greatest time wins, the preview goes
/// with the latest visitor message of a batch), so backends write touches
/// without reading the row first, and two nodes touching one chat at once
/// end as either order would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    /// The chat.
    pub chat: ChatId,
    /// The first new message's time: `created` of a row made for a chat
    /// whose header has not arrived yet.
    pub first_at: Millis,
    /// The newest new message's time.
    pub last_at: Millis,
    /// The preview: the last new visitor message's text, shortened.
    pub preview: Option<String>,
    /// The newest new visitor message's time: the chat waits from then.
    pub visitor_at: Option<Millis>,
}

impl Touch {
    /// The body of a row made for a chat whose header has not arrived yet.
    /// Made on demand: most touches find their chat's row, and SQLite asks
    /// only when one does not (a JSON text per message was 3% of the
    /// relay's instructions at everyday load).
    pub fn placeholder(&self) -> String {
        serde_json::to_string(&ChatRecord::empty(self.chat, self.first_at)).unwrap_or_default()
    }
}

/// The write primitives, inside one transaction of a backend.
///
/// Every method takes its keys and rows sorted by key, and callers call
/// them in one fixed order of tables (see [`super::merge`]): with several
/// writers on one database, locks are then always taken in the same order
/// and two transactions cannot wait on each other in a circle.
pub trait Tx {
    /// The stored bodies of those of `keys` that exist, as (key, body).
    /// Where other writers run at the same time, the rows stay locked
    /// until the transaction ends, so the merge that reads them decides
    /// on what it will overwrite.
    fn load(&mut self, table: &Table, keys: &[String])
    -> Result<Vec<(String, String)>, StoreError>;

    /// Inserts rows whose keys are new; returns the keys that went in. A
    /// key missing from the answer was stored by another writer since
    /// [`Tx::load`] looked.
    fn insert_new(&mut self, table: &Table, rows: &[Row]) -> Result<Vec<String>, StoreError>;

    /// Overwrites rows loaded (and locked) by [`Tx::load`].
    fn update(&mut self, table: &Table, rows: &[Row]) -> Result<(), StoreError>;

    /// The highest Lamport clock stored in each of `chats` (in range, so
    /// never negative), for the chats that have messages.
    fn highest_lamports(&mut self, chats: &[ChatId]) -> Result<Vec<(ChatId, Lamport)>, StoreError>;

    /// Applies touches to chat rows, creating a placeholder row for a chat
    /// not stored yet.
    fn touch_chats(&mut self, touches: &[Touch]) -> Result<(), StoreError>;

    /// Appends changes to the feed, in this order, after every change
    /// committed before. Where several writers share the feed, positions
    /// are handed out in commit order (see the backend).
    fn append(&mut self, changes: &[NewChange]) -> Result<(), StoreError>;

    /// Moves the replication checkpoint for `peer` to `seq` (never back).
    fn advance_checkpoint(&mut self, peer: &str, seq: u64) -> Result<(), StoreError>;

    /// Stores `epoch` as the boot epoch if the stored one is lower (see
    /// [`super::merge::Job::epoch`]); always writes, so its commit proves
    /// the engine can store something.
    fn keep_epoch(&mut self, epoch: u64) -> Result<(), StoreError>;

    /// The guards stored under `keys` (see [`super::erasures`]), as (key,
    /// body). Where other writers run at the same time, this waits for an
    /// erasure being applied by one of them ([`Tx::lock_for_erasure`]) and
    /// then reads what it committed, and holds that erasure back until
    /// this transaction ends: a record is never checked against guards
    /// that an erasure committing beside it is about to add.
    fn load_guards(&mut self, keys: &[String]) -> Result<Vec<(String, String)>, StoreError>;

    /// Called first in a batch that applies an erasure: waits for every
    /// transaction that has loaded guards to end, and keeps new ones from
    /// loading until this one ends (see [`Tx::load_guards`]).
    fn lock_for_erasure(&mut self) -> Result<(), StoreError>;

    /// The stored rows an erasure's visitor and email rules may cover
    /// (see [`VisitorRows`]).
    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError>;

    /// Deletes the chats (headers, with their ratings, messages and read
    /// receipts) and notes named (a chat's files and their chunks with it),
    /// and every feed entry of theirs: the one place erasure deletes
    /// anything.
    fn erase(&mut self, rows: &ErasedRows) -> Result<(), StoreError>;
}

/// Whose rows an erasure or an export looks for on one site.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Who {
    /// The site.
    pub site: String,
    /// A visitor id (`chats.visitor`), or "" for none.
    pub visitor: String,
    /// A lowercase email (pre-chat email of chats, email of notes), or ""
    /// for none.
    pub email: String,
}

/// Rows of one site that may be a visitor's, as (key, body): the chats
/// with that visitor id or pre-chat email, the notes with that email. The
/// backend's SQL finds candidates; [`super::erasures`] decides in Rust.
#[derive(Clone, Debug, Default)]
pub struct VisitorRows {
    /// Chat headers.
    pub chats: Vec<(String, String)>,
    /// Offline notes.
    pub notes: Vec<(String, String)>,
}

/// A storage engine's write side: the connection the store's writer owns.
pub trait Backend: Send + 'static {
    /// Runs `work` in one transaction and commits it (rolled back when
    /// `work` fails). A broken connection is reopened first.
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The feed's newest position, read after a commit.
    fn head(&mut self) -> Result<u64, StoreError>;

    /// Called after each commit (SQLite copies its log on another thread).
    fn committed(&mut self) {}
}

/// A chat row's activity columns, as the queue sees them (tests compare
/// them across backends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSummary {
    /// The chat.
    pub chat: ChatId,
    /// Its site ("" until the header arrives).
    pub site: String,
    /// When it was created (its first message's time for a placeholder).
    pub created: Millis,
    /// waiting, active or closed.
    pub state: String,
    /// Latest activity.
    pub last_at: Option<Millis>,
    /// The queue's preview.
    pub preview: String,
    /// When the visitor last wrote.
    pub visitor_at: Option<Millis>,
}

/// A feed entry with the node that wrote it (PostgreSQL: each relay node
/// of the deployment; SQLite: always "").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeChange {
    /// The change.
    pub change: super::records::Change,
    /// The node whose writer committed it.
    pub node: String,
}

/// The reads: what handlers ask of the store, one query each (or a few).
/// They run on reader connections, beside the writer.
pub trait Reads {
    /// One chat's header.
    fn chat(&mut self, chat: ChatId) -> Result<Option<ChatRecord>, StoreError>;
    /// The read receipts of a chat (at most one per side).
    fn receipts(&mut self, chat: ChatId) -> Result<Vec<Receipt>, StoreError>;
    /// Every message of a chat, in Lamport order.
    fn messages(&mut self, chat: ChatId) -> Result<Vec<Message>, StoreError>;
    /// The messages of a chat whose keys `held` does not hold, in any
    /// order: each stored key is offered to [`Held::holds`](super::reads::Held::holds)
    /// and only the bodies it does not hold are parsed
    /// ([`super::reads::catch_up`] orders them).
    fn catch_up(
        &mut self,
        chat: ChatId,
        held: &mut super::reads::Held,
    ) -> Result<Vec<Message>, StoreError>;
    /// Chats an operator holds open (active and assigned to them).
    fn chats_of_operator(&mut self, username: &str) -> Result<Vec<ChatRecord>, StoreError>;
    /// Waiting chats in which the visitor has written, of the given sites
    /// (all when `None`), in fair order: the oldest chat of each source
    /// first, then each source's second oldest, and so on.
    fn queue(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<QueueEntry>, StoreError>;
    /// The newest offline notes of the given sites (all when `None`).
    fn notes(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<OfflineNote>, StoreError>;
    /// An operator account.
    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError>;
    /// Every account, removed ones too, by username.
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError>;
    /// An API key by its public id.
    fn api_key(&mut self, id: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Every API key, revoked ones too, by site and id.
    fn api_keys(&mut self) -> Result<Vec<ApiKey>, StoreError>;
    /// Webhook subscriptions, deleted ones too, of `site` (all when
    /// `None`), by site and id.
    fn webhooks(&mut self, site: Option<&str>) -> Result<Vec<Subscription>, StoreError>;
    /// One webhook subscription by id.
    fn webhook(&mut self, id: &str) -> Result<Option<Subscription>, StoreError>;
    /// The newest `limit` deliveries of a subscription, newest event first.
    fn deliveries(&mut self, subscription: &str, limit: usize)
    -> Result<Vec<Delivery>, StoreError>;
    /// Up to `limit` pending deliveries, soonest due first.
    fn pending_deliveries(&mut self, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Up to `limit` chats of `site` (placeholders never: they have no
    /// site), greatest id first, only those with an id below `before` and
    /// in `state` when given: the REST API's cursor pages, which read the
    /// same on both deployments because ids are the clients'.
    fn site_chats(
        &mut self,
        site: &str,
        state: Option<&str>,
        before: Option<ChatId>,
        limit: usize,
    ) -> Result<Vec<ChatRecord>, StoreError>;
    /// Up to `query.limit` chats a history search finds, greatest id
    /// first ([`super::search`]: the words, the filters, the cursor).
    fn search_chats(&mut self, query: &super::search::Query)
    -> Result<Vec<ChatRecord>, StoreError>;
    /// The feed's newest position.
    fn head(&mut self) -> Result<u64, StoreError>;
    /// How far this deployment has pulled `peer`'s feed.
    fn checkpoint(&mut self, peer: &str) -> Result<u64, StoreError>;
    /// Up to `limit` changes after `after`, leaving out those that
    /// originated at `exclude_origin` (the asking peer's own: no echo).
    fn changes_since(
        &mut self,
        after: u64,
        limit: usize,
        exclude_origin: &str,
    ) -> Result<ChangesPage, StoreError>;
    /// Up to `limit` changes after `after` with the node that wrote each
    /// (the cross-node fan-out).
    fn node_changes(&mut self, after: u64, limit: usize) -> Result<Vec<NodeChange>, StoreError>;
    /// (chats, messages, notes, accounts), for tests and benchmarks.
    fn counts(&mut self) -> Result<(u64, u64, u64, u64), StoreError>;
    /// Every message id, sorted (digests in tests).
    fn message_ids(&mut self) -> Result<Vec<String>, StoreError>;
    /// Every chat row's activity columns, by chat id.
    fn summaries(&mut self) -> Result<Vec<ChatSummary>, StoreError>;
    /// A trivial query: is the engine there?
    fn ping(&mut self) -> Result<(), StoreError>;
    /// The rows that may be a visitor's (export; the same query as
    /// [`Tx::visitor_rows`]).
    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError>;
    /// Every erasure of `site`, oldest first.
    fn erasures(&mut self, site: &str) -> Result<Vec<Erasure>, StoreError>;
    /// Up to `limit` closed chats of `site` last active before `before`,
    /// and up to `limit` of its notes left before it, oldest first: what
    /// its retention period erases next.
    fn expired(
        &mut self,
        site: &str,
        before: Millis,
        limit: usize,
    ) -> Result<(Vec<ChatId>, Vec<OfflineId>), StoreError>;
    /// How many chats and notes [`Reads::expired`] would find without a
    /// limit (the retention's dry run).
    fn expired_counts(&mut self, site: &str, before: Millis) -> Result<(u64, u64), StoreError>;
    /// Those of `chats` that were erased (a client naming them is told
    /// `erased`).
    fn erased_chats(&mut self, chats: &[ChatId]) -> Result<Vec<ChatId>, StoreError>;
    /// The attached files' reads ([`super::files::FileReads`]).
    fn files(&mut self) -> &mut dyn super::files::FileReads;
}
