//! One WebSocket to one relay, from `Connect` to `welcome` and then kept
//! honest by a heartbeat.
//!
//! A socket can die without a sound (a data center's network vanishes, a
//! NAT forgets the flow). Any frame from the relay proves the link alive.
//! Two things make the client ask with a `ping`: `heartbeat_interval` of
//! silence (an idle link), or a message left without its ack for
//! `reply_grace` (a link in use, where a loss must be found fast without
//! pinging idle visitors any more often). Only an ack answers a message:
//! other frames may have crossed it on the way (an operator's line sent
//! before the loss), so they keep the heartbeat quiet but not the
//! message's check. If nothing at all arrives within `heartbeat_timeout`
//! of a ping, the link is dead. So an idle link costs
//! one ping and one pong per `heartbeat_interval`, and a silent loss is
//! found within `heartbeat_interval + heartbeat_timeout` on an idle link,
//! `reply_grace + heartbeat_timeout` after the first unanswered message on
//! a busy one, and `heartbeat_timeout` after [`Link::check`] (the browser
//! said the network or the page came back).

use super::config::Timing;
use super::io::ConnId;
use crate::protocol::DeploymentRole;
use crate::time::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the socket to open.
    Opening,
    /// `hello` sent, waiting for `welcome`.
    Hello,
    /// Welcomed: frames flow.
    Ready,
}

#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub(crate) conn: ConnId,
    pub(crate) role: DeploymentRole,
    pub(crate) phase: Phase,
    /// When `Connect` was asked for (a race's head start counts from here).
    pub(crate) started: Millis,
    /// When the current phase started (Opening, Hello) or the last frame
    /// arrived (Ready).
    since: Millis,
    /// An unanswered ping: its nonce and when it was sent.
    ping: Option<(u64, Millis)>,
    /// When the last ping went, answered or not.
    last_ping: Option<Millis>,
    /// Messages sent on this link and not acked yet.
    unacked: u32,
    /// When the oldest of them that no ping has covered since went out.
    asked: Option<Millis>,
}

/// What the heartbeat wants at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    Nothing,
    Ping(u64),
    Dead,
}

impl Link {
    pub(crate) fn new(conn: ConnId, role: DeploymentRole, now: Millis) -> Link {
        Link {
            conn,
            role,
            phase: Phase::Opening,
            started: now,
            since: now,
            ping: None,
            last_ping: None,
            unacked: 0,
            asked: None,
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    pub(crate) fn opened(&mut self, now: Millis) {
        self.phase = Phase::Hello;
        self.since = now;
    }

    pub(crate) fn welcomed(&mut self, now: Millis) {
        self.phase = Phase::Ready;
        self.heard(now);
    }

    /// Any frame from the relay.
    pub(crate) fn heard(&mut self, now: Millis) {
        if self.phase == Phase::Ready {
            self.since = now;
            self.ping = None;
        }
    }

    /// A message went out on this link at `now`; the relay acks it.
    pub(crate) fn asked(&mut self, now: Millis) {
        if self.phase == Phase::Ready {
            self.unacked += 1;
            self.asked.get_or_insert(now);
        }
    }

    /// The relay answered one message sent on this link (an ack, or a
    /// refusal naming it).
    pub(crate) fn answered(&mut self) {
        self.unacked = self.unacked.saturating_sub(1);
        if self.unacked == 0 {
            self.asked = None;
        }
    }

    /// Whether to ping, or give up, at `now`. `nonce` names a new ping.
    pub(crate) fn beat(&mut self, now: Millis, timing: &Timing, nonce: u64) -> Beat {
        match self.phase {
            Phase::Opening | Phase::Hello => {
                if now.since(self.since) >= timing.connect_timeout {
                    Beat::Dead
                } else {
                    Beat::Nothing
                }
            }
            Phase::Ready => match self.ping {
                Some((_, sent)) if now.since(sent) >= timing.heartbeat_timeout => Beat::Dead,
                Some(_) => Beat::Nothing,
                None if now >= self.ping_due(timing) => self.ping(now, nonce),
                None => Beat::Nothing,
            },
        }
    }

    /// Asks the relay now rather than at the next heartbeat (the network
    /// or the page came back): a ping unless one is already out. Only a
    /// welcomed link is asked; one being set up has its own deadline.
    pub(crate) fn check(&mut self, now: Millis, nonce: u64) -> Beat {
        if self.phase == Phase::Ready && self.ping.is_none() {
            self.ping(now, nonce)
        } else {
            Beat::Nothing
        }
    }

    fn ping(&mut self, now: Millis, nonce: u64) -> Beat {
        self.ping = Some((nonce, now));
        self.last_ping = Some(now);
        // Its answer will say the link is alive for every message out now.
        self.asked = None;
        Beat::Ping(nonce)
    }

    /// When a welcomed link with no ping out sends one: after the idle
    /// interval or a message's grace, and never sooner than `ping_gap`
    /// after the last ping (relays allow a few a second; a slow relay must
    /// not have every message of a busy chat checked).
    fn ping_due(&self, timing: &Timing) -> Millis {
        let idle = self.since.plus(timing.heartbeat_interval);
        let due = match self.asked {
            Some(asked) => idle.min(asked.plus(timing.reply_grace)),
            None => idle,
        };
        match self.last_ping {
            Some(last) => due.max(last.plus(timing.ping_gap)),
            None => due,
        }
    }

    /// When [`Link::beat`] next has something to say.
    pub(crate) fn deadline(&self, timing: &Timing) -> Millis {
        match (self.phase, self.ping) {
            (Phase::Opening | Phase::Hello, _) => self.since.plus(timing.connect_timeout),
            (Phase::Ready, Some((_, sent))) => sent.plus(timing.heartbeat_timeout),
            (Phase::Ready, None) => self.ping_due(timing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(at: u64) -> Link {
        let mut link = Link::new(ConnId(1), DeploymentRole::Primary, Millis(0));
        link.opened(Millis(at));
        link.welcomed(Millis(at));
        link
    }

    #[test]
    fn silence_brings_a_ping_then_death() {
        let t = Timing::default();
        let mut link = Link::new(ConnId(1), DeploymentRole::Primary, Millis(0));
        link.opened(Millis(10));
        link.welcomed(Millis(20));
        assert_eq!(link.beat(Millis(500), &t, 1), Beat::Nothing);
        let ping_at = Millis(20 + t.heartbeat_interval);
        assert_eq!(link.deadline(&t), ping_at);
        assert_eq!(link.beat(ping_at, &t, 7), Beat::Ping(7));
        assert_eq!(link.beat(ping_at.plus(1), &t, 8), Beat::Nothing);
        let dead_at = ping_at.plus(t.heartbeat_timeout);
        assert_eq!(link.deadline(&t), dead_at);
        assert_eq!(link.beat(dead_at, &t, 9), Beat::Dead);
    }

    #[test]
    fn any_frame_keeps_it_alive() {
        let t = Timing::default();
        let mut link = ready(0);
        let ping_at = Millis(t.heartbeat_interval);
        assert_eq!(link.beat(ping_at, &t, 1), Beat::Ping(1));
        link.heard(ping_at.plus(5));
        assert_eq!(
            link.beat(ping_at.plus(t.heartbeat_timeout), &t, 2),
            Beat::Nothing
        );
    }

    #[test]
    fn an_unanswered_message_brings_the_ping_forward() {
        let t = Timing::default();
        let mut link = ready(0);
        link.asked(Millis(100));
        // A second message does not push the check back.
        link.asked(Millis(200));
        let ping_at = Millis(100 + t.reply_grace);
        assert!(ping_at < Millis(t.heartbeat_interval), "sooner than idle");
        assert_eq!(link.deadline(&t), ping_at);
        assert_eq!(link.beat(Millis(ping_at.0 - 1), &t, 1), Beat::Nothing);
        assert_eq!(link.beat(ping_at, &t, 2), Beat::Ping(2));
        assert_eq!(
            link.beat(ping_at.plus(t.heartbeat_timeout), &t, 3),
            Beat::Dead
        );
    }

    #[test]
    fn a_message_answered_in_time_costs_no_ping() {
        let t = Timing::default();
        let mut link = ready(0);
        link.asked(Millis(100));
        link.heard(Millis(110));
        link.answered(); // its ack
        assert_eq!(link.deadline(&t), Millis(110 + t.heartbeat_interval));
        assert_eq!(link.beat(Millis(100 + t.reply_grace), &t, 1), Beat::Nothing);
    }

    #[test]
    fn a_frame_that_crossed_the_message_does_not_answer_it() {
        let t = Timing::default();
        let mut link = ready(0);
        link.asked(Millis(100));
        // An operator's line, sent before the link went silent.
        link.heard(Millis(101));
        assert_eq!(link.deadline(&t), Millis(100 + t.reply_grace));
        // Two messages out, one acked: the other is still waited for.
        link.asked(Millis(150));
        link.answered();
        assert_eq!(link.deadline(&t), Millis(100 + t.reply_grace));
        link.answered();
        assert_eq!(link.deadline(&t), Millis(101 + t.heartbeat_interval));
    }

    #[test]
    fn a_ping_answered_while_a_commit_is_slow_is_not_repeated() {
        let t = Timing::default();
        let mut link = ready(0);
        link.asked(Millis(100));
        let check = Millis(100 + t.reply_grace);
        assert_eq!(link.beat(check, &t, 1), Beat::Ping(1));
        link.heard(check.plus(5)); // the pong; the ack is still to come
        assert_eq!(link.deadline(&t), check.plus(5 + t.heartbeat_interval));
    }

    #[test]
    fn a_slow_relay_gets_at_most_one_ping_per_gap() {
        let t = Timing::default();
        let mut link = ready(0);
        // A busy chat on a relay whose commits take a second: a message
        // every 100 ms, each acked late, the pongs quick.
        let mut pings = Vec::new();
        let mut now = Millis(0);
        while now.0 < 10_000 {
            if now.0 % 100 == 0 {
                link.asked(now);
            }
            if let Beat::Ping(_) = link.beat(now, &t, 1) {
                pings.push(now);
            }
            if link.ping.is_some_and(|(_, sent)| now.since(sent) >= 5) {
                link.heard(now); // the pong
            }
            now = now.plus(1);
        }
        let gaps: Vec<u64> = pings.windows(2).map(|w| w[1].since(w[0])).collect();
        assert!(gaps.iter().all(|g| *g >= t.ping_gap), "{gaps:?}");
        assert!(pings.len() <= (10_000 / t.ping_gap + 1) as usize);
    }

    #[test]
    fn a_check_pings_at_once_but_never_twice() {
        let t = Timing::default();
        let mut link = ready(0);
        assert_eq!(link.check(Millis(10), 4), Beat::Ping(4));
        assert_eq!(link.check(Millis(20), 5), Beat::Nothing, "one is out");
        assert_eq!(link.deadline(&t), Millis(10 + t.heartbeat_timeout));
        assert_eq!(
            link.beat(Millis(10 + t.heartbeat_timeout), &t, 6),
            Beat::Dead
        );
        let mut opening = Link::new(ConnId(2), DeploymentRole::Primary, Millis(0));
        assert_eq!(opening.check(Millis(10), 7), Beat::Nothing);
    }

    #[test]
    fn a_connection_that_never_opens_times_out() {
        let t = Timing::default();
        let mut link = Link::new(ConnId(1), DeploymentRole::Redundant, Millis(100));
        assert_eq!(
            link.beat(Millis(100 + t.connect_timeout - 1), &t, 1),
            Beat::Nothing
        );
        assert_eq!(
            link.beat(Millis(100 + t.connect_timeout), &t, 1),
            Beat::Dead
        );
    }
}
