//! Applying a batch of write jobs in one transaction: the merge rules of
//! [`super::kinds`] run over what a backend loads, and what they decide is
//! written back in bulk.
//!
//! One batch is one transaction, in five steps, the same on every backend:
//!
//! 1. gather the keys every record of the batch names;
//! 2. load the erasure guards they meet (and, for an erasure, the rows its
//!    rules cover here), then what is stored under them, kind by kind in a
//!    fixed order (accounts, chats, messages, notes, API keys, webhooks and
//!    their deliveries, files and their chunks, read receipts, erasures; keys sorted), with the highest Lamport
//!    clock of each chat a message goes to;
//! 3. merge record by record in job order, in memory: each record meets
//!    the stored copy as the records before it left it, exactly as if they
//!    had been applied one at a time, and its [`Applied`] is decided here
//!    (a record an erasure covers is refused, [`Refusal::Erased`]);
//! 4. write what changed, kind by kind in the same order: new rows inserted
//!    if still absent, loaded rows overwritten; then the guards;
//! 5. touch the chat rows new messages went to, append the feed entries in
//!    order, delete what erasures erased (with its feed entries, those of
//!    this batch too), move replication checkpoints.
//!
//! With several writers on one database (relay nodes on PostgreSQL), the
//! fixed order means locks are always taken in one order, and a row that
//! another writer inserted between steps 2 and 4 makes step 4 fail with
//! [`StoreError::Raced`]: the writer then runs the batch again in a new
//! transaction, which loads that row and merges against it. Two nodes that
//! receive the same message id at once therefore store it once, and the
//! second gets the duplicate's answer.
//!
//! The JSON of messages and notes, which are stored as they come, is made
//! by the caller ([`Queued::new`]) off the writer's thread; chats and
//! accounts are stored as merged, so theirs is made after the merge.

use super::StoreError;
use super::api_keys::ApiKey;
use super::backend::{NewChange, Row, Touch, Tx, VisitorRows, Who};
use super::erasures::{self, ERASED, ErasedRows, Erasure};
use super::files::{Chunk, StoredFile};
use super::kinds::{ChatClock, Kind, Outcome};
use super::records::{Account, Applied, ChatRecord, Record, Refusal};
use super::webhooks::{Delivery, Subscription};
use std::collections::{BTreeMap, BTreeSet};
use twinline_core::{ChatId, ChatState, Lamport, Message, Millis, OfflineNote, Receipt, Role};

/// Longest preview of a waiting chat shown in operators' queues.
const PREVIEW_CHARS: usize = 120;

/// A record on its way to the writer.
#[derive(Clone, Debug)]
pub struct Queued {
    /// The record.
    pub record: Record,
    /// The deployment where it first happened.
    pub origin: String,
    /// Its JSON, for records stored as they come (messages and notes); the
    /// same text goes into their table and into the feed.
    body: Option<String>,
}

impl Queued {
    /// Makes what the writer would otherwise make, on the caller's thread.
    pub fn new(record: Record, origin: String) -> Queued {
        let body = match &record {
            Record::Message(_) | Record::Note(_) | Record::FileChunk(_) => Some(record.body_json()),
            Record::Chat(_)
            | Record::Account(_)
            | Record::ApiKey(_)
            | Record::Webhook(_)
            | Record::Delivery(_)
            | Record::File(_)
            | Record::Receipt(_)
            | Record::Erasure(_) => None,
        };
        Queued {
            record,
            origin,
            body,
        }
    }
}

/// A batch of records to apply atomically, from one caller.
#[derive(Debug)]
pub struct Job {
    /// The records, applied in this order.
    pub records: Vec<Queued>,
    /// A peer's feed position to store with them (replication).
    pub checkpoint: Option<(String, u64)>,
    /// When the job was queued: the feed's `at`.
    pub now: Millis,
    /// A boot epoch to store if the stored one is lower: the write
    /// [`super::Store::watch`] probes a failing store with (an empty commit
    /// writes nothing on SQLite, so it would succeed on a full disk), and
    /// the epoch bump a start on a full disk could not make.
    pub epoch: Option<u64>,
}

/// Applies `jobs` in one transaction (see the module docs); one
/// [`Applied`] per record, per job.
pub fn apply(tx: &mut dyn Tx, jobs: &[&Job]) -> Result<Vec<Vec<Applied>>, StoreError> {
    let mut batch = Batch::load(tx, jobs)?;
    let results: Vec<Vec<Applied>> = jobs
        .iter()
        .map(|job| {
            job.records
                .iter()
                .map(|queued| batch.merge(queued, job.now))
                .collect()
        })
        .collect();
    batch.write(tx)?;
    for job in jobs {
        if let Some((peer, seq)) = &job.checkpoint {
            tx.advance_checkpoint(peer, *seq)?;
        }
        if let Some(epoch) = job.epoch {
            tx.keep_epoch(epoch)?;
        }
    }
    Ok(results)
}

/// The stored copies of one kind's records the batch names, as the batch
/// leaves them.
struct Working<K> {
    values: BTreeMap<String, K>,
    /// Keys with a row (before the batch), parsed or not.
    existed: BTreeSet<String>,
    /// Keys to write, with the body to store.
    dirty: BTreeMap<String, String>,
}

impl<K: Kind> Working<K> {
    fn load(tx: &mut dyn Tx, keys: BTreeSet<String>) -> Result<Working<K>, StoreError> {
        let keys: Vec<String> = keys.into_iter().collect();
        let mut working = Working {
            values: BTreeMap::new(),
            existed: BTreeSet::new(),
            dirty: BTreeMap::new(),
        };
        if keys.is_empty() {
            return Ok(working);
        }
        for (key, body) in tx.load(K::TABLE, &keys)? {
            // A row that does not parse is overwritten by the next value,
            // as if it were absent (never inserted again beside it).
            if let Ok(value) = serde_json::from_str::<K>(&body) {
                working.values.insert(key.clone(), value);
            }
            working.existed.insert(key);
        }
        Ok(working)
    }

    /// Merges one incoming value; returns the outcome and, if the feed gets
    /// it, its body.
    fn merge(
        &mut self,
        incoming: K,
        made: Option<&str>,
        chats: &dyn ChatClock,
    ) -> (Outcome<K>, Option<String>) {
        if let Err(error) = incoming.admit(chats) {
            return (Outcome::Refused(incoming, Refusal::Invalid(error)), None);
        }
        let key = incoming.key();
        let outcome = K::merge(self.values.get(&key), incoming);
        let stored = match &outcome {
            Outcome::Changed(value) | Outcome::Rewritten(value) => value,
            Outcome::Unchanged(_) | Outcome::Refused(..) => return (outcome, None),
        };
        let body = made.map_or_else(|| to_json(stored), str::to_string);
        self.values.insert(key.clone(), stored.clone());
        self.dirty.insert(key, body.clone());
        let feed = matches!(outcome, Outcome::Changed(_)).then_some(body);
        (outcome, feed)
    }

    fn write(self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        let mut new = Vec::new();
        let mut old = Vec::new();
        for (key, body) in self.dirty {
            let row = Row {
                cells: self.values[&key].cells(),
                key,
                body,
            };
            if self.existed.contains(&row.key) {
                old.push(row);
            } else {
                new.push(row);
            }
        }
        if !new.is_empty() {
            let inserted = tx.insert_new(K::TABLE, &new)?;
            if inserted.len() != new.len() {
                // Another writer stored one of these since the load.
                return Err(StoreError::Raced);
            }
        }
        if !old.is_empty() {
            tx.update(K::TABLE, &old)?;
        }
        Ok(())
    }
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Everything a batch has loaded and decided so far.
struct Batch {
    accounts: Working<Account>,
    chats: Working<ChatRecord>,
    messages: Working<Message>,
    notes: Working<OfflineNote>,
    api_keys: Working<ApiKey>,
    erasures: Working<Erasure>,
    guards: Guards,
    /// For each erasure of the batch, the rows its rules may cover here.
    covered: BTreeMap<String, VisitorRows>,
    erased: ErasedRows,
    webhooks: Working<Subscription>,
    deliveries: Working<Delivery>,
    files: Working<StoredFile>,
    chunks: Working<Chunk>,
    receipts: Working<Receipt>,
    touches: Touches,
    feed: Vec<NewChange>,
}

/// The erasure guards the batch meets, as it leaves them.
#[derive(Default)]
struct Guards {
    /// Key to cutoff.
    values: BTreeMap<String, Millis>,
    existed: BTreeSet<String>,
    dirty: BTreeSet<String>,
}

impl Guards {
    fn load(tx: &mut dyn Tx, keys: BTreeSet<String>) -> Result<Guards, StoreError> {
        let mut guards = Guards::default();
        if keys.is_empty() {
            return Ok(guards);
        }
        let keys: Vec<String> = keys.into_iter().collect();
        for (key, body) in tx.load_guards(&keys)? {
            // A guard that does not parse still guards, from the start.
            let cutoff = body.parse().map_or(Millis(u64::MAX >> 11), Millis);
            guards.values.insert(key.clone(), cutoff);
            guards.existed.insert(key);
        }
        Ok(guards)
    }

    fn cutoff(&self, key: &str) -> Option<Millis> {
        self.values.get(key).copied()
    }

    /// Sets a guard, keeping the later cutoff.
    fn set(&mut self, key: String, cutoff: Millis) {
        if self
            .values
            .get(&key)
            .is_some_and(|stored| *stored >= cutoff)
        {
            return;
        }
        self.values.insert(key.clone(), cutoff);
        self.dirty.insert(key);
    }

    fn write(self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        let (mut new, mut old) = (Vec::new(), Vec::new());
        for key in self.dirty {
            let row = Row {
                body: self.values[&key].0.to_string(),
                key,
                cells: Vec::new(),
            };
            if self.existed.contains(&row.key) {
                old.push(row);
            } else {
                new.push(row);
            }
        }
        if !new.is_empty() && tx.insert_new(&ERASED, &new)?.len() != new.len() {
            return Err(StoreError::Raced);
        }
        if !old.is_empty() {
            tx.update(&ERASED, &old)?;
        }
        Ok(())
    }
}

impl Batch {
    fn load(tx: &mut dyn Tx, jobs: &[&Job]) -> Result<Batch, StoreError> {
        let mut accounts = BTreeSet::new();
        let mut chats = BTreeSet::new();
        let mut messages = BTreeSet::new();
        let mut notes = BTreeSet::new();
        let mut api_keys = BTreeSet::new();
        let mut erasure_keys = BTreeSet::new();
        let mut guard_keys = BTreeSet::new();
        let mut webhooks = BTreeSet::new();
        let mut deliveries = BTreeSet::new();
        let mut files = BTreeSet::new();
        let mut chunks = BTreeSet::new();
        let mut receipts = BTreeSet::new();
        let mut message_chats = BTreeSet::new();
        let mut batch_erasures = Vec::new();
        for queued in jobs.iter().flat_map(|job| &job.records) {
            guard_keys.extend(
                erasures::guards_of(&queued.record)
                    .into_iter()
                    .map(|(k, _)| k),
            );
            match &queued.record {
                Record::Message(m) => {
                    messages.insert(m.key());
                    message_chats.insert(m.chat);
                    // Locked with the headers: its row is touched in step 5.
                    chats.insert(m.chat.to_string());
                }
                Record::Chat(c) => {
                    chats.insert(c.key());
                }
                Record::Note(n) => {
                    notes.insert(n.key());
                }
                Record::Account(a) => {
                    accounts.insert(a.key());
                }
                Record::ApiKey(k) => {
                    api_keys.insert(k.key());
                }
                Record::Erasure(e) => {
                    erasure_keys.insert(e.key());
                    guard_keys.extend(e.guards());
                    // Locked like the rows the erasure deletes.
                    chats.extend(e.chats.iter().map(ToString::to_string));
                    notes.extend(e.notes.iter().map(ToString::to_string));
                    batch_erasures.push(e);
                }
                Record::Webhook(w) => {
                    webhooks.insert(w.key());
                }
                Record::Delivery(d) => {
                    deliveries.insert(d.key());
                }
                Record::File(f) => {
                    files.insert(f.key());
                }
                Record::FileChunk(c) => {
                    chunks.insert(c.key());
                }
                Record::Receipt(r) => {
                    receipts.insert(r.key());
                }
            }
        }
        // Guards before any row is locked (see `Tx::load_guards`).
        if !batch_erasures.is_empty() {
            tx.lock_for_erasure()?;
        }
        let guards = Guards::load(tx, guard_keys)?;
        let mut covered = BTreeMap::new();
        for erasure in batch_erasures {
            let who = Who {
                site: erasure.site.clone(),
                visitor: erasure.visitor.map(|v| v.to_string()).unwrap_or_default(),
                email: erasure
                    .email
                    .as_deref()
                    .map(erasures::normal_email)
                    .unwrap_or_default(),
            };
            let rows = tx.visitor_rows(&who)?;
            chats.extend(rows.chats.iter().map(|(key, _)| key.clone()));
            notes.extend(rows.notes.iter().map(|(key, _)| key.clone()));
            covered.insert(erasure.key(), rows);
        }
        let accounts = Working::load(tx, accounts)?;
        let chats = Working::load(tx, chats)?;
        let messages = Working::load(tx, messages)?;
        let notes = Working::load(tx, notes)?;
        let api_keys = Working::load(tx, api_keys)?;
        let erasures = Working::load(tx, erasure_keys)?;
        let webhooks = Working::load(tx, webhooks)?;
        let deliveries = Working::load(tx, deliveries)?;
        let files = Working::load(tx, files)?;
        let chunks = Working::load(tx, chunks)?;
        let receipts = Working::load(tx, receipts)?;
        let message_chats: Vec<ChatId> = message_chats.into_iter().collect();
        let highest = if message_chats.is_empty() {
            BTreeMap::new()
        } else {
            tx.highest_lamports(&message_chats)?.into_iter().collect()
        };
        Ok(Batch {
            accounts,
            chats,
            messages,
            notes,
            api_keys,
            erasures,
            guards,
            covered,
            erased: ErasedRows::default(),
            webhooks,
            deliveries,
            files,
            chunks,
            receipts,
            touches: Touches {
                highest,
                touched: BTreeMap::new(),
            },
            feed: Vec::new(),
        })
    }

    fn merge(&mut self, queued: &Queued, now: Millis) -> Applied {
        if erasures::is_erased(&queued.record, |key| self.guards.cutoff(key)) {
            return self.drop_erased(queued.record.clone());
        }
        let made = queued.body.as_deref();
        let (applied, feed) = match queued.record.clone() {
            Record::Message(message) => {
                let (outcome, feed) = self.messages.merge(message, made, &self.touches);
                let mut chat_state = None;
                if let Outcome::Changed(message) = &outcome {
                    self.touches.add(message);
                    chat_state = Some(
                        self.chats
                            .values
                            .get(&message.chat.to_string())
                            .map_or(ChatState::default(), |chat| chat.status.state),
                    );
                }
                let mut applied = applied(outcome);
                applied.chat_state = chat_state;
                (applied, feed)
            }
            Record::Note(note) => {
                let (outcome, feed) = self.notes.merge(note, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::Chat(mut chat) => {
                // A chat was created, here, when its header first arrived
                // here (the merge keeps a stored header's): the queue
                // orders by this deployment's clock alone, so a peer's
                // clock ahead or behind cannot put a chat before one that
                // came earlier, nor make it wait "since" the future.
                chat.created = now;
                let (outcome, feed) = self.chats.merge(chat, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::Account(account) => {
                let (outcome, feed) = self.accounts.merge(account, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::ApiKey(key) => {
                let (outcome, feed) = self.api_keys.merge(key, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::Erasure(erasure) => {
                let (outcome, feed) = self.erasures.merge(erasure, made, &self.touches);
                if let Outcome::Changed(erasure) = &outcome {
                    self.apply_erasure(erasure);
                }
                (applied(outcome), feed)
            }
            Record::Webhook(hook) => {
                let (outcome, feed) = self.webhooks.merge(hook, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::Delivery(delivery) => {
                let (outcome, feed) = self.deliveries.merge(delivery, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::File(file) => {
                let (outcome, feed) = self.files.merge(file, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::FileChunk(chunk) => {
                let (outcome, feed) = self.chunks.merge(chunk, made, &self.touches);
                (applied(outcome), feed)
            }
            Record::Receipt(receipt) => {
                let (outcome, feed) = self.receipts.merge(receipt, made, &self.touches);
                (applied(outcome), feed)
            }
        };
        if let Some(body) = feed {
            self.feed.push(NewChange {
                kind: applied.record.kind(),
                key: applied.record.key(),
                origin: queued.origin.clone(),
                at: now,
                body,
            });
        }
        applied
    }

    /// Refuses a record an erasure covers. A chat header dropped by a
    /// visitor or email rule (a chat the erasing deployment had not heard
    /// of) is erased here too: its messages may have come first.
    fn drop_erased(&mut self, record: Record) -> Applied {
        match &record {
            Record::Chat(chat) if self.guards.cutoff(&erasures::chat_guard(chat.id)).is_none() => {
                self.guards
                    .set(erasures::chat_guard(chat.id), chat.id.0.millis());
                self.erased.chats.insert(chat.key());
            }
            _ => {}
        }
        Applied {
            changed: false,
            record,
            refused: Some(Refusal::Erased),
            chat_state: None,
        }
    }

    /// A new erasure: its guards, and the rows it deletes here (those it
    /// lists, those its rules cover as stored, and those this batch has
    /// stored so far).
    fn apply_erasure(&mut self, erasure: &Erasure) {
        for key in erasure.guards() {
            self.guards.set(key, erasure.at);
        }
        let mut chats: BTreeSet<ChatId> = erasure.chats.iter().copied().collect();
        let mut notes: BTreeSet<String> = erasure.notes.iter().map(ToString::to_string).collect();
        let covered = self.covered.get(&erasure.key());
        let stored_chats = covered.into_iter().flat_map(|rows| &rows.chats);
        for (_, body) in stored_chats {
            if let Ok(chat) = serde_json::from_str::<ChatRecord>(body)
                && erasure.covers_chat(&chat)
            {
                chats.insert(chat.id);
            }
        }
        chats.extend(
            self.chats
                .values
                .values()
                .filter(|chat| erasure.covers_chat(chat))
                .map(|chat| chat.id),
        );
        for (key, body) in covered.into_iter().flat_map(|rows| &rows.notes) {
            if serde_json::from_str::<OfflineNote>(body).is_ok_and(|n| erasure.covers_note(&n)) {
                notes.insert(key.clone());
            }
        }
        notes.extend(
            self.notes
                .values
                .values()
                .filter(|note| erasure.covers_note(note))
                .map(Kind::key),
        );
        for chat in chats {
            self.guards.set(erasures::chat_guard(chat), erasure.at);
            self.erased.chats.insert(chat.to_string());
        }
        for note in notes {
            if let Ok(id) = note.parse() {
                self.guards.set(erasures::note_guard(id), erasure.at);
            }
            self.erased.notes.insert(note);
        }
    }

    fn write(self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        self.accounts.write(tx)?;
        self.chats.write(tx)?;
        self.messages.write(tx)?;
        self.notes.write(tx)?;
        self.api_keys.write(tx)?;
        self.erasures.write(tx)?;
        self.guards.write(tx)?;
        self.webhooks.write(tx)?;
        self.deliveries.write(tx)?;
        self.files.write(tx)?;
        self.chunks.write(tx)?;
        self.receipts.write(tx)?;
        let touches = self.touches.into_touches();
        if !touches.is_empty() {
            tx.touch_chats(&touches)?;
        }
        if !self.feed.is_empty() {
            tx.append(&self.feed)?;
        }
        // Last: what this batch wrote of an erased chat (a header, a
        // message, a touch's placeholder row, their feed entries) goes too.
        if !self.erased.is_empty() {
            tx.erase(&self.erased)?;
        }
        Ok(())
    }
}

fn applied<K: Kind>(outcome: Outcome<K>) -> Applied {
    match outcome {
        Outcome::Changed(value) => Applied {
            changed: true,
            record: value.into_record(),
            refused: None,
            chat_state: None,
        },
        Outcome::Rewritten(value) | Outcome::Unchanged(value) => Applied {
            changed: false,
            record: value.into_record(),
            refused: None,
            chat_state: None,
        },
        Outcome::Refused(value, refusal) => Applied {
            changed: false,
            record: value.into_record(),
            refused: Some(refusal),
            chat_state: None,
        },
    }
}

/// What a batch's new messages do to their chats' rows, gathered per chat:
/// the same result as writing after every message.
struct Touches {
    /// The highest Lamport clock of each chat a message of this batch goes
    /// to, kept up to date as messages are stored.
    highest: BTreeMap<ChatId, Lamport>,
    touched: BTreeMap<ChatId, Touch>,
}

impl ChatClock for Touches {
    fn highest(&self, chat: ChatId) -> Lamport {
        self.highest.get(&chat).copied().unwrap_or_default()
    }
}

impl Touches {
    fn add(&mut self, message: &Message) {
        let highest = self.highest.entry(message.chat).or_default();
        *highest = (*highest).max(message.lamport);
        let touch = self.touched.entry(message.chat).or_insert_with(|| Touch {
            chat: message.chat,
            first_at: message.at,
            last_at: message.at,
            preview: None,
            visitor_at: None,
        });
        touch.last_at = touch.last_at.max(message.at);
        if message.author.role == Role::Visitor {
            touch.preview = Some(message.text.chars().take(PREVIEW_CHARS).collect());
            touch.visitor_at = Some(touch.visitor_at.unwrap_or(message.at).max(message.at));
        }
    }

    fn into_touches(self) -> Vec<Touch> {
        // A message can arrive by replication before its chat header; the
        // backend then makes the row empty ([`Touch::placeholder`]) and the
        // header fills it when it comes.
        self.touched.into_values().collect()
    }
}
