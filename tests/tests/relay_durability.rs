//! An ack means durable: SIGKILL at any moment loses nothing acknowledged.
//! Also the clean paths: SIGTERM exits cleanly, drain tells clients to go.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{MessageId, Role};
use twinline_tests::client::{Visitor, WsClient};
use twinline_tests::process::{RelayOptions, RelayProcess};
use twinline_tests::{ADMIN_TOKEN, SITE, SITE_ORIGIN};

async fn stored_ids(relay: &RelayProcess, visitor_token: &str) -> BTreeSet<MessageId> {
    let mut ws = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
        .await
        .unwrap();
    let chats = ws
        .hello_with_catch_up(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Visitor,
            site: SITE.into(),
            token: visitor_token.into(),
            resume: vec![],
        })
        .await;
    chats[0].missing.iter().map(|m| m.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_message() {
    let mut relay = RelayProcess::start(RelayOptions {
        extra: vec!["--frame-rate".into(), "0".into()],
        ..RelayOptions::primary()
    });
    const WRITERS: usize = 8;
    let acked: Arc<Mutex<Vec<(String, MessageId)>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            // Pipelined sends; record each ack as it arrives, until the
            // connection dies under the SIGKILL.
            let mut lamport = 0;
            loop {
                for _ in 0..20 {
                    lamport += 1;
                    let msg = visitor.message(&format!("m{lamport}"), lamport);
                    visitor.ws.send(&ClientFrame::Send { msg }).await;
                }
                let mut pending = 20;
                while pending > 0 {
                    match visitor.ws.next().await {
                        Some(ServerFrame::Ack { id }) => {
                            acked
                                .lock()
                                .unwrap()
                                .push((visitor.token.token.clone(), id));
                            pending -= 1;
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay.kill9();
    for task in tasks {
        // Sends on a dead socket panic inside the task; that is the point.
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} acks before the kill",
        acked.len()
    );
    relay.restart();
    let tokens: BTreeSet<&String> = acked.iter().map(|(token, _)| token).collect();
    let mut stored = BTreeSet::new();
    for token in tokens {
        stored.extend(stored_ids(&relay, token).await);
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|(_, id)| !stored.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "{} acknowledged before SIGKILL, all {} present after restart",
        acked.len(),
        acked.len()
    );
}

#[tokio::test]
async fn sigterm_closes_clients_and_exits_cleanly() {
    let mut relay = RelayProcess::start(RelayOptions::primary());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let kept = visitor.say("before shutdown").await;
    let code = relay.terminate();
    assert_eq!(code, Some(0), "graceful shutdown exits with 0");
    visitor.ws.expect_closed().await;
    relay.restart();
    assert!(
        stored_ids(&relay, &visitor.token.token)
            .await
            .contains(&kept.id)
    );
}

#[tokio::test]
async fn drain_tells_every_client_to_migrate_and_counts_who_is_left() {
    let relay = RelayProcess::start(RelayOptions {
        peer: Some(("http://127.0.0.1:9".into(), "redundant".into())),
        ..RelayOptions::primary()
    });
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let http = reqwest::Client::new();
    let status: serde_json::Value = http
        .post(format!("{}/v1/admin/drain", relay.url()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["draining"], true);
    assert_eq!(status["to"], "redundant");
    let migrate = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Migrate { .. }))
        .await;
    assert_eq!(
        migrate,
        ServerFrame::Migrate {
            to: "redundant".into(),
            reason: "maintenance".into()
        }
    );
    let health: serde_json::Value = http
        .get(format!("{}/v1/health", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["draining"], true);
    drop(visitor);
    let mut clients = u64::MAX;
    for _ in 0..50 {
        let status: serde_json::Value = http
            .get(format!("{}/v1/admin/drain", relay.url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        clients = status["clients"].as_u64().unwrap();
        if clients == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(clients, 0, "the drain reports when no client is left");
}

#[tokio::test]
async fn health_and_metrics_describe_the_deployment() {
    let relay = RelayProcess::start(RelayOptions::redundant());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    visitor.say("counted").await;
    let http = reqwest::Client::new();
    let health: twinline_core::protocol::Health = http
        .get(format!("{}/v1/health", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health.deployment, "redundant");
    assert_eq!(
        health.role,
        twinline_core::protocol::DeploymentRole::Redundant
    );
    assert!(health.ready);
    assert!(health.lag.is_none(), "no peer configured, so no lag");
    let metrics = twinline_tests::client::metrics(&relay.url()).await;
    assert!(metrics.contains("twinline_messages_stored_total{deployment=\"redundant\"} 1"));
    assert!(metrics.contains("twinline_connections{deployment=\"redundant\"} 1"));
    assert!(metrics.contains("twinline_ack_latency_seconds_count{deployment=\"redundant\"} 1"));
}
