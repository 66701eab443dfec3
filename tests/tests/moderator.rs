//! The moderator with real processes: two replicating relays, a moderator
//! watching them, SIGKILL, restarts, a cut replication link, manual
//! switches with the `switch` subcommand, and real WebSocket clients.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use twinline_core::moderation::Reachability;
use twinline_core::protocol::{ActiveDeployment, ServerFrame};
use twinline_tests::client::Visitor;
use twinline_tests::link::Link;
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::pair::{Pair, eventually, health, messages_of};
use twinline_tests::process::{RelayOptions, RelayProcess, free_port};

/// Generous bound for anything that converges (replication, startup).
const CONVERGE: Duration = Duration::from_secs(20);
/// The default timings: 200 ms interval, 2 failed probes, 1 s timeout. A
/// crash is refused at once, so detection takes 2 intervals plus at most one
/// more for the probe cycle in flight; the rest is slack for a loaded
/// two-core machine.
const CRASH_DETECTION_BOUND: Duration = Duration::from_millis(2_000);

fn is_active(name: &'static str) -> impl Fn(&ActiveDeployment) -> bool {
    move |answer| answer.active == name
}

fn both_up(answer: &ActiveDeployment) -> bool {
    answer.deployments.iter().all(|d| d.up)
}

/// A primary whose replication link to the redundant goes through a
/// [`Link`] the test can cut; the redundant reaches the primary directly.
async fn pair_with_cuttable_link() -> (RelayProcess, RelayProcess, Link) {
    let primary_port = free_port();
    let redundant_port = free_port();
    let link = Link::start(redundant_port).await;
    let primary = RelayProcess::start_on(
        RelayOptions {
            peer: Some((link.url(), "redundant".into())),
            ..RelayOptions::primary()
        },
        primary_port,
    );
    let redundant = RelayProcess::start_on(
        RelayOptions {
            peer: Some((primary.url(), "primary".into())),
            ..RelayOptions::redundant()
        },
        redundant_port,
    );
    (primary, redundant, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_primary_fails_over_and_fails_back_only_after_catch_up() {
    let (mut primary, redundant, link) = pair_with_cuttable_link().await;
    let moderator = ModeratorProcess::start(&primary, &redundant, &[]);
    let (start, _) = moderator
        .wait_active(CONVERGE, "both deployments up, primary active", |a| {
            a.active == "primary" && both_up(a)
        })
        .await;

    // Crash: SIGKILL, no goodbye.
    primary.kill9();
    let (after_crash, detected) = moderator
        .wait_active(
            CONVERGE,
            "the redundant named active",
            is_active("redundant"),
        )
        .await;
    println!("moderator named the redundant {detected:?} after SIGKILL of the primary");
    assert!(
        detected <= CRASH_DETECTION_BOUND,
        "crash detection took {detected:?}"
    );
    assert!(after_crash.epoch > start.epoch);
    assert_eq!(after_crash.url, redundant.url());

    // Chats go on at the redundant while the primary is down.
    let mut visitor = Visitor::join(&redundant.url(), &redundant.ws_url()).await;
    let mut written = BTreeSet::new();
    for n in 0..20 {
        written.insert(
            visitor
                .say(&format!("during the outage {n}"))
                .await
                .id
                .to_string(),
        );
    }

    // The primary comes back, but cannot reach the redundant yet: it is up
    // and ready, yet behind, so the moderator must not switch back.
    link.cut();
    primary.restart();
    eventually(
        CONVERGE,
        "the moderator sees the primary up again",
        || async {
            moderator.status().await.is_some_and(|status| {
                status.probes[0].reachability == Reachability::Up && status.active.deployments[0].up
            })
        },
    )
    .await;
    let held_back_since = Instant::now();
    while held_back_since.elapsed() < Duration::from_secs(2) {
        let answer = moderator.active().await.expect("the moderator answers");
        assert_eq!(
            answer.active, "redundant",
            "switched back to a primary that is behind: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on_primary = messages_of(&primary).await;
    assert!(
        written.iter().all(|id| !on_primary.contains_key(id)),
        "the primary must really be behind for this test to mean anything"
    );

    // The link returns: the primary catches up, and only then takes over.
    link.restore();
    let (back, took) = moderator
        .wait_active(CONVERGE, "the primary active again", is_active("primary"))
        .await;
    let on_primary = messages_of(&primary).await;
    let missing: Vec<_> = written
        .iter()
        .filter(|id| !on_primary.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "the primary became active without {missing:?}"
    );
    println!("failback {took:?} after the link returned");
    assert_eq!(back.epoch, after_crash.epoch + 1);
    let lag = back.deployments[0]
        .health
        .as_ref()
        .and_then(|h| h.lag.clone())
        .expect("the primary's lag");
    assert!(lag.connected && lag.changes == 0, "{lag:?}");

    // The redundant's client is told to move back, gracefully.
    let frame = visitor
        .ws
        .recv_until(|frame| matches!(frame, ServerFrame::Migrate { .. }))
        .await;
    assert!(
        matches!(&frame, ServerFrame::Migrate { to, .. } if to == "primary"),
        "{frame:?}"
    );
    let status = moderator.status().await.expect("status");
    let history: Vec<(&str, &str)> = status
        .history
        .iter()
        .map(|f| (f.from.as_str(), f.to.as_str()))
        .collect();
    assert_eq!(
        history,
        vec![("primary", "redundant"), ("redundant", "primary")]
    );
    assert!(status.history.iter().all(|f| !f.manual));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_switch_holds_migrates_clients_and_release_brings_them_back() {
    let pair = Pair::start(&[]);
    let moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    moderator
        .wait_active(CONVERGE, "both up, primary active", |a| {
            a.active == "primary" && both_up(a)
        })
        .await;
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    visitor.say("before maintenance").await;

    // Planned maintenance of the primary: switch to the redundant and hold.
    let (ok, out) = moderator.switch_cli(twinline_tests::ADMIN_TOKEN, &["--to", "redundant"]);
    assert!(ok, "switch failed: {out}");
    assert!(
        out.starts_with("active: redundant (") && out.contains("held"),
        "{out}"
    );
    let frame = visitor
        .ws
        .recv_until(|frame| matches!(frame, ServerFrame::Migrate { .. }))
        .await;
    assert!(
        matches!(&frame, ServerFrame::Migrate { to, reason } if to == "redundant" && reason == "maintenance"),
        "{frame:?}"
    );
    eventually(CONVERGE, "the primary drains", || async {
        health(&pair.primary).await.is_some_and(|h| h.draining)
    })
    .await;

    // The client moves; the hold keeps the redundant active although the
    // primary is up and caught up.
    let token = visitor.token.clone();
    let have: Vec<_> = visitor.sent.iter().map(|m| m.id).collect();
    drop(visitor);
    let mut visitor = Visitor::resume(token, &pair.redundant.ws_url(), &have).await;
    visitor.say("during maintenance").await;
    let held_since = Instant::now();
    while held_since.elapsed() < Duration::from_secs(1) {
        let answer = moderator.active().await.expect("answers");
        assert!(answer.active == "redundant" && answer.held, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Release: the primary is caught up, so it takes over again and the
    // redundant's clients are sent back.
    let (ok, out) = moderator.switch_cli(twinline_tests::ADMIN_TOKEN, &["--release"]);
    assert!(ok, "release failed: {out}");
    assert!(
        out.starts_with("active: primary (") && out.contains("automatic"),
        "{out}"
    );
    let frame = visitor
        .ws
        .recv_until(|frame| matches!(frame, ServerFrame::Migrate { .. }))
        .await;
    assert!(
        matches!(&frame, ServerFrame::Migrate { to, .. } if to == "primary"),
        "{frame:?}"
    );
    eventually(CONVERGE, "the primary is undrained", || async {
        health(&pair.primary).await.is_some_and(|h| !h.draining)
    })
    .await;
    // Once its last client has left, the redundant is undrained too.
    drop(visitor);
    eventually(CONVERGE, "the redundant is undrained", || async {
        health(&pair.redundant).await.is_some_and(|h| !h.draining)
    })
    .await;
    let status = moderator.status().await.expect("status");
    assert_eq!(status.drain, None);
    let manual: Vec<bool> = status.history.iter().map(|f| f.manual).collect();
    assert_eq!(manual, vec![true, false]);
}

/// A relay answers `ready: false` while it drains; the moderator must still
/// see it as the place to go. The failback after a maintenance drains the
/// redundant for as long as a client stays on it (up to 30 s): a crash of
/// the primary then must fail over at once, not when the drain expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_drain_after_a_failback_fails_over_to_the_draining_relay() {
    let mut pair = Pair::start(&[]);
    let moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    moderator
        .wait_active(CONVERGE, "both up, primary active", |a| {
            a.active == "primary" && both_up(a)
        })
        .await;
    let (ok, out) = moderator.switch_cli(twinline_tests::ADMIN_TOKEN, &["--to", "redundant"]);
    assert!(ok, "switch failed: {out}");
    // A visitor on the redundant that does not follow `migrate`: it keeps
    // the drain after the failback going.
    let _stays = Visitor::join(&pair.redundant.url(), &pair.redundant.ws_url()).await;
    let (ok, out) = moderator.switch_cli(twinline_tests::ADMIN_TOKEN, &["--release"]);
    assert!(ok, "release failed: {out}");
    eventually(CONVERGE, "the redundant drains to the primary", || async {
        health(&pair.redundant)
            .await
            .is_some_and(|h| h.draining && !h.ready)
    })
    .await;
    let answer = moderator.active().await.expect("answers");
    assert_eq!(answer.active, "primary");

    pair.primary.kill9();
    let (_, took) = moderator
        .wait_active(
            CRASH_DETECTION_BOUND * 2,
            "the draining redundant takes over",
            is_active("redundant"),
        )
        .await;
    eventually(CONVERGE, "the redundant is undrained", || async {
        health(&pair.redundant)
            .await
            .is_some_and(|h| h.ready && !h.draining)
    })
    .await;
    eprintln!("failover during a drain took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_keep_chatting_when_the_moderator_is_killed() {
    let pair = Pair::start(&[]);
    let mut moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    moderator.wait_active(CONVERGE, "both up", both_up).await;
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let mut written = vec![visitor.say("with the moderator").await.id.to_string()];
    moderator.kill9();
    assert!(moderator.active().await.is_none(), "the moderator is gone");
    for n in 0..10 {
        written.push(visitor.say(&format!("without it {n}")).await.id.to_string());
    }
    // A new visitor can still start a chat, and replication goes on.
    let mut newcomer = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    written.push(newcomer.say("hello").await.id.to_string());
    eventually(
        CONVERGE,
        "everything replicated to the redundant",
        || async {
            let on_redundant = messages_of(&pair.redundant).await;
            written.iter().all(|id| on_redundant.contains_key(id))
        },
    )
    .await;
    assert!(
        health(&pair.primary)
            .await
            .is_some_and(|h| h.ready && !h.draining)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_refuses_bad_tokens_and_bad_requests() {
    let pair = Pair::start(&[]);
    let moderator = ModeratorProcess::start(
        &pair.primary,
        &pair.redundant,
        &["--allow-origin", twinline_tests::SITE_ORIGIN],
    );
    moderator.wait_active(CONVERGE, "both up", both_up).await;
    let switch = r#"{"active":"redundant","hold":true}"#;
    assert_eq!(moderator.admin(None, switch).await.0, 401);
    assert_eq!(moderator.admin(Some("wrong"), switch).await.0, 401);
    let (code, body) = moderator
        .admin(Some(&format!("{}x", twinline_tests::ADMIN_TOKEN)), switch)
        .await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("bad_token"), "{body}");
    let (ok, _) = moderator.switch_cli("wrong", &["--to", "redundant"]);
    assert!(!ok, "the CLI must fail with a wrong token");
    let token = Some(twinline_tests::ADMIN_TOKEN);
    assert_eq!(moderator.admin(token, "not json").await.0, 400);
    assert_eq!(
        moderator
            .admin(token, r#"{"active":"redundant","release":true}"#)
            .await
            .0,
        400
    );
    assert_eq!(moderator.admin(token, r#"{"hold":true}"#).await.0, 400);
    let (code, body) = moderator.admin(token, r#"{"active":"mars"}"#).await;
    assert_eq!(code, 404, "{body}");
    // Nothing changed.
    let answer = moderator.active().await.expect("answers");
    assert!(answer.active == "primary" && !answer.held, "{answer:?}");

    // A switch to a deployment that is down is refused: it would drop chats.
    let mut redundant = pair.redundant;
    redundant.kill9();
    eventually(CONVERGE, "the redundant seen down", || async {
        moderator
            .active()
            .await
            .is_some_and(|a| !a.deployments[1].up)
    })
    .await;
    let (code, body) = moderator.admin(token, switch).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("not_up"), "{body}");
}

/// Wrong admin tokens are throttled per client address, as on the relays:
/// ten from one address, then it waits (even with the right token) and is
/// told for how long, while another address is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_tokens_are_throttled_per_client_address() {
    let pair = Pair::start(&[]);
    let moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    let from = |local: &str| {
        reqwest::Client::builder()
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (guesser, other) = (from("127.0.0.1"), from("127.0.0.2"));
    let release = |client: &reqwest::Client, token: &str| {
        client
            .post(format!("{}/v1/admin/active", moderator.url()))
            .bearer_auth(token)
            .body(r#"{"release":true}"#)
            .send()
    };
    for n in 0..10 {
        let response = release(&guesser, &format!("wrong-token-{n:08}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "wrong token {n}");
    }
    let throttled = release(&guesser, twinline_tests::ADMIN_TOKEN)
        .await
        .unwrap();
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let body = throttled.text().await.unwrap();
    assert!(body.contains("rate_limited"), "{body}");
    let served = release(&other, twinline_tests::ADMIN_TOKEN).await.unwrap();
    assert_eq!(served.status(), 200, "another address is not throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_and_cors() {
    let pair = Pair::start(&[]);
    let moderator = ModeratorProcess::start(
        &pair.primary,
        &pair.redundant,
        &["--allow-origin", twinline_tests::SITE_ORIGIN],
    );
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/", moderator.url()))
        .send()
        .await
        .expect("the page");
    assert_eq!(page.status().as_u16(), 200);
    let policy = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.expect("html");
    assert!(html.contains("primary") && html.contains("redundant"));
    assert!(html.contains(r#"<script src="/status.js">"#));
    let script = http
        .get(format!("{}/status.js", moderator.url()))
        .send()
        .await
        .expect("the script")
        .text()
        .await
        .expect("js");
    assert!(script.contains("/v1/status") && !script.contains("innerHTML"));

    moderator.wait_active(CONVERGE, "both up", both_up).await;
    let status = moderator.status().await.expect("status JSON");
    assert_eq!(status.probes.len(), 2);
    assert!(status.history.is_empty());

    let allowed = http
        .get(format!("{}/v1/active", moderator.url()))
        .header("Origin", twinline_tests::SITE_ORIGIN)
        .send()
        .await
        .expect("active");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(twinline_tests::SITE_ORIGIN)
    );
    let other = http
        .get(format!("{}/v1/active", moderator.url()))
        .header("Origin", "http://evil.test")
        .send()
        .await
        .expect("active");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_exits_cleanly_on_sigterm() {
    let pair = Pair::start(&[]);
    let mut moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    moderator.wait_active(CONVERGE, "answers", |_| true).await;
    assert_eq!(moderator.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_loss_of_the_primary_is_detected_by_probe_timeouts() {
    let pair = Pair::start(&[]);
    // The moderator reaches the primary through a link that can go silent;
    // the relays replicate directly.
    let link = Link::start(pair.primary.port()).await;
    let moderator = ModeratorProcess::start_at(
        ("primary", &link.url()),
        ("redundant", &pair.redundant.url()),
        &[],
    );
    moderator
        .wait_active(CONVERGE, "both up, primary active", |a| {
            a.active == "primary" && both_up(a)
        })
        .await;
    link.silence();
    let (_, detected) = moderator
        .wait_active(
            CONVERGE,
            "the redundant named active",
            is_active("redundant"),
        )
        .await;
    println!("moderator named the redundant {detected:?} after the primary went silent");
    // Default timings: 2 probes timing out after 1 s each, plus the interval.
    assert!(
        detected >= Duration::from_millis(1_000),
        "a silent loss cannot be seen before a probe times out: {detected:?}"
    );
    assert!(
        detected <= Duration::from_millis(4_000),
        "silent-loss detection took {detected:?}"
    );
    let status = moderator.status().await.expect("status");
    assert_eq!(status.probes[0].reachability, Reachability::Unreachable);
    // The network heals; the primary never missed anything, so it is
    // caught up and takes over again.
    link.restore();
    moderator
        .wait_active(CONVERGE, "the primary active again", is_active("primary"))
        .await;
}
