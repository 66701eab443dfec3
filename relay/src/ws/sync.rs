//! Catch-up: what a client lacks and what the relay lacks, for one chat.
//!
//! The client says which message ids it holds; the relay answers with the
//! messages it has that the client does not (`missing`) and the ids the
//! client has that the relay does not (`lacking`), which the client then
//! replays. This is how a failover loses nothing: whichever side has a
//! message, both have it after one exchange.

use crate::state::Shared;
use crate::store::records::{ChatRecord, Record};
use crate::store::{StoreError, reads};
use std::collections::BTreeSet;
use twinline_core::protocol::ChatSync;
use twinline_core::{ChatId, ChatStatus, MessageId, VisitorInfo};

/// Builds the sync of one chat for a client holding `have`.
pub async fn chat_sync(
    state: &Shared,
    chat: ChatId,
    have: &[MessageId],
) -> Result<ChatSync, StoreError> {
    let (record, messages) = state
        .store
        .read(move |conn| Ok((reads::chat_in(conn, chat)?, reads::messages(conn, chat)?)))
        .await?;
    let have: BTreeSet<MessageId> = have.iter().copied().collect();
    let stored: BTreeSet<MessageId> = messages.iter().map(|m| m.id).collect();
    let (status, visitor) = record.map_or_else(
        || (ChatStatus::default(), VisitorInfo::default()),
        |r| (r.status, r.info),
    );
    Ok(ChatSync {
        chat,
        status,
        visitor,
        missing: messages
            .into_iter()
            .filter(|m| !have.contains(&m.id))
            .collect(),
        lacking: have.difference(&stored).copied().collect(),
    })
}

/// Reads a chat header.
pub async fn chat_record(state: &Shared, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
    state
        .store
        .read(move |conn| reads::chat_in(conn, chat))
        .await
}

/// Writes a changed header (status or visitor details with a new stamp) and
/// returns the merged result.
pub async fn write_chat(state: &Shared, record: ChatRecord) -> Result<ChatRecord, StoreError> {
    let applied = state
        .store
        .apply(Record::Chat(record), &state.config.name)
        .await?;
    match applied.record {
        Record::Chat(merged) => Ok(merged),
        _ => Err(StoreError::Closed),
    }
}
