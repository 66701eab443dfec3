//! The relay's HTTP router in process, as axum's testing example drives
//! one: each request goes through [`crate::serve::router`] (CORS, JSON
//! refusals, timeouts, the handlers) with `oneshot`, and `MockConnectInfo`
//! stands in for the listener that tells handlers the client's address.
//! The store is real (a fresh SQLite file); no socket is opened. What needs
//! a real process (the listener's limits, SIGKILL, two deployments) stays
//! in `tests/tests/`.

use crate::console_page::ConsolePage;
use crate::test_relay::{ADMIN_TOKEN, TestRelay};
use crate::tokens::Claim;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::net::SocketAddr;
use tower::ServiceExt;

/// The relay's router, its client at `from`.
pub(crate) fn app(relay: &TestRelay, from: &str) -> Router {
    let console = ConsolePage::new(&relay.state.config).expect("a console page");
    crate::serve::router(relay.state.clone(), console).layer(MockConnectInfo(
        from.parse::<SocketAddr>().expect("an address"),
    ))
}

/// A request with an optional JSON body and extra headers.
pub(crate) fn request(
    method: &str,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("a request")
}

/// The answer's status, headers and JSON body (`Null` when it is not JSON).
pub(crate) async fn send(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, header::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn health_is_ready_and_uncached_then_unavailable_while_shutting_down() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    let (status, headers, body) = send(&app, request("GET", "/v1/health", None, &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["ready"], true, "{body}");
    relay.state.begin_shutdown();
    let (status, _, body) = send(&app, request("GET", "/v1/health", None, &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], false, "{body}");
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn no_answer_is_left_to_sniffing_refusals_and_api_pages_included() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    for (method, uri, expected) in [
        ("GET", "/v1/health", StatusCode::OK),
        ("GET", "/v1/api/docs", StatusCode::OK),
        ("GET", "/v1/api/openapi.json", StatusCode::OK),
        // A refusal quoting a hostile value is JSON, never sniffed as HTML.
        (
            "GET",
            "/v1/api/chats?state=%3Cscript%3E",
            StatusCode::UNAUTHORIZED,
        ),
        ("GET", "/no/such/route", StatusCode::NOT_FOUND),
        ("DELETE", "/v1/health", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (status, headers, _) = send(&app, request(method, uri, None, &[])).await;
        assert_eq!(status, expected, "{method} {uri}");
        assert_eq!(
            headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{method} {uri}"
        );
    }
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn a_visitor_token_is_for_a_known_site_from_its_own_origin_only() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    let token = |site: &str, origin: &'static str| {
        request(
            "POST",
            "/v1/visitor/token",
            Some(json!({ "site": site })),
            &[("origin", origin)],
        )
    };
    let (status, _, body) = send(&app, token("nowhere", "http://site.test")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_site"))
    );
    let (status, headers, body) = send(&app, token("demo", "http://evil.test")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert!(
        !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "no CORS for a foreign origin: {headers:?}"
    );
    let malformed = request(
        "POST",
        "/v1/visitor/token",
        Some(json!({ "site": 7 })),
        &[("origin", "http://site.test")],
    );
    let (status, _, body) = send(&app, malformed).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{body}"
    );
    let (status, headers, body) = send(&app, token("demo", "http://site.test")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://site.test"
    );
    let claim = relay
        .state
        .signer
        .verify(
            body["token"].as_str().expect("a token"),
            crate::clock::now(),
        )
        .expect("a token the relay signed");
    assert!(
        matches!(claim, Claim::Visitor { ref site, .. } if site == "demo"),
        "{claim:?}"
    );
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn sign_in_refuses_wrong_passwords_and_other_origins_and_logout_ends_the_session() {
    let relay = TestRelay::start();
    relay.add_operator("ada", "correct horse battery").await;
    let app = app(&relay, "192.0.2.1:1000");
    let login = |password: &str, headers: &[(&str, &str)]| {
        request(
            "POST",
            "/v1/operator/login",
            Some(json!({ "username": "ada", "password": password })),
            headers,
        )
    };
    let (status, _, body) = send(&app, login("wrong password", &[])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    let from_a_site = [("origin", "http://site.test")];
    let (status, _, body) = send(&app, login("correct horse battery", &from_a_site)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _, body) = send(&app, login("correct horse battery", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().expect("a session token").to_string();

    let logout = |token: &str| {
        request(
            "POST",
            "/v1/operator/logout",
            None,
            &[("authorization", &bearer(token))],
        )
    };
    let (status, _, body) = send(&app, logout("not-a-token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token"))
    );
    let (status, _, _) = send(&app, logout(&session)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = send(&app, logout(&session)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token")),
        "a session that was signed out stays ended: {body}"
    );
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn admin_and_metrics_want_the_admin_token_and_wrong_ones_are_throttled_per_address() {
    let relay = TestRelay::start();
    let guesser = app(&relay, "192.0.2.1:1000");
    let admin = |token: &str, method: &str, uri: &str| {
        request(method, uri, None, &[("authorization", &bearer(token))])
    };
    for (method, uri) in [
        ("POST", "/v1/admin/drain"),
        ("GET", "/v1/admin/drain"),
        ("POST", "/v1/admin/undrain"),
        ("GET", "/metrics"),
    ] {
        let (status, _, body) = send(&guesser, request(method, uri, None, &[])).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_token")),
            "{method} {uri} without a token"
        );
    }
    let (status, _, _) = send(&guesser, admin(ADMIN_TOKEN, "GET", "/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    // Four wrong so far; after ten, even the right token waits.
    for _ in 4..10 {
        let (status, _, _) = send(&guesser, admin("wrong", "GET", "/v1/admin/drain")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        send(&guesser, admin(ADMIN_TOKEN, "GET", "/v1/admin/drain")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "{body}"
    );
    assert!(headers.contains_key(header::RETRY_AFTER), "{headers:?}");
    // Another address is not held back by the guesser.
    let operator = app(&relay, "198.51.100.7:2000");
    let (status, _, body) = send(&operator, admin(ADMIN_TOKEN, "GET", "/v1/admin/drain")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["draining"], false);
    drop((guesser, operator));
    relay.stop().await;
}
