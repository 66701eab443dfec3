//! History search through real relay processes (issue 22): a chat closed
//! on the primary is found on the redundant, once replicated, by the same
//! search with the same answer, and read whole alike; an agent of another
//! site finds nothing on either.

use serde_json::Value;
use std::time::Duration;
use twinline_core::ChatState;
use twinline_core::protocol::{ClientFrame, ServerFrame};
use twinline_tests::client::{Operator, Visitor, login};
use twinline_tests::pair::{Pair, accounts_of, eventually};

/// `GET {base}{path}` with an operator's session token: status and JSON.
async fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_chat_closed_on_the_primary_is_found_alike_on_the_redundant() {
    let pair = Pair::start(&[]);
    pair.primary.add_operator("ada", "Ada", "correct horse");
    assert!(pair.primary.operator_cli(
        &[
            "add",
            "--username",
            "eve",
            "--site",
            "elsewhere",
            "--password-stdin"
        ],
        "eve's password",
    ));
    eventually(
        Duration::from_secs(20),
        "the accounts replicated",
        || async {
            let names = accounts_of(&pair.redundant).await;
            names.iter().any(|n| n == "ada") && names.iter().any(|n| n == "eve")
        },
    )
    .await;

    // A chat about a parcel, closed by the visitor, and another one open.
    let mut operator = Operator::join(
        &pair.primary.url(),
        &pair.primary.ws_url(),
        "ada",
        "correct horse",
    )
    .await;
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("My parcel never arrived").await;
    operator.accept(chat).await;
    visitor.say("It is parcel ZX81").await;
    visitor.ws.send(&ClientFrame::Close { chat }).await;
    operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { status, .. } if status.state == ChatState::Closed))
        .await;
    let mut other = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    other.say("A parcel question, still open").await;

    let search = "/v1/operator/history?q=PARCEL+zx&state=closed";
    let opened = format!("/v1/operator/history/{chat}");
    let on_primary = login(&pair.primary.url(), "ada", "correct horse")
        .await
        .unwrap();
    let (status, found) = get(&pair.primary.url(), search, &on_primary.token).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["chat"], chat.to_string());
    assert_eq!(found["items"][0]["snippet"], "It is parcel ZX81");
    assert_eq!(found["items"][0]["state"], "closed");
    let (_, transcript) = get(&pair.primary.url(), &opened, &on_primary.token).await;
    assert_eq!(
        transcript["messages"].as_array().map(Vec::len),
        Some(2),
        "{transcript}"
    );

    // The redundant, once it holds the close: the same answers, byte for byte.
    let on_redundant = login(&pair.redundant.url(), "ada", "correct horse")
        .await
        .unwrap();
    let token = on_redundant.token.clone();
    let base = pair.redundant.url();
    let expected = found.clone();
    eventually(
        Duration::from_secs(20),
        "the same search answer on the redundant",
        || {
            let (base, token, expected) = (base.clone(), token.clone(), expected.clone());
            async move { get(&base, search, &token).await.1 == expected }
        },
    )
    .await;
    assert_eq!(get(&base, &opened, &token).await.1, transcript);
    // Every state, no words: the open chat too, in the same order on both.
    let every = "/v1/operator/history?state=&limit=50";
    let (_, all_primary) = get(&pair.primary.url(), every, &on_primary.token).await;
    assert_eq!(
        all_primary["items"].as_array().map(Vec::len),
        Some(2),
        "{all_primary}"
    );
    eventually(
        Duration::from_secs(20),
        "every chat alike on the redundant",
        || {
            let (base, token, expected) = (base.clone(), token.clone(), all_primary.clone());
            async move { get(&base, every, &token).await.1 == expected }
        },
    )
    .await;

    // An agent of another site, on either deployment: nothing.
    for relay in [&pair.primary, &pair.redundant] {
        let eve = login(&relay.url(), "eve", "eve's password").await.unwrap();
        let (status, found) = get(&relay.url(), search, &eve.token).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["items"], serde_json::json!([]), "{found}");
        let (status, refused) = get(&relay.url(), &opened, &eve.token).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (404, Some("not_found"))
        );
    }
}
