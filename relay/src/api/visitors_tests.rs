//! Export and erasure through the REST API, on the relay's whole router:
//! a visitor's data as one document, by visitor id and by email; the
//! erasure, after which nothing of it is served; another site's key sees
//! nothing.

use super::router_tests::{add_chat, add_key, auth};
use crate::router_tests::{app, request, send};
use crate::store::api_keys::Scope;
use crate::store::records::Record;
use crate::test_relay::TestRelay;
use axum::http::StatusCode;
use twinline_core::{
    Author, Lamport, Message, MessageId, Millis, OfflineId, OfflineNote, Role, Ulid, VisitorId,
};

#[tokio::test]
async fn a_visitor_is_exported_erased_and_gone_from_every_route() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.20:1000");
    let chat = add_chat(&relay, 1, "demo").await;
    let visitor = VisitorId(Ulid(7)).to_string();
    relay
        .state
        .store
        .apply(
            Record::Message(Message {
                lamport: Lamport(1),
                author: Author {
                    role: Role::Visitor,
                    id: visitor.clone(),
                    name: String::new(),
                },
                id: MessageId(Ulid::new(Millis(1_700_000_000_001), 1)),
                chat,
                text: "my address is ...".into(),
                at: Millis(1_700_000_000_001),
                file: None,
            }),
            "test",
        )
        .await
        .unwrap();
    relay
        .state
        .store
        .apply(
            Record::Note(OfflineNote {
                id: OfflineId(Ulid(9)),
                site: "demo".into(),
                name: "Vera".into(),
                email: "Vera@Example.org".into(),
                text: "call me".into(),
                at: Millis(1_700_000_000_000),
            }),
            "test",
        )
        .await
        .unwrap();
    let (_, key) = add_key(&relay, "demo", &[Scope::DataManage, Scope::ChatsRead]).await;
    let bearer = auth(&key);
    let headers = [("authorization", bearer.as_str())];

    let export_path = format!("/v1/api/sites/demo/visitors/{visitor}/export");
    let (status, _, body) = send(&app, request("GET", &export_path, None, &headers)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["chats"][0]["id"], chat.to_string());
    assert_eq!(body["chats"][0]["info"]["name"], "Vera");
    assert_eq!(body["chats"][0]["messages"][0]["text"], "my address is ...");
    assert_eq!(body["erasures"].as_array().unwrap().len(), 0);

    let by_email = "/v1/api/sites/demo/export?email=vera%40example.org";
    let (status, _, body) = send(&app, request("GET", by_email, None, &headers)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notes"][0]["text"], "call me");

    // Another site's key: as if the visitor did not exist.
    let (_, other) = add_key(&relay, "other", &[Scope::DataManage]).await;
    let other = auth(&other);
    let (status, _, body) = send(
        &app,
        request("GET", &export_path, None, &[("authorization", &other)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let erase_path = format!("/v1/api/sites/demo/visitors/{visitor}");
    let (status, ..) = send(
        &app,
        request("DELETE", &erase_path, None, &[("authorization", &other)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, erasure) = send(&app, request("DELETE", &erase_path, None, &headers)).await;
    assert_eq!(status, StatusCode::OK, "{erasure}");
    assert_eq!(erasure["chats"][0], chat.to_string());
    assert_eq!(erasure["visitor"], visitor);

    let (status, ..) = send(
        &app,
        request("GET", &format!("/v1/api/chats/{chat}"), None, &headers),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the chat is gone");
    let (status, _, body) = send(&app, request("GET", &export_path, None, &headers)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["chats"].as_array().unwrap().len(), 0);
    assert_eq!(
        body["erasures"][0]["id"], erasure["id"],
        "the export shows it was done"
    );

    let (status, _, erased_notes) = send(
        &app,
        request(
            "DELETE",
            "/v1/api/sites/demo/data?email=VERA@example.org",
            None,
            &headers,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased_notes}");
    assert_eq!(erased_notes["notes"][0], OfflineId(Ulid(9)).to_string());
    let (_, _, body) = send(&app, request("GET", by_email, None, &headers)).await;
    assert_eq!(body["notes"].as_array().unwrap().len(), 0);

    let (status, _, body) = send(
        &app,
        request("DELETE", "/v1/api/sites/demo/data", None, &headers),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = send(
        &app,
        request(
            "GET",
            "/v1/api/sites/demo/visitors/nope/export",
            None,
            &headers,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "bad_visitor");
    drop(app);
    relay.stop().await;
}
