//! A short chaos soak, so CI proves the soak harness works end to end: a
//! score of chats against real relay and moderator processes while a
//! seeded handful of faults runs (crashes, silent and slow links, planned
//! switches, moderator loss), then every chat checked on every client and
//! both stores. The full soak is `twinline-soak` (npm run bench).

use twinline_tests::soak::faults::Mix;
use twinline_tests::soak::{Config, Plan, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_loses_duplicates_reorders_and_diverges_nothing() {
    let config = Config {
        chats: 20,
        per_operator: 5,
        minutes: 20.0 / 60.0,
        plan: Plan::Chaos {
            faults: 6,
            mix: Mix::chaos(),
        },
        seed: 9,
        ..Config::default()
    };
    let report = run(&config).await;
    report.print();
    assert!(
        report.faults_applied >= 4,
        "too few faults ran: {:?}",
        report.faults
    );
    assert!(report.settled, "clients did not settle after healing");
    assert_eq!(report.invariants.lost, 0, "lost messages");
    assert_eq!(report.invariants.duplicated, 0, "duplicated messages");
    assert_eq!(report.invariants.out_of_order, 0, "messages out of order");
    assert_eq!(report.invariants.diverged, 0, "diverged chats");
    assert!(report.passed(), "{:?}", report.problems);
    assert!(report.availability.samples > 0, "nothing was measured");
}

/// The seed schedule (each deployment failing on its own, exponential up
/// and repair times) runs, keeps every invariant, and reports the figures
/// the availability arithmetic needs: what was down by the schedule, and
/// the windowed user-uptime next to the message count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_seed_schedule_soak_keeps_every_invariant_and_reports_uptime() {
    use std::time::Duration;
    use twinline_tests::soak::faults::Renewal;
    let config = Config {
        chats: 20,
        per_operator: 5,
        minutes: 30.0 / 60.0,
        plan: Plan::Renewal(Renewal {
            mtbf: Duration::from_secs(6),
            mttr: Duration::from_secs(2),
            mix: Mix::deployment(),
            moderator: Some((Duration::from_secs(10), Duration::from_secs(2))),
        }),
        seed: 4,
        ..Config::default()
    };
    let report = run(&config).await;
    report.print();
    assert!(report.faults_applied >= 3, "{:?}", report.faults);
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.invariants.lost, 0, "lost messages");
    assert!(report.downtime.primary_ms + report.downtime.redundant_ms > 0);
    assert_eq!(report.windowed.len(), 2, "10 s and 60 s windows");
    for w in &report.windowed {
        assert!(w.windows > 0 && w.up <= w.windows, "{w:?}");
    }
}
