//! The OpenAPI document against the router, both ways.

use super::ROUTES;
use crate::router_tests::{app, request, send};
use crate::test_relay::TestRelay;
use axum::http::StatusCode;
use std::collections::BTreeSet;

fn documented() -> BTreeSet<(String, String)> {
    let spec = super::openapi::spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[test]
fn the_document_lists_exactly_the_api_routes() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(), routes);
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let relay = TestRelay::start();
    for (n, (method, path)) in documented().into_iter().enumerate() {
        // An address each: a wrong key is throttled per address after 10.
        let app = app(&relay, &format!("192.0.2.{}:1000", 100 + n));
        let uri = path
            .replace("{chat}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{site}", "demo")
            .replace("{webhook}", "wh_00")
            .replace("{visitor}", "01ARZ3NDEKTSV4RRFFQ69G5FAW");
        let json = super::router_tests::body_for(&method, &uri);
        let (status, _, body) = send(&app, request(&method.to_uppercase(), &uri, json, &[])).await;
        // Routed: a handler answered (the key check, or the document);
        // axum's fallback would be 404 not_found, or 405.
        assert!(
            status == StatusCode::OK || body["error"] == "bad_key",
            "{method} {uri}: {status} {body}"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn the_page_is_rendered_from_the_document_and_runs_no_script() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.21:1000");
    let response =
        tower::ServiceExt::oneshot(app.clone(), request("GET", "/v1/api/docs", None, &[]))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for (method, path) in documented() {
        assert!(
            html.contains(&format!("<code>{} {}</code>", method.to_uppercase(), path)),
            "{method} {path}"
        );
    }
    assert!(!html.contains("<script"));
    assert!(
        html.contains("<code>text</code> (required)")
            && html.contains("<code>operator</code> (optional)"),
        "the POST body's fields"
    );
    assert!(
        super::openapi::render(&serde_json::json!({"info": {"description": "<b>"}, "paths": {}}))
            .contains("&lt;b&gt;")
    );
    drop(app);
    relay.stop().await;
}

#[test]
fn docs_api_md_names_every_route_code_and_limit_the_code_enforces() {
    let doc = include_str!("../../../docs/API.md");
    for (method, path) in ROUTES {
        let path = path.split('?').next().unwrap_or(path);
        assert!(
            doc.contains(&format!("{} {path}", method.to_uppercase())),
            "docs/API.md names {method} {path}"
        );
    }
    for limit in [
        format!("`limit` is 1 to {}", super::paging::MAX_LIMIT),
        format!("(default {})", super::paging::DEFAULT_LIMIT),
        format!("(1 to {} visible ASCII", super::idempotency::MAX_KEY_BYTES),
        format!(
            "{} back to back",
            crate::throttle::ADDRESS_ADMIN_FAILURES.burst
        ),
    ] {
        assert!(doc.contains(&limit), "docs/API.md says {limit:?}");
    }
    assert_eq!(
        crate::store::erasures::MAX_ERASED_ITEMS,
        5_000,
        "docs/API.md says 5,000 chats and notes"
    );
    assert!(doc.contains("at most 5,000 chats and notes"));
    assert_eq!(
        crate::throttle::ADDRESS_ADMIN_FAILURES.per_hour,
        60,
        "docs/API.md says one a minute"
    );
    for code in [
        "bad_request",
        "bad_cursor",
        "bad_idempotency_key",
        "unknown_operator",
        "bad_key",
        "forbidden",
        "not_found",
        "chat_closed",
        "idempotency_conflict",
        "too_many_rows",
        "bad_visitor",
        "rate_limited",
        "unavailable",
    ] {
        assert!(
            doc.contains(&format!("`{code}`")),
            "docs/API.md lists {code}"
        );
    }
    for scope in crate::store::api_keys::Scope::ALL {
        assert!(doc.contains(&format!("`{}`", scope.as_str())));
    }
}
