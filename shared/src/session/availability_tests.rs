//! The session's part in issue 19's availability targets, one input at a
//! time: racing the deployments (RFC 8305), finding a deployment that comes
//! back, finding a silent link fast without pinging idle links more often,
//! and what the browser's own events (network, page shown again) do. The
//! same behaviours in a world of relays and a moderator are in
//! shared/tests/scenarios/availability.rs, and in a real browser in
//! tests/browser/availability.test.mjs.

use super::machine::PROBE_HURRIES;
use super::tests::{
    chat, config, connects, drain, establish, health, sent, sync, visitor, visitor_session, welcome,
};
use super::*;
use crate::Millis;
use crate::model::Role;
use crate::protocol::{ActiveDeployment, ClientFrame, DeploymentRole, ServerFrame};
use DeploymentRole::{Primary, Redundant};

fn active(name: &str, epoch: u64) -> ActiveDeployment {
    ActiveDeployment {
        epoch,
        active: name.into(),
        url: String::new(),
        held: false,
        deployments: vec![],
    }
}

/// Runs the session's timers up to `until` (nothing answers meanwhile);
/// returns every action with the time it came at.
fn run_until(s: &mut Session, until: Millis) -> Vec<(Millis, Action)> {
    let mut out = Vec::new();
    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
        s.handle_timeout(at);
        out.extend(drain(s).into_iter().map(|a| (at, a)));
    }
    out
}

fn probes(actions: &[(Millis, Action)]) -> Vec<(Millis, DeploymentRole)> {
    actions
        .iter()
        .filter_map(|(at, a)| match a {
            Action::Probe { deployment, .. } => Some((*at, *deployment)),
            _ => None,
        })
        .collect()
}

fn pings(actions: &[Action], on: ConnId) -> Vec<u64> {
    sent(actions, on)
        .into_iter()
        .filter_map(|f| match f {
            ClientFrame::Ping { nonce } => Some(nonce),
            _ => None,
        })
        .collect()
}

fn only_actions(timed: Vec<(Millis, Action)>) -> Vec<Action> {
    timed.into_iter().map(|(_, a)| a).collect()
}

pub(super) fn welcomes(
    s: &mut Session,
    now: Millis,
    conn: ConnId,
    role: DeploymentRole,
) -> Vec<Action> {
    let name = if role == Primary { "p" } else { "r" };
    s.handle(now, Input::Opened { conn });
    s.handle(
        now,
        Input::Frame {
            conn,
            frame: welcome(name, role, vec![sync(vec![], vec![])]),
        },
    );
    drain(s)
}

// ---- racing the deployments ---------------------------------------------

#[test]
fn a_primary_that_swallows_the_connection_is_raced_after_the_head_start() {
    let mut s = visitor_session(false);
    let race = s.config.timing.race_delay;
    let start = drain(&mut s);
    let (primary, role) = connects(&start)[0];
    assert_eq!(role, Primary);
    // The primary never answers (black-holed): no Opened, no Closed.
    let before = run_until(&mut s, Millis(race - 1));
    assert!(
        connects(&only_actions(before)).is_empty(),
        "no rival before the head start"
    );
    assert_eq!(s.poll_timeout(), Some(Millis(race)));
    let at_race = only_actions(run_until(&mut s, Millis(race)));
    let (rival, role) = connects(&at_race)[0];
    assert_eq!(role, Redundant);
    assert!(
        !at_race.contains(&Action::Disconnect { conn: primary }),
        "the first attempt goes on beside its rival"
    );
    let id = s.send(Millis(race + 1), chat(), "hello").unwrap();
    let won = welcomes(&mut s, Millis(race + 20), rival, Redundant);
    assert!(
        won.contains(&Action::Disconnect { conn: primary }),
        "the loser is closed"
    );
    assert_eq!(s.status().state, LinkState::Connected);
    assert_eq!(s.status().name.as_deref(), Some("r"));
    assert!(
        sent(&won, rival).iter().any(|f| f.ack_id() == Some(id)),
        "the message goes out on the winner"
    );
    // The loser counts as down here: nothing moves back to it until a
    // probe says it answers.
    let later = only_actions(run_until(&mut s, Millis(race + 900)));
    assert!(connects(&later).is_empty(), "{later:?}");
}

#[test]
fn the_moderator_still_decides_once_the_deployment_it_names_answers() {
    let mut s = visitor_session(true);
    let race = s.config.timing.race_delay;
    let start = drain(&mut s);
    let timed = run_until(&mut s, Millis(race));
    let (rival, _) = connects(&only_actions(timed))[0];
    let _ = start;
    welcomes(&mut s, Millis(race + 10), rival, Redundant);
    // The moderator names the primary: this client lost the race to it,
    // so it stays on the redundant until the primary answers a probe...
    s.handle(
        Millis(race + 20),
        Input::Moderator {
            answer: Some(active("p", 3)),
        },
    );
    assert!(
        connects(&drain(&mut s)).is_empty(),
        "the primary is down from here"
    );
    // ...and then follows the moderator, make before break.
    s.handle(
        Millis(race + 30),
        Input::Probe {
            deployment: Primary,
            health: Some(health(true)),
        },
    );
    let moved = drain(&mut s);
    assert_eq!(connects(&moved).first().map(|c| c.1), Some(Primary));
    assert!(!moved.contains(&Action::Disconnect { conn: rival }));
}

/// The first moment `s` asks to connect to `role`, running its timers
/// from now to `until`.
fn rival_at(s: &mut Session, until: Millis, role: DeploymentRole) -> Option<Millis> {
    run_until(s, until)
        .into_iter()
        .find(|(_, a)| matches!(a, Action::Connect { deployment, .. } if *deployment == role))
        .map(|(at, _)| at)
}

#[test]
fn a_rival_that_answers_its_probe_while_the_preferred_does_not_gets_the_short_head_start() {
    let timing = visitor_session(false).config.timing;
    let (short, long) = (timing.race_delay_min, timing.race_delay);
    assert!(short < long);
    let answered = |at: u64, role| {
        let mut s = visitor_session(false);
        let start = drain(&mut s);
        assert_eq!(connects(&start)[0].1, Primary);
        let timed: Vec<_> = start.into_iter().map(|a| (Millis(0), a)).collect();
        assert_eq!(
            probes(&timed),
            [(Millis(0), Primary), (Millis(0), Redundant)],
            "both probed with the first connection"
        );
        let early = rival_at(&mut s, Millis(at), Redundant);
        assert_eq!(early, None, "no rival before the answer at {at}");
        s.handle(
            Millis(at),
            Input::Probe {
                deployment: role,
                health: Some(health(true)),
            },
        );
        let now = drain(&mut s);
        if connects(&now).iter().any(|(_, r)| *r == Redundant) {
            return Some(Millis(at));
        }
        rival_at(&mut s, Millis(long), Redundant)
    };
    // The redundant answers within 20 ms, the primary not at all: the
    // rival goes at the short head start, not the long one.
    assert_eq!(answered(20, Redundant), Some(Millis(short)));
    // Answering after the short head start: the rival goes at once.
    assert_eq!(answered(short + 30, Redundant), Some(Millis(short + 30)));
    // The primary's own health answering says nothing against it: the
    // default head start.
    assert_eq!(answered(20, Primary), Some(Millis(long)));
}

#[test]
fn when_the_preferred_answers_first_the_rival_is_closed_and_nothing_is_marked() {
    let mut s = visitor_session(false);
    let race = s.config.timing.race_delay;
    let start = drain(&mut s);
    let (primary, _) = connects(&start)[0];
    let (rival, _) = connects(&only_actions(run_until(&mut s, Millis(race))))[0];
    let won = welcomes(&mut s, Millis(race + 5), primary, Primary);
    assert!(won.contains(&Action::Disconnect { conn: rival }));
    assert_eq!(s.status().name.as_deref(), Some("p"));
    assert!(
        !s.routing.is_down(Redundant),
        "losing a race is not failing"
    );
}

#[test]
fn no_rival_to_a_deployment_known_down() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    s.handle(
        Millis(10),
        Input::Probe {
            deployment: Redundant,
            health: None,
        },
    );
    // The primary dies; the reconnect to it hangs.
    s.handle(Millis(20), Input::Closed { conn });
    s.handle(
        Millis(21),
        Input::Probe {
            deployment: Redundant,
            health: None,
        },
    );
    let hang = s.config.timing.connect_timeout - 10;
    let timed = run_until(&mut s, Millis(20 + hang));
    let tried: Vec<_> = connects(&only_actions(timed))
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(
        tried,
        vec![Primary],
        "one attempt, no rival to the dead redundant"
    );
}

#[test]
fn a_refused_attempt_is_followed_at_once_by_the_other_deployment() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (primary, _) = connects(&start)[0];
    s.handle(Millis(5), Input::Closed { conn: primary });
    let soon = s.config.timing.backoff_min;
    let timed = run_until(&mut s, Millis(5 + soon));
    let tried = connects(&only_actions(timed));
    assert_eq!(
        tried.first().map(|c| c.1),
        Some(Redundant),
        "not a retry: no backoff"
    );
}

// ---- both down, then one back --------------------------------------------

/// How the world answers while a test runs the session's timers.
#[derive(Clone, Copy)]
struct World {
    /// Health probes of this deployment are answered `ready`.
    healthy: Option<DeploymentRole>,
    /// Connections to this deployment are welcomed; all others refused.
    welcoming: Option<DeploymentRole>,
}

const DOWN: World = World {
    healthy: None,
    welcoming: None,
};

/// Carries out every action at `now` the way `world` answers (refusals and
/// probe answers come back at once), until nothing more follows; returns
/// the actions.
fn settle(s: &mut Session, now: Millis, world: World) -> Vec<Action> {
    let mut all = Vec::new();
    loop {
        let actions = drain(s);
        if actions.is_empty() {
            return all;
        }
        for action in &actions {
            match action {
                Action::Connect {
                    conn, deployment, ..
                } if world.welcoming == Some(*deployment) => {
                    let name = if *deployment == Primary { "p" } else { "r" };
                    s.handle(now, Input::Opened { conn: *conn });
                    s.handle(
                        now,
                        Input::Frame {
                            conn: *conn,
                            frame: welcome(name, *deployment, vec![sync(vec![], vec![])]),
                        },
                    );
                }
                Action::Connect { conn, .. } => s.handle(now, Input::Closed { conn: *conn }),
                Action::Probe { deployment, .. } => {
                    let health = (world.healthy == Some(*deployment)).then(|| health(true));
                    s.handle(
                        now,
                        Input::Probe {
                            deployment: *deployment,
                            health,
                        },
                    );
                }
                _ => {}
            }
        }
        all.extend(actions);
    }
}

/// Runs the timers from `from` to `until` in `world`; every action with
/// its time.
fn live(s: &mut Session, from: Millis, until: Millis, world: World) -> Vec<(Millis, Action)> {
    let mut out: Vec<(Millis, Action)> = settle(s, from, world)
        .into_iter()
        .map(|a| (from, a))
        .collect();
    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
        s.handle_timeout(at);
        out.extend(settle(s, at, world).into_iter().map(|a| (at, a)));
    }
    out
}

/// A session that had a link, then found both deployments refusing for
/// `outage` ms (every connection closed at once, every probe failed).
fn through_an_outage(outage: u64) -> (Session, Millis) {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    s.handle(Millis(100), Input::Closed { conn });
    let end = Millis(100 + outage);
    live(&mut s, Millis(100), end, DOWN);
    (s, end)
}

#[test]
fn both_down_the_deployments_are_probed_at_the_outage_pace() {
    let (mut s, end) = through_an_outage(30_000);
    assert_eq!(s.status().state, LinkState::Offline);
    let interval = s.config.timing.outage_probe_interval;
    let timed = live(&mut s, end, end.plus(20_000), DOWN);
    let rounds: Vec<Millis> = probes(&timed)
        .into_iter()
        .filter(|p| p.1 == Primary)
        .map(|p| p.0)
        .collect();
    let gaps: Vec<u64> = rounds.windows(2).map(|w| w[1].since(w[0])).collect();
    assert!(gaps.len() > 20, "{gaps:?}");
    // A failed attempt probes at once too (it is news); otherwise a probe
    // round comes within 3/4 to 5/4 of the interval.
    assert!(
        gaps.iter().all(|g| *g <= interval * 5 / 4),
        "each wait at most 5/4 of {interval} ms: {gaps:?}"
    );
    assert!(
        gaps.windows(2).any(|w| w[0] != w[1]),
        "jittered, so clients that lost the link together spread out: {gaps:?}"
    );
    let attempts = connects(&only_actions(timed)).len();
    assert!(
        attempts <= 20_000 / (s.config.timing.backoff_max / 2) as usize + 1,
        "connections back off to the ceiling meanwhile: {attempts}"
    );
}

#[test]
fn a_deployment_found_answering_after_a_long_outage_is_connected_to_at_once() {
    let (mut s, end) = through_an_outage(60_000);
    // Long enough for the backoff to have reached its ceiling.
    let timing = s.config.timing;
    let back = World {
        healthy: Some(Redundant),
        welcoming: Some(Redundant),
    };
    let timed = live(&mut s, end, end.plus(5_000), back);
    let answered = probes(&timed)
        .into_iter()
        .find(|p| p.1 == Redundant)
        .map(|p| p.0)
        .expect("probed");
    assert!(answered.since(end) <= timing.outage_probe_interval * 5 / 4);
    let connected = timed
        .iter()
        .find(|(_, a)| {
            matches!(
                a,
                Action::Event(SessionEvent::Connection(ConnectionStatus {
                    state: LinkState::Connected,
                    ..
                }))
            )
        })
        .map(|(at, _)| *at)
        .expect("connected");
    assert!(
        connected.since(answered) <= timing.backoff_min,
        "connected {} ms after the probe answered, not after the backoff's up to {} ms",
        connected.since(answered),
        timing.backoff_max
    );
}

#[test]
fn a_deployment_whose_health_answers_but_whose_sockets_fail_is_not_hammered() {
    let (mut s, end) = through_an_outage(60_000);
    let half_alive = World {
        healthy: Some(Redundant),
        welcoming: None,
    };
    let timed = live(&mut s, end, end.plus(20_000), half_alive);
    let attempts: Vec<Millis> = timed
        .iter()
        .filter(|(_, a)| matches!(a, Action::Connect { .. }))
        .map(|(at, _)| *at)
        .collect();
    // The backoff's pace (one per 2.5 to 5 s) plus what the probes may
    // hurry, never the probes' pace (one per 0.6 s).
    let backoff = 20_000 / (s.config.timing.backoff_max / 2) as usize + 1;
    assert!(
        attempts.len() <= backoff + PROBE_HURRIES as usize,
        "{} connections in 20 s: {attempts:?}",
        attempts.len()
    );
}

// ---- silent loss --------------------------------------------------------

#[test]
fn a_message_left_unanswered_finds_a_silent_link_sooner_than_the_heartbeat() {
    let mut s = visitor_session(false);
    let timing = s.config.timing;
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    // The link goes silent at 10 ms; a message is written at 50 ms.
    let id = s.send(Millis(50), chat(), "anyone?").unwrap();
    drain(&mut s);
    let timed = run_until(&mut s, Millis(5_000));
    let ping_at = timed
        .iter()
        .find(|(_, a)| {
            matches!(
                a,
                Action::Send {
                    frame: ClientFrame::Ping { .. },
                    ..
                }
            )
        })
        .map(|(at, _)| *at)
        .expect("a ping");
    assert_eq!(ping_at, Millis(50 + timing.reply_grace));
    let dead_at = timed
        .iter()
        .find(|(_, a)| *a == Action::Disconnect { conn })
        .map(|(at, _)| *at)
        .expect("declared dead");
    assert_eq!(dead_at, ping_at.plus(timing.heartbeat_timeout));
    assert!(
        dead_at.0 < timing.heartbeat_interval + timing.heartbeat_timeout,
        "sooner than the idle heartbeat would have"
    );
    // ...and the message goes out again on the next link.
    let next = timed
        .iter()
        .rev()
        .find_map(|(_, a)| match a {
            Action::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
        .expect("a reconnect");
    let replayed = welcomes(&mut s, dead_at.plus(200), next, Redundant);
    assert!(sent(&replayed, next).iter().any(|f| f.ack_id() == Some(id)));
}

#[test]
fn an_idle_link_costs_one_small_ping_per_heartbeat_interval() {
    let mut s = visitor_session(false);
    let timing = s.config.timing;
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    let minute = 60_000;
    let mut nonces = Vec::new();
    let mut now = Millis(0);
    while now.0 < minute {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        for nonce in pings(&drain(&mut s), conn) {
            nonces.push(nonce);
            // The relay answers within 20 ms.
            let pong = now.plus(20);
            s.handle(
                pong,
                Input::Frame {
                    conn,
                    frame: ServerFrame::Pong { nonce },
                },
            );
            now = pong;
        }
    }
    let per_minute = minute / (timing.heartbeat_interval + 20);
    assert!(
        (per_minute - 1..=per_minute + 1).contains(&(nonces.len() as u64)),
        "{} pings in a minute, {per_minute} expected",
        nonces.len()
    );
    // A counter, not 64 random bits: `{"type":"ping","nonce":57}` is 26
    // bytes where a random u64 took up to 45.
    assert_eq!(nonces, (1..=nonces.len() as u64).collect::<Vec<_>>());
    let frame = ClientFrame::Ping {
        nonce: *nonces.last().unwrap(),
    };
    assert!(frame.to_json().len() <= 27, "{}", frame.to_json());
}

// ---- the browser's own events -------------------------------------------

#[test]
fn the_network_coming_back_or_the_page_shown_again_checks_the_link_at_once() {
    for input in [
        Input::Resumed,
        Input::Network { online: true },
        Input::Network { online: false },
    ] {
        let mut s = visitor_session(false);
        let timing = s.config.timing;
        let start = drain(&mut s);
        let (conn, _) = establish(&mut s, Millis(0), &start);
        s.handle(Millis(100), input.clone());
        let actions = drain(&mut s);
        assert_eq!(pings(&actions, conn).len(), 1, "{input:?}: a ping at once");
        // Asked again while the ping is out: still one.
        s.handle(Millis(150), input.clone());
        assert!(pings(&drain(&mut s), conn).is_empty(), "{input:?}");
        // Unanswered, the link is dead a heartbeat timeout later.
        let timed = run_until(&mut s, Millis(100 + timing.heartbeat_timeout));
        assert!(
            timed.contains(&(
                Millis(100 + timing.heartbeat_timeout),
                Action::Disconnect { conn }
            )),
            "{input:?}: {timed:?}"
        );
    }
}

#[test]
fn the_network_coming_back_forgets_the_failures_and_reconnects_without_the_backoff() {
    let (mut s, end) = through_an_outage(30_000);
    let now = end.plus(1);
    s.handle(now, Input::Network { online: true });
    let actions = drain(&mut s);
    assert_eq!(
        connects(&actions).first().map(|c| c.1),
        Some(Primary),
        "at once, and to the preferred deployment again: {actions:?}"
    );
    assert!(
        actions.iter().any(|a| matches!(a, Action::Probe { .. })),
        "both are probed at once"
    );
    assert_eq!(
        s.status().state,
        LinkState::Reconnecting,
        "no longer offline"
    );
}

#[test]
fn the_page_shown_again_reconnects_without_the_backoff() {
    let (mut s, end) = through_an_outage(30_000);
    let now = end.plus(1);
    assert!(
        s.poll_timeout().is_some_and(|at| at > now),
        "waiting for the backoff or a probe"
    );
    s.handle(now, Input::Resumed);
    let actions = drain(&mut s);
    assert_eq!(connects(&actions).len(), 1, "{actions:?}");
    assert!(actions.iter().any(|a| matches!(a, Action::Probe { .. })));
}

#[test]
fn an_operator_session_does_the_same() {
    let mut s = Session::new(
        config(Role::Operator, false),
        Identity {
            token: "t".into(),
            author: visitor(),
            chat: None,
        },
        Millis(0),
        3,
    );
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    s.handle(Millis(10), Input::Resumed);
    assert_eq!(pings(&drain(&mut s), conn).len(), 1);
}
