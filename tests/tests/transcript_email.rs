//! The transcript by email through real relay processes and a real SMTP
//! server (`tests/smtp/sink.py`, aiosmtpd, which writes every message it
//! takes to a folder):
//!
//! - a request made during the chat is sent once the chat is closed,
//!   exactly once, with the whole transcript; one made after the close is
//!   sent at once; both deployments configured and replicating, neither
//!   sends a second copy;
//! - the primary SIGKILLed after the close and before it could send (its
//!   SMTP server unreachable, so its attempts fail and retry): the
//!   redundant takes the delivery over after the lease and the hand-over
//!   and sends it, still exactly one message (counted, and by Message-ID);
//! - a permanent refusal (550) is tried once and recorded, not retried;
//!   a deployment without `[mail]` refuses the request;
//! - the sending primary SIGKILLed right after the SMTP server took the
//!   message (the sink holds its 250 until the primary is dead): the
//!   at-least-once window of docs/PROTOCOL.md, "The transcript by email".
//!   The redundant sends it again after the lease, the same email under
//!   the same `Message-ID`, and nothing more: two copies, one message for
//!   a mail system that dedupes by `Message-ID`. Killed once its
//!   `delivered` record reached the redundant: one copy, never again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, ErrorCode, ServerFrame};
use twinline_core::{ChatId, Millis, TranscriptId};
use twinline_tests::client::{Operator, Visitor, WsClient, make_message};
use twinline_tests::pair::{Pair, eventually, feed_page};
use twinline_tests::process::{RelayOptions, RelayProcess, TempDir, free_port, listening_port};

const CONVERGE: Duration = Duration::from_secs(60);

/// Quick retries and a short hand-over (as the webhook tests use).
const TIMING: &[&str] = &[
    "--webhooks-retry-base-ms",
    "300",
    "--webhooks-handover-ms",
    "3000",
];

/// A `tests/smtp/sink.py` process.
struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: TempDir,
}

impl Sink {
    fn start(reject: Option<&str>) -> Sink {
        match reject {
            Some(reply) => Sink::start_with(&["--reject", reply]),
            None => Sink::start_with(&[]),
        }
    }

    /// With more of `sink.py`'s flags (`--reject`, `--hold-first-ms`).
    fn start_with(flags: &[&str]) -> Sink {
        let dir = TempDir::new("smtp-sink");
        let out = dir.path().join("mail");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args(["--port", &port.to_string()])
            .arg("--out")
            .arg(&out);
        command.args(flags);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting tests/smtp/sink.py (python3 with aiosmtpd: scripts/ensure-toolchain.sh --servers)");
        let bound = listening_port(&mut child, "smtp-sink listening on ", "smtp-sink");
        assert_eq!(bound, port);
        Sink {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message taken so far: its headers (lowercase names) and body.
    fn messages(&self) -> Vec<(BTreeMap<String, String>, String)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| parse(&std::fs::read_to_string(path).expect("a message")))
            .collect()
    }

    /// DATA commands offered, accepted or not.
    fn attempts(&self) -> usize {
        std::fs::read_to_string(self.out.join("attempts.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headers (unfolded, names lowercased) and the decoded body of a message.
fn parse(raw: &str) -> (BTreeMap<String, String>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|name| headers.get_mut(name)) {
                let value: &mut String = value;
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            headers.insert(name.clone(), value.trim().to_string());
            last = Some(name);
        }
    }
    let encoding = headers
        .get("content-transfer-encoding")
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let body = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 body"),
            )
            .expect("UTF-8 body")
        }
        _ => body.to_string(),
    };
    (headers, body.replace("\r\n", "\n"))
}

fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&joined[i + 1..i + 3], 16).ok())
            .flatten();
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// The relay flags of a deployment sending through `smtp`.
fn mail_flags(smtp: &str) -> Vec<String> {
    let mut flags: Vec<String> = TIMING.iter().map(|f| f.to_string()).collect();
    flags.extend([
        "--smtp-url".to_string(),
        smtp.to_string(),
        "--mail-from".to_string(),
        "Demo shop <chat@demo.example>".to_string(),
        "--mail-reply-to".to_string(),
        "help@demo.example".to_string(),
    ]);
    flags
}

fn request_frame(chat: ChatId, id: TranscriptId, to: &str) -> ClientFrame {
    ClientFrame::EmailTranscript {
        chat,
        id,
        to: to.into(),
    }
}

/// Sends a request and waits for its ack.
async fn request(ws: &mut WsClient, chat: ChatId, id: TranscriptId, to: &str) {
    ws.send(&request_frame(chat, id, to)).await;
    ws.recv_until(|f| matches!(f, ServerFrame::TranscriptAck { id: acked, .. } if *acked == id))
        .await;
}

async fn error_code(ws: &mut WsClient) -> ErrorCode {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error { code, .. } => code,
        _ => unreachable!(),
    }
}

/// A visitor's chat on `relay` with a message each way, an operator
/// holding it.
async fn chat_on(relay: &RelayProcess) -> (Visitor, Operator) {
    relay.add_operator("olga", "Olga", "correct horse");
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "olga", "correct horse").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("Hello, is the <b>blue</b> one in stock?").await;
    operator.accept(chat).await;
    let reply = make_message(operator.author(), chat, "Yes, in all sizes.", 2);
    let id = reply.id;
    operator.ws.send(&ClientFrame::Send { msg: reply }).await;
    operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id: acked } if *acked == id))
        .await;
    (visitor, operator)
}

async fn close(visitor: &mut Visitor) {
    let chat = visitor.token.chat;
    visitor.ws.send(&ClientFrame::Close { chat }).await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { status, .. } if status.state == twinline_core::ChatState::Closed))
        .await;
}

/// Waits until `relay` holds `chat` closed with `requests` requests.
async fn closed_with_requests(relay: &RelayProcess, chat: ChatId, requests: usize) {
    let what = format!(
        "chat {chat} closed with {requests} requests on {}",
        relay.name()
    );
    let chat = chat.to_string();
    eventually(CONVERGE, &what, || async {
        let page = feed_page(relay, 0).await;
        page["changes"].as_array().into_iter().flatten().any(|c| {
            c["kind"] == "chat"
                && c["body"]["id"] == chat.as_str()
                && c["body"]["status"]["state"] == "closed"
                && c["body"]["transcripts"].as_array().map(Vec::len) == Some(requests)
        })
    })
    .await;
}

fn message_id(id: TranscriptId) -> String {
    format!("<{id}.transcript@demo.example>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_sent_once_when_the_chat_closes_and_one_after_the_close_at_once() {
    let sink = Sink::start(None);
    let mut pair = Pair::start_each(mail_flags(&sink.url()), mail_flags(&sink.url()));
    let (mut visitor, _operator) = chat_on(&pair.primary).await;
    let chat = visitor.token.chat;

    // Refused: an address out of shape, another chat.
    let bad = TranscriptId::new(Millis(1), 1);
    visitor
        .ws
        .send(&request_frame(chat, bad, "ada at example.com"))
        .await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::BadText);
    let other = ChatId::new(Millis(1), 2);
    visitor
        .ws
        .send(&request_frame(other, bad, "ada@example.com"))
        .await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::Forbidden);

    let during = TranscriptId::new(Millis(2), 3);
    request(&mut visitor.ws, chat, during, "ada@example.com").await;
    // A replay is answered with the ack and stores nothing new.
    request(&mut visitor.ws, chat, during, "ada@example.com").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.messages().len(), 0, "nothing before the close");

    close(&mut visitor).await;
    eventually(CONVERGE, "the email", || async {
        !sink.messages().is_empty()
    })
    .await;
    let (headers, body) = sink.messages().remove(0);
    assert_eq!(headers.get("message-id"), Some(&message_id(during)));
    assert_eq!(
        headers.get("to").map(String::as_str),
        Some("ada@example.com")
    );
    assert!(headers["from"].contains("chat@demo.example"), "{headers:?}");
    assert_eq!(
        headers.get("reply-to").map(String::as_str),
        Some("help@demo.example")
    );
    assert!(
        headers["content-type"].starts_with("text/plain"),
        "{headers:?}"
    );
    let visitor_line = body
        .find("You: Hello, is the <b>blue</b> one in stock?")
        .unwrap_or_else(|| panic!("the visitor's message, as text: {body}"));
    let operator_line = body
        .find("Olga: Yes, in all sizes.")
        .unwrap_or_else(|| panic!("the operator's message: {body}"));
    assert!(visitor_line < operator_line, "in display order: {body}");

    // After the close: sent at once.
    let after = TranscriptId::new(Millis(3), 4);
    request(&mut visitor.ws, chat, after, "bob@example.com").await;
    eventually(CONVERGE, "the second email", || async {
        sink.messages().len() == 2
    })
    .await;

    // Both deployments hold both requests, closed; longer than a lease, a
    // hand-over and a few retries later, still one message per request.
    closed_with_requests(&pair.redundant, chat, 2).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let messages = sink.messages();
    let ids: Vec<&str> = messages
        .iter()
        .map(|(h, _)| h["message-id"].as_str())
        .collect();
    assert_eq!(ids, vec![message_id(during), message_id(after)]);
    assert_eq!(sink.attempts(), 2, "no second attempt of either");
    println!(
        "transcript emails: {} messages for 2 requests, {} SMTP attempts",
        messages.len(),
        sink.attempts()
    );
    pair.primary.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_killed_before_sending_the_redundant_sends_the_email_once() {
    let sink = Sink::start(None);
    // The primary's SMTP server is unreachable: its attempts fail and are
    // retried under its claims until it is killed.
    let unreachable = format!("smtp://127.0.0.1:{}", free_port());
    let mut pair = Pair::start_each(mail_flags(&unreachable), mail_flags(&sink.url()));
    let (mut visitor, _operator) = chat_on(&pair.primary).await;
    let chat = visitor.token.chat;
    let id = TranscriptId::new(Millis(5), 5);
    request(&mut visitor.ws, chat, id, "ada@example.com").await;
    close(&mut visitor).await;
    closed_with_requests(&pair.redundant, chat, 1).await;
    // A few of the primary's attempts fail before it dies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 0, "the primary could not send");
    pair.primary.kill9();

    eventually(CONVERGE, "the redundant's email", || async {
        !sink.messages().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "exactly one message");
    assert_eq!(messages[0].0.get("message-id"), Some(&message_id(id)));
    assert!(
        messages[0].1.contains("Olga: Yes, in all sizes."),
        "{}",
        messages[0].1
    );
    println!(
        "primary killed before sending: {} message, {} SMTP attempts at the redundant's server",
        messages.len(),
        sink.attempts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_tried_once_and_a_deployment_without_mail_refuses_the_request() {
    let sink = Sink::start(Some("550 5.1.1 no such mailbox"));
    let relay = RelayProcess::start(RelayOptions {
        extra: mail_flags(&sink.url()),
        ..RelayOptions::primary()
    });
    let (mut visitor, _operator) = chat_on(&relay).await;
    let chat = visitor.token.chat;
    close(&mut visitor).await;
    request(
        &mut visitor.ws,
        chat,
        TranscriptId::new(Millis(6), 6),
        "nobody@example.com",
    )
    .await;
    eventually(CONVERGE, "the attempt", || async { sink.attempts() == 1 }).await;
    // Retries would come after 0.3, 0.6, 1.2, 2.4 s: none do.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(sink.attempts(), 1, "a 550 is not retried");
    assert!(sink.messages().is_empty());

    let plain = RelayProcess::start(RelayOptions::redundant());
    let (mut visitor, _operator) = chat_on(&plain).await;
    let chat = visitor.token.chat;
    visitor
        .ws
        .send(&request_frame(
            chat,
            TranscriptId::new(Millis(7), 7),
            "ada@example.com",
        ))
        .await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::Forbidden);
}

/// The redundant's feed holds delivery `id` as delivered (the primary's
/// record of the 250, replicated).
async fn delivered_on(relay: &RelayProcess, id: TranscriptId) {
    let what = format!("transcript delivery {id} delivered on {}", relay.name());
    let id = id.to_string();
    eventually(CONVERGE, &what, || async {
        let page = feed_page(relay, 0).await;
        page["changes"].as_array().into_iter().flatten().any(|c| {
            c["kind"] == "delivery"
                && c["body"]["event"] == id.as_str()
                && c["body"]["state"] == "delivered"
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_killed_after_the_server_took_the_message_the_other_sends_the_same_message_once_more()
 {
    // The first message is taken (written) and its 250 held for longer
    // than the test: the primary never hears that it was delivered.
    let sink = Sink::start_with(&["--hold-first-ms", "120000"]);
    let mut pair = Pair::start_each(mail_flags(&sink.url()), mail_flags(&sink.url()));
    let (mut visitor, _operator) = chat_on(&pair.primary).await;
    let chat = visitor.token.chat;
    let id = TranscriptId::new(Millis(8), 8);
    request(&mut visitor.ws, chat, id, "ada@example.com").await;
    close(&mut visitor).await;
    closed_with_requests(&pair.redundant, chat, 1).await;
    eventually(
        CONVERGE,
        "the server taking the primary's message",
        || async { !sink.messages().is_empty() },
    )
    .await;
    pair.primary.kill9();

    // The redundant takes the claim over once its lease ends (the attempt
    // timeout and margin, 15 s) and sends the same email again.
    eventually(CONVERGE, "the redundant's copy", || async {
        sink.messages().len() >= 2
    })
    .await;
    // Its own 250 is recorded: longer than a hand-over and a few retries
    // later, still two copies.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "the one copy the window allows, no more");
    for (headers, _) in &messages {
        assert_eq!(headers.get("message-id"), Some(&message_id(id)));
    }
    assert_eq!(messages[0].1, messages[1].1, "the same email from either");
    assert!(
        messages[1].1.contains("Olga: Yes, in all sizes."),
        "{}",
        messages[1].1
    );
    assert_eq!(sink.attempts(), 2);
    println!(
        "sender killed inside the window: {} copies under one Message-ID, {} SMTP attempts",
        messages.len(),
        sink.attempts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_killed_once_its_delivered_record_reached_the_other_is_not_sent_again() {
    let sink = Sink::start(None);
    let mut pair = Pair::start_each(mail_flags(&sink.url()), mail_flags(&sink.url()));
    let (mut visitor, _operator) = chat_on(&pair.primary).await;
    let chat = visitor.token.chat;
    let id = TranscriptId::new(Millis(9), 9);
    request(&mut visitor.ws, chat, id, "ada@example.com").await;
    close(&mut visitor).await;
    eventually(CONVERGE, "the primary's email", || async {
        !sink.messages().is_empty()
    })
    .await;
    delivered_on(&pair.redundant, id).await;
    pair.primary.kill9();
    // Longer than the hand-over and the claim's lease (15 s).
    tokio::time::sleep(Duration::from_secs(20)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "exactly one message");
    assert_eq!(messages[0].0.get("message-id"), Some(&message_id(id)));
    assert_eq!(sink.attempts(), 1, "the redundant never tried");
}
