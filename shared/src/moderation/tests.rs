//! One test per rule in the module docs, on a virtual clock.

use super::*;
use crate::protocol::ReplicationLag;
use DeploymentRole::{Primary, Redundant};

const INTERVAL: u64 = 200;

struct Harness {
    m: Moderation,
    now: Millis,
}

fn health(role: DeploymentRole, ready: bool, lag: Option<ReplicationLag>) -> Health {
    Health {
        deployment: match role {
            Primary => "eu".into(),
            Redundant => "us".into(),
        },
        role,
        epoch: 1,
        ready,
        draining: false,
        lag,
        version: "test".into(),
    }
}

/// What a relay answers while it drains: not ready, draining.
fn drained(role: DeploymentRole, lag: Option<ReplicationLag>) -> Health {
    Health {
        draining: true,
        ..health(role, false, lag)
    }
}

fn synced() -> Option<ReplicationLag> {
    Some(ReplicationLag {
        changes: 0,
        seconds: 0.0,
        connected: true,
    })
}

fn behind(changes: u64) -> Option<ReplicationLag> {
    Some(ReplicationLag {
        changes,
        seconds: 1.5,
        connected: true,
    })
}

fn cut_off() -> Option<ReplicationLag> {
    Some(ReplicationLag {
        changes: 0,
        seconds: 0.0,
        connected: false,
    })
}

impl Harness {
    fn new() -> Harness {
        Harness::with(ModerationConfig::default())
    }

    fn with(config: ModerationConfig) -> Harness {
        let m = Moderation::new(
            config,
            Endpoint {
                name: "eu".into(),
                url: "http://eu".into(),
            },
            Endpoint {
                name: "us".into(),
                url: "http://us".into(),
            },
            100,
        );
        Harness {
            m,
            now: Millis(1_000),
        }
    }

    /// One probe round: both deployments answer (or not) at the same time.
    fn round(&mut self, primary: Option<Health>, redundant: Option<Health>) {
        self.now = self.now.plus(INTERVAL);
        self.m.handle_probe(self.now, Primary, primary);
        self.m.handle_probe(self.now, Redundant, redundant);
    }

    fn both_up(&mut self) {
        self.round(
            Some(health(Primary, true, synced())),
            Some(health(Redundant, true, synced())),
        );
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.m.poll_action()).collect()
    }

    fn active(&self) -> String {
        self.m.active().active
    }

    /// Primary crashes, redundant takes over; leaves the actions queue empty.
    fn fail_over(&mut self) {
        self.both_up();
        self.round(None, Some(health(Redundant, true, cut_off())));
        self.round(None, Some(health(Redundant, true, cut_off())));
        assert_eq!(self.active(), "us");
        self.actions();
    }
}

fn drain(from: &str, to: &str) -> Action {
    Action::Drain {
        deployment: from.into(),
        url: format!("http://{from}"),
        to: to.into(),
    }
}

fn undrain(name: &str) -> Action {
    Action::Undrain {
        deployment: name.into(),
        url: format!("http://{name}"),
    }
}

#[test]
fn primary_is_active_by_default_at_the_first_epoch() {
    let mut h = Harness::new();
    let answer = h.m.active();
    assert_eq!(
        (answer.active.as_str(), answer.url.as_str()),
        ("eu", "http://eu")
    );
    assert_eq!(answer.epoch, 100);
    assert!(!answer.held);
    assert!(
        answer
            .deployments
            .iter()
            .all(|d| !d.up && d.health.is_none())
    );
    h.both_up();
    let answer = h.m.active();
    assert_eq!(answer.epoch, 100, "probes alone change nothing");
    assert!(answer.deployments.iter().all(|d| d.up));
    assert!(h.actions().is_empty());
}

#[test]
fn one_failed_probe_is_not_down_the_second_is() {
    let mut h = Harness::new();
    h.both_up();
    h.round(None, Some(health(Redundant, true, synced())));
    assert_eq!(h.active(), "eu");
    assert!(h.m.active().deployments[0].up);
    assert_eq!(
        h.m.status(h.now).probes[0].reachability,
        Reachability::Failing
    );
    h.round(None, Some(health(Redundant, true, synced())));
    assert_eq!(h.active(), "us");
    assert_eq!(h.m.active().epoch, 101);
    assert_eq!(
        h.m.status(h.now).probes[0].reachability,
        Reachability::Unreachable
    );
    let failover = h.m.history().last().cloned().expect("a failover");
    assert_eq!((failover.from.as_str(), failover.to.as_str()), ("eu", "us"));
    assert!(
        failover.reason.contains("failed 2 probes"),
        "{}",
        failover.reason
    );
    assert!(!failover.manual);
    assert!(h.actions().is_empty(), "a dead primary is not drained");
}

#[test]
fn a_success_between_failures_resets_the_count() {
    let mut h = Harness::new();
    h.both_up();
    for _ in 0..5 {
        h.round(None, Some(health(Redundant, true, synced())));
        h.both_up();
    }
    assert_eq!(h.active(), "eu");
}

#[test]
fn not_ready_is_down_at_once_and_distinct_from_unreachable() {
    let mut h = Harness::new();
    h.both_up();
    h.round(
        Some(health(Primary, false, synced())),
        Some(health(Redundant, true, synced())),
    );
    assert_eq!(h.active(), "us");
    assert_eq!(
        h.m.status(h.now).probes[0].reachability,
        Reachability::NotReady
    );
    assert!(
        h.m.history()
            .last()
            .is_some_and(|f| f.reason.contains("not ready"))
    );
    assert!(h.actions().is_empty(), "a stopping primary is not drained");
}

#[test]
fn both_down_changes_nothing() {
    let mut h = Harness::new();
    h.both_up();
    for _ in 0..5 {
        h.round(None, None);
    }
    assert_eq!(h.active(), "eu");
    assert_eq!(h.m.active().epoch, 100);
    assert!(h.m.active().deployments.iter().all(|d| !d.up));
}

#[test]
fn redundant_failure_changes_nothing() {
    let mut h = Harness::new();
    h.both_up();
    for _ in 0..3 {
        h.round(Some(health(Primary, true, cut_off())), None);
    }
    assert_eq!(h.active(), "eu");
    assert!(!h.m.active().deployments[1].up);
}

#[test]
fn unknown_primary_at_start_fails_over_once_the_redundant_answers() {
    let mut h = Harness::new();
    h.round(None, Some(health(Redundant, true, cut_off())));
    assert_eq!(h.active(), "eu");
    h.round(None, Some(health(Redundant, true, cut_off())));
    assert_eq!(h.active(), "us");
}

#[test]
fn failback_waits_for_connected_zero_lag() {
    let mut h = Harness::new();
    h.fail_over();
    // Back, but not connected to its peer yet: unknown lag.
    for _ in 0..5 {
        h.round(
            Some(health(Primary, true, cut_off())),
            Some(health(Redundant, true, synced())),
        );
        assert_eq!(h.active(), "us");
    }
    // Connected, catching up.
    for changes in [40, 12, 1] {
        h.round(
            Some(health(Primary, true, behind(changes))),
            Some(health(Redundant, true, synced())),
        );
        assert_eq!(h.active(), "us");
    }
    // Caught up: needs failback_after (2) such probes in a row.
    h.both_up();
    assert_eq!(h.active(), "us");
    h.both_up();
    assert_eq!(h.active(), "eu");
    assert_eq!(h.m.active().epoch, 102);
    let failover = h.m.history().last().cloned().expect("a failback");
    assert!(failover.reason.contains("caught up"), "{}", failover.reason);
    assert_eq!(h.actions(), vec![drain("us", "eu")]);
    assert_eq!(h.m.drain_in_progress(), Some(Redundant));
}

#[test]
fn a_lag_blip_restarts_the_caught_up_count() {
    let mut h = Harness::new();
    h.fail_over();
    h.both_up();
    h.round(
        Some(health(Primary, true, behind(1))),
        Some(health(Redundant, true, synced())),
    );
    h.both_up();
    assert_eq!(h.active(), "us");
    h.both_up();
    assert_eq!(h.active(), "eu");
}

#[test]
fn a_primary_without_peer_counts_as_caught_up() {
    let mut h = Harness::new();
    h.fail_over();
    for _ in 0..2 {
        h.round(
            Some(health(Primary, true, None)),
            Some(health(Redundant, true, None)),
        );
    }
    assert_eq!(h.active(), "eu");
}

#[test]
fn drain_ends_when_the_drained_relay_has_no_clients() {
    let mut h = Harness::new();
    h.fail_over();
    h.both_up();
    h.both_up();
    assert_eq!(h.actions(), vec![drain("us", "eu")]);
    h.m.handle_drain_progress(h.now, Redundant, Some(3));
    assert!(h.actions().is_empty());
    assert_eq!(h.m.status(h.now).drain.and_then(|d| d.clients), Some(3));
    h.m.handle_drain_progress(h.now, Redundant, None);
    assert!(
        h.actions().is_empty(),
        "an unanswered progress check ends nothing"
    );
    h.m.handle_drain_progress(h.now, Primary, Some(0));
    assert!(
        h.actions().is_empty(),
        "progress of another deployment is ignored"
    );
    h.m.handle_drain_progress(h.now, Redundant, Some(0));
    assert_eq!(h.actions(), vec![undrain("us")]);
    assert_eq!(h.m.drain_in_progress(), None);
}

#[test]
fn drain_ends_after_drain_max_even_with_clients_left() {
    let mut h = Harness::with(ModerationConfig {
        drain_max: 1_000,
        ..ModerationConfig::default()
    });
    h.fail_over();
    h.both_up();
    h.both_up();
    assert_eq!(h.actions(), vec![drain("us", "eu")]);
    for _ in 0..4 {
        h.both_up();
        h.m.handle_drain_progress(h.now, Redundant, Some(2));
    }
    assert!(h.actions().is_empty(), "800 ms in, still draining");
    h.both_up();
    assert_eq!(h.actions(), vec![undrain("us")]);
    h.both_up();
    assert!(h.actions().is_empty(), "undrained once");
}

#[test]
fn failover_during_a_drain_undrains_the_new_active_at_once() {
    let mut h = Harness::new();
    h.fail_over();
    h.both_up();
    h.both_up();
    assert_eq!(h.actions(), vec![drain("us", "eu")]);
    // The primary dies again while the redundant's clients are leaving it;
    // the redundant answers as a draining relay does (not ready, draining),
    // and is still the place to go.
    h.round(None, Some(drained(Redundant, synced())));
    h.round(None, Some(drained(Redundant, synced())));
    assert_eq!(h.active(), "us");
    assert_eq!(h.actions(), vec![undrain("us")]);
    assert_eq!(h.m.drain_in_progress(), None);
}

/// The failover benchmark's crash rounds caught this: once relays answered
/// `ready: false` while draining, a crash of the primary within the 30 s
/// drain that follows a failback left the moderator pointing at the dead
/// primary until the drain expired.
#[test]
fn a_draining_deployment_is_fit_to_take_over_but_a_stopping_one_is_not() {
    let mut h = Harness::new();
    h.both_up();
    h.round(
        Some(health(Primary, true, synced())),
        Some(drained(Redundant, synced())),
    );
    assert_eq!(h.m.status(h.now).probes[1].reachability, Reachability::Up);
    assert!(h.m.active().deployments[1].up);
    h.round(None, Some(drained(Redundant, synced())));
    h.round(None, Some(drained(Redundant, synced())));
    assert_eq!(h.active(), "us", "the draining redundant takes over");

    let mut h = Harness::new();
    h.both_up();
    h.round(
        Some(health(Primary, true, synced())),
        Some(health(Redundant, false, synced())),
    );
    h.round(None, Some(health(Redundant, false, synced())));
    h.round(None, Some(health(Redundant, false, synced())));
    assert_eq!(
        h.active(),
        "eu",
        "a redundant shutting down is no place to go"
    );
}

#[test]
fn a_draining_active_deployment_is_undrained_with_bounded_retries() {
    let mut h = Harness::new();
    let draining = drained(Primary, synced());
    h.round(
        Some(draining.clone()),
        Some(health(Redundant, true, synced())),
    );
    assert_eq!(h.actions(), vec![undrain("eu")]);
    // Still draining on the next probes: not asked again before UNDRAIN_RETRY.
    let rounds = UNDRAIN_RETRY / INTERVAL - 1;
    for _ in 0..rounds {
        h.round(
            Some(draining.clone()),
            Some(health(Redundant, true, synced())),
        );
    }
    assert!(h.actions().is_empty());
    h.round(Some(draining), Some(health(Redundant, true, synced())));
    assert_eq!(h.actions(), vec![undrain("eu")]);
}

#[test]
fn manual_switch_holds_drains_and_blocks_failback_until_release() {
    let mut h = Harness::new();
    h.both_up();
    h.m.handle_command(
        h.now,
        Command::Switch {
            to: "us".into(),
            hold: true,
        },
    )
    .expect("switch");
    let answer = h.m.active();
    assert_eq!(
        (answer.active.as_str(), answer.held, answer.epoch),
        ("us", true, 101)
    );
    assert_eq!(h.actions(), vec![drain("eu", "us")]);
    assert!(h.m.history().last().is_some_and(|f| f.manual));
    // The primary is healthy and caught up, but the hold keeps the redundant.
    for _ in 0..10 {
        h.both_up();
    }
    assert_eq!(h.active(), "us");
    h.m.handle_command(h.now, Command::Release)
        .expect("release");
    let answer = h.m.active();
    assert_eq!(
        (answer.active.as_str(), answer.held, answer.epoch),
        ("eu", false, 102)
    );
    let actions = h.actions();
    assert!(actions.contains(&drain("us", "eu")), "{actions:?}");
    assert!(actions.contains(&undrain("eu")), "{actions:?}");
}

#[test]
fn switch_without_hold_is_undone_by_the_automatic_rules() {
    let mut h = Harness::new();
    h.both_up();
    h.both_up();
    h.m.handle_command(
        h.now,
        Command::Switch {
            to: "us".into(),
            hold: false,
        },
    )
    .expect("switch");
    assert_eq!(h.active(), "eu", "the caught-up primary takes over again");
    assert_eq!(h.m.active().epoch, 102);
}

#[test]
fn a_held_deployment_that_fails_is_still_failed_away_from() {
    let mut h = Harness::new();
    h.both_up();
    h.m.handle_command(
        h.now,
        Command::Switch {
            to: "us".into(),
            hold: true,
        },
    )
    .expect("switch");
    h.actions();
    h.round(Some(health(Primary, true, synced())), None);
    assert_eq!(h.active(), "us");
    h.round(Some(health(Primary, true, synced())), None);
    let answer = h.m.active();
    assert_eq!((answer.active.as_str(), answer.held), ("eu", false));
    assert!(
        h.m.history()
            .last()
            .is_some_and(|f| f.reason.contains("hold was released"))
    );
}

#[test]
fn holding_the_primary_keeps_it_through_a_redundant_outage() {
    let mut h = Harness::new();
    h.both_up();
    h.m.handle_command(
        h.now,
        Command::Switch {
            to: "eu".into(),
            hold: true,
        },
    )
    .expect("hold the active one");
    assert_eq!(
        h.m.active().epoch,
        100,
        "holding the active one is no change"
    );
    assert!(h.m.active().held);
    assert!(h.actions().is_empty());
}

#[test]
fn manual_switch_is_refused_to_unknown_or_down_deployments() {
    let mut h = Harness::new();
    let refused = h.m.handle_command(
        h.now,
        Command::Switch {
            to: "us".into(),
            hold: true,
        },
    );
    assert_eq!(
        refused,
        Err(ModerationError::NotUp("us".into())),
        "never probed"
    );
    h.round(Some(health(Primary, true, synced())), None);
    h.round(Some(health(Primary, true, synced())), None);
    let refused = h.m.handle_command(
        h.now,
        Command::Switch {
            to: "us".into(),
            hold: true,
        },
    );
    assert_eq!(refused, Err(ModerationError::NotUp("us".into())));
    let refused = h.m.handle_command(
        h.now,
        Command::Switch {
            to: "mars".into(),
            hold: true,
        },
    );
    assert_eq!(
        refused,
        Err(ModerationError::UnknownDeployment("mars".into()))
    );
    assert_eq!(h.active(), "eu");
    assert!(!h.m.active().held);
}

#[test]
fn history_is_bounded_and_oldest_first() {
    let mut h = Harness::with(ModerationConfig {
        history: 3,
        ..ModerationConfig::default()
    });
    for _ in 0..5 {
        h.fail_over();
        h.both_up();
        h.both_up();
        assert_eq!(h.active(), "eu");
    }
    let epochs: Vec<u64> = h.m.history().map(|f| f.epoch).collect();
    assert_eq!(epochs, vec![108, 109, 110]);
    assert_eq!(h.m.active().epoch, 110);
}

#[test]
fn status_reports_probes_drain_and_history() {
    let mut h = Harness::new();
    h.fail_over();
    h.both_up();
    h.both_up();
    let status = h.m.status(h.now);
    assert_eq!(status.active, h.m.active());
    assert_eq!(status.now, h.now);
    assert_eq!(status.probes.len(), 2);
    assert_eq!(status.probes[0].caught_up_streak, 2);
    assert_eq!(status.probes[1].last_answer, Some(h.now));
    let drain = status.drain.clone().expect("a drain");
    assert_eq!((drain.deployment.as_str(), drain.to.as_str()), ("us", "eu"));
    assert_eq!(status.history.len(), 2);
    let json = serde_json::to_string(&status).expect("serialises");
    let back: ModeratorStatus = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, status);
}
