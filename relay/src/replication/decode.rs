//! Reading the peer's stream frames when the peer is newer than this relay.
//!
//! During a rolling upgrade one deployment runs a version with a record kind
//! the other does not know yet. Parsing a page as a whole would then fail on
//! that one record and stop replication of everything else, so a frame that
//! does not parse whole is read again change by change: changes of a kind
//! this version does not know are set apart ([`Skipped`]), the rest is
//! applied as usual.
//!
//! What a skipped change does to the checkpoint is [`held_checkpoint`]'s
//! rule: the checkpoint stays before the oldest skipped position, so the
//! skipped record is pulled again at every reconnect and applied by the
//! first version that knows its kind. Nothing is lost after the upgrade; the
//! price is that, while the versions differ, each reconnect re-pulls (and
//! merges as duplicates) what came after the oldest skipped change.
//!
//! A change of a known kind whose body does not parse still fails the frame:
//! that is a broken peer, not a newer one.

use super::feed::StreamFrame;
use crate::store::records::{Change, ChangesPage, Record};
use serde::Deserialize;
use twinline_core::Millis;

/// A change of a kind this version does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Its position in the peer's feed.
    pub seq: u64,
    /// Its kind, as the peer named it.
    pub kind: String,
}

/// A frame as read, with the changes set apart.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The frame, holding only changes of known kinds.
    pub frame: StreamFrame,
    /// The changes it held of kinds this version does not know, in order.
    pub skipped: Vec<Skipped>,
}

/// Parses a stream frame: whole when it can (the usual case, no extra
/// cost), else change by change, setting unknown kinds apart.
pub fn decode(text: &str) -> Result<Decoded, serde_json::Error> {
    match serde_json::from_str::<StreamFrame>(text) {
        Ok(frame) => Ok(Decoded {
            frame,
            skipped: Vec::new(),
        }),
        Err(whole) => lenient(text).map_err(|_| whole),
    }
}

/// A frame whose changes are left as JSON values.
#[derive(Deserialize)]
struct LooseFrame {
    page: LoosePage,
    operators: Vec<String>,
    #[serde(default)]
    now: Option<Millis>,
}

#[derive(Deserialize)]
struct LoosePage {
    changes: Vec<LooseChange>,
    next: u64,
    head: u64,
}

/// A change with its body unparsed.
#[derive(Deserialize)]
struct LooseChange {
    seq: u64,
    origin: String,
    at: Millis,
    kind: String,
    body: serde_json::Value,
}

fn lenient(text: &str) -> Result<Decoded, serde_json::Error> {
    let loose: LooseFrame = serde_json::from_str(text)?;
    let mut changes = Vec::with_capacity(loose.page.changes.len());
    let mut skipped = Vec::new();
    for change in loose.page.changes {
        match Record::from_feed(&change.kind, &change.body.to_string())? {
            Some(record) => changes.push(Change {
                seq: change.seq,
                origin: change.origin,
                at: change.at,
                record,
            }),
            None => skipped.push(Skipped {
                seq: change.seq,
                kind: change.kind,
            }),
        }
    }
    Ok(Decoded {
        frame: StreamFrame {
            page: ChangesPage {
                changes,
                next: loose.page.next,
                head: loose.page.head,
            },
            operators: loose.operators,
            now: loose.now,
        },
        skipped,
    })
}

/// The checkpoint to commit with a page that ends at `next`, given `held`:
/// the position just before the oldest change skipped on this link so far.
/// The checkpoint never passes a skipped change, so a reconnect (after an
/// upgrade, above all) pulls it again.
pub fn held_checkpoint(next: u64, held: Option<u64>) -> u64 {
    held.map_or(next, |held| held.min(next))
}

/// The new hold after a page that skipped `skipped`: the earliest position
/// before a skipped change, on this link so far.
pub fn hold(held: Option<u64>, skipped: &[Skipped]) -> Option<u64> {
    skipped
        .iter()
        .map(|s| s.seq.saturating_sub(1))
        .chain(held)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::OfflineNote;

    fn note(id: &str) -> serde_json::Value {
        let note: OfflineNote = serde_json::from_value(serde_json::json!({
            "id": id, "site": "demo", "name": "Ann", "email": "ann@example.com",
            "text": "hello", "at": 1_000,
        }))
        .expect("a note");
        serde_json::to_value(note).expect("json")
    }

    fn change(seq: u64, kind: &str, body: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"seq": seq, "origin": "b", "at": 1_000, "kind": kind, "body": body})
    }

    fn frame(changes: Vec<serde_json::Value>) -> String {
        serde_json::json!({
            "page": {"changes": changes, "next": 12, "head": 20},
            "operators": ["ann"],
            "now": 5_000,
        })
        .to_string()
    }

    fn id(n: u128) -> String {
        twinline_core::OfflineId::new(Millis(1_000), n).to_string()
    }

    #[test]
    fn an_unknown_kind_between_known_ones_is_set_apart() {
        let text = frame(vec![
            change(10, "note", note(&id(1))),
            change(11, "rating", serde_json::json!({"chat": "x", "stars": 5})),
            change(12, "note", note(&id(2))),
        ]);
        // The whole-frame parse this relay used before fails on it.
        assert!(serde_json::from_str::<StreamFrame>(&text).is_err());
        let decoded = decode(&text).expect("decodes");
        let seqs: Vec<u64> = decoded.frame.page.changes.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [10, 12]);
        assert!(
            matches!(decoded.frame.page.changes[1].record, Record::Note(ref n) if n.id.to_string() == id(2))
        );
        assert_eq!(
            decoded.skipped,
            [Skipped {
                seq: 11,
                kind: "rating".into()
            }]
        );
        assert_eq!(decoded.frame.page.next, 12);
        assert_eq!(decoded.frame.page.head, 20);
        assert_eq!(decoded.frame.operators, ["ann"]);
        assert_eq!(decoded.frame.now, Some(Millis(5_000)));
        // The checkpoint stays before the skipped change.
        let held = hold(None, &decoded.skipped);
        assert_eq!(held, Some(10));
        assert_eq!(held_checkpoint(decoded.frame.page.next, held), 10);
    }

    #[test]
    fn a_frame_of_known_kinds_skips_nothing() {
        let decoded = decode(&frame(vec![change(10, "note", note(&id(1)))])).expect("decodes");
        assert_eq!(decoded.frame.page.changes.len(), 1);
        assert!(decoded.skipped.is_empty());
        assert_eq!(held_checkpoint(12, hold(None, &decoded.skipped)), 12);
    }

    #[test]
    fn a_broken_body_of_a_known_kind_still_fails() {
        let text = frame(vec![change(10, "note", serde_json::json!({"id": 3}))]);
        assert!(decode(&text).is_err());
        assert!(decode("not json").is_err());
    }

    #[test]
    fn the_hold_keeps_the_oldest_position_on_the_link() {
        let skipped = |seq| Skipped {
            seq,
            kind: "rating".into(),
        };
        let held = hold(None, &[skipped(30), skipped(25)]);
        assert_eq!(held, Some(24));
        // A later page with a later skip keeps the older hold.
        let held = hold(held, &[skipped(40)]);
        assert_eq!(held, Some(24));
        assert_eq!(held_checkpoint(100, held), 24);
        // A page ending before the hold commits its own end.
        assert_eq!(held_checkpoint(20, held), 20);
        assert_eq!(hold(held, &[]), Some(24));
    }
}
