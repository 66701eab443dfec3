//! Attached files through two real relay processes (issue 21): chunks and
//! the file's record travel in the replication feed, so a file uploaded to
//! one deployment downloads byte for byte from the other, and an upload cut
//! by the primary's SIGKILL after half its chunks finishes on the
//! redundant, which already holds what had replicated, and replicates back
//! once the primary returns; and on relay nodes over PostgreSQL any node
//! takes chunks and serves the file.

use sha2::{Digest, Sha256};
use std::time::Duration;
use twinline_core::files::{CHUNK_BYTES, UploadStatus, chunk_count, missing};
use twinline_core::{ChatId, FileId, Millis};
use twinline_tests::client::visitor_token;
use twinline_tests::pair::{Pair, eventually};

const CONVERGE: Duration = Duration::from_secs(30);

/// A PNG-looking file of `size` bytes (the relay sniffs the first bytes).
fn png(size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..size - bytes.len()).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One visitor's uploads to one deployment or the other.
struct Uploader {
    http: reqwest::Client,
    token: String,
    chat: ChatId,
}

impl Uploader {
    async fn chunk(
        &self,
        base: &str,
        file: FileId,
        bytes: &[u8],
        index: u64,
    ) -> reqwest::StatusCode {
        let start = (index * CHUNK_BYTES) as usize;
        let end = bytes.len().min(start + CHUNK_BYTES as usize);
        self.http
            .post(format!(
                "{base}/v1/files/{file}/chunks/{index}?chat={}&size={}",
                self.chat,
                bytes.len()
            ))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/octet-stream")
            .body(bytes[start..end].to_vec())
            .send()
            .await
            .expect("an answer")
            .status()
    }

    async fn held(&self, base: &str, file: FileId) -> Option<UploadStatus> {
        let response = self
            .http
            .get(format!("{base}/v1/files/{file}/upload?chat={}", self.chat))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    async fn complete(
        &self,
        base: &str,
        file: FileId,
        name: &str,
        bytes: &[u8],
    ) -> serde_json::Value {
        let response = self
            .http
            .post(format!(
                "{base}/v1/files/{file}/complete?chat={}",
                self.chat
            ))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"name": name, "size": bytes.len(), "sha256": sha256(bytes)}))
            .send()
            .await
            .expect("an answer");
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.expect("the file")
    }

    /// The file's bytes and headers from `base`, if it is there.
    async fn download(
        &self,
        base: &str,
        file: FileId,
    ) -> Option<(reqwest::header::HeaderMap, Vec<u8>)> {
        let response = self
            .http
            .get(format!("{base}/v1/files/{file}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let headers = response.headers().clone();
        Some((headers, response.bytes().await.ok()?.to_vec()))
    }
}

async fn uploader(base: &str) -> Uploader {
    let token = visitor_token(base, "demo", None, None)
        .await
        .expect("a token");
    Uploader {
        http: reqwest::Client::new(),
        token: token.token,
        chat: token.chat,
    }
}

#[tokio::test]
async fn a_file_uploaded_to_the_primary_downloads_byte_identical_from_the_redundant() {
    let pair = Pair::start(&[]);
    let (primary, redundant) = (pair.primary.url(), pair.redundant.url());
    let visitor = uploader(&primary).await;
    let file = FileId::new(Millis(1_700_000_000_000), 1);
    let bytes = png(3 * CHUNK_BYTES as usize + 1234, 7);
    for index in 0..chunk_count(bytes.len() as u64) {
        assert!(
            visitor
                .chunk(&primary, file, &bytes, index)
                .await
                .is_success()
        );
    }
    let meta = visitor.complete(&primary, file, "photo.png", &bytes).await;
    assert_eq!(meta["type"], "image/png");
    eventually(CONVERGE, "the file on the redundant", || async {
        visitor.download(&redundant, file).await.is_some()
    })
    .await;
    let (headers, got) = visitor.download(&redundant, file).await.unwrap();
    assert!(got == bytes, "the redundant's copy differs");
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "sandbox; default-src 'none'"
    );
    // Someone else's visitor token reaches nothing there either.
    let stranger = uploader(&redundant).await;
    assert!(stranger.download(&redundant, file).await.is_none());
}

#[tokio::test]
async fn an_upload_cut_by_a_primary_kill_after_half_its_chunks_finishes_on_the_redundant() {
    let mut pair = Pair::start(&[]);
    let (primary, redundant) = (pair.primary.url(), pair.redundant.url());
    let visitor = uploader(&primary).await;
    let file = FileId::new(Millis(1_700_000_000_000), 2);
    let bytes = png(6 * CHUNK_BYTES as usize - 10, 3);
    let total = chunk_count(bytes.len() as u64);
    for index in 0..total / 2 {
        assert!(
            visitor
                .chunk(&primary, file, &bytes, index)
                .await
                .is_success()
        );
    }
    // The chunks travel in the feed before anything completes.
    eventually(CONVERGE, "half the chunks on the redundant", || async {
        visitor
            .held(&redundant, file)
            .await
            .is_some_and(|held| held.chunks.len() as u64 == total / 2)
    })
    .await;
    pair.primary.kill9();

    // The uploader asks the redundant what it holds and sends only the rest.
    let held = visitor.held(&redundant, file).await.expect("an answer");
    assert!(held.file.is_none());
    let rest = missing(bytes.len() as u64, &held.chunks);
    assert_eq!(rest, (total / 2..total).collect::<Vec<_>>());
    for index in rest {
        assert!(
            visitor
                .chunk(&redundant, file, &bytes, index)
                .await
                .is_success()
        );
    }
    let meta = visitor.complete(&redundant, file, "cut.png", &bytes).await;
    assert_eq!(meta["size"], bytes.len());
    let (_, got) = visitor.download(&redundant, file).await.expect("the file");
    assert!(got == bytes, "the redundant's file differs");

    // Back up, the primary pulls the rest and the record: the same bytes.
    pair.primary.restart();
    eventually(CONVERGE, "the file back on the primary", || async {
        visitor
            .download(&primary, file)
            .await
            .is_some_and(|(_, got)| got == bytes)
    })
    .await;
}

/// Issue 18: a deployment of relay nodes over one PostgreSQL keeps no file
/// in a node: chunks sent to either node, the upload completed on one and
/// the file downloaded from the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_relay_nodes_over_postgres_any_node_takes_chunks_and_serves_the_file() {
    use twinline_tests::nodes::{Deployment, fresh_database, unlimited};
    use twinline_tests::process::RelayOptions;
    let deployment = Deployment::start(
        &fresh_database("files"),
        unlimited(RelayOptions::primary()),
        2,
    );
    let (one, two) = (deployment.nodes[0].url(), deployment.nodes[1].url());
    let visitor = uploader(&one).await;
    let file = FileId::new(Millis(1_700_000_000_000), 3);
    let bytes = png(4 * CHUNK_BYTES as usize + 99, 11);
    for index in 0..chunk_count(bytes.len() as u64) {
        let node = if index % 2 == 0 { &one } else { &two };
        assert!(visitor.chunk(node, file, &bytes, index).await.is_success());
    }
    let held = visitor.held(&one, file).await.expect("an answer");
    assert_eq!(held.chunks, (0..5).collect::<Vec<_>>());
    visitor.complete(&two, file, "nodes.png", &bytes).await;
    let (_, got) = visitor.download(&one, file).await.expect("the file");
    assert!(got == bytes, "node 1's answer differs");
}

/// A message carries the uploaded file's record: stored with it, and on the
/// other deployment after replication, file and all.
#[tokio::test]
async fn a_message_with_a_file_reaches_the_other_deployment_with_its_file() {
    use twinline_core::files::FileMeta;
    use twinline_core::protocol::{ClientFrame, ServerFrame};
    use twinline_tests::client::Visitor;
    use twinline_tests::pair::messages_of;
    let pair = Pair::start(&[]);
    let primary = pair.primary.url();
    let mut visitor = Visitor::join(&primary, &pair.primary.ws_url()).await;
    let upload = Uploader {
        http: reqwest::Client::new(),
        token: visitor.token.token.clone(),
        chat: visitor.token.chat,
    };
    let file = FileId::new(Millis(1_700_000_000_000), 4);
    let bytes = png(1000, 5);
    assert!(upload.chunk(&primary, file, &bytes, 0).await.is_success());
    let meta: FileMeta =
        serde_json::from_value(upload.complete(&primary, file, "shot.png", &bytes).await).unwrap();
    let mut msg = visitor.message("", 1);
    msg.file = Some(meta.clone());
    visitor
        .ws
        .send(&ClientFrame::Send { msg: msg.clone() })
        .await;
    let id = msg.id;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id: acked } if *acked == id))
        .await;
    eventually(CONVERGE, "the message on the redundant", || async {
        messages_of(&pair.redundant)
            .await
            .get(&id.to_string())
            .is_some_and(|m| m.file.as_ref() == Some(&meta))
    })
    .await;
}
