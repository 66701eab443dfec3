//! "Visitor online" or "Visitor left 3 min ago" beside a chat (issue 22):
//! the words decided here from the chat's visitor details and the wall
//! clock, so native tests check them; the page sets them as text.
//!
//! When a visitor counts as left is the core's
//! (`twinline_core::presence::Presence`): the relay records the close of
//! the visitor's last connection, and a close shorter than the grace (a
//! tab handing over, a reconnect) still shows online.

use twinline_core::presence::Presence;
use twinline_core::{Millis, VisitorInfo};

/// The line shown beside a chat about its visitor.
pub fn presence_text(info: &VisitorInfo, now: Millis) -> String {
    match Presence::of(info, now) {
        Presence::Online => "Visitor online".to_string(),
        Presence::Left { since } => format!("Visitor left {}", ago(now.since(since))),
    }
}

/// "just now", "3 min ago", "2 h ago", "4 days ago" (whole units, rounded
/// down, so the line never says more time than has passed).
fn ago(ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match ms {
        ms if ms < MINUTE => "just now".to_string(),
        ms if ms < HOUR => format!("{} min ago", ms / MINUTE),
        ms if ms < DAY => format!("{} h ago", ms / HOUR),
        ms if ms < 2 * DAY => "1 day ago".to_string(),
        ms => format!("{} days ago", ms / DAY),
    }
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
    fn a_connected_visitor_is_online_and_a_left_one_says_how_long_ago() {
        assert_eq!(
            presence_text(&VisitorInfo::default(), Millis(5)),
            "Visitor online"
        );
        let start = 1_000_000;
        // Within the grace: a tab handing over, not the visitor leaving.
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 9_999)),
            "Visitor online"
        );
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 10_000)),
            "Visitor left just now"
        );
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 3 * 60_000 + 59_999)),
            "Visitor left 3 min ago"
        );
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 2 * 3_600_000)),
            "Visitor left 2 h ago"
        );
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 30 * 3_600_000)),
            "Visitor left 1 day ago"
        );
        assert_eq!(
            presence_text(&left_at(start), Millis(start + 4 * 86_400_000)),
            "Visitor left 4 days ago"
        );
        // A clock behind the relay's: never a negative time or a panic.
        assert_eq!(presence_text(&left_at(start), Millis(0)), "Visitor online");
    }
}
