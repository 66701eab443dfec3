//! A drain is a lease (issue 19): the moderator's switch drains the
//! deployment it leaves and renews the drain while clients are still there;
//! when the moderator dies mid-drain, the drain ends by itself a lease
//! (10 s) after the last renewal, so the deployment serves again instead of
//! answering not ready for good.

use std::time::Duration;
use twinline_tests::ADMIN_TOKEN;
use twinline_tests::client::Visitor;
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::pair::{Pair, eventually, health};

const LIMIT: Duration = Duration::from_secs(30);

async fn draining(relay: &twinline_tests::process::RelayProcess) -> Option<bool> {
    health(relay).await.map(|h| h.draining)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_outlives_its_lease_while_renewed_and_ends_when_the_moderator_dies() {
    let pair = Pair::start(&[]);
    let mut moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    moderator
        .wait_active(LIMIT, "both up, the primary active", |a| {
            a.active == "primary" && a.deployments.iter().all(|d| d.up)
        })
        .await;
    // A client that ignores `migrate`: the drain cannot end on its own.
    let _stays = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let (switched, out) = moderator.switch_cli(ADMIN_TOKEN, &["--to", "redundant"]);
    assert!(switched, "switch: {out}");
    eventually(LIMIT, "the primary drains", || async {
        draining(&pair.primary).await == Some(true)
    })
    .await;

    // Past one lease the moderator's progress calls have kept it on.
    tokio::time::sleep(twinline_relay::drain::DRAIN_LEASE + Duration::from_secs(2)).await;
    assert_eq!(
        draining(&pair.primary).await,
        Some(true),
        "a drain the moderator renews holds past one lease"
    );

    // The moderator dies: nobody renews it, and it ends by itself.
    moderator.kill9();
    eventually(LIMIT, "the drain expires without a moderator", || async {
        health(&pair.primary)
            .await
            .is_some_and(|h| !h.draining && h.ready)
    })
    .await;
    // New clients are served, not sent away.
    let mut fresh = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    fresh.say("served after the drain expired").await;
}
