//! The webhook endpoints through the relay's whole router in process, on a
//! relay with the default settings (inner targets refused).

use super::router_tests::add_key;
use crate::router_tests::{app, request, send};
use crate::store::api_keys::Scope;
use crate::test_relay::TestRelay;
use crate::webhooks::MAX_PER_SITE;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn hook(url: &str) -> Value {
    json!({"url": url, "events": ["message.created", "chat.started", "message.created"]})
}

#[tokio::test]
async fn a_webhook_is_made_once_per_idempotency_key_shown_without_its_secret_and_deleted() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.30:1000");
    let (_, key) = add_key(&relay, "demo", &[Scope::SettingsManage]).await;
    let bearer = format!("Bearer {key}");
    let with_key = |extra: &'static str| -> Vec<(&'static str, String)> {
        let mut headers = vec![("authorization", bearer.clone())];
        if !extra.is_empty() {
            headers.push(("idempotency-key", extra.to_string()));
        }
        headers
    };
    let call = |method: &'static str, path: String, body: Option<Value>, idem: &'static str| {
        let headers = with_key(idem);
        let app = app.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            send(&app, request(method, &path, body, &headers)).await
        }
    };
    let base = "/v1/api/sites/demo/webhooks".to_string();
    let (status, _, made) = call(
        "POST",
        base.clone(),
        Some(hook("https://hooks.example.com/a")),
        "k-1",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        made["events"],
        json!(["chat.started", "message.created"]),
        "sorted, no repeats"
    );
    assert_eq!(made["enabled"], true);
    // The same request again: the same webhook, and its secret.
    let (status, headers, again) = call(
        "POST",
        base.clone(),
        Some(hook("https://hooks.example.com/a")),
        "k-1",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        (&again["id"], &again["secret"]),
        (&made["id"], &made["secret"])
    );
    // The key again for another URL is a conflict.
    let (status, _, body) = call(
        "POST",
        base.clone(),
        Some(hook("https://hooks.example.com/b")),
        "k-1",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_conflict"))
    );
    let id = made["id"].as_str().unwrap();
    let one = format!("{base}/{id}");
    let (status, _, shown) = call("GET", one.clone(), None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("secret").is_none(), "shown once: {shown}");
    let (_, _, listed) = call("GET", base.clone(), None, "").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("secret").is_none());
    // The test button queues one webhook.test delivery, in the log.
    let (status, _, test) = call("POST", format!("{one}/test"), None, "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    assert_eq!(test["type"], "webhook.test");
    let (_, _, log) = call("GET", format!("{one}/deliveries"), None, "").await;
    assert_eq!(log["items"][0]["event"], test["event"]);
    let (status, _, body) = call("GET", format!("{one}/deliveries?limit=0"), None, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    // Turned off and on again: the same subscription, shown as it is; a
    // new URL is a new subscription, not a change.
    let (status, _, off) = call("PATCH", one.clone(), Some(json!({"enabled": false})), "").await;
    assert_eq!(
        (status, &off["enabled"]),
        (StatusCode::OK, &json!(false)),
        "{off}"
    );
    assert!(off.get("secret").is_none(), "{off}");
    let (_, _, shown) = call("GET", one.clone(), None, "").await;
    assert_eq!(shown["enabled"], false);
    let (status, _, body) = call(
        "PATCH",
        one.clone(),
        Some(json!({"enabled": true, "url": "https://elsewhere.example/"})),
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{body}"
    );
    let (status, _, on) = call("PATCH", one.clone(), Some(json!({"enabled": true})), "").await;
    assert_eq!(
        (status, &on["enabled"], &on["id"]),
        (StatusCode::OK, &json!(true), &made["id"])
    );
    let (status, _, _) = call(
        "PATCH",
        "/v1/api/sites/demo/webhooks/wh_00".into(),
        Some(json!({"enabled": false})),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another site's webhooks do not exist for this key.
    let (status, _, _) = call("GET", "/v1/api/sites/other/webhooks".into(), None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call("DELETE", one.clone(), None, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in [one.clone(), format!("{one}/deliveries")] {
        let (status, _, _) = call("GET", path, None, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A deleted webhook's key makes nothing again.
    let (status, _, _) = call(
        "POST",
        base.clone(),
        Some(hook("https://hooks.example.com/a")),
        "k-1",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn inner_targets_bad_urls_unknown_events_and_a_full_site_are_refused() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.31:1000");
    let (_, key) = add_key(&relay, "demo", &[Scope::SettingsManage]).await;
    let bearer = format!("Bearer {key}");
    let post = |body: Value| {
        let app = app.clone();
        let bearer = bearer.clone();
        async move {
            send(
                &app,
                request(
                    "POST",
                    "/v1/api/sites/demo/webhooks",
                    Some(body),
                    &[("authorization", &bearer)],
                ),
            )
            .await
        }
    };
    for url in [
        "http://127.0.0.1:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.7/",
        "http://0x7f000001/",
        "gopher://example.com/",
        "https://user:pw@example.com/",
    ] {
        let (status, _, body) = post(hook(url)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{url}: {body}"
        );
    }
    let long = format!("https://example.com/{}", "a".repeat(2_048));
    let (status, _, body) = post(hook(&long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("2048"), "{body}");
    for events in [json!([]), json!(["webhook.test"]), json!(["chat.exploded"])] {
        let (status, _, body) =
            post(json!({"url": "https://example.com/", "events": events})).await;
        assert!(status.is_client_error(), "{events}: {status} {body}");
    }
    for n in 0..MAX_PER_SITE {
        let (status, _, body) = post(hook(&format!("https://example.com/{n}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _, body) = post(hook("https://example.com/one-more")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("too_many_webhooks"))
    );
    drop(app);
    relay.stop().await;
}

/// Every webhook limit, as docs/API.md and docs/PROTOCOL.md state it, is
/// the one the code enforces.
#[test]
fn the_docs_give_the_webhook_limits_the_code_enforces() {
    use crate::webhooks::{CONNECT_TIMEOUT_MS, schedule, sender, target};
    let api = include_str!("../../../docs/API.md");
    let protocol = include_str!("../../../docs/PROTOCOL.md");
    let secs = |ms: u64| format!("{} s", ms / 1000);
    let thousands = |n: usize| {
        let text = n.to_string();
        match text.len() {
            4..=6 => format!("{},{}", &text[..text.len() - 3], &text[text.len() - 3..]),
            _ => text,
        }
    };
    let timing = schedule::Timing::default();
    for (doc, wanted) in [
        (api, format!("at most {MAX_PER_SITE} per site")),
        (
            api,
            format!("at most {}\n  bytes", thousands(target::MAX_URL_BYTES)),
        ),
        (
            api,
            format!("{} (5 s to connect)", secs(schedule::ATTEMPT_TIMEOUT_MS)),
        ),
        (api, format!("({} to connect)", secs(CONNECT_TIMEOUT_MS))),
        (
            api,
            format!("most {} bytes of an error answer", sender::BODY_CAP),
        ),
        (
            api,
            format!("after {}, then twice", secs(timing.retry_base_ms)),
        ),
        (api, format!("delay ({})", secs(timing.handover_ms))),
        (
            api,
            format!(
                "`limit` 1 to {}, default {}",
                super::webhooks::MAX_LOG,
                super::webhooks::MAX_LOG
            ),
        ),
        (
            protocol,
            format!("| webhook subscriptions per site | {MAX_PER_SITE} |"),
        ),
        (
            protocol,
            format!(
                "| {} bytes, http or https",
                thousands(target::MAX_URL_BYTES)
            ),
        ),
        (
            protocol,
            format!(
                "{} to connect, {} in all, {} bytes",
                secs(CONNECT_TIMEOUT_MS),
                secs(schedule::ATTEMPT_TIMEOUT_MS),
                sender::BODY_CAP
            ),
        ),
        (
            protocol,
            format!(
                "now + {}, the attempt's",
                secs(schedule::ATTEMPT_TIMEOUT_MS)
            ),
        ),
        (
            protocol,
            format!("whole timeout, + {})", secs(schedule::LEASE_MARGIN_MS)),
        ),
        (
            protocol,
            format!(
                "delay ({}, `--webhooks-handover-ms`)",
                secs(timing.handover_ms)
            ),
        ),
    ] {
        assert!(doc.contains(&wanted), "the docs say {wanted:?}");
    }
    assert_eq!(schedule::MAX_BACKOFF_MS, 3_600_000, "the docs say an hour");
    assert_eq!(
        schedule::RETRY_FOR_MS,
        24 * 3_600_000,
        "the docs say 24 hours"
    );
}
