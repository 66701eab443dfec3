//! The client's authoritative copy of its chats: transcripts, the two
//! registers of each chat, and which of its own messages still wait for an
//! ack.
//!
//! Everything merges: messages by id (set union), registers by stamp. So a
//! welcome after a failover, a message replicated from the other deployment
//! or a replay of our own can arrive in any order, any number of times.

use crate::id::{ChatId, MessageId};
use crate::model::{Author, ChatStatus, LastWriterWins, Message, Role, VisitorInfo};
use crate::protocol::{ChatResume, ChatSync};
use crate::sorted::{SortedMap, SortedSet};
use crate::transcript::{Inserted, Transcript};
use serde::{Deserialize, Serialize};

/// One chat as the client holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalChat {
    /// Every message seen.
    pub transcript: Transcript,
    /// Status register.
    #[serde(default)]
    pub status: ChatStatus,
    /// Visitor details register.
    #[serde(default)]
    pub visitor: VisitorInfo,
    /// The visitor's rating register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<crate::rating::Rating>,
}

/// What merging a relay's view of a chat changed here.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub(crate) new_messages: Vec<MessageId>,
    pub(crate) status_changed: bool,
    pub(crate) visitor_changed: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Chats {
    pub(crate) chats: SortedMap<ChatId, LocalChat>,
    /// Own messages not yet acknowledged, with their chat.
    pub(crate) pending: SortedMap<MessageId, ChatId>,
    /// Own messages a relay refused for good.
    pub(crate) refused: SortedSet<MessageId>,
}

impl Chats {
    pub(crate) fn ensure(&mut self, chat: ChatId) -> &mut LocalChat {
        self.chats.get_or_insert_with(chat, LocalChat::default)
    }

    pub(crate) fn get(&self, chat: ChatId) -> Option<&LocalChat> {
        self.chats.get(&chat)
    }

    /// Adds a message; true if it was new.
    pub(crate) fn insert(&mut self, msg: Message) -> bool {
        self.ensure(msg.chat).transcript.insert(msg) == Inserted::New
    }

    /// Adds a message this client wrote; it stays pending until acked.
    pub(crate) fn insert_own(&mut self, msg: Message) {
        self.pending.insert(msg.id, msg.chat);
        self.insert(msg);
    }

    /// Marks an own message stored; returns its chat if it was pending.
    pub(crate) fn ack(&mut self, id: MessageId) -> Option<ChatId> {
        self.pending.remove(&id)
    }

    /// Marks an own message refused for good; returns its chat.
    pub(crate) fn refuse(&mut self, id: MessageId) -> Option<ChatId> {
        let chat = self.pending.remove(&id)?;
        self.refused.insert(id);
        Some(chat)
    }

    /// `resume` for `hello`: every chat and the ids held of it, at most
    /// [`HELLO_HAVE_LIMIT`] ids in all so the hello fits in one frame.
    ///
    /// Past the limit each chat names only its newest ids, shared out
    /// evenly. Nothing is lost by that: the relay sends again the older
    /// messages it thinks are missing (merged by id, so no duplicate), and
    /// what a relay can lack after a failover is what was written last,
    /// which is always named. Unacked messages are replayed regardless.
    pub(crate) fn resume(&self) -> Vec<ChatResume> {
        let lengths: Vec<usize> = self.chats.values().map(|c| c.transcript.len()).collect();
        let per_chat = even_share(&lengths, HELLO_HAVE_LIMIT);
        self.chats
            .iter()
            .map(|(chat, local)| {
                let ids = local.transcript.ids();
                let skip = ids.len().saturating_sub(per_chat);
                ChatResume {
                    chat: *chat,
                    have: ids[skip..].to_vec(),
                }
            })
            .collect()
    }

    /// Merges a relay's view of one chat.
    pub(crate) fn merge_sync(&mut self, sync: &ChatSync) -> Merged {
        let local = self.ensure(sync.chat);
        let mut merged = Merged {
            status_changed: local.status.merge_from(&sync.status),
            visitor_changed: local.visitor.merge_from(&sync.visitor),
            ..Merged::default()
        };
        for msg in &sync.missing {
            if local.transcript.insert(msg.clone()) == Inserted::New {
                merged.new_messages.push(msg.id);
            }
        }
        merged
    }

    /// What to send a relay after its welcome, in display order: every
    /// pending message, and every message the relay lacks that this client
    /// may vouch for (a visitor only its own; an operator any, because the
    /// operator's console is the copy of record when a data center fails
    /// before replicating a chat).
    pub(crate) fn replay(&self, syncs: &[ChatSync], me: &Author) -> Vec<Message> {
        let ids: SortedSet<MessageId> = self
            .pending
            .keys()
            .copied()
            .chain(syncs.iter().flat_map(|sync| sync.lacking.iter().copied()))
            .collect();
        let mut out: Vec<Message> = self
            .chats
            .values()
            .flat_map(|local| local.transcript.iter())
            .filter(|m| ids.contains(&m.id) && !self.refused.contains(&m.id))
            .filter(|m| {
                self.pending.contains_key(&m.id)
                    || me.role == Role::Operator
                    || (m.author.role == me.role && m.author.id == me.id)
            })
            .cloned()
            .collect();
        // Unstable sort (smaller code than the stable one), tied by chat:
        // equal display keys only occur across chats, and the chats were
        // visited in ascending order, so this is the stable order.
        out.sort_unstable_by(|a, b| (a.display_key(), a.chat).cmp(&(b.display_key(), b.chat)));
        out
    }

    pub(crate) fn pending_messages(&self) -> Vec<Message> {
        self.pending
            .iter()
            .filter_map(|(id, chat)| self.get(*chat)?.transcript.get(*id).cloned())
            .collect()
    }

    /// Drops a chat that was erased, with its messages still unacknowledged
    /// (they must never be sent).
    pub(crate) fn erase(&mut self, chat: ChatId) {
        self.pending.retain(|_, c| *c != chat);
        self.forget(chat);
    }

    /// Drops a chat this client no longer needs; refused while it holds
    /// unacknowledged messages.
    pub(crate) fn forget(&mut self, chat: ChatId) -> bool {
        if self.pending.values().any(|c| *c == chat) {
            return false;
        }
        if let Some(local) = self.chats.remove(&chat) {
            for m in local.transcript.iter() {
                self.refused.remove(&m.id);
            }
        }
        true
    }
}

/// Ids a `hello` names at most: about 30 bytes each in JSON, so a hello of
/// this many stays well inside `MAX_FRAME_BYTES` (128 KiB).
pub(crate) const HELLO_HAVE_LIMIT: usize = 3_000;

/// The largest `k` with `sum(min(len, k)) <= limit` (every chat keeps up to
/// `k` of its newest ids); `usize::MAX` when everything fits.
fn even_share(lengths: &[usize], limit: usize) -> usize {
    if lengths.iter().sum::<usize>() <= limit {
        return usize::MAX;
    }
    let fits = |k: usize| lengths.iter().map(|&n| n.min(k)).sum::<usize>() <= limit;
    let (mut low, mut high) = (0, limit);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if fits(mid) { low = mid } else { high = mid - 1 }
    }
    low
}

#[cfg(test)]
mod resume_tests {
    use super::even_share;

    #[test]
    fn ids_are_shared_out_evenly_past_the_limit() {
        assert_eq!(even_share(&[10, 20], 100), usize::MAX);
        assert_eq!(even_share(&[1_000, 1_000, 1_000, 10], 3_000), 996);
        assert_eq!(even_share(&[5_000], 3_000), 3_000);
        let k = even_share(&[400; 10], 3_000);
        assert_eq!(k, 300);
    }
}
