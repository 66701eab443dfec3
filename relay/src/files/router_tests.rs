//! The file endpoints through the relay's whole router, on a real store:
//! an upload in chunks with a retry and a resume, the download's headers,
//! who gets nothing, and the limits' refusals.

use crate::router_tests::{app, send};
use crate::test_relay::TestRelay;
use crate::tokens::Claim;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twinline_core::files::CHUNK_BYTES;
use twinline_core::{ChatId, FileId, Millis, Ulid, VisitorId};

const FAR: Millis = Millis(u64::MAX >> 12);

fn visitor_token(relay: &TestRelay, chat: ChatId) -> String {
    relay.state.signer.sign(&Claim::Visitor {
        site: "demo".into(),
        visitor: VisitorId(Ulid(5)),
        chat,
        exp: FAR,
    })
}

fn post_bytes(uri: &str, token: &str, bytes: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes))
        .unwrap()
}

fn with_token(method: &str, uri: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

/// A PDF-looking file of `size` bytes.
fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..size - bytes.len()).map(|i| (i % 251) as u8));
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_file_uploads_in_chunks_resumes_and_downloads_only_to_its_chat() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    let chat = ChatId::new(Millis(1_000), 1);
    let token = visitor_token(&relay, chat);
    let file = FileId::new(Millis(1_000), 2);
    let bytes = pdf(2 * CHUNK_BYTES as usize + 100);
    let size = bytes.len();
    let chunk = |i: usize| {
        bytes[i * CHUNK_BYTES as usize..size.min((i + 1) * CHUNK_BYTES as usize)].to_vec()
    };
    let chunk_uri = |i: usize| format!("/v1/files/{file}/chunks/{i}?chat={chat}&size={size}");

    // Chunk 0 twice (a retry), then chunk 2: the relay says what it holds.
    for i in [0, 0, 2] {
        let (status, _, body) = send(&app, post_bytes(&chunk_uri(i), &token, chunk(i))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let status_uri = format!("/v1/files/{file}/upload?chat={chat}");
    let (status, _, body) = send(&app, with_token("GET", &status_uri, &token, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"id": file.to_string(), "chunks": [0, 2], "file": null})
    );
    // Other bytes under a stored chunk are refused.
    let (status, _, body) = send(&app, post_bytes(&chunk_uri(2), &token, vec![7; 100])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("id_taken"))
    );

    let complete_uri = format!("/v1/files/{file}/complete?chat={chat}");
    let declared = json!({"name": "invoice.pdf", "size": size, "sha256": sha256(&bytes)});
    let (status, _, body) = send(
        &app,
        with_token("POST", &complete_uri, &token, Some(declared.clone())),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("incomplete")),
        "{body}"
    );
    // The resume: only what is missing.
    let (_, _, held) = send(&app, with_token("GET", &status_uri, &token, None)).await;
    let held: Vec<u64> = serde_json::from_value(held["chunks"].clone()).unwrap();
    for i in twinline_core::files::missing(size as u64, &held) {
        let (status, _, _) = send(
            &app,
            post_bytes(&chunk_uri(i as usize), &token, chunk(i as usize)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let wrong = json!({"name": "invoice.pdf", "size": size, "sha256": "0".repeat(64)});
    let (status, _, body) =
        send(&app, with_token("POST", &complete_uri, &token, Some(wrong))).await;
    assert_eq!(body["error"], "hash_mismatch", "{status} {body}");
    for _ in 0..2 {
        let (status, _, body) = send(
            &app,
            with_token("POST", &complete_uri, &token, Some(declared.clone())),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["type"], "application/pdf");
        assert_eq!(body["size"], size);
    }

    // The download: the bytes, never active content.
    let download = format!("/v1/files/{file}");
    let response =
        tower::ServiceExt::oneshot(app.clone(), with_token("GET", &download, &token, None))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        "sandbox; default-src 'none'"
    );
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let got = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());

    // An operator of the site reaches it; no token, another chat's
    // visitor, a forged token: nothing.
    let account = relay.add_operator("ada", "correct horse battery").await;
    let operator = relay.state.signer.sign(&Claim::Operator {
        username: "ada".into(),
        name: String::new(),
        exp: FAR,
        ver: account.version,
    });
    let (status, headers, _) = send(&app, with_token("GET", &download, &operator, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_LENGTH], size.to_string().as_str());
    let other = visitor_token(&relay, ChatId::new(Millis(1_000), 99));
    for token in ["", other.as_str(), "eyJrIjoidmlzaXRvciJ9.Zm9yZ2Vk"] {
        let (status, _, _) = send(&app, with_token("GET", &download, token, None)).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND,
            "{status}"
        );
        let (status, _, _) = send(&app, with_token("GET", &status_uri, token, None)).await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND);
    }
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn svg_html_and_files_past_the_limits_are_refused_before_anything_is_stored() {
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    let chat = ChatId::new(Millis(1_000), 1);
    let token = visitor_token(&relay, chat);
    let upload = |n: u128, bytes: Vec<u8>, size: u64| {
        let file = FileId::new(Millis(1_000), n);
        post_bytes(
            &format!("/v1/files/{file}/chunks/0?chat={chat}&size={size}"),
            &token,
            bytes,
        )
    };
    for active in [
        &b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(1)</script></svg>"[..],
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        b"#!/bin/sh\nrm -rf /\n",
    ] {
        let (status, _, body) = send(&app, upload(1, active.to_vec(), active.len() as u64)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert_eq!(body["error"], "file_type_not_allowed");
    }
    let (status, _, body) = send(&app, upload(2, pdf(10), 10 * 1024 * 1024 + 1)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("file_too_large"))
    );
    // A chunk of the wrong length for the size declared.
    let (status, _, _) = send(&app, upload(3, pdf(10), 11)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Twenty files in a chat, then no more.
    for n in 0..20u128 {
        let (status, _, body) = send(&app, upload(100 + n, pdf(10), 10)).await;
        assert_eq!(status, StatusCode::OK, "{n}: {body}");
    }
    let (status, _, body) = send(&app, upload(200, pdf(10), 10)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_many_files"))
    );
    // Nothing of the refused ones was stored.
    let usage = relay
        .state
        .store
        .read(move |c| c.files().chat_usage(chat))
        .await
        .unwrap();
    assert_eq!(usage, (20, 200));
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn a_feed_page_of_chunks_ends_near_its_byte_bound_and_the_next_goes_on() {
    use crate::replication::feed::{PAGE_BYTES, bounded_page};
    use crate::store::files::Chunk;
    use crate::store::records::Record;
    let relay = TestRelay::start();
    let chat = ChatId::new(Millis(1_000), 1);
    let chunks = 2 * PAGE_BYTES as u64 / CHUNK_BYTES * 3 / 4 + 7;
    let records: Vec<(Record, String)> = (0..chunks)
        .map(|n| {
            let file = FileId::new(Millis(1_000), 10 + u128::from(n / 100));
            let bytes = vec![n as u8; CHUNK_BYTES as usize];
            let chunk = Chunk::new(file, chat, "demo", n % 100, &bytes);
            (Record::FileChunk(chunk), "primary".to_string())
        })
        .collect();
    relay.state.store.apply_batch(records, None).await.unwrap();
    let mut since = 0;
    let mut pages = Vec::new();
    loop {
        let page = relay
            .state
            .store
            .read(move |c| bounded_page(c, since, 5_000, "redundant"))
            .await
            .unwrap();
        if page.changes.is_empty() {
            break;
        }
        let weight: usize = page
            .changes
            .iter()
            .map(|c| match &c.record {
                Record::FileChunk(chunk) => chunk.data.len(),
                _ => 0,
            })
            .sum();
        assert!(weight < PAGE_BYTES + 100_000, "a page of {weight} bytes");
        assert_eq!(page.next, page.changes.last().unwrap().seq);
        since = page.next;
        pages.push(page.changes.len() as u64);
    }
    assert!(pages.len() >= 2, "{pages:?}");
    assert_eq!(pages.iter().sum::<u64>(), chunks);
    relay.stop().await;
}

#[tokio::test]
async fn an_operator_sends_a_file_in_a_chat_of_its_site_and_nowhere_else() {
    use crate::store::records::{ChatRecord, Record};
    let relay = TestRelay::start();
    let app = app(&relay, "192.0.2.1:1000");
    let account = relay.add_operator("ada", "correct horse battery").await;
    let operator = relay.state.signer.sign(&Claim::Operator {
        username: "ada".into(),
        name: String::new(),
        exp: FAR,
        ver: account.version,
    });
    let chat = ChatId::new(Millis(1_000), 1);
    let bytes = pdf(500);
    let file = FileId::new(Millis(1_000), 3);
    let chunk_uri = |chat: ChatId| format!("/v1/files/{file}/chunks/0?chat={chat}&size=500");
    // No header here yet: the chat's site is unknown, so nothing is sent.
    let (status, _, _) = send(&app, post_bytes(&chunk_uri(chat), &operator, bytes.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut header = ChatRecord::empty(chat, Millis(1_000));
    header.site = "demo".into();
    header.visitor = VisitorId(Ulid(5));
    relay
        .state
        .store
        .apply(Record::Chat(header.clone()), "primary")
        .await
        .unwrap();
    let mut elsewhere = ChatRecord::empty(ChatId::new(Millis(1_000), 2), Millis(1_000));
    elsewhere.site = "other".into();
    relay
        .state
        .store
        .apply(Record::Chat(elsewhere.clone()), "primary")
        .await
        .unwrap();
    let (status, _, _) = send(
        &app,
        post_bytes(&chunk_uri(elsewhere.id), &operator, bytes.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) =
        send(&app, post_bytes(&chunk_uri(chat), &operator, bytes.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let declared = json!({"name": "reply.pdf", "size": 500, "sha256": sha256(&bytes)});
    let uri = format!("/v1/files/{file}/complete?chat={chat}");
    let (status, _, body) = send(&app, with_token("POST", &uri, &operator, Some(declared))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The chat's visitor downloads what the operator sent.
    let visitor = visitor_token(&relay, chat);
    let (status, headers, _) = send(
        &app,
        with_token("GET", &format!("/v1/files/{file}"), &visitor, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    drop(app);
    relay.stop().await;
}

#[tokio::test]
async fn one_address_cannot_fill_the_store_by_opening_chat_after_chat() {
    use crate::limits::defaults::UPLOAD_CHUNKS_BURST_PER_IP;
    use twinline_core::files::MAX_FILES_PER_CHAT;
    let relay = TestRelay::start();
    let greedy = app(&relay, "203.0.113.9:4000");
    let chunk = |chat: ChatId, n: u128| {
        let file = FileId::new(Millis(1_000), n);
        post_bytes(
            &format!("/v1/files/{file}/chunks/0?chat={chat}&size=10"),
            &visitor_token(&relay, chat),
            pdf(10),
        )
    };
    // Every new visitor token is a new chat with its own file limits: the
    // address's budget is what stops the next one.
    let chats = u128::from(UPLOAD_CHUNKS_BURST_PER_IP).div_ceil(u128::from(MAX_FILES_PER_CHAT));
    let mut sent = 0;
    'chats: for c in 0..chats {
        let chat = ChatId::new(Millis(1_000), 10 + c);
        for n in 0..u128::from(MAX_FILES_PER_CHAT) {
            if sent == UPLOAD_CHUNKS_BURST_PER_IP {
                break 'chats;
            }
            let (status, _, body) = send(&greedy, chunk(chat, c * 100 + n)).await;
            assert_eq!(status, StatusCode::OK, "chunk {sent}: {body}");
            sent += 1;
        }
    }
    // The bucket refills a chunk a second while the test runs: a few more
    // pass, then none.
    let started = std::time::Instant::now();
    let last = ChatId::new(Millis(1_000), 9);
    let mut extra = 0u128;
    let (status, headers, body) = loop {
        let spare = ChatId::new(Millis(1_000), 5_000 + extra);
        let (status, headers, body) = send(&greedy, chunk(spare, 2_000_000 + extra)).await;
        if status != StatusCode::OK {
            break (status, headers, body);
        }
        extra += 1;
        assert!(extra <= 100, "the address's budget never ran out");
    };
    assert!(
        extra <= started.elapsed().as_secs() as u128 + 10,
        "{extra} chunks past the burst"
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _, _) = send(&greedy, chunk(last, 1_000_000)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let held = relay
        .state
        .store
        .read(move |c| c.files().chat_usage(last))
        .await
        .unwrap();
    assert_eq!(held, (0, 0), "the refused chunk was not stored");
    // A chunk the relay holds already (a retry after a lost answer) is free.
    let first = ChatId::new(Millis(1_000), 10);
    let (status, _, body) = send(&greedy, chunk(first, 0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Another address is not charged for this one.
    let (status, _, body) = send(&app(&relay, "198.51.100.2:4000"), chunk(last, 1_000_000)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(greedy);
    relay.stop().await;
}
