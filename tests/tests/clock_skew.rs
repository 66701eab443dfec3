//! A skewed clock between the deployments (issue 19): the redundant runs two
//! minutes ahead (the test-only `TWINLINE_CLOCK_OFFSET_MS`), inside the five
//! minutes a peer's times are trusted to.
//!
//! What must hold: each relay measures the other's clock and reports it
//! (`peer_clock_offset_ms` in health, a gauge in `/metrics`); a change made
//! on the slow side after a restart is not lost to a stamp from the fast
//! side (stamps go above what is stored); the CLI prints what the store
//! kept; the operators' queue orders by arrival here, so a chat opened on
//! the fast side does not sort after later ones or wait "since" the future.

use std::time::Duration;
use twinline_core::protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatId, Role};
use twinline_tests::client::{Operator, Visitor, WsClient};
use twinline_tests::pair::eventually;
use twinline_tests::process::{RelayOptions, RelayProcess, free_port, operator_cli_with};
use twinline_tests::{ADMIN_TOKEN, SITE};

const LIMIT: Duration = Duration::from_secs(30);
const AHEAD_MS: i64 = 120_000;
const PASSWORD: &str = "correct horse battery";

async fn health_json(relay: &RelayProcess) -> serde_json::Value {
    reqwest::get(format!("{}/v1/health", relay.url()))
        .await
        .expect("health")
        .json()
        .await
        .expect("health JSON")
}

/// Whether `relay` measured its peer's clock within 5 s of `expected_ms`.
async fn measured(relay: &RelayProcess, expected_ms: i64) -> bool {
    health_json(relay).await["peer_clock_offset_ms"]
        .as_i64()
        .is_some_and(|offset| (offset - expected_ms).abs() < 5_000)
}

/// `operator <args> --data-dir DIR`, password on stdin, with this process's
/// clock shifted by `offset_ms`: (succeeded, stdout).
fn operator_cli(relay: &RelayProcess, offset_ms: i64, args: &[&str]) -> (bool, String) {
    let offset = offset_ms.to_string();
    operator_cli_with(
        &["--data-dir".as_ref(), relay.data_dir().as_os_str()],
        args,
        PASSWORD,
        &[("TWINLINE_CLOCK_OFFSET_MS", &offset)],
    )
}

/// The visitor name `relay` holds for the chat of `token`.
async fn visitor_name(relay: &RelayProcess, token: &str) -> String {
    let mut ws = WsClient::connect(&relay.ws_url(), Some(twinline_tests::SITE_ORIGIN))
        .await
        .expect("connecting");
    let chats = ws
        .hello_with_catch_up(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Visitor,
            site: SITE.into(),
            token: token.into(),
            resume: vec![],
        })
        .await;
    chats[0].visitor.name.clone()
}

async fn set_name(visitor: &mut Visitor, name: &str) {
    visitor
        .ws
        .send(&ClientFrame::SetVisitor {
            chat: visitor.token.chat,
            name: name.into(),
            email: String::new(),
            page: String::new(),
        })
        .await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Visitor { info, .. } if info.name == name))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_two_minutes_ahead_is_measured_and_loses_no_change() {
    let (primary_port, redundant_port) = (free_port(), free_port());
    let mut primary = RelayProcess::start_on(
        RelayOptions {
            peer: Some((
                format!("http://127.0.0.1:{redundant_port}"),
                "redundant".into(),
            )),
            ..RelayOptions::primary()
        },
        primary_port,
    );
    let redundant = RelayProcess::start_on(
        RelayOptions {
            peer: Some((format!("http://127.0.0.1:{primary_port}"), "primary".into())),
            env: vec![("TWINLINE_CLOCK_OFFSET_MS".into(), AHEAD_MS.to_string())],
            ..RelayOptions::redundant()
        },
        redundant_port,
    );

    // Each side measures the other.
    eventually(LIMIT, "the primary sees the redundant 2 min ahead", || {
        measured(&primary, AHEAD_MS)
    })
    .await;
    eventually(LIMIT, "the redundant sees the primary 2 min behind", || {
        measured(&redundant, -AHEAD_MS)
    })
    .await;
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", primary.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let gauge = metrics
        .lines()
        .find(|line| line.starts_with("twinline_peer_clock_offset_seconds"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .expect("the clock offset gauge");
    assert!((gauge - 120.0).abs() < 5.0, "gauge {gauge}");

    // An account made on the fast side, renamed on the slow one: the CLI
    // stamps above what is stored and prints what the store kept.
    let (added, _) = operator_cli(
        &redundant,
        AHEAD_MS,
        &[
            "add",
            "--username",
            "ada",
            "--name",
            "Ada",
            "--site",
            SITE,
            "--password-stdin",
        ],
    );
    assert!(added, "operator add on the redundant");
    eventually(LIMIT, "the account reaches the primary", || async {
        twinline_tests::pair::accounts_of(&primary)
            .await
            .contains(&"ada".to_string())
    })
    .await;
    let (renamed, printed) = operator_cli(
        &primary,
        0,
        &[
            "add",
            "--username",
            "ada",
            "--name",
            "Ada Lovelace",
            "--site",
            SITE,
            "--password-stdin",
        ],
    );
    assert!(renamed, "the rename on the slow side is stored");
    assert!(
        printed.contains("Ada Lovelace"),
        "the CLI prints what was stored: {printed}"
    );
    for relay in [&primary, &redundant] {
        eventually(LIMIT, "the rename holds on both deployments", || async {
            let (_, list) = operator_cli(relay, 0, &["list"]);
            list.contains("ada\tAda Lovelace\t")
        })
        .await;
    }

    // The queue on the primary: a chat opened on the fast side, then one
    // opened here; the first comes first, waiting since no later than now.
    let mut operator = Operator::join(
        &primary.url(),
        &primary.ws_url(),
        "ada",
        "correct horse battery",
    )
    .await;
    let mut early = Visitor::join(&redundant.url(), &redundant.ws_url()).await;
    early.say("first, on the redundant").await;
    let early_chat: ChatId = early.token.chat;
    eventually(LIMIT, "the first chat reaches the primary", || async {
        twinline_tests::pair::messages_of(&primary).await.len() == 1
    })
    .await;
    let mut late = Visitor::join(&primary.url(), &primary.ws_url()).await;
    late.say("second, on the primary").await;
    let ServerFrame::Queue { chats } = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Queue { chats } if chats.len() == 2))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        chats[0].chat, early_chat,
        "arrival order, whatever the clocks: {chats:?}"
    );
    let now = twinline_tests::native::now();
    assert!(
        chats.iter().all(|entry| entry.since.0 <= now.0 + 1_000),
        "no chat waits since the future: {chats:?}"
    );

    // A visitor's details set on the fast side, then on the slow side after
    // a restart (its clock state gone): the later change wins on both.
    set_name(&mut early, "From the redundant").await;
    eventually(LIMIT, "the name reaches the primary", || async {
        visitor_name(&primary, &early.token.token).await == "From the redundant"
    })
    .await;
    primary.restart();
    let mut again = Visitor::resume(early.token.clone(), &primary.ws_url(), &[]).await;
    set_name(&mut again, "From the primary").await;
    for relay in [&primary, &redundant] {
        eventually(LIMIT, "the later name holds on both", || async {
            visitor_name(relay, &early.token.token).await == "From the primary"
        })
        .await;
    }
}
