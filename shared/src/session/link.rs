//! One WebSocket to one relay, from `Connect` to `welcome` and then kept
//! honest by a heartbeat.
//!
//! A socket can die without a sound (a data center's network vanishes, a
//! NAT forgets the flow). Any frame from the relay proves the link alive;
//! after `heartbeat_interval` of silence the client sends a `ping`, and if
//! nothing at all arrives within `heartbeat_timeout` the link is dead.

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
    /// When the current phase started (Opening, Hello) or the last frame
    /// arrived (Ready).
    since: Millis,
    /// An unanswered ping: its nonce and when it was sent.
    ping: Option<(u64, Millis)>,
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
            since: now,
            ping: None,
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
                None if now.since(self.since) >= timing.heartbeat_interval => {
                    self.ping = Some((nonce, now));
                    Beat::Ping(nonce)
                }
                None => Beat::Nothing,
            },
        }
    }

    /// When [`Link::beat`] next has something to say.
    pub(crate) fn deadline(&self, timing: &Timing) -> Millis {
        match (self.phase, self.ping) {
            (Phase::Opening | Phase::Hello, _) => self.since.plus(timing.connect_timeout),
            (Phase::Ready, Some((_, sent))) => sent.plus(timing.heartbeat_timeout),
            (Phase::Ready, None) => self.since.plus(timing.heartbeat_interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut link = Link::new(ConnId(1), DeploymentRole::Primary, Millis(0));
        link.opened(Millis(0));
        link.welcomed(Millis(0));
        let ping_at = Millis(t.heartbeat_interval);
        assert_eq!(link.beat(ping_at, &t, 1), Beat::Ping(1));
        link.heard(ping_at.plus(5));
        assert_eq!(
            link.beat(ping_at.plus(t.heartbeat_timeout), &t, 2),
            Beat::Nothing
        );
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
