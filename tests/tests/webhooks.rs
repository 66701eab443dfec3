//! Signed webhooks on two real relay processes replicating both ways, to a
//! real HTTP receiver process (`webhook-receiver`, which records every
//! delivery and checks its signature itself):
//!
//! - a receiver SIGKILLed while events are pending gets them all once it
//!   is back (retries), each with a valid signature, and the test button
//!   reaches it;
//! - a primary SIGKILLed while its deliveries are in flight (the receiver
//!   has them, the primary never hears back): the redundant takes them
//!   over after the lease and the hand-over delay, and delivers them.
//!
//! What is asserted about duplicates: every event arrives; every arrival
//! of one `webhook-id` carries a valid signature and exactly the same body
//! (so a repeat is the same delivery sent again, a retry a receiver dedupes
//! by id, never a different delivery under one id); and the number of
//! repeats is printed.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_core::{ChatState, Millis, RatingId, Score};
use twinline_tests::client::{Operator, Visitor, offline_note};
use twinline_tests::pair::{Pair, eventually, feed_page, messages_of};
use twinline_tests::process::{
    RelayOptions, RelayProcess, TempDir, free_port, listening_port, relay_binary, wait_until_free,
};

const CONVERGE: Duration = Duration::from_secs(60);

/// The relay flags of these tests: a local receiver, quick retries, a
/// short hand-over.
const FLAGS: &[&str] = &[
    "--webhooks-allow-private-targets",
    "--webhooks-retry-base-ms",
    "300",
    "--webhooks-handover-ms",
    "3000",
];

/// A `webhook-receiver` process.
struct Receiver {
    child: Option<Child>,
    port: u16,
    secret: String,
    out: PathBuf,
    delay_ms: u64,
}

impl Receiver {
    fn start(port: u16, secret: &str, out: &Path, delay_ms: u64) -> Receiver {
        let mut receiver = Receiver {
            child: None,
            port,
            secret: secret.to_string(),
            out: out.to_path_buf(),
            delay_ms,
        };
        receiver.spawn();
        receiver
    }

    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webhook-receiver"))
            .args(["--port", &self.port.to_string(), "--secret", &self.secret])
            .arg("--out")
            .arg(&self.out)
            .args(["--delay-ms", &self.delay_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting webhook-receiver");
        let port = listening_port(
            &mut child,
            "webhook-receiver listening on http://",
            "webhook-receiver",
        );
        assert_eq!(port, self.port);
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill9();
        wait_until_free(self.port);
        self.spawn();
    }

    /// Every delivery recorded so far.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `apikey add --site demo` with `scopes` on `relay`: the key.
fn make_key(relay: &RelayProcess, scopes: &[&str]) -> String {
    let mut command = Command::new(relay_binary());
    command.args(["apikey", "add", "--site", "demo", "--name", "hooks"]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let output = command
        .arg("--data-dir")
        .arg(relay.data_dir())
        .stdin(Stdio::null())
        .output()
        .expect("running apikey");
    assert!(output.status.success(), "apikey add failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Waits until `relay`'s feed holds a record of `kind` keyed `key`.
async fn replicated(relay: &RelayProcess, kind: &str, key: &str) {
    let what = format!("{kind} {key} on {}", relay.name());
    eventually(CONVERGE, &what, || async {
        let page = feed_page(relay, 0).await;
        page["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["kind"] == kind && (c["body"]["id"] == key || c["body"]["username"] == key))
    })
    .await;
}

/// `method path` with `key` and `body`: status and JSON.
async fn call(
    relay: &RelayProcess,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", relay.url()))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Subscribes `http://127.0.0.1:port/hook` to chat starts and messages on
/// `relay`: (id, secret).
async fn subscribe(relay: &RelayProcess, key: &str, port: u16) -> (String, String) {
    subscribe_to(relay, key, port, &["chat.started", "message.created"]).await
}

/// Subscribes `http://127.0.0.1:port/hook` to `events` on `relay`: (id,
/// secret).
async fn subscribe_to(
    relay: &RelayProcess,
    key: &str,
    port: u16,
    events: &[&str],
) -> (String, String) {
    let (status, made) = call(
        relay,
        key,
        reqwest::Method::POST,
        "/v1/api/sites/demo/webhooks",
        Some(json!({
            "url": format!("http://127.0.0.1:{port}/hook"),
            "events": events,
        })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (made["id"].as_str().unwrap().to_string(), secret)
}

/// The delivery log of subscription `id` on `relay`.
async fn log(relay: &RelayProcess, key: &str, id: &str) -> Vec<Value> {
    let path = format!("/v1/api/sites/demo/webhooks/{id}/deliveries");
    let (status, body) = call(relay, key, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// What the deliveries received say, checked: each signature valid, each
/// body naming its own `webhook-id`, every arrival of one id the same
/// bytes. Returns the bodies by id and the number of repeats.
fn checked(received: &[Value]) -> (BTreeMap<String, Value>, usize) {
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    let mut repeats = 0;
    for delivery in received {
        assert_eq!(delivery["valid"], true, "a bad signature: {delivery}");
        assert_eq!(delivery["content_type"], "application/json");
        let id = delivery["id"].as_str().unwrap().to_string();
        let body = delivery["body"].as_str().unwrap().to_string();
        let parsed: Value = serde_json::from_str(&body).expect("a JSON body");
        assert_eq!(parsed["id"], id.as_str(), "the body names its webhook-id");
        match bodies.get(&id) {
            Some(first) => {
                assert_eq!(
                    first, &body,
                    "two different deliveries under one event id {id}"
                );
                repeats += 1;
            }
            None => {
                bodies.insert(id, body);
            }
        }
    }
    let parsed = bodies
        .into_iter()
        .map(|(id, body)| (id, serde_json::from_str(&body).unwrap()))
        .collect();
    (parsed, repeats)
}

/// Whether `bodies` hold a message.created for each of `messages` and a
/// chat.started for `chat`.
fn all_events(bodies: &BTreeMap<String, Value>, chat: &str, messages: &[String]) -> bool {
    let started = bodies
        .values()
        .any(|b| b["type"] == "chat.started" && b["data"]["chat"] == chat);
    started
        && messages.iter().all(|m| {
            bodies
                .values()
                .any(|b| b["type"] == "message.created" && b["data"]["message"]["id"] == m.as_str())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_while_events_are_pending_gets_every_one_signed_once_back() {
    let pair = Pair::start(FLAGS);
    let key = make_key(&pair.primary, &["settings:manage"]);
    let scratch = TempDir::new("webhook-receiver");
    let out = scratch.path().join("received.jsonl");
    let port = free_port();
    let (id, secret) = subscribe(&pair.primary, &key, port).await;
    // Refusals: a scope the key lacks, another site, a bad URL.
    let reader = make_key(&pair.primary, &["chats:read"]);
    let (status, body) = call(
        &pair.primary,
        &reader,
        reqwest::Method::GET,
        "/v1/api/sites/demo/webhooks",
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = call(
        &pair.primary,
        &key,
        reqwest::Method::GET,
        "/v1/api/sites/other/webhooks",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = call(
        &pair.primary,
        &key,
        reqwest::Method::POST,
        "/v1/api/sites/demo/webhooks",
        Some(json!({"url": "ftp://127.0.0.1/", "events": ["chat.started"]})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let mut receiver = Receiver::start(port, &secret, &out, 0);
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat.to_string();
    let first = visitor.say("first, while the receiver is up").await;
    let mut messages = vec![first.id.to_string()];
    eventually(CONVERGE, "the first message delivered", || async {
        all_events(&checked(&receiver.received()).0, &chat, &messages)
    })
    .await;
    receiver.kill9();
    for text in ["second, receiver down", "third, receiver down"] {
        messages.push(visitor.say(text).await.id.to_string());
    }
    // They fail and are retried while it is down.
    eventually(CONVERGE, "failed attempts in the log", || async {
        let log = log(&pair.primary, &key, &id).await;
        let failing = log
            .iter()
            .filter(|d| d["state"] == "pending" && d["attempts"].as_u64() >= Some(2))
            .count();
        failing >= 2
    })
    .await;
    let pending = log(&pair.primary, &key, &id).await;
    let down = pending.iter().find(|d| d["state"] == "pending").unwrap();
    assert!(
        !down["last_error"].as_str().unwrap_or_default().is_empty(),
        "{down}"
    );
    receiver.restart();
    eventually(
        CONVERGE,
        "every event delivered after the restart",
        || async { all_events(&checked(&receiver.received()).0, &chat, &messages) },
    )
    .await;
    eventually(CONVERGE, "the log says delivered", || async {
        let log = log(&pair.primary, &key, &id).await;
        log.len() == 4 && log.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    // The test button.
    let path = format!("/v1/api/sites/demo/webhooks/{id}/test");
    let (status, queued) = call(&pair.primary, &key, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 202, "{queued}");
    let test_id = queued["event"].as_str().unwrap().to_string();
    eventually(CONVERGE, "the test event delivered", || async {
        checked(&receiver.received()).0.contains_key(&test_id)
    })
    .await;
    let (bodies, repeats) = checked(&receiver.received());
    assert_eq!(bodies[&test_id]["type"], "webhook.test");
    assert_eq!(bodies.len(), 5, "{bodies:?}");
    println!(
        "receiver restart: {} events, {repeats} repeats",
        bodies.len()
    );
    // A deleted subscription gets nothing more.
    let path = format!("/v1/api/sites/demo/webhooks/{id}");
    let (status, _) = call(&pair.primary, &key, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&pair.primary, &key, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let (status, body) = call(
        &pair.primary,
        &key,
        reqwest::Method::GET,
        "/v1/api/sites/demo/webhooks",
        None,
    )
    .await;
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_mid_delivery_hands_over_and_no_event_id_is_two_different_deliveries() {
    let mut pair = Pair::start(FLAGS);
    let key = make_key(&pair.primary, &["settings:manage"]);
    replicated(&pair.redundant, "api_key", &key[4..20]).await;
    let scratch = TempDir::new("webhook-receiver");
    let out = scratch.path().join("received.jsonl");
    let port = free_port();
    let (id, secret) = subscribe(&pair.primary, &key, port).await;
    replicated(&pair.redundant, "webhook", &id).await;
    // Answers held back 3 s: the primary is killed while they are in
    // flight, after the receiver has the deliveries.
    let receiver = Receiver::start(port, &secret, &out, 3_000);
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat.to_string();
    let mut messages = Vec::new();
    for text in ["one", "two", "three"] {
        messages.push(visitor.say(text).await.id.to_string());
    }
    // The records are on the redundant (replicated), and the primary's
    // attempts have reached the receiver.
    eventually(CONVERGE, "the messages on the redundant", || async {
        let stored = messages_of(&pair.redundant).await;
        messages.iter().all(|m| stored.contains_key(m))
    })
    .await;
    eventually(CONVERGE, "the primary's attempts received", || async {
        all_events(&checked(&receiver.received()).0, &chat, &messages)
    })
    .await;
    let before_kill = receiver.received().len();
    pair.primary.kill9();
    // The redundant delivers them all (again: the primary never recorded
    // an answer), after the lease and the hand-over.
    eventually(CONVERGE, "the redundant's log says delivered", || async {
        let log = log(&pair.redundant, &key, &id).await;
        log.len() == 4 && log.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    let taken_over = log(&pair.redundant, &key, &id).await;
    assert!(
        taken_over.iter().any(|d| d["owner"] == "redundant"),
        "the redundant took over: {taken_over:?}"
    );
    let received = receiver.received();
    let (bodies, repeats) = checked(&received);
    assert!(all_events(&bodies, &chat, &messages), "{bodies:?}");
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert!(received.len() > before_kill, "the redundant sent too");
    println!(
        "primary killed mid-delivery: {} events, {} arrivals ({before_kill} before the kill), {repeats} repeats of one delivery, 0 different deliveries under one id",
        bodies.len(),
        received.len()
    );
    // Failback: the primary comes back holding its own claims, learns that
    // the redundant delivered them, and sends nothing again.
    pair.primary.restart();
    eventually(CONVERGE, "the primary's log says delivered", || async {
        let log = log(&pair.primary, &key, &id).await;
        log.len() == 4 && log.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    // Longer than its lease, its hand-over and a retry.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        receiver.received().len(),
        received.len(),
        "nothing sent again after the failback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_arrives_once_with_its_data() {
    let relay = RelayProcess::start(RelayOptions {
        extra: FLAGS.iter().map(|f| f.to_string()).collect(),
        ..RelayOptions::primary()
    });
    let key = make_key(&relay, &["settings:manage"]);
    let scratch = TempDir::new("webhook-receiver");
    let out = scratch.path().join("received.jsonl");
    let port = free_port();
    let all = [
        "chat.started",
        "message.created",
        "chat.assigned",
        "chat.closed",
        "note.created",
        "chat.rated",
    ];
    let (_, secret) = subscribe_to(&relay, &key, port, &all).await;
    let receiver = Receiver::start(port, &secret, &out, 0);
    relay.add_operator("ada", "Ada", "correct horse");
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    let hello = visitor.say("Hello?").await;
    operator.accept(chat).await;
    visitor.ws.send(&ClientFrame::Close { chat }).await;
    operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { status, .. } if status.state == ChatState::Closed))
        .await;
    let rating = RatingId::new(Millis(1), 1);
    visitor
        .ws
        .send(&ClientFrame::Rate {
            chat,
            id: rating,
            score: Score::Good,
            comment: "quick".into(),
        })
        .await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Rating { .. }))
        .await;
    let note = offline_note(77, "demo", "call me back");
    visitor.leave_note(&note).await;
    eventually(CONVERGE, "one delivery of each type", || async {
        checked(&receiver.received()).0.len() >= all.len()
    })
    .await;
    // Nothing more comes (each record's later changes hold no new event).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (bodies, repeats) = checked(&receiver.received());
    assert_eq!(repeats, 0, "{bodies:?}");
    let by_type: BTreeMap<&str, &Value> = bodies
        .values()
        .map(|b| (b["type"].as_str().unwrap(), b))
        .collect();
    assert_eq!(by_type.len(), all.len(), "{bodies:?}");
    let chat = chat.to_string();
    for (kind, body) in &by_type {
        assert_eq!(body["site"], "demo", "{kind}");
        if *kind != "note.created" {
            assert_eq!(body["data"]["chat"], chat.as_str(), "{kind}");
        }
    }
    assert_eq!(
        by_type["message.created"]["data"]["message"]["id"],
        hello.id.to_string()
    );
    assert_eq!(
        by_type["message.created"]["data"]["message"]["text"],
        "Hello?"
    );
    assert_eq!(by_type["chat.assigned"]["data"]["operator"], "ada");
    assert_eq!(by_type["chat.rated"]["data"]["rating"]["score"], "good");
    assert_eq!(
        by_type["note.created"]["data"]["note"]["text"],
        "call me back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_the_relays_own_network_is_refused_at_connect_time() {
    // The default settings: inner targets refused.
    let relay = RelayProcess::start(RelayOptions::primary());
    let key = make_key(&relay, &["settings:manage"]);
    let scratch = TempDir::new("webhook-receiver");
    let out = scratch.path().join("received.jsonl");
    let port = free_port();
    // An address literal is refused when the subscription is made...
    let (status, body) = call(
        &relay,
        &key,
        reqwest::Method::POST,
        "/v1/api/sites/demo/webhooks",
        Some(json!({"url": format!("http://127.0.0.1:{port}/"), "events": ["chat.started"]})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    // ... a name cannot be judged then: it is refused on the address it
    // resolves to, at each connection.
    let (status, made) = call(
        &relay,
        &key,
        reqwest::Method::POST,
        "/v1/api/sites/demo/webhooks",
        Some(json!({"url": format!("http://localhost:{port}/hook"), "events": ["chat.started"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let receiver = Receiver::start(port, made["secret"].as_str().unwrap(), &out, 0);
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    visitor.say("hello").await;
    eventually(CONVERGE, "a refused attempt in the log", || async {
        let log = log(&relay, &key, &id).await;
        log.iter().any(|d| {
            d["state"] == "pending"
                && d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("allow_private_targets"))
        })
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

/// The first ```<lang> block of docs/API.md's "Verifying a delivery".
fn example(lang: &str) -> String {
    let doc = include_str!("../../docs/API.md");
    let section = doc
        .split("### Verifying a delivery")
        .nth(1)
        .expect("docs/API.md has the section");
    let start = section
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("a {lang} example"))
        + lang.len()
        + 4;
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_string()
}

/// Runs `program args` in `dir`; its stdout, or a panic with its stderr.
fn run_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn the_javascript_and_python_examples_verify_the_relays_signatures() {
    use twinline_relay::webhooks::signing::{key_of, new_secret, signature};
    let secret = new_secret();
    let key = key_of(&secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"id":"evt_1","type":"message.created","data":{"text":"héllo \"there\""}}"#;
    // (timestamp, body sent, body signed, secret checked with): true only
    // for the first.
    let other = new_secret();
    let cases = [
        (now, body, body, secret.as_str(), true),
        (now, body, "{}", secret.as_str(), false),
        (now - 3_600, body, body, secret.as_str(), false),
        (now, body, body, other.as_str(), false),
    ];
    let cases: Vec<Value> = cases
        .iter()
        .map(|(timestamp, sent, signed, checked_with, valid)| {
            json!({
                "secret": checked_with,
                "headers": {
                    "webhook-id": "evt_1",
                    "webhook-timestamp": timestamp.to_string(),
                    "webhook-signature": format!("v1,bm90IGl0 {}", signature(&key, "evt_1", *timestamp, signed)),
                },
                "body": sent,
                "valid": valid,
            })
        })
        .collect();
    let scratch = TempDir::new("webhook-examples");
    let dir = scratch.path();
    std::fs::write(dir.join("cases.json"), Value::from(cases).to_string()).unwrap();
    std::fs::write(dir.join("verify.mjs"), example("js")).unwrap();
    std::fs::write(
        dir.join("run.mjs"),
        "import { verify } from './verify.mjs';\n\
         import { readFileSync } from 'node:fs';\n\
         const cases = JSON.parse(readFileSync('cases.json', 'utf8'));\n\
         console.log(cases.every((c) => verify(c.secret, c.headers, Buffer.from(c.body, 'utf8')) === c.valid));\n",
    )
    .unwrap();
    assert_eq!(
        run_in(dir, "node", &["run.mjs"]),
        "true",
        "the JavaScript example"
    );
    std::fs::write(dir.join("verify.py"), example("python")).unwrap();
    std::fs::write(
        dir.join("run.py"),
        "import json\nfrom verify import verify\n\
         cases = json.load(open('cases.json', encoding='utf-8'))\n\
         print(all(verify(c['secret'], c['headers'], c['body'].encode('utf-8')) == c['valid'] for c in cases))\n",
    )
    .unwrap();
    assert_eq!(
        run_in(dir, "python3", &["run.py"]),
        "True",
        "the Python example"
    );
}
