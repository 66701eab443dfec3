//! The console's history endpoints through the whole router: an agent
//! finds and opens its own site's chats only, hostile searches are a clear
//! refusal, and the REST API's `?q=` runs the same search for a key.

use crate::accounts::{AccountSpec, new_account};
use crate::router_tests::{app, request, send};
use crate::store::records::{ChatRecord, OperatorRole, Record};
use crate::test_relay::TestRelay;
use axum::http::StatusCode;
use serde_json::{Value, json};
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, Message, MessageId, Millis, Rating,
    RatingId, Role, Score, Ulid, VisitorId, VisitorInfo,
};

fn stamp(wall: u64) -> Hlc {
    Hlc {
        wall: Millis(wall),
        counter: 0,
        node: 1,
    }
}

/// A closed, rated chat of `site` with one visitor message.
async fn seed(relay: &TestRelay, chat: ChatId, site: &str, text: &str, n: u128) {
    let header = ChatRecord {
        id: chat,
        site: site.into(),
        visitor: VisitorId(Ulid(n)),
        created: Millis(1),
        status: ChatStatus {
            state: ChatState::Closed,
            operator: Some("ada".into()),
            stamp: stamp(2_000),
        },
        info: VisitorInfo {
            name: "Grace".into(),
            email: "grace@example.com".into(),
            page: String::new(),
            left: None,
            stamp: stamp(1),
        },
        source: String::new(),
        rating: Some(Rating {
            id: RatingId(Ulid(n)),
            score: Score::Good,
            comment: "<b>thanks</b>".into(),
            stamp: stamp(3_000),
        }),
        transcripts: Vec::new(),
    };
    let message = Message {
        id: MessageId(Ulid(n)),
        chat,
        author: Author {
            role: Role::Visitor,
            id: "v".into(),
            name: String::new(),
        },
        text: text.into(),
        lamport: Lamport(1),
        at: Millis(1_500),
        file: None,
    };
    for record in [Record::Chat(header), Record::Message(message)] {
        relay.state.store.apply(record, "primary").await.unwrap();
    }
}

async fn operator(relay: &TestRelay, username: &str, sites: &[String]) -> String {
    let spec = AccountSpec {
        username,
        name: "",
        password: "correct horse battery",
        role: OperatorRole::Agent,
        sites,
    };
    let account = new_account(&spec, None, crate::clock::now(), 1).unwrap();
    relay
        .state
        .store
        .apply(Record::Account(account), "primary")
        .await
        .unwrap();
    let app = app(relay, "192.0.2.40:1000");
    let (status, _, body) = send(
        &app,
        request(
            "POST",
            "/v1/operator/login",
            Some(json!({"username": username, "password": "correct horse battery"})),
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn get(relay: &TestRelay, uri: &str, token: &str) -> (StatusCode, Value) {
    let app = app(relay, "192.0.2.41:1000");
    let bearer = format!("Bearer {token}");
    let (status, _, body) = send(
        &app,
        request("GET", uri, None, &[("authorization", &bearer)]),
    )
    .await;
    (status, body)
}

fn chats(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {body}"))
        .iter()
        .map(|item| item["chat"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_agent_finds_and_opens_only_its_own_sites_chats() {
    let relay = TestRelay::start();
    let demo_chat = ChatId::new(Millis(1_000), 1);
    let other_chat = ChatId::new(Millis(2_000), 2);
    seed(&relay, demo_chat, "demo", "My parcel never arrived", 11).await;
    seed(&relay, other_chat, "other", "Parcel lost again", 12).await;
    let ada = operator(&relay, "ada", &["demo".to_string()]).await;
    let eve = operator(&relay, "eve", &["other".to_string()]).await;

    let (status, body) = get(&relay, "/v1/operator/history?q=parcel", &ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(chats(&body), [demo_chat.to_string()]);
    let item = &body["items"][0];
    assert_eq!(item["snippet"], "My parcel never arrived");
    assert_eq!(item["site"], "demo");
    assert_eq!(item["state"], "closed");
    assert_eq!(item["rating"]["score"], "good");
    // Asking for the other site by name finds nothing either.
    let (_, body) = get(&relay, "/v1/operator/history?q=parcel&site=other", &ada).await;
    assert!(chats(&body).is_empty(), "{body}");
    let (_, body) = get(&relay, "/v1/operator/history?q=parcel", &eve).await;
    assert_eq!(chats(&body), [other_chat.to_string()]);

    // Opened whole: header, rating, messages; another site's is not found.
    let uri = format!("/v1/operator/history/{demo_chat}");
    let (status, body) = get(&relay, &uri, &ada).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chat"]["rating"]["comment"], "<b>thanks</b>");
    assert_eq!(body["messages"][0]["text"], "My parcel never arrived");
    let (status, body) = get(&relay, &uri, &eve).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = get(&relay, "/v1/operator/history/not-an-id", &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No session, a foreign origin: refused.
    let (status, body) = get(&relay, "/v1/operator/history?q=parcel", "forged").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token"))
    );
    let app = app(&relay, "192.0.2.42:1000");
    let bearer = format!("Bearer {ada}");
    let (status, _, _) = send(
        &app,
        request(
            "GET",
            "/v1/operator/history?q=parcel",
            None,
            &[("authorization", &bearer), ("origin", "http://site.test")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn hostile_history_searches_are_a_clear_refusal_or_plain_words() {
    let relay = TestRelay::start();
    let chat = ChatId::new(Millis(1_000), 1);
    seed(&relay, chat, "demo", "refund please", 11).await;
    let ada = operator(&relay, "ada", &["demo".to_string()]).await;
    let long = "a".repeat(crate::store::search::MAX_QUERY_CHARS + 1);
    for (query, code) in [
        (format!("q={long}"), "bad_request"),
        ("q=a+b+c+d+e+f+g+h+i".to_string(), "bad_request"),
        ("limit=0".to_string(), "bad_request"),
        ("limit=51".to_string(), "bad_request"),
        ("from=-1".to_string(), "bad_request"),
        ("state=deleted".to_string(), "bad_request"),
        ("cursor=%27%20OR%201%3D1".to_string(), "bad_cursor"),
    ] {
        let (status, body) = get(&relay, &format!("/v1/operator/history?{query}"), &ada).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{query}: {body}"
        );
    }
    for hostile in [
        "%22refund",
        "refund%2A",
        "refund%27%3B--",
        "%28refund%29",
        "%5Erefund",
    ] {
        let (status, body) = get(&relay, &format!("/v1/operator/history?q={hostile}"), &ada).await;
        assert_eq!(status, StatusCode::OK, "{hostile}: {body}");
        assert_eq!(chats(&body), [chat.to_string()], "{hostile}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn the_rest_api_searches_the_keys_site_with_q() {
    let relay = TestRelay::start();
    let demo_chat = ChatId::new(Millis(1_000), 1);
    seed(&relay, demo_chat, "demo", "Invoice 42 is wrong", 11).await;
    seed(
        &relay,
        ChatId::new(Millis(2_000), 2),
        "other",
        "invoice again",
        12,
    )
    .await;
    seed(&relay, ChatId::new(Millis(3_000), 3), "demo", "hello", 13).await;
    let (record, key) = crate::apikeys::new_key(
        "demo",
        "crm",
        &[crate::store::api_keys::Scope::ChatsRead],
        crate::clock::now(),
        1,
        rand::random(),
    )
    .unwrap();
    relay
        .state
        .store
        .apply(Record::ApiKey(record), "test")
        .await
        .unwrap();
    let app = app(&relay, "192.0.2.43:1000");
    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];
    let (status, _, body) =
        send(&app, request("GET", "/v1/api/chats?q=INVOICE", None, &auth)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["id"], demo_chat.to_string());
    assert_eq!(items[0]["snippet"], "Invoice 42 is wrong");
    // Without q the list has no snippets, and both chats of the site.
    let (_, _, body) = send(&app, request("GET", "/v1/api/chats", None, &auth)).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
    assert!(body["items"][0].get("snippet").is_none());
    let (status, _, body) = send(
        &app,
        request("GET", "/v1/api/chats?q=a&limit=51", None, &auth),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    drop(app);
    relay.stop().await;
}

/// The JSON block of docs/PROTOCOL.md whose info string is `kind`.
fn documented(kind: &str) -> Value {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let start = doc
        .find(&format!("```text {kind}\n"))
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md has a {kind} example"));
    let body = &doc[start..].split("```").nth(1).unwrap()[format!("text {kind}\n").len()..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// The keys of a JSON object, nested objects' as `outer.inner`.
fn keys(value: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    if let Some(object) = value.as_object() {
        for (key, inner) in object {
            let path = format!("{prefix}{key}");
            keys(inner, &format!("{path}."), out);
            out.insert(path);
        }
    }
}

fn key_set(value: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    keys(value, "", &mut out);
    out
}

#[tokio::test]
async fn docs_protocol_md_shows_the_history_answers_the_relay_gives() {
    let relay = TestRelay::start();
    let chat = ChatId::new(Millis(1_000), 1);
    seed(&relay, chat, "demo", "My parcel ZX81 never arrived", 11).await;
    let ada = operator(&relay, "ada", &["demo".to_string()]).await;
    let (_, page) = get(&relay, "/v1/operator/history?q=parcel", &ada).await;
    let example = documented("history_page");
    assert_eq!(key_set(&example["items"][0]), key_set(&page["items"][0]));
    assert_eq!(key_set(&example), key_set(&page));
    let (_, read) = get(&relay, &format!("/v1/operator/history/{chat}"), &ada).await;
    let example = documented("history_chat");
    assert_eq!(key_set(&example["chat"]), {
        // The example's chat is unrated: the rating's fields aside.
        let mut keys = key_set(&read["chat"]);
        keys.retain(|k| !k.starts_with("rating."));
        keys
    });
    assert_eq!(
        key_set(&example["messages"][0]),
        key_set(&read["messages"][0])
    );
    let doc = include_str!("../../docs/PROTOCOL.md");
    use crate::store::search::{
        DEFAULT_LIMIT, MAX_FILTER_CHARS, MAX_LIMIT, MAX_QUERY_CHARS, MAX_WORDS,
    };
    for limit in [
        format!("at most {MAX_QUERY_CHARS} characters and {MAX_WORDS} words"),
        format!("1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        format!("| {MAX_FILTER_CHARS} characters |"),
    ] {
        assert!(doc.contains(&limit), "docs/PROTOCOL.md says {limit:?}");
    }
    relay.stop().await;
}
