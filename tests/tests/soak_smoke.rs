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
