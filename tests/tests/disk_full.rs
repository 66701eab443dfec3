//! A full disk under a real relay (issue 19): the data directory on a 16 MB
//! tmpfs the test mounts and fills to the last byte.
//!
//! What must hold: nothing unstored is acked; `/v1/health` says not ready
//! (and why) so the moderator moves clients to the other deployment; reads
//! go on (a visitor's hello is welcomed from what is stored, the
//! replication feed is served); a restart while the disk is still full
//! comes up and serves reads; and when space returns the relay is ready
//! again by itself and stores what it is sent.

use std::time::Duration;
use twinline_core::protocol::{ClientFrame, ErrorCode, ServerFrame};
use twinline_tests::client::{Visitor, visitor_token};
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::pair::{eventually, feed_page};
use twinline_tests::process::{RelayOptions, RelayProcess, free_port};
use twinline_tests::small_fs::SmallFs;
use twinline_tests::{SITE, SITE_ORIGIN};

const LIMIT: Duration = Duration::from_secs(30);

/// `/v1/health` as raw JSON, with its status code.
async fn health(relay: &RelayProcess) -> Option<(u16, serde_json::Value)> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/health", relay.url()))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

async fn store_says(relay: &RelayProcess, wanted: &[&str]) -> bool {
    health(relay).await.is_some_and(|(status, body)| {
        let ready = body["ready"] == true;
        wanted.contains(&body["store"].as_str().unwrap_or(""))
            && ready == (status == 200)
            && ready == (body["store"] == "ok")
    })
}

/// Sends `msg` and returns whether it was acked (else the relay refused it
/// as `unavailable`).
async fn acked(visitor: &mut Visitor, text: &str, lamport: u64) -> bool {
    let msg = visitor.message(text, lamport);
    let id = msg.id;
    visitor.ws.send(&ClientFrame::Send { msg }).await;
    match visitor
        .ws
        .recv_until(|frame| match frame {
            ServerFrame::Ack { id: acked } => *acked == id,
            ServerFrame::Error { id: about, .. } => *about == Some(id),
            _ => false,
        })
        .await
    {
        ServerFrame::Ack { .. } => true,
        ServerFrame::Error { code, .. } => {
            assert_eq!(
                code,
                ErrorCode::Unavailable,
                "a full disk refuses as unavailable"
            );
            false
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_turns_health_not_ready_keeps_reads_and_recovers_by_itself() {
    let Some(disk) = SmallFs::mount(16) else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let (primary_port, redundant_port) = (free_port(), free_port());
    let fast = vec!["--frame-rate".to_string(), "0".to_string()];
    let mut primary = RelayProcess::start_on(
        RelayOptions {
            peer: Some((
                format!("http://127.0.0.1:{redundant_port}"),
                "redundant".into(),
            )),
            extra: fast.clone(),
            data_dir: Some(disk.data_dir()),
            ..RelayOptions::primary()
        },
        primary_port,
    );
    let redundant = RelayProcess::start_on(
        RelayOptions {
            peer: Some((format!("http://127.0.0.1:{primary_port}"), "primary".into())),
            extra: fast,
            ..RelayOptions::redundant()
        },
        redundant_port,
    );
    let moderator = ModeratorProcess::start(&primary, &redundant, &[]);
    moderator
        .wait_active(LIMIT, "the primary active at first", |a| {
            a.active == "primary"
        })
        .await;
    eventually(LIMIT, "the primary ready", || store_says(&primary, &["ok"])).await;

    let mut early = Visitor::join(&primary.url(), &primary.ws_url()).await;
    let first = early.say("before the disk filled").await;

    let filled = disk.fill();
    assert!(filled > 0, "the filler took the free space");
    // Not ready before any commit fails: the free space is below the
    // reserve.
    eventually(LIMIT, "health not ready on a full disk", || {
        store_says(&primary, &["low_space", "failing"])
    })
    .await;
    moderator
        .wait_active(LIMIT, "the moderator fails over to the redundant", |a| {
            a.active == "redundant"
        })
        .await;

    // Writes fail for want of space (SQLite's log has some room left, so
    // a few may still commit): never an ack for what is not stored.
    let text = "x".repeat(3_900);
    let mut refused = false;
    for lamport in 2..400 {
        if !acked(&mut early, &text, lamport).await {
            refused = true;
            break;
        }
    }
    assert!(refused, "a full disk refused a message");
    // (The probe's one-row commit may fit where the message did not: the
    // free-space reserve keeps health not ready all the same.)
    assert!(store_says(&primary, &["failing", "low_space"]).await);

    // Reads go on: a new visitor is welcomed (its hello cannot store the
    // chat), a returning one gets its history, the peer's feed is served.
    let mut newcomer = Visitor::join(&primary.url(), &primary.ws_url()).await;
    assert!(!acked(&mut newcomer, "not stored yet", 1).await);
    let back = visitor_token(
        &primary.url(),
        SITE,
        Some(early.token.token.clone()),
        Some(SITE_ORIGIN),
    )
    .await
    .expect("a token on a full disk");
    let history =
        twinline_tests::client::WsClient::stored_for(&primary.ws_url(), &back.token).await;
    assert!(
        history.iter().any(|m| m.id == first.id),
        "history served on a full disk"
    );
    let feed = feed_page(&primary, 0).await;
    assert!(
        feed.to_string().contains(&first.id.to_string()),
        "the replication feed is served on a full disk"
    );

    // A restart while the disk is still full comes up, serves reads and
    // says not ready.
    for _ in 0..3 {
        primary.restart();
        eventually(LIMIT, "restarted on a full disk: not ready", || {
            store_says(&primary, &["failing", "low_space"])
        })
        .await;
        let history =
            twinline_tests::client::WsClient::stored_for(&primary.ws_url(), &back.token).await;
        assert!(
            history.iter().any(|m| m.id == first.id),
            "history after a restart on a full disk"
        );
    }
    let mut waiting = Visitor::join(&primary.url(), &primary.ws_url()).await;

    // Space back: ready by itself, and writes are stored again.
    disk.free();
    eventually(LIMIT, "ready again once space returns", || {
        store_says(&primary, &["ok"])
    })
    .await;
    assert!(acked(&mut waiting, "stored once space returned", 1).await);
    let stored =
        twinline_tests::client::WsClient::stored_for(&primary.ws_url(), &waiting.token.token).await;
    assert_eq!(
        stored.len(),
        1,
        "the message of a chat whose hello could not store it"
    );
    drop(moderator);
}
