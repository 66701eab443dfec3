//! A real relay following a peer of a newer version (played by the test: a
//! WebSocket server speaking the replication stream) whose page holds a
//! record kind this relay does not know between two it knows: the known
//! ones are applied, the unknown one counted, and the checkpoint held
//! before it, so the next connection asks for it again.

use futures_util::SinkExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use twinline_core::{Millis, OfflineId};
use twinline_tests::pair::{eventually, feed_page};
use twinline_tests::process::{RelayOptions, RelayProcess};

const LIMIT: Duration = Duration::from_secs(20);

fn note(seq: u64, n: u128) -> serde_json::Value {
    serde_json::json!({
        "seq": seq, "origin": "redundant", "at": 1_000, "kind": "note",
        "body": {
            "id": OfflineId::new(Millis(1_000), n).to_string(),
            "site": twinline_tests::SITE, "name": "Ann", "email": "ann@example.com",
            "text": format!("note {n}"), "at": 1_000,
        },
    })
}

fn frame(changes: Vec<serde_json::Value>) -> String {
    serde_json::json!({
        "page": {"changes": changes, "next": 3, "head": 3},
        "operators": [],
        "now": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
    })
    .to_string()
}

/// Serves the stream: every connection gets the page, then keepalives for
/// two seconds, then is closed (so the relay reconnects). Records each
/// connection's `since`.
async fn newer_peer(listener: tokio::net::TcpListener, sinces: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let sinces = sinces.clone();
        tokio::spawn(async move {
            // The callback's type (and its large error) is tungstenite's.
            #[allow(clippy::result_large_err)]
            let record = |request: &Request, response: Response| {
                let since = request
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("since="))
                    .unwrap_or_default()
                    .to_string();
                sinces.lock().unwrap().push(since);
                Ok(response)
            };
            let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
                return;
            };
            let page = frame(vec![
                note(1, 1),
                serde_json::json!({"seq": 2, "origin": "redundant", "at": 1_000,
                    "kind": "rating", "body": {"chat": "x", "stars": 5}}),
                note(3, 2),
            ]);
            if socket.send(Message::Text(page.into())).await.is_err() {
                return;
            }
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if socket
                    .send(Message::Text(frame(Vec::new()).into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = socket.close(None).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_peers_unknown_kind_is_skipped_and_pulled_again() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sinces = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(newer_peer(listener, sinces.clone()));
    let relay = RelayProcess::start(RelayOptions {
        peer: Some((format!("http://127.0.0.1:{port}"), "redundant".into())),
        ..RelayOptions::primary()
    });

    eventually(LIMIT, "both known notes are applied", || async {
        let page = feed_page(&relay, 0).await;
        page["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["kind"] == "note")
            .count()
            == 2
    })
    .await;
    eventually(LIMIT, "the unknown kind is counted", || async {
        twinline_tests::client::metrics(&relay.url())
            .await
            .lines()
            .any(|line| {
                line.starts_with("twinline_replication_unknown_kind_total") && !line.ends_with(" 0")
            })
    })
    .await;
    eventually(LIMIT, "the relay reconnects", || async {
        sinces.lock().unwrap().len() >= 2
    })
    .await;
    let sinces = sinces.lock().unwrap().clone();
    assert_eq!(sinces[0], "0");
    assert_eq!(
        sinces[1], "1",
        "the checkpoint is held before the skipped change (seq 2), not at the page's end (3)"
    );
    server.abort();
}
