//! Bad input gets a clear refusal and the relay keeps serving: foreign chats,
//! forged or foreign tokens, foreign origins, oversize and malformed frames,
//! floods, admin calls without the token.

use twinline_core::Role;
use twinline_core::protocol::{
    ChatResume, ClientFrame, ErrorCode, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServerFrame,
};
use twinline_tests::client::{Visitor, WsClient, visitor_token};
use twinline_tests::process::{RelayOptions, RelayProcess};
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
    let mut again = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
        .await
        .unwrap();
    let chats = again
        .hello_with_catch_up(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Visitor,
            site: SITE.into(),
            token: visitor.token.token.clone(),
            resume: vec![],
        })
        .await;
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
