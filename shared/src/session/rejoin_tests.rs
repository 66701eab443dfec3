//! A deployment of several relay nodes behind one load balancer (issue 18),
//! as the session sees it, one input at a time: a node that dies or
//! restarts closes its clients' links, and they rejoin the same deployment
//! through the same URL before any failover; a node that drains tells its
//! clients to `migrate` to their own deployment, and they move node to
//! node, make before break, spread over `migrate_spread`. The same rows
//! with real nodes, HAProxy and PostgreSQL are tests/tests/nodes.rs and
//! the `twinline-bench node-failover` benchmark.

use super::availability_tests::welcomes;
use super::tests::{chat, connects, drain, establish, health, sent, visitor_session};
use super::*;
use crate::Millis;
use crate::protocol::{ActiveDeployment, ClientFrame, DeploymentRole, ServerFrame};
use DeploymentRole::{Primary, Redundant};

fn naming(name: &str) -> Input {
    Input::Moderator {
        answer: Some(ActiveDeployment {
            epoch: 3,
            active: name.into(),
            url: String::new(),
            held: false,
            deployments: vec![],
        }),
    }
}

/// A visitor welcomed by the primary, which the moderator names, and
/// whose probes found both deployments answering: the moment a node of
/// the primary dies under it. Returns the session, its link and the time.
fn on_the_primary() -> (Session, ConnId, Millis) {
    let mut s = visitor_session(true);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(5), &start);
    for deployment in [Primary, Redundant] {
        s.handle(
            Millis(6),
            Input::Probe {
                deployment,
                health: Some(health(true)),
            },
        );
    }
    s.handle(Millis(7), naming("p"));
    drain(&mut s);
    assert_eq!(s.status().state, LinkState::Connected);
    (s, conn, Millis(10))
}

/// Runs the timers up to `until`; every action with the time it came at.
/// The relays answer pings (the links work) but nothing else: no socket
/// opens, no probe or moderator question comes back.
fn run(s: &mut Session, until: Millis) -> Vec<(Millis, Action)> {
    run_answering(s, until, true)
}

/// [`run`], the relays answering pings or not (a silent link).
fn run_answering(s: &mut Session, until: Millis, pongs: bool) -> Vec<(Millis, Action)> {
    let mut out = Vec::new();
    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
        s.handle_timeout(at);
        let actions = drain(s);
        for action in &actions {
            if let Action::Send {
                conn,
                frame: ClientFrame::Ping { nonce },
            } = action
                && pongs
            {
                let pong = ServerFrame::Pong { nonce: *nonce };
                s.handle(
                    at,
                    Input::Frame {
                        conn: *conn,
                        frame: pong,
                    },
                );
                out.extend(drain(s).into_iter().map(|a| (at, a)));
            }
        }
        out.extend(actions.into_iter().map(|a| (at, a)));
    }
    out
}

fn connects_timed(actions: &[(Millis, Action)]) -> Vec<(Millis, ConnId, DeploymentRole)> {
    actions
        .iter()
        .filter_map(|(at, a)| match a {
            Action::Connect {
                conn, deployment, ..
            } => Some((*at, *conn, *deployment)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_closed_link_to_the_named_deployment_rejoins_it_before_any_failover() {
    let (mut s, conn, now) = on_the_primary();
    let backoff = s.config.timing.backoff_min;
    let grace = s.config.timing.rejoin_grace;
    s.handle(now, Input::Closed { conn });
    let at_close = drain(&mut s);
    assert!(
        !at_close
            .iter()
            .any(|a| matches!(a, Action::Probe { .. } | Action::AskModerator { .. })),
        "a rejoin asks nobody: {at_close:?}"
    );
    let timed = run(&mut s, now.plus(grace - 1));
    let tries = connects_timed(&timed);
    assert_eq!(tries.len(), 1, "one reconnect, no rival yet: {timed:?}");
    let (at, rejoin, role) = tries[0];
    assert_eq!(role, Primary, "the same deployment, through its balancer");
    assert!(at <= now.plus(backoff), "at once (jittered): {at:?}");
    assert_ne!(rejoin, conn);
    // A message written meanwhile goes out on the rejoined link.
    let id = s.send(at.plus(1), chat(), "still here").unwrap();
    let welcomed = welcomes(&mut s, at.plus(40), rejoin, Primary);
    assert!(
        sent(&welcomed, rejoin)
            .iter()
            .any(|f| f.ack_id() == Some(id))
    );
    assert_eq!(s.status().state, LinkState::Connected);
    assert_eq!(s.status().deployment, Some(Primary));
    // Nothing was marked down: no own probing, no move to the redundant.
    let later = run(&mut s, at.plus(10_000));
    assert!(connects_timed(&later).is_empty(), "{later:?}");
    assert!(
        !later.iter().any(|(_, a)| matches!(a, Action::Probe { .. })),
        "{later:?}"
    );
}

#[test]
fn a_rejoin_refused_fails_over_at_once() {
    let (mut s, conn, now) = on_the_primary();
    s.handle(now, Input::Closed { conn });
    drain(&mut s);
    let backoff = s.config.timing.backoff_min;
    let timed = run(&mut s, now.plus(backoff));
    let (at, rejoin, _) = connects_timed(&timed)[0];
    // The whole deployment is gone: its balancer (or its only relay)
    // refuses.
    s.handle(at.plus(2), Input::Closed { conn: rejoin });
    let failover = drain(&mut s);
    assert_eq!(
        connects(&failover).first().map(|c| c.1),
        Some(Redundant),
        "the redundant at once, with no second jitter: {failover:?}"
    );
}

#[test]
fn a_rejoin_that_hangs_gets_a_rival_after_the_grace_not_the_race_delay() {
    let (mut s, conn, now) = on_the_primary();
    let timing = s.config.timing;
    assert!(timing.rejoin_grace > timing.race_delay);
    s.handle(now, Input::Closed { conn });
    drain(&mut s);
    let timed = run(&mut s, now.plus(timing.backoff_min + timing.rejoin_grace));
    let tries = connects_timed(&timed);
    assert_eq!(tries.len(), 2, "{tries:?}");
    let ((rejoined_at, _, first), (rival_at, _, second)) = (tries[0], tries[1]);
    assert_eq!((first, second), (Primary, Redundant));
    assert_eq!(rival_at, rejoined_at.plus(timing.rejoin_grace));
}

#[test]
fn a_link_that_went_silent_is_not_rejoined() {
    let (mut s, conn, now) = on_the_primary();
    let timing = s.config.timing;
    // Nothing more arrives: the heartbeat's ping goes unanswered.
    let timed = run_answering(
        &mut s,
        now.plus(timing.heartbeat_interval + timing.heartbeat_timeout + timing.backoff_min),
        false,
    );
    assert!(
        timed.iter().any(|(_, a)| *a == Action::Disconnect { conn }),
        "declared dead"
    );
    let tries = connects_timed(&timed);
    assert_eq!(
        tries.first().map(|t| t.2),
        Some(Redundant),
        "a silent loss fails over first: {tries:?}"
    );
}

#[test]
fn without_the_moderator_naming_it_a_closed_link_fails_over_as_before() {
    let (mut s, conn, now) = on_the_primary();
    // The moderator went silent.
    s.handle(now, Input::Moderator { answer: None });
    drain(&mut s);
    s.handle(now.plus(1), Input::Closed { conn });
    let mut actions: Vec<(Millis, Action)> = drain(&mut s)
        .into_iter()
        .map(|a| (now.plus(1), a))
        .collect();
    let backoff = s.config.timing.backoff_min;
    actions.extend(run(&mut s, now.plus(1 + backoff)));
    assert_eq!(
        connects_timed(&actions).first().map(|t| t.2),
        Some(Redundant),
        "{actions:?}"
    );
}

/// A drained node's `migrate` naming its own deployment.
fn migrate_to_own(s: &mut Session, now: Millis, conn: ConnId) {
    s.handle(
        now,
        Input::Frame {
            conn,
            frame: ServerFrame::Migrate {
                to: "p".into(),
                reason: "maintenance".into(),
            },
        },
    );
}

#[test]
fn a_drain_to_its_own_deployment_moves_node_to_node_make_before_break() {
    let (mut s, conn, now) = on_the_primary();
    let spread = s.config.timing.migrate_spread;
    migrate_to_own(&mut s, now, conn);
    let timed = run(&mut s, now.plus(spread));
    let tries = connects_timed(&timed);
    assert_eq!(tries.len(), 1, "{tries:?}");
    let (at, next, role) = tries[0];
    assert_eq!(role, Primary, "the same URL: the balancer picks the node");
    assert!(at <= now.plus(spread));
    assert!(
        !timed.iter().any(|(_, a)| *a == Action::Disconnect { conn }),
        "the old link works on meanwhile"
    );
    // Still connected, and a message written now goes on the old link.
    let id = s.send(at.plus(1), chat(), "mid-move").unwrap();
    assert!(
        sent(&drain(&mut s), conn)
            .iter()
            .any(|f| f.ack_id() == Some(id))
    );
    assert_eq!(s.status().state, LinkState::Connected);
    let moved = welcomes(&mut s, at.plus(30), next, Primary);
    assert!(moved.contains(&Action::Disconnect { conn }), "{moved:?}");
    assert!(
        sent(&moved, next).iter().any(|f| f.ack_id() == Some(id)),
        "the unacked message follows"
    );
    assert_eq!(s.status().state, LinkState::Connected);
    // Moved once: no further links.
    let later = run(&mut s, at.plus(5_000));
    assert!(connects_timed(&later).is_empty(), "{later:?}");
}

#[test]
fn clients_of_a_drained_node_move_spread_over_the_window() {
    let spread = visitor_session(true).config.timing.migrate_spread;
    let mut moments = Vec::new();
    for seed in 0..64 {
        let (mut s, conn, now) = on_the_primary();
        s.random = crate::random::SplitMix64::new(seed);
        migrate_to_own(&mut s, now, conn);
        let timed = run(&mut s, now.plus(spread));
        moments.push(connects_timed(&timed)[0].0.since(now));
    }
    let (first, last) = (moments.iter().min(), moments.iter().max());
    assert!(
        first.is_some_and(|f| *f < spread / 4) && last.is_some_and(|l| *l > spread * 3 / 4),
        "spread over the window: {moments:?}"
    );
}

#[test]
fn a_drained_node_stopped_mid_move_is_rejoined_not_failed_over() {
    let (mut s, conn, now) = on_the_primary();
    migrate_to_own(&mut s, now, conn);
    let spread = s.config.timing.migrate_spread;
    let timed = run(&mut s, now.plus(spread));
    let (at, next, _) = connects_timed(&timed)[0];
    // Its SIGTERM closes the old link before the new one is welcomed.
    s.handle(at.plus(5), Input::Closed { conn });
    let closed = drain(&mut s);
    assert!(connects(&closed).is_empty(), "{closed:?}");
    let moved = welcomes(&mut s, at.plus(50), next, Primary);
    assert!(!connects(&moved).iter().any(|c| c.1 == Redundant));
    assert_eq!(s.status().state, LinkState::Connected);
    assert_eq!(s.status().deployment, Some(Primary));
}

#[test]
fn a_migrate_to_the_other_deployment_still_fails_over_make_before_break() {
    let (mut s, conn, now) = on_the_primary();
    s.handle(
        now,
        Input::Frame {
            conn,
            frame: ServerFrame::Migrate {
                to: "r".into(),
                reason: "maintenance".into(),
            },
        },
    );
    let moved = drain(&mut s);
    assert_eq!(connects(&moved).first().map(|c| c.1), Some(Redundant));
    assert!(!moved.contains(&Action::Disconnect { conn }));
}

#[test]
fn a_move_that_fails_is_tried_again_and_nothing_fails_over() {
    let (mut s, conn, now) = on_the_primary();
    let spread = s.config.timing.migrate_spread;
    migrate_to_own(&mut s, now, conn);
    let timed = run(&mut s, now.plus(spread));
    let (at, next, _) = connects_timed(&timed)[0];
    // It reached a node that is stopping: refused.
    s.handle(at.plus(3), Input::Closed { conn: next });
    let refused = drain(&mut s);
    assert!(connects(&refused).is_empty(), "{refused:?}");
    assert!(!refused.contains(&Action::Disconnect { conn }));
    assert_eq!(s.status().state, LinkState::Connected);
    let retry = run(&mut s, at.plus(3 + spread));
    let tries = connects_timed(&retry);
    assert_eq!(
        tries.iter().map(|t| t.2).collect::<Vec<_>>(),
        [Primary],
        "the move again, to the same deployment: {retry:?}"
    );
}
