//! The REST API through the relay's whole router in process (see
//! `crate::router_tests`): keys, scopes, pages, posts and their
//! idempotency, on a real SQLite store.

use crate::apikeys::new_key;
use crate::router_tests::{app, request, send};
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::records::{ChatRecord, Record};
use crate::test_relay::TestRelay;
use axum::http::StatusCode;
use serde_json::{Value, json};
use twinline_core::{ChatId, ChatStatus, Millis, Ulid, VisitorId, VisitorInfo};

/// Stores a key of `site` with `scopes`; returns the record and the key.
pub(crate) async fn add_key(relay: &TestRelay, site: &str, scopes: &[Scope]) -> (ApiKey, String) {
    let (record, key) =
        new_key(site, "crm", scopes, crate::clock::now(), 1, rand::random()).expect("a key");
    relay
        .state
        .store
        .apply(Record::ApiKey(record.clone()), "test")
        .await
        .expect("stored");
    (record, key)
}

pub(super) async fn add_chat(relay: &TestRelay, id: u128, site: &str) -> ChatId {
    let chat = ChatId(Ulid::new(Millis(1_700_000_000_000), id));
    let record = ChatRecord {
        id: chat,
        site: site.into(),
        visitor: VisitorId(Ulid(7)),
        created: Millis(1),
        status: ChatStatus::default(),
        info: VisitorInfo {
            name: "Vera".into(),
            ..VisitorInfo::default()
        },
        source: "s".into(),
        rating: None,
        transcripts: Vec::new(),
    };
    relay
        .state
        .store
        .apply(Record::Chat(record), "test")
        .await
        .expect("stored");
    chat
}

pub(super) fn auth(key: &str) -> String {
    format!("Bearer {key}")
}

/// Every operation of the OpenAPI document that needs a scope, as
/// (method, path with `{chat}`, `{site}` and `{visitor}` filled in, scope).
fn scoped_operations(chat: ChatId) -> Vec<(String, String, Scope)> {
    let spec = super::openapi::spec();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(scope) = op["x-scope"].as_str() {
                ops.push((
                    method.to_uppercase(),
                    path.replace("{chat}", &chat.to_string())
                        .replace("{site}", "demo")
                        .replace("{visitor}", &VisitorId(Ulid(7)).to_string())
                        .replace("{webhook}", "wh_00"),
                    Scope::parse(scope).unwrap(),
                ));
            }
        }
    }
    ops
}

/// A body each POST would take.
pub(crate) fn body_for(method: &str, path: &str) -> Option<Value> {
    match method.to_uppercase().as_str() {
        "POST" if path.ends_with("/transfer") => Some(json!({ "to": "ada" })),
        "POST" if path.ends_with("/webhooks") => Some(json!({
            "url": "https://hooks.example.com/twinline",
            "events": ["chat.started"],
        })),
        "POST" => Some(json!({ "text": "hello" })),
        "PATCH" if path.contains("/webhooks/") => Some(json!({ "enabled": false })),
        _ => None,
    }
}

#[tokio::test]
async fn every_scope_refusal_names_the_missing_scope_and_writes_nothing() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.10:1000");
    let chat = add_chat(&relay, 1, "demo").await;
    let ops = scoped_operations(chat);
    assert!(ops.len() >= 6, "{ops:?}");
    for (method, path, scope) in ops {
        let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != scope).collect();
        let (_, key) = add_key(&relay, "demo", &others).await;
        let (status, _, body) = send(
            &app,
            request(
                &method,
                &path,
                body_for(&method, &path),
                &[("authorization", &auth(&key))],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["error"], "forbidden");
        assert!(
            body["message"].as_str().unwrap().contains(scope.as_str()),
            "{body}"
        );
    }
    let messages = relay
        .state
        .store
        .read(move |c| crate::store::reads::messages(c, chat))
        .await
        .unwrap();
    assert!(messages.is_empty(), "a refused POST wrote nothing");
    let header = crate::catchup::chat_record(&relay.state, chat)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header.status.state, twinline_core::ChatState::Waiting);
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn a_missing_wrong_or_revoked_key_is_refused_and_guessing_is_throttled() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.11:1000");
    let (record, key) = add_key(&relay, "demo", &Scope::ALL).await;
    let list = |authorization: Option<String>| {
        let headers: Vec<(&str, String)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        request("GET", "/v1/api/chats", None, &headers)
    };
    let (status, _, _) = send(&app, list(Some(auth(&key)))).await;
    assert_eq!(status, StatusCode::OK);
    let mut wrong = key.clone();
    let last = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(wrong.len() - 1.., last);
    let revoked = crate::apikeys::revoked(&record, crate::clock::now(), 2);
    let (other_record, other_key) = add_key(&relay, "demo", &Scope::ALL).await;
    relay
        .state
        .store
        .apply(
            Record::ApiKey(crate::apikeys::revoked(
                &other_record,
                crate::clock::now(),
                2,
            )),
            "test",
        )
        .await
        .unwrap();
    for bad in [
        None,
        Some("Bearer ".to_string()),
        Some(auth("twl_nonsense")),
        Some(auth(&wrong)),
        Some(auth(&other_key)),
        Some(key.clone()),
    ] {
        let (status, _, body) = send(&app, list(bad.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}: {body}");
        assert_eq!(body["error"], "bad_key");
    }
    // Ten failures from one address (the admin tokens' burst), then even
    // the right key waits there; another address is not touched.
    for _ in 0..4 {
        send(&app, list(Some(auth(&wrong)))).await;
    }
    let (status, headers, body) = send(&app, list(Some(auth(&key)))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(headers.contains_key("retry-after"));
    let elsewhere = crate::router_tests::app(&relay, "198.51.100.1:1000");
    let (status, _, _) = send(&elsewhere, list(Some(auth(&key)))).await;
    assert_eq!(status, StatusCode::OK);
    // A revocation refuses the key from then on.
    relay
        .state
        .store
        .apply(Record::ApiKey(revoked), "test")
        .await
        .unwrap();
    let (status, _, _) = send(&elsewhere, list(Some(auth(&key)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    drop((app, elsewhere));
    relay.stop().await;
}

#[tokio::test]
async fn a_key_pages_through_its_own_sites_chats_only() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.12:1000");
    let (_, key) = add_key(&relay, "demo", &[Scope::ChatsRead]).await;
    let mut ours = Vec::new();
    for id in 1..=5 {
        ours.push(add_chat(&relay, id, "demo").await);
    }
    let theirs = add_chat(&relay, 9, "other").await;
    let authorization = auth(&key);
    let get = |uri: String| request("GET", &uri, None, &[("authorization", &authorization)]);
    let mut seen = Vec::new();
    let mut uri = "/v1/api/chats?limit=2".to_string();
    loop {
        let (status, _, body) = send(&app, get(uri.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for chat in body["items"].as_array().unwrap() {
            assert_eq!(chat["name"], "Vera");
            assert_eq!(chat["state"], "waiting");
            assert!(chat.get("source").is_none(), "internal fields stay inside");
            seen.push(chat["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/api/chats?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = ours.iter().rev().map(|c| c.to_string()).collect();
    assert_eq!(
        seen, expected,
        "newest first, every chat once, none of another site"
    );
    let (status, _, body) = send(&app, get(format!("/v1/api/chats/{theirs}"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, body) = send(&app, get(format!("/v1/api/chats/{}", ours[0]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], ours[0].to_string());
    for (uri, code) in [
        ("/v1/api/chats?limit=0", "bad_request"),
        ("/v1/api/chats?limit=201", "bad_request"),
        ("/v1/api/chats?state=lost", "bad_request"),
        ("/v1/api/chats?cursor=nope", "bad_cursor"),
        ("/v1/api/notes?cursor=x", "bad_cursor"),
    ] {
        let (status, _, body) = send(&app, get(uri.to_string())).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{uri}"
        );
    }
    let (status, _, body) = send(&app, get("/v1/api/chats?state=closed".into())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]));
    let (status, _, body) = send(&app, get("/v1/api/notes".into())).await;
    assert_eq!((status, &body["items"]), (StatusCode::OK, &json!([])));
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_stored_once_and_a_closed_chat_takes_none() {
    let relay = TestRelay::start();
    relay.add_operator("ada", "correct horse").await;
    let app = app(&relay, "192.0.2.13:1000");
    let (record, key) = add_key(&relay, "demo", &[Scope::MessagesWrite, Scope::ChatsRead]).await;
    let chat = add_chat(&relay, 1, "demo").await;
    let authorization = auth(&key);
    let uri = format!("/v1/api/chats/{chat}/messages");
    let post = |body: Value, idempotency: Option<&str>| {
        let mut headers = vec![("authorization", authorization.as_str())];
        if let Some(k) = idempotency {
            headers.push(("idempotency-key", k));
        }
        request("POST", &uri, Some(body), &headers)
    };
    let (status, headers, first) =
        send(&app, post(json!({"text": "hello"}), Some("order-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!headers.contains_key(super::messages::REPLAYED));
    assert_eq!(first["author"], format!("api:{}", record.id));
    assert_eq!(first["name"], "crm");
    assert_eq!(first["role"], "operator");
    let (status, headers, again) =
        send(&app, post(json!({"text": "hello"}), Some("order-1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[super::messages::REPLAYED], "true");
    assert_eq!(again, first, "the stored message, as it was");
    let (status, _, body) = send(&app, post(json!({"text": "other"}), Some("order-1"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_conflict"))
    );
    let (status, _, body) = send(
        &app,
        post(json!({"text": "hi", "operator": "ada"}), Some("order-2")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["author"].as_str(), body["role"].as_str()),
        (Some("ada"), Some("operator"))
    );
    for (body, code) in [
        (
            json!({"text": "x", "operator": "nobody"}),
            "unknown_operator",
        ),
        (json!({"text": ""}), "bad_request"),
        (json!({"text": "x".repeat(4_001)}), "bad_request"),
        (json!({"text": "x", "extra": 1}), "bad_request"),
        (json!({"words": "x"}), "bad_request"),
    ] {
        let (status, _, answer) = send(&app, post(body.clone(), None)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}"
        );
    }
    let (status, _, body) = send(&app, post(json!({"text": "x"}), Some("has space"))).await;
    assert_eq!(body["error"], "bad_idempotency_key", "{status}");
    let (status, _, page) = send(
        &app,
        request("GET", &uri, None, &[("authorization", &authorization)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["hello", "hi"], "in display order, once each");
    // Close, twice: the second is the same answer.
    let close = format!("/v1/api/chats/{chat}/close");
    for _ in 0..2 {
        let (status, _, body) = send(
            &app,
            request("POST", &close, None, &[("authorization", &authorization)]),
        )
        .await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("closed")),
            "{body}"
        );
    }
    let (status, _, body) = send(&app, post(json!({"text": "late"}), Some("order-3"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("chat_closed"))
    );
    // A retry of a message made before the close still answers as stored.
    let (status, _, _) = send(&app, post(json!({"text": "hello"}), Some("order-1"))).await;
    assert_eq!(status, StatusCode::OK);
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn a_transfer_hands_the_chat_to_an_operator_of_the_site_and_operators_are_listed() {
    let relay = TestRelay::start();
    relay.add_operator("ada", "correct horse").await;
    relay.add_operator("bob", "correct horse").await;
    let app = app(&relay, "192.0.2.14:1000");
    let (_, key) = add_key(
        &relay,
        "demo",
        &[Scope::MessagesWrite, Scope::OperatorsManage],
    )
    .await;
    let authorization = auth(&key);
    let chat = add_chat(&relay, 1, "demo").await;
    let transfer = |to: &str| {
        request(
            "POST",
            &format!("/v1/api/chats/{chat}/transfer"),
            Some(json!({ "to": to })),
            &[("authorization", &authorization)],
        )
    };
    for to in ["ada", "bob", "bob"] {
        let (status, _, body) = send(&app, transfer(to)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["state"].as_str(), body["operator"].as_str()),
            (Some("active"), Some(to))
        );
    }
    let stored = crate::catchup::chat_record(&relay.state, chat)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.operator.as_deref(), Some("bob"));
    let (status, _, body) = send(&app, transfer("nobody")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_operator"))
    );
    let (_, _, listed) = send(
        &app,
        request(
            "GET",
            "/v1/api/operators",
            None,
            &[("authorization", &authorization)],
        ),
    )
    .await;
    let names: Vec<(&str, &str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["username"].as_str().unwrap(),
                o["role"].as_str().unwrap(),
                o["online"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("ada", "agent", false), ("bob", "agent", false)]
    );
    // Another site's key sees none of them and cannot move this chat.
    let (_, other) = add_key(
        &relay,
        "other",
        &[Scope::MessagesWrite, Scope::OperatorsManage],
    )
    .await;
    let other = auth(&other);
    let (_, _, listed) = send(
        &app,
        request(
            "GET",
            "/v1/api/operators",
            None,
            &[("authorization", &other)],
        ),
    )
    .await;
    assert_eq!(listed, json!([]));
    let (status, _, _) = send(
        &app,
        request(
            "POST",
            &format!("/v1/api/chats/{chat}/transfer"),
            Some(json!({ "to": "ada" })),
            &[("authorization", &other)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let close = request(
        "POST",
        &format!("/v1/api/chats/{chat}/close"),
        None,
        &[("authorization", &authorization)],
    );
    assert_eq!(send(&app, close).await.0, StatusCode::OK);
    let (status, _, body) = send(&app, transfer("ada")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("chat_closed"))
    );
    drop(app);
    relay.stop().await;
}
