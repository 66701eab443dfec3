//! Whether the visitor of a chat is still there, decided from the chat's
//! header with the time passed in (issue 22).
//!
//! A visitor's connection is bound to one chat, and only the leader tab of
//! a browser holds it (`widget/src/tabs/lease.rs`), so "every tab closed"
//! is "the chat's last visitor connection closed". The relay holding that
//! connection writes the moment into the chat's visitor details
//! ([`VisitorInfo::left`], a register replicated and merged like the rest
//! of the header), and clears it when the visitor connects again. Being a
//! replicated register, not a relay's memory, the other deployment knows it
//! after a failover, and the nodes of one deployment learn it from the
//! store's feed.
//!
//! Two rules make the register trustworthy without any clock agreement:
//! - [`correct_online`]: a relay that holds a connection of the visitor and
//!   sees the header say "left" (a late close from another node or from the
//!   other deployment, replicated after the visitor reconnected) writes it
//!   back online. The relay with the connection has the last word.
//! - [`Presence::of`] shows "left" only after [`LEFT_GRACE_MS`]: a tab
//!   handing over the lease, or a reconnect, closes and reopens within
//!   seconds, and is not the visitor leaving.
//!
//! A waiting chat whose visitor left more than the relay's configured time
//! ago ([`waits`], `visitor_left_minutes`, bounded by
//! [`MIN_ABANDON_MINUTES`]..=[`MAX_ABANDON_MINUTES`]) leaves the queue, as
//! Comm100 and LiveChat do: it is not closed (its status is untouched, and a
//! visitor coming back puts it back in the queue), and the console shows it
//! as "Visitor left" wherever it is shown.

use crate::model::VisitorInfo;
use crate::time::Millis;

/// How long a closed connection is not yet "left": a tab's lease moving to
/// another tab, or a reconnect, takes less.
pub const LEFT_GRACE_MS: u64 = 10_000;

/// Shortest configurable time after which a waiting chat whose visitor left
/// leaves the queue, in minutes.
pub const MIN_ABANDON_MINUTES: u64 = 1;
/// Longest configurable such time, in minutes (a day).
pub const MAX_ABANDON_MINUTES: u64 = 1_440;

/// What an operator is shown about a chat's visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Connected, or closed less than [`LEFT_GRACE_MS`] ago.
    Online,
    /// Every connection closed at `since`.
    Left {
        /// When the last connection closed (the relay's clock).
        since: Millis,
    },
}

impl Presence {
    /// The visitor's presence at `now`, from the chat's visitor details.
    pub fn of(info: &VisitorInfo, now: Millis) -> Presence {
        match info.left {
            Some(since) if now.since(since) >= LEFT_GRACE_MS => Presence::Left { since },
            _ => Presence::Online,
        }
    }

    /// When [`Presence::of`] changes by time alone (from online to left),
    /// if it will.
    pub fn changes_at(info: &VisitorInfo, now: Millis) -> Option<Millis> {
        let at = info.left?.plus(LEFT_GRACE_MS);
        (at > now).then_some(at)
    }
}

/// The configured time after which a left visitor's waiting chat leaves
/// the queue, in milliseconds, from minutes clamped to their bounds.
pub fn abandon_after_ms(minutes: u64) -> u64 {
    minutes.clamp(MIN_ABANDON_MINUTES, MAX_ABANDON_MINUTES) * 60_000
}

/// Whether a waiting chat still waits for an operator at `now`: false once
/// its visitor left `abandon_after_ms` or more ago.
pub fn waits(info: &VisitorInfo, now: Millis, abandon_after_ms: u64) -> bool {
    info.left
        .is_none_or(|since| now.since(since) < abandon_after_ms)
}

/// When a waiting chat leaves the queue because its visitor left, if it
/// has not yet at `now` (the relay sends the queue again then).
pub fn leaves_queue_at(info: &VisitorInfo, now: Millis, abandon_after_ms: u64) -> Option<Millis> {
    let at = info.left?.plus(abandon_after_ms);
    (at > now).then_some(at)
}

/// Whether a relay holding `connections` of the chat's visitor must write
/// the visitor back online: the header says "left" while the visitor is
/// connected here.
pub fn correct_online(info: &VisitorInfo, connections: usize) -> bool {
    connections > 0 && info.left.is_some()
}

/// Whether the relay whose last connection of the chat's visitor closed
/// must record the visitor as left: none is connected here, and the header
/// does not say so already.
pub fn record_left(info: &VisitorInfo, connections: usize) -> bool {
    connections == 0 && info.left.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left_at(ms: u64) -> VisitorInfo {
        VisitorInfo {
            left: Some(Millis(ms)),
            ..VisitorInfo::default()
        }
    }

    #[test]
    fn a_connected_visitor_is_online_and_a_closed_one_only_after_the_grace() {
        let online = VisitorInfo::default();
        assert_eq!(Presence::of(&online, Millis(1_000_000)), Presence::Online);
        assert_eq!(Presence::changes_at(&online, Millis(0)), None);
        let closed = left_at(100_000);
        // A lease handover or a reconnect: still online.
        assert_eq!(Presence::of(&closed, Millis(105_000)), Presence::Online);
        assert_eq!(
            Presence::changes_at(&closed, Millis(105_000)),
            Some(Millis(110_000))
        );
        assert_eq!(
            Presence::of(&closed, Millis(110_000)),
            Presence::Left {
                since: Millis(100_000)
            }
        );
        assert_eq!(Presence::changes_at(&closed, Millis(110_000)), None);
        // A clock behind the writer's: not left yet, never a panic.
        assert_eq!(Presence::of(&closed, Millis(0)), Presence::Online);
    }

    #[test]
    fn a_waiting_chat_leaves_the_queue_once_its_visitor_left_the_configured_time_ago() {
        let after = abandon_after_ms(5);
        assert_eq!(after, 300_000);
        assert!(waits(&VisitorInfo::default(), Millis(u64::MAX), after));
        let closed = left_at(1_000_000);
        assert!(waits(&closed, Millis(1_000_000 + 299_999), after));
        assert_eq!(
            leaves_queue_at(&closed, Millis(1_000_000), after),
            Some(Millis(1_300_000))
        );
        assert!(!waits(&closed, Millis(1_300_000), after));
        assert_eq!(leaves_queue_at(&closed, Millis(1_300_000), after), None);
        // Back online: waiting again.
        assert!(waits(&VisitorInfo::default(), Millis(1_300_000), after));
    }

    #[test]
    fn the_configured_time_is_bounded() {
        assert_eq!(abandon_after_ms(0), 60_000);
        assert_eq!(abandon_after_ms(u64::MAX), 1_440 * 60_000);
        assert_eq!(abandon_after_ms(1_440), 86_400_000);
    }

    #[test]
    fn the_relay_with_the_connection_has_the_last_word() {
        let closed = left_at(5);
        let online = VisitorInfo::default();
        // A late "left" replicated while the visitor is connected here.
        assert!(correct_online(&closed, 1));
        assert!(!correct_online(&closed, 0));
        assert!(!correct_online(&online, 2));
        // The last connection here closed.
        assert!(record_left(&online, 0));
        assert!(!record_left(&online, 1));
        assert!(!record_left(&closed, 0));
    }
}
