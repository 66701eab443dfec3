//! What a soak checks once everything has healed and settled.
//!
//! For every chat, the holders are its visitor's copy, its operator's copy
//! and each running deployment's store. Against the messages the soak
//! wrote, each holder is counted for:
//! - lost: a written message it lacks;
//! - duplicated: an id it holds twice, or a text it holds under two ids (a
//!   replay that made a new message);
//! - out of order: a message shown before an earlier one by the same writer;
//! - diverged: the chat's holders do not list exactly the same ids in the
//!   same order (counted once per chat), or a holder has a message nobody
//!   wrote.
//!
//! Availability and failover times come from what clients saw: their acks
//! and their link state changes (see [`Outage`]).

use super::traffic::{Sent, Side, parse_text};
use super::world::Applied;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use twinline_core::session::LinkState;
use twinline_core::transcript::Transcript;
use twinline_core::{ChatId, Message, MessageId, Millis};

/// Counts that must all be zero.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Invariants {
    /// Written messages missing from a holder (summed over holders).
    pub lost: usize,
    /// Messages held twice (by id or by text).
    pub duplicated: usize,
    /// Messages shown before an earlier one by the same writer.
    pub out_of_order: usize,
    /// Chats whose holders disagree.
    pub diverged: usize,
}

impl Invariants {
    /// Whether every count is zero.
    pub fn clean(&self) -> bool {
        *self == Invariants::default()
    }
}

/// One copy of a chat: who holds it and its messages in display order.
pub struct Holder {
    /// "visitor", "operator", "primary store", ...
    pub name: String,
    /// The messages.
    pub messages: Vec<Message>,
}

/// Checks one chat's holders against what was written in it.
pub fn check_chat(written: &[&Sent], holders: &[Holder]) -> Invariants {
    let expected: HashSet<MessageId> = written.iter().map(|s| s.id).collect();
    let mut counts = Invariants::default();
    let mut orders: Vec<Vec<MessageId>> = Vec::new();
    let mut unknown = false;
    for holder in holders {
        let ids: Vec<MessageId> = holder.messages.iter().map(|m| m.id).collect();
        let unique: HashSet<MessageId> = ids.iter().copied().collect();
        counts.lost += expected.difference(&unique).count();
        counts.duplicated += ids.len() - unique.len();
        let mut texts: HashMap<&str, HashSet<MessageId>> = HashMap::new();
        for m in &holder.messages {
            texts.entry(m.text.as_str()).or_default().insert(m.id);
        }
        counts.duplicated += texts.values().map(|ids| ids.len() - 1).sum::<usize>();
        let mut last_seq: HashMap<Side, u64> = HashMap::new();
        for m in &holder.messages {
            unknown |= !expected.contains(&m.id);
            if let Some((side, _, seq)) = parse_text(&m.text) {
                let last = last_seq.entry(side).or_insert(0);
                if seq < *last {
                    counts.out_of_order += 1;
                }
                *last = (*last).max(seq);
            }
        }
        orders.push(ids);
    }
    if unknown || orders.windows(2).any(|pair| pair[0] != pair[1]) {
        counts.diverged += 1;
    }
    counts
}

impl std::ops::AddAssign for Invariants {
    fn add_assign(&mut self, other: Invariants) {
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.diverged += other.diverged;
    }
}

/// Every message a relay holds, by chat, in display order, plus how many
/// times its change feed listed a message it had already listed.
pub async fn store_of(base: &str) -> Result<(BTreeMap<ChatId, Vec<Message>>, usize), String> {
    let bearer = twinline_relay::replication::bearer(crate::SECRET);
    let http = reqwest::Client::new();
    let mut since = 0u64;
    let mut seen: HashSet<MessageId> = HashSet::new();
    let mut duplicates = 0;
    let mut by_chat: BTreeMap<ChatId, Vec<Message>> = BTreeMap::new();
    loop {
        let page: serde_json::Value = http
            .get(format!(
                "{base}/v1/replication/changes?since={since}&peer=inspector"
            ))
            .bearer_auth(&bearer)
            .send()
            .await
            .map_err(|e| format!("reading {base}'s feed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("a feed page from {base}: {e}"))?;
        for change in page["changes"].as_array().into_iter().flatten() {
            if change["kind"] == "message" {
                let message: Message = serde_json::from_value(change["body"].clone())
                    .map_err(|e| format!("a message body: {e}"))?;
                if seen.insert(message.id) {
                    by_chat.entry(message.chat).or_default().push(message);
                } else {
                    duplicates += 1;
                }
            }
        }
        let next = page["next"].as_u64().unwrap_or(since);
        if next == since || next >= page["head"].as_u64().unwrap_or(0) {
            break;
        }
        since = next;
    }
    let sorted = by_chat
        .into_iter()
        .map(|(chat, messages)| (chat, Transcript::from(messages).into()))
        .collect();
    Ok((sorted, duplicates))
}

/// A stretch of time a client's link was not connected.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Outage {
    /// When it left `Connected`.
    pub left: Millis,
    /// When it was connected (welcomed) again, if it was.
    pub back: Option<Millis>,
    /// The deployment it was connected to before.
    pub from: Option<twinline_core::protocol::DeploymentRole>,
}

/// The outages in a client's link history (the first connection, before
/// any welcome, is not one).
pub fn outages(
    links: &[(
        Millis,
        LinkState,
        Option<twinline_core::protocol::DeploymentRole>,
    )],
) -> Vec<Outage> {
    let mut out = Vec::new();
    let mut on = None;
    let mut open: Option<(Millis, Option<_>)> = None;
    for (at, state, deployment) in links {
        match state {
            LinkState::Connected => {
                if let Some((left, from)) = open.take() {
                    out.push(Outage {
                        left,
                        back: Some(*at),
                        from,
                    });
                }
                on = Some(*deployment);
            }
            _ => {
                if let (Some(from), None) = (on, open) {
                    open = Some((*at, from));
                }
            }
        }
    }
    if let Some((left, from)) = open {
        out.push(Outage {
            left,
            back: None,
            from,
        });
    }
    out
}

/// How long after a fault an outage began that it is blamed on that fault.
pub const BLAME_AFTER_HEAL_MS: u64 = 3_000;

/// The fault an outage of a client of `group` is blamed on: of the faults
/// that started before it and healed at most [`BLAME_AFTER_HEAL_MS`]
/// before it, the latest that [`Fault::hits`](super::faults::Fault::hits)
/// the deployment the client was on; only when none does, the latest of
/// the others (a moderator crash, a fault of the other deployment).
///
/// Blaming the latest fault of any kind, as the soak once did, charged a
/// moderator crash with the outages of a silent link that began a moment
/// before it and took a heartbeat to notice.
pub fn blame<'a>(faults: &'a [Applied], outage: &Outage, group: usize) -> Option<&'a Applied> {
    let near: Vec<&Applied> = faults
        .iter()
        .filter(|f| {
            f.applied && f.start <= outage.left && outage.left.0 <= f.end.0 + BLAME_AFTER_HEAL_MS
        })
        .collect();
    let hits = |f: &&Applied| {
        outage
            .from
            .is_some_and(|on| f.planned.fault.hits(on, group))
    };
    near.iter()
        .copied()
        .filter(hits)
        .max_by_key(|f| f.start)
        .or_else(|| near.iter().copied().max_by_key(|f| f.start))
}

/// Messages acked within `within_ms` of being written, out of those
/// written in the fault phase: (acked in time, samples).
pub fn availability(
    sent: &[Sent],
    acked_at: impl Fn(&Sent) -> Option<Millis>,
    within_ms: u64,
) -> (usize, usize) {
    let measured: Vec<&Sent> = sent.iter().filter(|s| s.measured).collect();
    let in_time = measured
        .iter()
        .filter(|s| acked_at(s).is_some_and(|at| at.since(s.at) <= within_ms))
        .count();
    (in_time, measured.len())
}

/// Client windows in which every message written was acked within
/// `within_ms` ("user-uptime" over windows, after Hauer et al.,
/// "Meaningful Availability", NSDI 2020): the writer of each message (a
/// client index from `writer`), its window (`window_ms` slices of the
/// fault phase from `phase_start`), and whether it made it. Windows in
/// which a client wrote nothing are not counted. Returns (good windows,
/// windows).
pub fn windowed_uptime(
    sent: &[Sent],
    writer: impl Fn(&Sent) -> usize,
    acked_at: impl Fn(&Sent) -> Option<Millis>,
    within_ms: u64,
    phase_start: Millis,
    window_ms: u64,
) -> (usize, usize) {
    let mut windows: HashMap<(usize, u64), bool> = HashMap::new();
    for s in sent.iter().filter(|s| s.measured) {
        let good = acked_at(s).is_some_and(|at| at.since(s.at) <= within_ms);
        let key = (writer(s), s.at.since(phase_start) / window_ms.max(1));
        *windows.entry(key).or_insert(true) &= good;
    }
    let good = windows.values().filter(|g| **g).count();
    (good, windows.len())
}

/// The number of leading nines of a fraction: 0.99916 has three.
pub fn nines(fraction: f64) -> u32 {
    if fraction >= 1.0 {
        return u32::MAX;
    }
    let mut count = 0;
    let mut rest = 1.0 - fraction;
    while rest <= 0.1 + 1e-12 && count < 12 {
        count += 1;
        rest *= 10.0;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_count_like_the_white_paper() {
        assert_eq!(nines(0.99916), 3);
        assert_eq!(nines(0.99997), 4);
        assert_eq!(nines(0.95), 1);
        assert_eq!(nines(0.5), 0);
    }

    #[test]
    fn outages_start_after_the_first_welcome() {
        use LinkState::*;
        let links = [
            (Millis(0), Connecting, None),
            (Millis(10), Connected, None),
            (Millis(100), Reconnecting, None),
            (Millis(130), Connected, None),
            (Millis(200), Reconnecting, None),
        ];
        let found = outages(&links);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].left, found[0].back),
            (Millis(100), Some(Millis(130)))
        );
        assert_eq!(found[1].back, None);
    }

    #[test]
    fn an_outage_goes_to_the_fault_that_hits_its_deployment() {
        use super::super::faults::Fault;
        use twinline_core::protocol::DeploymentRole::{Primary, Redundant};
        let fault = Applied::carried_out;
        let faults = [
            fault(
                Fault::Silent {
                    group: 1,
                    who: Primary,
                },
                1_000,
                5_000,
            ),
            fault(Fault::ModeratorCrash, 2_000, 4_000),
        ];
        let outage = |from| Outage {
            left: Millis(3_000),
            back: Some(Millis(3_200)),
            from: Some(from),
        };
        let blamed = |o: &Outage, group| blame(&faults, o, group).map(|f| f.planned.fault);
        assert_eq!(
            blamed(&outage(Primary), 1),
            Some(Fault::Silent {
                group: 1,
                who: Primary
            }),
            "the silent link, though the moderator crashed later"
        );
        assert_eq!(
            blamed(&outage(Primary), 0),
            Some(Fault::ModeratorCrash),
            "another group's link: nothing that hits it, so the latest"
        );
        assert_eq!(blamed(&outage(Redundant), 1), Some(Fault::ModeratorCrash));
    }

    #[test]
    fn a_window_is_up_only_if_every_message_in_it_made_it() {
        let sent = |chat, at| Sent {
            chat,
            side: Side::Visitor,
            id: MessageId::new(Millis(at), chat as u128),
            seq: 0,
            at: Millis(at),
            measured: true,
        };
        let all = [sent(0, 100), sent(0, 200), sent(0, 1_100), sent(1, 150)];
        // Chat 0's message at 200 was late; everything else made it.
        let acked = |s: &Sent| Some(Millis(s.at.0 + if s.at.0 == 200 { 5_000 } else { 10 }));
        let (good, windows) = windowed_uptime(&all, |s| s.chat, acked, 1_000, Millis(0), 1_000);
        assert_eq!((good, windows), (2, 3), "client 0's first window is down");
    }
}
