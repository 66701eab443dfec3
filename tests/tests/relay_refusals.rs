//! Bad input gets a clear refusal and the relay keeps serving: foreign chats,
//! forged or foreign tokens, foreign origins, oversize and malformed frames,
//! numbers no reader holds, taken ids, fields over their limits, floods,
//! admin calls without the token, guessed passwords and admin tokens, and
//! every HTTP refusal in the documented JSON.

use twinline_core::model::{MAX_FIELD_CHARS, MAX_LAMPORT_STEP};
use twinline_core::protocol::{
    ChatResume, ClientFrame, ErrorCode, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServerFrame,
};
use twinline_core::{Millis, OfflineNote, Role};
use twinline_tests::client::{Operator, Visitor, WsClient, offline_note, visitor_token};
use twinline_tests::process::{RelayOptions, RelayProcess, peak_memory_mb, serve_refusal};
use twinline_tests::{ADMIN_TOKEN, SITE, SITE_ORIGIN};

fn error_code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn a_visitor_cannot_write_into_or_join_another_visitors_chat() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut mallory = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let mut alice = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let secret = alice.say("my address is ...").await;

    // Writing into Alice's chat with Mallory's connection.
    let mut forged = mallory.message("injected", 9);
    forged.chat = alice.token.chat;
    mallory
        .ws
        .send(&ClientFrame::Send {
            msg: forged.clone(),
        })
        .await;
    let refusal = mallory.ws.recv().await;
    assert_eq!(error_code(&refusal), Some(ErrorCode::Forbidden));
    assert!(matches!(refusal, ServerFrame::Error { id: Some(id), .. } if id == forged.id));

    // Resuming Alice's chat with Mallory's token yields only Mallory's chat.
    let mut ws = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
        .await
        .unwrap();
    ws.send(&ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: SITE.into(),
        token: mallory.token.token.clone(),
        resume: vec![ChatResume {
            chat: alice.token.chat,
            have: vec![],
        }],
    })
    .await;
    let ServerFrame::Welcome { chats, .. } = ws.recv().await else {
        panic!("expected welcome")
    };
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].chat, mallory.token.chat);
    assert!(chats[0].missing.iter().all(|m| m.id != secret.id));

    // Impersonating Alice as author inside one's own chat is refused too.
    let mut impostor = mallory.message("I am alice", 10);
    impostor.author.id = alice.token.visitor.to_string();
    mallory.ws.send(&ClientFrame::Send { msg: impostor }).await;
    assert_eq!(
        error_code(&mallory.ws.recv().await),
        Some(ErrorCode::Forbidden)
    );
}

#[tokio::test]
async fn forged_expired_and_mismatched_tokens_end_the_connection_with_bad_token() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let token = visitor_token(&relay.url(), SITE, None, Some(SITE_ORIGIN))
        .await
        .unwrap();
    let (payload, _) = token.token.split_once('.').unwrap();
    let forged = format!("{payload}.AAAA");
    for (bad, code) in [
        (forged, ErrorCode::BadToken),
        ("garbage".to_string(), ErrorCode::BadToken),
    ] {
        let mut ws = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
            .await
            .unwrap();
        ws.send(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Visitor,
            site: SITE.into(),
            token: bad,
            resume: vec![],
        })
        .await;
        assert_eq!(error_code(&ws.recv().await), Some(code));
        ws.expect_closed().await;
    }
    // A visitor token used as an operator's is refused.
    let mut ws = WsClient::connect(&relay.ws_url(), None).await.unwrap();
    ws.send(&ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Operator,
        site: SITE.into(),
        token: token.token.clone(),
        resume: vec![],
    })
    .await;
    assert_eq!(error_code(&ws.recv().await), Some(ErrorCode::Forbidden));
    // A wrong protocol version is named as such.
    let mut ws = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
        .await
        .unwrap();
    ws.send(&ClientFrame::Hello {
        v: 99,
        role: Role::Visitor,
        site: SITE.into(),
        token: token.token,
        resume: vec![],
    })
    .await;
    assert_eq!(error_code(&ws.recv().await), Some(ErrorCode::Version));
}

#[tokio::test]
async fn foreign_origins_are_refused_for_websockets_and_tokens() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let refused = WsClient::connect(&relay.ws_url(), Some("http://evil.example"))
        .await
        .err()
        .expect("a foreign origin must not upgrade");
    assert_eq!(refused.status, Some(403));
    assert_eq!(
        visitor_token(&relay.url(), SITE, None, Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        visitor_token(&relay.url(), "no-such-site", None, None)
            .await
            .err(),
        Some(404)
    );
    // The relay still serves the real site.
    Visitor::join(&relay.url(), &relay.ws_url()).await;
}

#[tokio::test]
async fn oversize_malformed_and_unknown_frames_get_errors_and_keep_the_connection() {
    let relay = RelayProcess::start(RelayOptions::primary());
    // Before hello any such frame closes the connection (relay_flood.rs);
    // after it, each gets its error and the connection stays.
    let mut first = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let ws = &mut first.ws;
    ws.send(&ClientFrame::Ping { nonce: 1 }).await;
    assert_eq!(ws.recv().await, ServerFrame::Pong { nonce: 1 });
    ws.send_text("{not json").await;
    assert_eq!(error_code(&ws.recv().await), Some(ErrorCode::BadFrame));
    ws.send_text(r#"{"type":"teleport","to":"mars"}"#).await;
    assert_eq!(error_code(&ws.recv().await), Some(ErrorCode::UnknownType));
    ws.send_text(&format!(
        r#"{{"type":"ping","nonce":2,"pad":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    ))
    .await;
    assert_eq!(error_code(&ws.recv().await), Some(ErrorCode::TooLarge));
    ws.send(&ClientFrame::Ping { nonce: 3 }).await;
    assert_eq!(ws.recv().await, ServerFrame::Pong { nonce: 3 });

    // Text over the limit is refused by id; the chat goes on.
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let long = visitor.message(&"a".repeat(twinline_core::model::MAX_TEXT_CHARS + 1), 1);
    visitor
        .ws
        .send(&ClientFrame::Send { msg: long.clone() })
        .await;
    let refusal = visitor.ws.recv().await;
    assert!(matches!(
        refusal,
        ServerFrame::Error { code: ErrorCode::BadText, id: Some(id), .. } if id == long.id
    ));
    visitor.say("still here").await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_without_losing_what_was_acked() {
    let relay = RelayProcess::start(RelayOptions {
        extra: vec!["--frame-rate".into(), "5".into()],
        ..RelayOptions::primary()
    });
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let mut sent = Vec::new();
    for i in 0..60 {
        let msg = visitor.message(&format!("flood {i}"), i + 1);
        visitor
            .ws
            .send(&ClientFrame::Send { msg: msg.clone() })
            .await;
        sent.push(msg);
    }
    let mut acked = Vec::new();
    let mut limited = Vec::new();
    while acked.len() + limited.len() < sent.len() {
        match visitor.ws.recv().await {
            ServerFrame::Ack { id } => acked.push(id),
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                id: Some(id),
                ..
            } => limited.push(id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!limited.is_empty(), "a burst of 60 must hit a limit of 5/s");
    assert!(!acked.is_empty());
    // Every acked message is stored: a fresh hello returns exactly those.
    let chats = visitor.stored(&relay.ws_url()).await;
    let mut stored: Vec<_> = chats[0].missing.iter().map(|m| m.id).collect();
    stored.sort();
    acked.sort();
    assert_eq!(stored, acked);
}

#[tokio::test]
async fn admin_endpoints_want_the_admin_token() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let http = reqwest::Client::new();
    let without = http
        .post(format!("{}/v1/admin/drain", relay.url()))
        .json(&serde_json::json!({"to": "redundant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 401);
    let wrong = http
        .post(format!("{}/v1/admin/drain", relay.url()))
        .bearer_auth("nope")
        .json(&serde_json::json!({"to": "redundant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = http
        .get(format!("{}/v1/admin/drain", relay.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_a_right_one_logs_in() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    assert_eq!(
        twinline_tests::client::login(&relay.url(), "ada", "wrong horse")
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        twinline_tests::client::login(&relay.url(), "nobody", "correct horse")
            .await
            .err(),
        Some(401)
    );
    let login = twinline_tests::client::login(&relay.url(), "ada", "correct horse")
        .await
        .unwrap();
    assert_eq!(login.name, "Ada");
}

#[tokio::test]
async fn numbers_no_reader_holds_are_refused_and_times_are_the_relays() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let first = visitor.say("first").await;
    // Lamport 2^64-1, 2^53 and a jump far past the chat: refused for good,
    // by id, and the connection goes on.
    for lamport in [u64::MAX, 1 << 53, 2 + MAX_LAMPORT_STEP] {
        let msg = visitor.message("out of reach", lamport);
        visitor
            .ws
            .send(&ClientFrame::Send { msg: msg.clone() })
            .await;
        let refusal = visitor.ws.recv().await;
        assert!(
            matches!(refusal, ServerFrame::Error { code: ErrorCode::OutOfRange, id: Some(id), .. } if id == msg.id),
            "lamport {lamport}: {refusal:?}"
        );
    }
    // A message dated 2100 is dated by the relay instead.
    let before = twinline_relay::clock::now();
    let mut dated = visitor.message("from the future", 2);
    dated.at = Millis(4_102_444_800_000);
    visitor
        .ws
        .send(&ClientFrame::Send { msg: dated.clone() })
        .await;
    assert_eq!(visitor.ws.recv().await, ServerFrame::Ack { id: dated.id });
    let after = twinline_relay::clock::now();
    let chats = visitor.stored(&relay.ws_url()).await;
    let stored = &chats[0].missing;
    assert_eq!(
        stored.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first.id, dated.id],
        "only what was acked is stored"
    );
    let kept = &stored[1];
    assert!(
        kept.at >= before && kept.at <= after,
        "dated when the relay received it, not {}",
        kept.at.0
    );
    // A note's time too, and an out-of-range one cannot reach the store.
    let note = OfflineNote {
        at: Millis(4_102_444_800_000),
        ..offline_note(99, SITE, "dated 2100")
    };
    visitor.leave_note(&note).await;
    // A ping's nonce is echoed to its sender only, whatever its size
    // (sessions draw them at random).
    visitor
        .ws
        .send_text(r#"{"type":"ping","nonce":18446744073709551615}"#)
        .await;
    assert_eq!(
        visitor.ws.recv().await,
        ServerFrame::Pong { nonce: u64::MAX }
    );
    relay.add_operator("ada", "Ada", "correct horse");
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let inbox = ada
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Inbox { .. }))
        .await;
    let ServerFrame::Inbox { notes } = inbox else {
        unreachable!()
    };
    assert!(notes[0].at <= twinline_relay::clock::now());
}

#[tokio::test]
async fn a_taken_message_id_is_refused_never_acked_and_a_true_replay_is_acked() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut alice = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let mut mallory = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let original = alice.say("original").await;
    // The same id in another chat.
    let mut elsewhere = mallory.message("same id, my chat", 1);
    elsewhere.id = original.id;
    mallory
        .ws
        .send(&ClientFrame::Send {
            msg: elsewhere.clone(),
        })
        .await;
    assert!(matches!(
        mallory.ws.recv().await,
        ServerFrame::Error { code: ErrorCode::Conflict, id: Some(id), .. } if id == original.id
    ));
    // The same id with another text.
    let mut rewritten = original.clone();
    rewritten.text = "rewritten".into();
    alice.ws.send(&ClientFrame::Send { msg: rewritten }).await;
    assert!(matches!(
        alice.ws.recv().await,
        ServerFrame::Error { code: ErrorCode::Conflict, id: Some(id), .. } if id == original.id
    ));
    // The message itself again (a replay, with the client's own time): acked.
    alice
        .ws
        .send(&ClientFrame::Send {
            msg: original.clone(),
        })
        .await;
    assert_eq!(alice.ws.recv().await, ServerFrame::Ack { id: original.id });
    let chats = mallory.stored(&relay.ws_url()).await;
    assert!(
        chats[0].missing.is_empty(),
        "nothing was stored in mallory's chat"
    );
}

#[tokio::test]
async fn names_emails_and_page_addresses_over_their_limit_are_refused() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let long = "n".repeat(MAX_FIELD_CHARS + 1);
    let mut named = visitor.message("hello", 1);
    named.author.name = long.clone();
    visitor
        .ws
        .send(&ClientFrame::Send { msg: named.clone() })
        .await;
    assert!(matches!(
        visitor.ws.recv().await,
        ServerFrame::Error { code: ErrorCode::BadText, id: Some(id), .. } if id == named.id
    ));
    let chat = visitor.token.chat;
    for (name, email, page) in [
        (long.clone(), String::new(), String::new()),
        (String::new(), long.clone(), String::new()),
        (
            String::new(),
            String::new(),
            format!("https://shop.example/{long}"),
        ),
    ] {
        visitor
            .ws
            .send(&ClientFrame::SetVisitor {
                chat,
                name,
                email,
                page,
            })
            .await;
        assert_eq!(
            error_code(&visitor.ws.recv().await),
            Some(ErrorCode::BadText)
        );
    }
    let exact = "p".repeat(MAX_FIELD_CHARS);
    visitor
        .ws
        .send(&ClientFrame::SetVisitor {
            chat,
            name: "Ada".into(),
            email: "ada@example.org".into(),
            page: exact.clone(),
        })
        .await;
    let stored = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Visitor { .. }))
        .await;
    assert!(matches!(stored, ServerFrame::Visitor { info, .. } if info.page == exact));
}

/// An HTTP answer's status and JSON body.
async fn refusal(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "HTTP {status} answered {content_type:?}"
    );
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn every_http_refusal_is_the_documented_json_with_a_stable_code() {
    let relay = RelayProcess::start(RelayOptions::primary());
    // A client of its own per request: a refused upload closes its
    // connection.
    let http = reqwest::Client::new;
    let token_url = format!("{}/v1/visitor/token", relay.url());
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http()
                .post(&token_url)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "bad_request",
        ),
        (
            http()
                .post(&token_url)
                .header("content-type", "application/json")
                .body(r#"{"site": 7}"#),
            400,
            "bad_request",
        ),
        (
            http()
                .post(&token_url)
                .header("content-type", "text/plain")
                .body(r#"{"site":"demo"}"#),
            415,
            "unsupported_media_type",
        ),
        (
            http()
                .post(&token_url)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"site":"demo","token":"{}"}}"#,
                    "x".repeat(3 << 20)
                )),
            413,
            "too_large",
        ),
        (
            http().get(format!("{}/v1/no-such-thing", relay.url())),
            404,
            "not_found",
        ),
        (
            http().get(format!("{}/v1/operator/login", relay.url())),
            405,
            "method_not_allowed",
        ),
        (
            http().get(format!("{}/v1/ws", relay.url())),
            400,
            "bad_request",
        ),
        (
            http().get(format!("{}/metrics", relay.url())),
            401,
            "bad_token",
        ),
        (
            http().post(format!("{}/v1/operator/logout", relay.url())),
            401,
            "bad_token",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body) = refusal(request.send().await.unwrap()).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn health_is_not_ready_while_draining() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let http = reqwest::Client::new();
    let drain = http
        .post(format!("{}/v1/admin/drain", relay.url()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"to": "redundant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(drain.status(), 200);
    let health = http
        .get(format!("{}/v1/health", relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    let body: twinline_core::protocol::Health = health.json().await.unwrap();
    assert!(body.draining && !body.ready);
    http.post(format!("{}/v1/admin/undrain", relay.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let health: twinline_core::protocol::Health = http
        .get(format!("{}/v1/health", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(health.ready && !health.draining);
}

#[tokio::test]
async fn metrics_want_the_admin_or_the_metrics_token() {
    const METRICS_TOKEN: &str = "scraper-token-0123456789";
    let relay = RelayProcess::start(RelayOptions {
        extra: vec!["--metrics-token".into(), METRICS_TOKEN.into()],
        ..RelayOptions::primary()
    });
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", relay.url());
    let status = |token: Option<&'static str>| {
        let mut request = http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some("a-wrong-token-0123456789")).await, 401);
    assert_eq!(status(Some(METRICS_TOKEN)).await, 200);
    assert_eq!(status(Some(ADMIN_TOKEN)).await, 200);
    // The metrics token opens nothing else.
    let drain = http
        .get(format!("{}/v1/admin/drain", relay.url()))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(drain.status(), 401);
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins_never_null_or_a_mirror() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let http = reqwest::Client::new();
    let preflight = |path: &str, origin: &str| {
        http.request(reqwest::Method::OPTIONS, format!("{}{path}", relay.url()))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = |response: reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or("").to_string())
    };
    let own = relay.url();
    for (path, origin, expected) in [
        ("/v1/visitor/token", SITE_ORIGIN, Some(SITE_ORIGIN)),
        ("/v1/visitor/token", "null", None),
        ("/v1/visitor/token", "http://evil.example", None),
        ("/v1/operator/login", own.as_str(), Some(own.as_str())),
        ("/v1/operator/login", SITE_ORIGIN, None),
        ("/v1/operator/login", "null", None),
        ("/v1/operator/login", "http://evil.example", None),
        ("/v1/health", SITE_ORIGIN, Some(SITE_ORIGIN)),
        ("/v1/health", "http://evil.example", None),
        ("/v1/admin/drain", SITE_ORIGIN, None),
    ] {
        let got = allowed(preflight(path, origin).await.unwrap());
        assert_eq!(got.as_deref(), expected, "{path} from {origin}");
    }
}

#[tokio::test]
async fn empty_or_short_admin_tokens_are_refused_at_start() {
    for token in ["", "short"] {
        let refusal = serve_refusal(&["--admin-token", token])
            .unwrap_or_else(|| panic!("a relay started with admin token {token:?}"));
        assert!(refusal.contains("at least 16 characters"), "{refusal}");
    }
    let refusal = serve_refusal(&["--admin-token", ADMIN_TOKEN, "--metrics-token", "short"])
        .expect("a short metrics token is refused");
    assert!(refusal.contains("metrics token"), "{refusal}");
    assert!(serve_refusal(&["--admin-token", ADMIN_TOKEN]).is_none());
}

#[tokio::test]
async fn wrong_admin_tokens_are_throttled() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let http = reqwest::Client::new();
    let url = format!("{}/v1/admin/drain", relay.url());
    let mut statuses = Vec::new();
    for i in 0..12 {
        let response = http
            .get(&url)
            .bearer_auth(format!("wrong-token-{i:08}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    // Even the right token waits now, with a time to come back.
    let response = http
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

/// Behind a load balancer every request comes from the balancer: with
/// `--trusted-proxy` the sign-in and admin throttles key on the client it
/// names, so one client guessing does not lock out another; without, the
/// header is ignored, so a guesser cannot earn a fresh budget by writing a
/// new address into it.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_and_admin_throttles_key_on_the_client_a_trusted_proxy_names_only() {
    let behind = RelayProcess::start(RelayOptions {
        extra: vec!["--trusted-proxy".into(), "127.0.0.1".into()],
        ..RelayOptions::primary()
    });
    let direct = RelayProcess::start(RelayOptions::primary());
    for relay in [&behind, &direct] {
        relay.add_operator("ada", "Ada", "correct horse");
    }
    let http = reqwest::Client::new();
    let sign_in = |relay: &RelayProcess, client: &str, username: &str, password: &str| {
        http.post(format!("{}/v1/operator/login", relay.url()))
            .header("X-Forwarded-For", format!("6.6.6.6, {client}"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
    };
    let admin = |relay: &RelayProcess, client: &str, token: &str| {
        http.get(format!("{}/v1/admin/drain", relay.url()))
            .header("X-Forwarded-For", format!("6.6.6.6, {client}"))
            .bearer_auth(token)
            .send()
    };
    let status = |response: reqwest::Result<reqwest::Response>| response.unwrap().status().as_u16();

    // Sign-ins: an address's budget (30 failures back to back) spent over
    // as many usernames, so no account budget is what stops it.
    for n in 0..30 {
        let guess = sign_in(&behind, "198.51.100.1", &format!("guess{n}"), "wrong").await;
        assert_eq!(status(guess), 401, "failure {n}");
    }
    let throttled = sign_in(&behind, "198.51.100.1", "ada", "correct horse").await;
    assert_eq!(status(throttled), 429, "the guessing client waits");
    let other = sign_in(&behind, "198.51.100.2", "ada", "correct horse").await;
    assert_eq!(
        status(other),
        200,
        "another client behind the balancer signs in"
    );
    // Admin tokens: ten wrong ones from one client.
    for n in 0..10 {
        let guess = admin(&behind, "198.51.100.1", &format!("wrong-token-{n:08}")).await;
        assert_eq!(status(guess), 401, "wrong admin token {n}");
    }
    let throttled = admin(&behind, "198.51.100.1", twinline_tests::ADMIN_TOKEN).await;
    assert_eq!(status(throttled), 429, "the guessing client waits");
    let other = admin(&behind, "198.51.100.2", twinline_tests::ADMIN_TOKEN).await;
    assert_eq!(
        status(other),
        200,
        "another client behind the balancer is served"
    );

    // Not trusted: a new address in the header every time changes nothing.
    for n in 0..30 {
        let guess = sign_in(
            &direct,
            &format!("198.51.100.{n}"),
            &format!("guess{n}"),
            "wrong",
        )
        .await;
        assert_eq!(status(guess), 401, "failure {n}");
    }
    let throttled = sign_in(&direct, "203.0.113.9", "ada", "correct horse").await;
    assert_eq!(
        status(throttled),
        429,
        "the header does not buy a new budget"
    );
    for n in 0..10 {
        let guess = admin(
            &direct,
            &format!("198.51.100.{n}"),
            &format!("wrong-token-{n:08}"),
        )
        .await;
        assert_eq!(status(guess), 401, "wrong admin token {n}");
    }
    let throttled = admin(&direct, "203.0.113.9", twinline_tests::ADMIN_TOKEN).await;
    assert_eq!(
        status(throttled),
        429,
        "the header does not buy a new budget"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account_and_unknown_users_look_the_same() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let http = reqwest::Client::new();
    let attempt = |username: &'static str, password: &'static str| {
        http.post(format!("{}/v1/operator/login", relay.url()))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
    };
    // An unknown user and a wrong password get the same answer.
    let (unknown_status, unknown) = refusal(attempt("nobody", "wrong").await.unwrap()).await;
    let (wrong_status, wrong) = refusal(attempt("ada", "wrong").await.unwrap()).await;
    assert_eq!((unknown_status, &unknown), (wrong_status, &wrong));
    assert_eq!(wrong["error"], "bad_credentials");
    for _ in 0..9 {
        assert_eq!(attempt("ada", "wrong").await.unwrap().status(), 401);
    }
    // Ten failures: the account waits, even for the right password, and
    // is told when to come back. Another account is not touched.
    let throttled = attempt("ada", "correct horse").await.unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "retry after {wait} s");
    let (_, body) = refusal(throttled).await;
    assert_eq!(body["error"], "rate_limited");
    relay.add_operator("bob", "Bob", "battery staple");
    assert_eq!(
        attempt("bob", "battery staple").await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn two_hundred_parallel_wrong_sign_ins_keep_the_relay_small_and_answering() {
    let relay = RelayProcess::start(RelayOptions {
        extra: vec!["--ip-rate".into(), "0".into()],
        ..RelayOptions::primary()
    });
    relay.add_operator("ada", "Ada", "correct horse");
    let http = reqwest::Client::new();
    let attempts: Vec<_> = (0..200)
        .map(|i| {
            let request = http
                .post(format!("{}/v1/operator/login", relay.url()))
                .json(&serde_json::json!({"username": format!("user{i}"), "password": "wrong"}));
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let retry = response.headers().contains_key("retry-after");
                (response.status().as_u16(), retry)
            })
        })
        .collect();
    let health = http
        .get(format!("{}/v1/health", relay.url()))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .expect("health answers while sign-ins queue");
    assert_eq!(health.status(), 200);
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.unwrap());
    }
    assert!(
        answers.iter().all(|(status, retry)| match status {
            401 => true,
            503 | 429 => *retry,
            _ => false,
        }),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(status, _)| *status == 503),
        "the gate refused some"
    );
    let peak = peak_memory_mb(relay.pid().unwrap()).unwrap();
    // One argon2 check holds 19 MiB; without the gate 200 at once took the
    // relay to 3.7 GB.
    assert!(peak < 150, "peak memory {peak} MB");
    eprintln!("200 parallel wrong sign-ins: peak {peak} MB");
}
