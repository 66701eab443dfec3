//! Two attempts at one request, one per deployment, raced the way RFC 8305
//! ("happy eyeballs") races addresses: the preferred deployment first; the
//! other after a head start, or at once if the first fails; the first to
//! answer wins and the other is cancelled. The visitor token is fetched
//! this way (`token`), so a deployment that swallows packets costs a page
//! the head start instead of a timeout. The loader races the bundles the
//! same way in JS (www/loader.js) and the core session its connections
//! (`twinline_core::session`).
//!
//! [`Race`] is only the decisions, with no clock and no I/O; `net::race`
//! carries them out with `fetch`es and a timer.

/// The head start of the preferred deployment, ms (RFC 8305's
/// recommended connection attempt delay; the loader and the core session
/// use the same).
pub const HEAD_START_MS: u32 = 250;

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start attempt `0` or `1`.
    Start(usize),
    /// Attempt `winner` answered first: use its answer, cancel the other.
    Won {
        /// The attempt that answered.
        winner: usize,
        /// The other, if it was started and is still under way.
        cancel: Option<usize>,
    },
    /// Both failed: the race is lost.
    Lost,
    /// Nothing to do until the next event.
    Wait,
}

/// The decisions of one race; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Race {
    started: [bool; 2],
    failed: [bool; 2],
    over: bool,
}

impl Race {
    /// A new race: start with attempt `0`, and arm the head start.
    pub fn new() -> (Race, Step) {
        let race = Race {
            started: [true, false],
            ..Race::default()
        };
        (race, Step::Start(0))
    }

    /// The head start is over.
    pub fn head_start_over(&mut self) -> Step {
        self.start_second()
    }

    /// Attempt `i` failed.
    pub fn failed(&mut self, i: usize) -> Step {
        if self.over {
            return Step::Wait;
        }
        self.failed[i] = true;
        if self.failed == [true, true] {
            self.over = true;
            return Step::Lost;
        }
        self.start_second()
    }

    /// Attempt `i` answered.
    pub fn answered(&mut self, i: usize) -> Step {
        if self.over {
            return Step::Wait;
        }
        self.over = true;
        let other = 1 - i;
        let running = self.started[other] && !self.failed[other];
        Step::Won {
            winner: i,
            cancel: running.then_some(other),
        }
    }

    fn start_second(&mut self) -> Step {
        if self.over || self.started[1] {
            return Step::Wait;
        }
        self.started[1] = true;
        Step::Start(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_starts_after_the_head_start_and_the_first_answer_wins() {
        let (mut race, first) = Race::new();
        assert_eq!(first, Step::Start(0));
        assert_eq!(race.head_start_over(), Step::Start(1));
        assert_eq!(
            race.answered(1),
            Step::Won {
                winner: 1,
                cancel: Some(0)
            }
        );
        assert_eq!(race.answered(0), Step::Wait, "too late");
        assert_eq!(race.failed(0), Step::Wait);
    }

    #[test]
    fn a_quick_answer_needs_no_second_attempt() {
        let (mut race, _) = Race::new();
        assert_eq!(
            race.answered(0),
            Step::Won {
                winner: 0,
                cancel: None
            }
        );
        assert_eq!(
            race.head_start_over(),
            Step::Wait,
            "the timer may still fire"
        );
    }

    #[test]
    fn a_failure_starts_the_second_at_once_and_two_lose() {
        let (mut race, _) = Race::new();
        assert_eq!(race.failed(0), Step::Start(1));
        assert_eq!(race.head_start_over(), Step::Wait, "already started");
        assert_eq!(race.failed(1), Step::Lost);
    }

    #[test]
    fn the_second_failing_first_leaves_the_first_running() {
        let (mut race, _) = Race::new();
        race.head_start_over();
        assert_eq!(race.failed(1), Step::Wait);
        assert_eq!(
            race.answered(0),
            Step::Won {
                winner: 0,
                cancel: None
            }
        );
    }
}
