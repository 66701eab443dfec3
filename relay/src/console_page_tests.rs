//! The console's configuration and headers, from a relay's configuration
//! through the real static-file router.

use super::*;
use crate::config::{Config, Peer, ServeArgs};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use twinline_core::protocol::DeploymentRole;

fn config(peer: Option<&str>, moderator: Option<&str>) -> Config {
    let mut config = Config::from_args(ServeArgs {
        secret: Some("0123456789abcdef".into()),
        admin_token: Some("admin-token-0123456789".into()),
        ..ServeArgs::default()
    })
    .unwrap();
    config.peer = peer.map(|url| Peer {
        name: "eu-west".into(),
        url: url.into(),
    });
    config.moderator_url = moderator.map(str::to_string);
    config
}

fn policy(page: &ConsolePage) -> &str {
    page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
}

fn directive<'a>(policy: &'a str, name: &str) -> Vec<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {name} in {policy}"))
        .split_whitespace()
        .collect()
}

#[test]
fn the_config_names_this_deployment_its_peer_and_the_moderator() {
    let page = ConsolePage::new(&config(
        Some("https://chat-b.example.net"),
        Some("https://mod.example.net"),
    ))
    .unwrap();
    let body: ConsoleConfig = serde_json::from_str(page.config_json()).unwrap();
    assert_eq!(
        body,
        ConsoleConfig {
            role: DeploymentRole::Primary,
            name: "primary".into(),
            peer: Some(ConsolePeer {
                name: "eu-west".into(),
                url: "https://chat-b.example.net".into(),
            }),
            moderator: Some("https://mod.example.net".into()),
        }
    );
    let alone = ConsolePage::new(&config(None, None)).unwrap();
    let body: ConsoleConfig = serde_json::from_str(alone.config_json()).unwrap();
    assert_eq!((body.peer, body.moderator), (None, None));
}

#[test]
fn connect_src_names_exactly_the_configured_origins() {
    let page = ConsolePage::new(&config(
        Some("https://chat-b.example.net:8443/base/"),
        Some("http://127.0.0.1:7000"),
    ))
    .unwrap();
    let policy = policy(&page);
    assert_eq!(
        directive(policy, "connect-src"),
        [
            "'self'",
            "https://chat-b.example.net:8443",
            "wss://chat-b.example.net:8443",
            "http://127.0.0.1:7000",
        ]
    );
    assert_eq!(directive(policy, "frame-ancestors"), ["'none'"]);
    assert_eq!(directive(policy, "default-src"), ["'self'"]);
    // Image files' previews are object URLs of bytes fetched with the token.
    assert_eq!(directive(policy, "img-src"), ["'self'", "data:", "blob:"]);
    assert_eq!(
        directive(policy, "script-src"),
        ["'self'", "'wasm-unsafe-eval'"]
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let alone = ConsolePage::new(&config(None, None)).unwrap();
    assert_eq!(directive(self::policy(&alone), "connect-src"), ["'self'"]);
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[test]
fn only_plain_web_origins_name_a_deployment() {
    for good in [
        "http://127.0.0.1:7001",
        "https://chat.example.net",
        "https://Chat.Example.NET/twinline",
        "http://[::1]:7001",
    ] {
        let origin = WebOrigin::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert!(origin.http().starts_with("http"), "{good}");
    }
    assert_eq!(
        WebOrigin::parse("https://Chat.Example.NET/x").unwrap().ws(),
        "wss://chat.example.net"
    );
    for bad in [
        "",
        "chat.example.net",
        "javascript:alert(1)",
        "ftp://chat.example.net",
        "https://user:secret@chat.example.net",
        "https://chat.example.net;script-src",
        "https://chat.example.net,evil.example",
        "https://chat example.net",
        "https://'unsafe-inline'",
        "https://*",
    ] {
        assert!(WebOrigin::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn paths_are_judged_as_the_file_service_resolves_them() {
    use ConsolePath::*;
    for (path, expected) in [
        ("/console", Inside),
        ("/console/", Inside),
        ("/console/index.html", Inside),
        ("/console/pkg/twinline_console_bg.wasm", Inside),
        ("/console/config.json", Config),
        ("/%63onsole/config.json", Config),
        ("//console/./config.json", Config),
        ("/console/config%2Ejson", Config),
        ("/console%2Fconfig.json", Config),
        ("/console/config.json/x", Inside),
        ("/console/pkg/config.json", Inside),
        ("/consoles/", Outside),
        ("/pkg/twinline_widget.js", Outside),
        ("/loader.js", Outside),
        ("/", Outside),
        ("/%ff/console/", Outside),
    ] {
        assert_eq!(console_path(path), expected, "{path}");
    }
}

/// The static files of a `--www` with a console page and a stale
/// `console/config.json` pointing elsewhere.
fn www() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "twinline-console-page-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(dir.join("console")).unwrap();
    std::fs::write(dir.join("console/index.html"), "<!doctype html>").unwrap();
    std::fs::write(
        dir.join("console/config.json"),
        r#"{"role":"primary","name":"evil","peer":{"name":"x","url":"https://evil.example"},"moderator":null}"#,
    )
    .unwrap();
    std::fs::write(dir.join("loader.js"), "// loader").unwrap();
    dir
}

async fn get(router: &Router, path: &str) -> (StatusCode, HeaderMap, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_relay_answers_config_json_and_puts_its_headers_on_every_console_response() {
    let dir = www();
    let page = ConsolePage::new(&config(Some("http://127.0.0.1:7002"), None)).unwrap();
    let router = wrap(
        Router::new().fallback_service(ServeDir::new(&dir).append_index_html_on_directories(true)),
        page.clone(),
    );
    for path in ["/console/config.json", "/%63onsole/config.json"] {
        let (status, headers, body) = get(&router, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, page.config_json(), "{path}: the static file won");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    }
    for path in [
        "/console/",
        "/%63onsole/",
        "/console/index.html",
        "/console/missing.js",
    ] {
        let (_, headers, _) = get(&router, path).await;
        for (name, value) in page.headers() {
            assert_eq!(headers.get(name), Some(value), "{path}: {name}");
        }
    }
    let (status, headers, body) = get(&router, "/loader.js").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "// loader"));
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_documented_policy_is_the_one_sent() {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let start = doc
        .find("carries `Content-Security-Policy: ")
        .expect("PROTOCOL.md documents the console's policy")
        + "carries `Content-Security-Policy: ".len();
    let documented = doc[start..].split('`').next().unwrap();
    let documented = documented.split_whitespace().collect::<Vec<_>>().join(" ");
    let page = ConsolePage::new(&config(
        Some("https://chat-b.example.net"),
        Some("https://mod.example.net"),
    ))
    .unwrap();
    let expected = documented.replace(
        "<peer http(s) and ws(s) origins> <moderator origin>",
        "https://chat-b.example.net wss://chat-b.example.net https://mod.example.net",
    );
    assert_eq!(policy(&page), expected);
}
