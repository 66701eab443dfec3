//! Catch-up: what a client lacks and what the relay lacks, for one chat.
//!
//! The client says which message ids it holds; the relay answers with the
//! messages it has that the client does not (`missing`) and the ids the
//! client has that the relay does not (`lacking`), which the client then
//! replays. This is how a failover loses nothing: whichever side has a
//! message, both have it after one exchange.
//!
//! A client that was away long, or an operator holding many long chats, can
//! be missing more than one frame may carry (`MAX_FRAME_BYTES`, which
//! clients enforce too). [`split_welcome`] keeps the welcome within
//! [`WELCOME_MISSING_BUDGET`] and the rest follows as ordinary `message`
//! frames, which clients merge by id like any other.

use crate::state::Shared;
use crate::store::backend::Reads;
use crate::store::records::{Account, ChatRecord, Record};
use crate::store::{StoreError, reads};
use twinline_core::protocol::{ChatSync, MAX_FRAME_BYTES};
use twinline_core::{ChatId, ChatStatus, Message, MessageId, Seen, VisitorInfo};

/// Builds the sync of one chat for a client holding `have`.
pub async fn chat_sync(
    state: &Shared,
    chat: ChatId,
    have: &[MessageId],
) -> Result<ChatSync, StoreError> {
    let have = have.to_vec();
    let (record, catch_up, seen) = state
        .store
        .read(move |conn| read_chat(conn, chat, &have))
        .await?;
    Ok(sync_of(chat, record, catch_up, seen))
}

/// What a visitor's welcome reads, in one trip to a reader connection:
/// its chat's header (None before the first hello stored it), the
/// catch-up, and the accounts when operators are online (how many serve
/// the visitor's site). One read instead of three: each is a hand-off to
/// a reader thread and back, and the header was read twice.
#[derive(Debug)]
pub struct VisitorRead {
    /// The chat's stored header.
    pub record: Option<ChatRecord>,
    /// What the visitor lacks and what the store lacks.
    pub catch_up: reads::CatchUp,
    /// The chat's read receipts.
    pub seen: Seen,
    /// Every account, if asked for.
    pub accounts: Vec<Account>,
}

/// Reads [`VisitorRead`] for a visitor holding `have` of `chat`.
pub async fn visitor_read(
    state: &Shared,
    chat: ChatId,
    have: Vec<MessageId>,
    with_accounts: bool,
) -> Result<VisitorRead, StoreError> {
    state
        .store
        .read(move |conn| {
            let (record, catch_up, seen) = read_chat(conn, chat, &have)?;
            let accounts = if with_accounts {
                reads::accounts(conn)?
            } else {
                Vec::new()
            };
            Ok(VisitorRead {
                record,
                catch_up,
                seen,
                accounts,
            })
        })
        .await
}

fn read_chat(
    conn: &mut dyn Reads,
    chat: ChatId,
    have: &[MessageId],
) -> Result<(Option<ChatRecord>, reads::CatchUp, Seen), StoreError> {
    Ok((
        reads::chat_in(conn, chat)?,
        reads::catch_up(conn, chat, have)?,
        reads::seen(conn, chat)?,
    ))
}

/// The sync of `chat` from its header (defaults before one is stored), its
/// catch-up and its read receipts.
pub fn sync_of(
    chat: ChatId,
    record: Option<ChatRecord>,
    catch_up: reads::CatchUp,
    seen: Seen,
) -> ChatSync {
    let (status, visitor, rating, transcripts) = record.map_or_else(
        || {
            (
                ChatStatus::default(),
                VisitorInfo::default(),
                None,
                Vec::new(),
            )
        },
        |r| {
            let ids = r.transcripts.iter().map(|t| t.id).collect();
            (r.status, r.info, r.rating.map(Box::new), ids)
        },
    );
    ChatSync {
        chat,
        status,
        visitor,
        missing: catch_up.missing,
        lacking: catch_up.lacking,
        rating,
        transcripts,
        seen: (!seen.is_empty()).then(|| Box::new(seen)),
    }
}

/// Reads a chat header.
pub async fn chat_record(state: &Shared, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
    state
        .store
        .read(move |conn| reads::chat_in(conn, chat))
        .await
}

/// Writes a changed header (status or visitor details with a new stamp) and
/// returns the merged result; [`StoreError::Erased`] for a chat erased.
pub async fn write_chat(state: &Shared, record: ChatRecord) -> Result<ChatRecord, StoreError> {
    let chat = record.id;
    let applied = state
        .store
        .apply(Record::Chat(record), &state.config.name)
        .await?;
    if applied.refused == Some(crate::store::records::Refusal::Erased) {
        return Err(StoreError::Erased(chat));
    }
    match applied.record {
        Record::Chat(merged) => Ok(merged),
        _ => Err(StoreError::Closed),
    }
}

/// Bytes of `missing` messages a welcome carries at most; half the frame
/// limit leaves room for the headers, registers and `lacking` ids.
pub const WELCOME_MISSING_BUDGET: usize = MAX_FRAME_BYTES / 2;

/// Takes out of `syncs` the missing messages past `budget` bytes (in chat
/// order, oldest kept first), to be sent after the welcome as `message`
/// frames.
pub fn split_welcome(syncs: &mut [ChatSync], budget: usize) -> Vec<Message> {
    let mut used = 0;
    let mut overflow = Vec::new();
    for sync in syncs.iter_mut() {
        let keep = sync
            .missing
            .iter()
            .take_while(|msg| {
                used += approximate_json_bytes(msg);
                used <= budget
            })
            .count();
        overflow.extend(sync.missing.drain(keep..));
    }
    overflow
}

/// A whole chat for an operator who just got it (accepted, transferred, or
/// assigned elsewhere): the `chat` frame with what fits, then the rest of
/// the transcript as `message` frames, every frame within the limit.
pub fn chat_frames(sync: ChatSync) -> Vec<twinline_core::protocol::ServerFrame> {
    use twinline_core::protocol::ServerFrame;
    let mut syncs = [sync];
    let overflow = split_welcome(&mut syncs, WELCOME_MISSING_BUDGET);
    let [sync] = syncs;
    std::iter::once(ServerFrame::Chat { sync })
        .chain(overflow.into_iter().map(|msg| ServerFrame::Message { msg }))
        .collect()
}

/// A message's JSON size, estimated from above without serialising it: text
/// and name twice (room for escapes) plus the fixed fields (ids, author,
/// clocks) generously.
fn approximate_json_bytes(msg: &Message) -> usize {
    2 * msg.text.len() + 2 * msg.author.name.len() + 256
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{Author, ChatId, Lamport, Millis, Role};

    fn sync(chat: ChatId, texts: usize) -> ChatSync {
        ChatSync {
            chat,
            status: ChatStatus::default(),
            visitor: VisitorInfo::default(),
            missing: (0..texts)
                .map(|i| Message {
                    id: MessageId::new(Millis(i as u64), chat.0.0 + i as u128),
                    chat,
                    author: Author {
                        role: Role::Visitor,
                        id: "v".into(),
                        name: String::new(),
                    },
                    text: "x".repeat(1_000),
                    lamport: Lamport(i as u64 + 1),
                    at: Millis(i as u64),
                    file: None,
                })
                .collect(),
            lacking: vec![],
            rating: None,
            transcripts: vec![],
            seen: Default::default(),
        }
    }

    #[test]
    fn a_welcome_too_large_for_one_frame_sends_the_rest_as_messages() {
        let chats = [ChatId::new(Millis(1), 1), ChatId::new(Millis(2), 2)];
        let mut syncs = vec![sync(chats[0], 300), sync(chats[1], 300)];
        let all: Vec<MessageId> = syncs
            .iter()
            .flat_map(|s| s.missing.iter().map(|m| m.id))
            .collect();
        let overflow = split_welcome(&mut syncs, WELCOME_MISSING_BUDGET);
        assert!(!overflow.is_empty());
        let frame = twinline_core::protocol::ServerFrame::Welcome {
            v: twinline_core::protocol::PROTOCOL_VERSION,
            deployment: "p".into(),
            role: twinline_core::protocol::DeploymentRole::Primary,
            epoch: 1,
            you: Author {
                role: Role::Operator,
                id: "ada".into(),
                name: "Ada".into(),
            },
            chats: syncs.clone(),
            operators_online: 1,
            mail: false,
        };
        let json = serde_json::to_string(&frame).expect("json");
        assert!(
            json.len() <= MAX_FRAME_BYTES,
            "welcome of {} bytes",
            json.len()
        );
        let mut sent: Vec<MessageId> = syncs
            .iter()
            .flat_map(|s| s.missing.iter().map(|m| m.id))
            .chain(overflow.iter().map(|m| m.id))
            .collect();
        sent.sort();
        let mut all = all;
        all.sort();
        assert_eq!(sent, all, "every message is sent exactly once");
    }

    #[test]
    fn a_long_chat_handed_to_an_operator_comes_in_frames_within_the_limit() {
        let chat = ChatId::new(Millis(1), 1);
        let frames = chat_frames(sync(chat, 300));
        assert!(frames.len() > 1);
        assert!(matches!(
            frames[0],
            twinline_core::protocol::ServerFrame::Chat { .. }
        ));
        for frame in &frames {
            assert!(serde_json::to_string(frame).expect("json").len() <= MAX_FRAME_BYTES);
        }
    }

    #[test]
    fn a_small_welcome_is_left_whole() {
        let mut syncs = vec![sync(ChatId::new(Millis(1), 1), 20)];
        assert!(split_welcome(&mut syncs, WELCOME_MISSING_BUDGET).is_empty());
        assert_eq!(syncs[0].missing.len(), 20);
    }
}
