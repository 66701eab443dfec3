//! The REST API on two real relay processes replicating both ways: API
//! keys made with the CLI on one deployment and revoked on the other, a
//! message posted through the API reaching a connected visitor and the
//! operator's console live, a transfer through the API handing the chat
//! to another operator's console, and
//! the same POST retried on the redundant after the primary is SIGKILLed
//! creating nothing twice.

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;
use twinline_core::protocol::ServerFrame;
use twinline_tests::client::{Operator, Visitor};
use twinline_tests::pair::{Pair, eventually, feed_page, messages_of};
use twinline_tests::process::{RelayProcess, relay_binary};

const CONVERGE: Duration = Duration::from_secs(20);

/// Runs `apikey <args> --data-dir <relay's>`; its stdout, or a panic.
fn apikey(relay: &RelayProcess, args: &[&str]) -> String {
    let output = Command::new(relay_binary())
        .arg("apikey")
        .args(args)
        .arg("--data-dir")
        .arg(relay.data_dir())
        .stdin(Stdio::null())
        .output()
        .expect("running apikey");
    assert!(
        output.status.success(),
        "apikey {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `apikey add` of site demo with `scopes`, named crm, on `relay`: the key.
fn make_key(relay: &RelayProcess, scopes: &[&str]) -> String {
    let mut args = vec!["add", "--site", "demo", "--name", "crm"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    apikey(relay, &args).trim().to_string()
}

/// Waits until `relay`'s feed holds key `id` as `state` (active or
/// revoked): read over HTTP, so polling writes nothing to its store.
async fn replicated(relay: &RelayProcess, id: &str, state: &str) {
    let what = format!("key {id} {state} on {}", relay.name());
    eventually(CONVERGE, &what, || async {
        let page = feed_page(relay, 0).await;
        let latest = page["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .rfind(|c| c["kind"] == "api_key" && c["body"]["id"] == id)
            .map(|c| c["body"]["revoked"] == true);
        latest == Some(state == "revoked")
    })
    .await;
}

/// `GET path` with `key`: status and JSON body.
async fn get(relay: &RelayProcess, key: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", relay.url()))
        .bearer_auth(key)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST path` with `key`, `Idempotency-Key: idempotency` and `body`:
/// status, whether it was a replay, and JSON body.
async fn post(
    relay: &RelayProcess,
    key: &str,
    idempotency: &str,
    path: &str,
    body: Value,
) -> (u16, bool, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", relay.url()))
        .bearer_auth(key)
        .header("idempotency-key", idempotency)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (
        status,
        replayed,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_key_made_on_the_primary_works_on_both_and_a_revocation_on_the_redundant_holds_on_both() {
    let pair = Pair::start(&[]);
    let key = make_key(&pair.primary, &["chats:read"]);
    assert!(key.starts_with("twl_"), "{key:?}");
    let listed = apikey(&pair.primary, &["list"]);
    assert!(
        !listed.contains(&key[21..]),
        "the secret is never shown again"
    );
    let id = &key[4..20];
    assert!(listed.contains(id) && listed.contains("chats:read") && listed.contains("active"));
    // No secret in the store file: only its hash.
    let stored = std::fs::read(pair.primary.data_dir().join("twinline.sqlite3")).unwrap();
    let secret = &key.as_bytes()[21..];
    assert!(!stored.windows(secret.len()).any(|w| w == secret));
    // Waited for in the store, not by asking with the key: every refusal
    // counts against this address's throttle.
    replicated(&pair.redundant, id, "active").await;
    assert_eq!(get(&pair.redundant, &key, "/v1/api/chats").await.0, 200);
    assert_eq!(get(&pair.primary, &key, "/v1/api/chats").await.0, 200);
    // A scope it lacks.
    let (status, _, body) =
        post(&pair.primary, &key, "k", "/v1/api/chats/x/close", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    apikey(&pair.redundant, &["revoke", "--id", id]);
    assert_eq!(get(&pair.redundant, &key, "/v1/api/chats").await.0, 401);
    replicated(&pair.primary, id, "revoked").await;
    let (status, body) = get(&pair.primary, &key, "/v1/api/chats").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("bad_key")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_message_reaches_the_visitor_live_and_a_retry_after_a_failover_creates_nothing_twice()
 {
    let mut pair = Pair::start(&[]);
    let key = make_key(&pair.primary, &["chats:read", "messages:write"]);
    replicated(&pair.redundant, &key[4..20], "active").await;
    pair.primary.add_operator("ada", "Ada", "correct horse");
    let mut operator = Operator::join(
        &pair.primary.url(),
        &pair.primary.ws_url(),
        "ada",
        "correct horse",
    )
    .await;
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("is anyone there?").await;
    operator
        .ws
        .recv_until(
            |f| matches!(f, ServerFrame::Queue { chats } if chats.iter().any(|c| c.chat == chat)),
        )
        .await;
    operator.accept(chat).await;
    let path = format!("/v1/api/chats/{chat}/messages");
    let (status, _, first) = post(
        &pair.primary,
        &key,
        "welcome-1",
        &path,
        json!({ "text": "Thanks, we got your order", "name": "Shop" }),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    // Live to the visitor, like an operator's message.
    let got = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    let ServerFrame::Message { msg } = got else {
        unreachable!()
    };
    assert_eq!(msg.text, "Thanks, we got your order");
    assert_eq!(msg.id.to_string(), first["id"]);
    assert_eq!(msg.author.name, "Shop");
    // And to the console of the operator holding the chat.
    let got = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    let ServerFrame::Message { msg: seen } = got else {
        unreachable!()
    };
    assert_eq!(seen, msg);
    // A transfer through the API hands the chat to the other operator's
    // console at once, and tells the one who held it.
    pair.primary.add_operator("bob", "Bob", "correct horse");
    let mut bob = Operator::join(
        &pair.primary.url(),
        &pair.primary.ws_url(),
        "bob",
        "correct horse",
    )
    .await;
    let (status, _, moved) = post(
        &pair.primary,
        &key,
        "to-bob",
        &format!("/v1/api/chats/{chat}/transfer"),
        json!({ "to": "bob" }),
    )
    .await;
    assert_eq!(
        (status, moved["operator"].as_str()),
        (200, Some("bob")),
        "{moved}"
    );
    bob.ws
        .recv_until(|f| matches!(f, ServerFrame::Chat { sync } if sync.chat == chat))
        .await;
    operator
        .ws
        .recv_until(|f| {
            matches!(f, ServerFrame::Status { chat: c, status }
                if *c == chat && status.operator.as_deref() == Some("bob"))
        })
        .await;
    eventually(CONVERGE, "the message reaches the redundant", || async {
        messages_of(&pair.redundant)
            .await
            .contains_key(first["id"].as_str().unwrap())
    })
    .await;
    // A second POST, then the primary dies before the caller reads the
    // answer (it may or may not have replicated); the caller retries both
    // on the redundant with the same keys.
    let (status, _, second) = post(
        &pair.primary,
        &key,
        "shipped-2",
        &path,
        json!({ "text": "It has shipped" }),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    pair.primary.kill9();
    let (status, replayed, again) = post(
        &pair.redundant,
        &key,
        "welcome-1",
        &path,
        json!({ "text": "Thanks, we got your order", "name": "Shop" }),
    )
    .await;
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again, first);
    let (status, _, retried) = post(
        &pair.redundant,
        &key,
        "shipped-2",
        &path,
        json!({ "text": "It has shipped" }),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {retried}");
    assert_eq!(
        retried["id"], second["id"],
        "the same id on both deployments"
    );
    // Back together, both hold each message once, and the same copy.
    pair.primary.restart();
    let ids = [first["id"].clone(), second["id"].clone()];
    eventually(CONVERGE, "both deployments hold both messages", || async {
        let p = messages_of(&pair.primary).await;
        let r = messages_of(&pair.redundant).await;
        ids.iter()
            .all(|id| p.contains_key(id.as_str().unwrap()) && r.contains_key(id.as_str().unwrap()))
    })
    .await;
    for relay in [&pair.primary, &pair.redundant] {
        let (status, page) = get(relay, &key, &path).await;
        assert_eq!(status, 200);
        let texts: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            vec![
                "is anyone there?",
                "Thanks, we got your order",
                "It has shipped"
            ],
            "on {}: each once",
            relay.name()
        );
    }
    let p = messages_of(&pair.primary).await;
    let r = messages_of(&pair.redundant).await;
    for id in &ids {
        let id = id.as_str().unwrap();
        assert_eq!(p[id].lamport, r[id].lamport);
        assert_eq!(p[id].text, r[id].text);
    }
}
