//! Two real relay processes replicating both ways.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_tests::client::{
    Operator, Visitor, login, make_message, untimed, untimed_all, untimed_frame,
};
use twinline_tests::pair::{Pair, accounts_of, eventually, feed_page, health, messages_of};
use twinline_tests::process::{RelayOptions, RelayProcess};

const CONVERGE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn messages_written_to_either_deployment_appear_on_the_other() {
    let pair = Pair::start(&[]);
    let mut on_primary = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let mut on_redundant = Visitor::join(&pair.redundant.url(), &pair.redundant.ws_url()).await;
    let a = on_primary.say("written to the primary").await;
    let b = on_redundant.say("written to the redundant").await;
    eventually(CONVERGE, "both messages on both deployments", || async {
        let p = messages_of(&pair.primary).await;
        let r = messages_of(&pair.redundant).await;
        [&p, &r]
            .iter()
            .all(|m| m.contains_key(&a.id.to_string()) && m.contains_key(&b.id.to_string()))
    })
    .await;
    // The copy is exact: the primary's own, dated when the primary got it.
    let p = messages_of(&pair.primary).await;
    let r = messages_of(&pair.redundant).await;
    assert_eq!(r[&a.id.to_string()], p[&a.id.to_string()]);
    assert_eq!(r[&b.id.to_string()], p[&b.id.to_string()]);
    assert_eq!(untimed(r[&a.id.to_string()].clone()), untimed(a));
}

#[tokio::test]
async fn operator_accounts_replicate_so_a_login_works_on_either_side() {
    let pair = Pair::start(&[]);
    pair.primary.add_operator("ada", "Ada", "correct horse");
    eventually(CONVERGE, "the account reaches the redundant", || async {
        accounts_of(&pair.redundant).await == ["ada"]
    })
    .await;
    login(&pair.redundant.url(), "ada", "correct horse")
        .await
        .expect("the replicated account signs in");
    // One login's token is accepted by both deployments.
    let login = login(&pair.primary.url(), "ada", "correct horse")
        .await
        .unwrap();
    Operator::resume(login, &pair.redundant.ws_url(), vec![]).await;
}

#[tokio::test]
async fn a_visitor_on_one_deployment_and_an_operator_on_the_other_chat_live() {
    let pair = Pair::start(&[]);
    pair.primary.add_operator("ada", "Ada", "correct horse");
    eventually(CONVERGE, "account replicated", || async {
        accounts_of(&pair.redundant).await == ["ada"]
    })
    .await;
    let mut operator = Operator::join(
        &pair.redundant.url(),
        &pair.redundant.ws_url(),
        "ada",
        "correct horse",
    )
    .await;
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat;
    // The visitor on the primary sees the operator online at the redundant:
    // in its welcome if the primary knew by then (a loaded machine joins
    // the visitor slowly), else in a presence frame when it learns.
    if visitor.operators_online != 1 {
        visitor
            .ws
            .recv_until(|f| {
                matches!(
                    f,
                    ServerFrame::Presence {
                        operators_online: 1,
                        ..
                    }
                )
            })
            .await;
    }
    let question = visitor.say("anyone?").await;
    operator
        .ws
        .recv_until(
            |f| matches!(f, ServerFrame::Queue { chats } if chats.iter().any(|c| c.chat == chat)),
        )
        .await;
    let sync = operator.accept(chat).await;
    assert_eq!(untimed_all(sync.missing), untimed_all([question]));
    // Operator (redundant) -> visitor (primary).
    let answer = make_message(operator.author(), chat, "yes, here", 2);
    operator
        .ws
        .send(&ClientFrame::Send {
            msg: answer.clone(),
        })
        .await;
    let got = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(
        untimed_frame(got),
        ServerFrame::Message {
            msg: untimed(answer)
        }
    );
    // Visitor (primary) -> operator (redundant), live.
    let follow_up = visitor.say("great").await;
    let got = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(
        untimed_frame(got),
        ServerFrame::Message {
            msg: untimed(follow_up)
        }
    );
}

#[tokio::test]
async fn a_wrong_replication_secret_is_refused() {
    let pair = Pair::start(&[]);
    let http = reqwest::Client::new();
    for auth in [None, Some("wrong"), Some(twinline_tests::SECRET)] {
        let mut request = http.get(format!(
            "{}/v1/replication/changes?since=0&peer=x",
            pair.primary.url()
        ));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "auth {auth:?}");
    }
    let ok = http
        .get(format!(
            "{}/v1/replication/changes?since=0&peer=x",
            pair.primary.url()
        ))
        .bearer_auth(twinline_relay::replication::bearer(twinline_tests::SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_one_side_keep_writing_restart_and_both_converge_exactly() {
    let mut pair = Pair::start(&["--frame-rate", "0"]);
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    // Writers on the redundant: they keep going through the primary's death.
    let mut writers = Vec::new();
    for _ in 0..4 {
        let mut visitor = Visitor::join(&pair.redundant.url(), &pair.redundant.ws_url()).await;
        let sent = sent.clone();
        writers.push(tokio::spawn(async move {
            // Paced so that writing spans the primary's death and restart.
            for i in 0..150 {
                let msg = visitor.say(&format!("redundant {i}")).await;
                sent.lock().unwrap().push(msg.id.to_string());
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        }));
    }
    // Writers on the primary until it dies.
    let mut primary_writer = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    for i in 0..100 {
        let msg = primary_writer.say(&format!("primary {i}")).await;
        sent.lock().unwrap().push(msg.id.to_string());
    }
    pair.primary.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    pair.primary.restart();
    for writer in writers {
        writer.await.unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 700);
    eventually(
        CONVERGE,
        "both deployments hold every acked message",
        || async {
            let p = messages_of(&pair.primary).await;
            let r = messages_of(&pair.redundant).await;
            sent.iter()
                .all(|id| p.contains_key(id) && r.contains_key(id))
        },
    )
    .await;
    let p = messages_of(&pair.primary).await;
    let r = messages_of(&pair.redundant).await;
    assert_eq!(
        p.len(),
        sent.len(),
        "nothing extra, nothing twice on the primary"
    );
    assert_eq!(p, r, "identical sets, identical content");
    // And the primary reports that it has caught up.
    eventually(CONVERGE, "primary lag zero and connected", || async {
        health(&pair.primary)
            .await
            .and_then(|h| h.lag)
            .is_some_and(|lag| lag.changes == 0 && lag.connected)
    })
    .await;
}

/// A "peer" that serves one hostile page of changes on the replication
/// stream, then keepalives: what a compromised deployment could send.
async fn hostile_peer(page: serde_json::Value) -> u16 {
    use futures_util::{SinkExt, StreamExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let frame = serde_json::json!({"page": page, "operators": []});
                if socket
                    .send(tokio_tungstenite::tungstenite::Message::Text(
                        frame.to_string().into(),
                    ))
                    .await
                    .is_err()
                {
                    return;
                }
                let head = page["head"].clone();
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let keepalive = serde_json::json!({
                        "page": {"changes": [], "next": head, "head": head},
                        "operators": []
                    });
                    if socket
                        .send(tokio_tungstenite::tungstenite::Message::Text(
                            keepalive.to_string().into(),
                        ))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let gone = tokio::time::timeout(Duration::from_millis(1), socket.next()).await;
                    if matches!(gone, Ok(Some(Err(_)) | None)) {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_compromised_peer_cannot_store_numbers_out_of_range_or_times_from_the_future() {
    let chat = "01JDQ5Z8K6V3N2M4P7R9S0T1W2";
    let message = |id: &str, lamport: &str, at: &str, text: &str| {
        serde_json::from_str::<serde_json::Value>(&format!(
            r#"{{"lamport":{lamport},"author":{{"role":"visitor","id":"v","name":""}},"id":"{id}","chat":"{chat}","text":"{text}","at":{at}}}"#
        ))
        .unwrap()
    };
    let now = twinline_relay::clock::now().0;
    let change = |seq: u64, kind: &str, body: serde_json::Value| serde_json::json!({"seq": seq, "origin": "evil", "at": now, "kind": kind, "body": body});
    let page = serde_json::json!({
        "changes": [
            change(1, "chat", serde_json::json!({
                "id": chat, "site": twinline_tests::SITE, "visitor": "01JDQ5Z8K6AAAAAAAAAAAAAAAA",
                "created": 4_102_444_800_000u64,
                "status": {"state": "active", "operator": "mallory",
                           "stamp": {"wall": u64::MAX, "counter": 0, "node": u64::MAX}},
                "info": {"name": "", "email": "", "page": "",
                         "stamp": {"wall": 0, "counter": 0, "node": 0}}
            })),
            change(2, "message", message("01JDQ60A1B2C3D4E5F6G7H8J9K", "1", &now.to_string(), "honest")),
            change(3, "message", message("01JDQ60A1B2C3D4E5F6G7H8J9M", "18446744073709551615", &now.to_string(), "huge lamport")),
            change(4, "message", message("01JDQ60A1B2C3D4E5F6G7H8J9N", "2", "4102444800000", "from 2100")),
            change(5, "note", serde_json::json!({
                "id": "01JDQ61XYZ0123456789ABCDEF", "site": twinline_tests::SITE, "name": "N",
                "email": "n@example.org", "text": "dated 2100", "at": 4_102_444_800_000u64
            })),
        ],
        "next": 5,
        "head": 5
    });
    let port = hostile_peer(page).await;
    let relay = RelayProcess::start(RelayOptions {
        peer: Some((format!("http://127.0.0.1:{port}"), "evil".into())),
        ..RelayOptions::redundant()
    });
    eventually(CONVERGE, "the hostile page applied", || async {
        messages_of(&relay).await.len() == 2
    })
    .await;
    let stored = messages_of(&relay).await;
    assert!(
        stored
            .values()
            .all(|m| m.lamport.0 <= 2 && m.at.0 <= now + 60_000),
        "{stored:?}"
    );
    assert!(
        !stored.values().any(|m| m.text == "huge lamport"),
        "a Lamport clock no reader holds is not stored"
    );
    assert_eq!(
        stored
            .values()
            .find(|m| m.text == "from 2100")
            .map(|m| m.at.0 <= now + 60_000),
        Some(true),
        "a time from the future is bounded"
    );
    // The far-future stamp was bounded (it would have won every later
    // write to the chat and dragged this relay's clock along), and so were
    // the chat's creation and the note's time.
    let page = feed_page(&relay, 0).await;
    for change in page["changes"].as_array().unwrap() {
        let body = &change["body"];
        match change["kind"].as_str() {
            Some("chat") => {
                let wall = body["status"]["stamp"]["wall"].as_u64().unwrap();
                assert!(wall <= now + 60_000, "stamp wall {wall}");
                assert!(body["status"]["stamp"]["node"].as_u64().unwrap() < 1 << 53);
                assert!(body["created"].as_u64().unwrap() <= now + 60_000);
            }
            Some("note") => {
                assert!(body["at"].as_u64().unwrap() <= now + 60_000);
            }
            _ => {}
        }
    }
    let refused = twinline_tests::client::metrics(&relay.url()).await;
    assert!(
        refused.contains("twinline_replication_refused_total{deployment=\"redundant\"} 1"),
        "{refused}"
    );
}
