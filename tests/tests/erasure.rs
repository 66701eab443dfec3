//! Erasure on two real relay processes replicating both ways: a visitor's
//! chat erased on the redundant while the primary is down (SIGKILL) is
//! gone from both once the primary is back, the primary's own copy
//! included; a browser that still holds the chat and replays it after the
//! failover is told `erased` on either deployment and nothing of it is
//! stored again; after a clean stop the erased text is nowhere in the
//! store's file (secure_delete). And the CLI: `visitor export` prints the
//! visitor's document, `visitor erase` on a running pair erases on both.

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;
use twinline_core::protocol::{ChatResume, ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Message, Role};
use twinline_tests::client::{Visitor, WsClient};
use twinline_tests::pair::{Pair, eventually, feed_page, messages_of};
use twinline_tests::process::{RelayProcess, relay_binary};

const CONVERGE: Duration = Duration::from_secs(20);

/// Runs `twinline-relay <args> --data-dir <relay's>`; its stdout, or a
/// panic.
fn cli(relay: &RelayProcess, args: &[&str]) -> String {
    let output = Command::new(relay_binary())
        .args(args)
        .arg("--data-dir")
        .arg(relay.data_dir())
        .stdin(Stdio::null())
        .output()
        .expect("running the CLI");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `visitor <command> --site demo --visitor <visitor>` on `relay`, its
/// JSON answer.
fn visitor_cli(relay: &RelayProcess, command: &str, visitor: &str) -> Value {
    let out = cli(
        relay,
        &[
            "visitor",
            command,
            "--site",
            twinline_tests::SITE,
            "--visitor",
            visitor,
        ],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("visitor {command}: {e}: {out}"))
}

/// Whether `relay`'s feed carries anything of `chat`, and whether it
/// carries an erasure of it.
async fn feed_of(relay: &RelayProcess, chat: &str) -> (bool, bool) {
    let page = feed_page(relay, 0).await;
    let changes = page["changes"].as_array().cloned().unwrap_or_default();
    let holds = changes.iter().any(|c| {
        (c["kind"] == "chat" && c["body"]["id"] == chat)
            || (c["kind"] == "message" && c["body"]["chat"] == chat)
    });
    let erased = changes.iter().any(|c| {
        c["kind"] == "erasure"
            && c["body"]["chats"]
                .as_array()
                .is_some_and(|chats| chats.iter().any(|c| c == chat))
    });
    (holds, erased)
}

/// A browser that still holds the chat reconnects to `relay` and replays
/// it: its hello is answered `erased`, then the relay closes; a message
/// sent on a second connection is refused and answered `erased` too.
async fn replay_is_refused(relay: &RelayProcess, visitor: &Visitor, sent: &[Message]) {
    let chat = visitor.token.chat;
    let hello = ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: twinline_tests::SITE.into(),
        token: visitor.token.token.clone(),
        resume: vec![ChatResume {
            chat,
            have: sent.iter().map(|m| m.id).collect(),
        }],
    };
    let mut ws = WsClient::connect(&relay.ws_url(), Some(twinline_tests::SITE_ORIGIN))
        .await
        .expect("connecting");
    ws.send(&hello).await;
    for msg in sent {
        ws.send(&ClientFrame::Send { msg: msg.clone() }).await;
    }
    let first = ws.recv().await;
    assert_eq!(first, ServerFrame::Erased { chat }, "on {}", relay.name());
    ws.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_erased_on_the_redundant_while_the_primary_is_down_never_comes_back() {
    let mut pair = Pair::start(&[]);
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat.to_string();
    let secret = "my card is 4111 1111 1111 1111";
    visitor.say("hello").await;
    visitor.say(secret).await;
    let sent = visitor.sent.clone();
    eventually(CONVERGE, "the chat reaches the redundant", || async {
        let held = messages_of(&pair.redundant).await;
        sent.iter().all(|m| held.contains_key(&m.id.to_string()))
    })
    .await;

    // The primary dies; the visitor's data request is carried out on the
    // redundant, from the command line, while the primary is down.
    pair.primary.kill9();
    let erasure = visitor_cli(&pair.redundant, "erase", &visitor.token.visitor.to_string());
    assert_eq!(erasure["chats"][0], chat);
    assert_eq!(feed_of(&pair.redundant, &chat).await, (false, true));
    assert!(messages_of(&pair.redundant).await.is_empty());

    // The browser fails over to the redundant and replays the chat.
    replay_is_refused(&pair.redundant, &visitor, &sent).await;

    // The primary comes back with its own copy; the tombstone wins there
    // too, and the primary's copy does not flow back to the redundant.
    pair.primary.restart();
    eventually(CONVERGE, "the erasure reaches the primary", || async {
        feed_of(&pair.primary, &chat).await == (false, true)
    })
    .await;
    assert!(messages_of(&pair.primary).await.is_empty());
    replay_is_refused(&pair.primary, &visitor, &sent).await;
    // A while of replication both ways, then neither holds anything of it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for relay in [&pair.primary, &pair.redundant] {
        assert_eq!(
            feed_of(relay, &chat).await,
            (false, true),
            "{}",
            relay.name()
        );
        assert!(messages_of(relay).await.is_empty(), "{}", relay.name());
    }

    // The same visitor may chat again, in a new chat.
    let again = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    assert_ne!(again.token.chat, visitor.token.chat);

    // After a clean stop (the log copied into the file and removed), the
    // erased text is nowhere in either store's file.
    for relay in [&mut pair.primary, &mut pair.redundant] {
        relay.terminate();
        let dir = relay.data_dir().to_path_buf();
        for file in ["twinline.sqlite3", "twinline.sqlite3-wal"] {
            if let Ok(bytes) = std::fs::read(dir.join(file)) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{file} of {} still holds the erased text",
                    relay.name()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_a_visitor_and_erases_on_both_deployments() {
    let pair = Pair::start(&[]);
    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    visitor.say("where is my order?").await;
    let id = visitor.token.visitor.to_string();
    let chat = visitor.token.chat.to_string();
    let export = visitor_cli(&pair.primary, "export", &id);
    assert_eq!(export["chats"][0]["id"], chat);
    assert_eq!(
        export["chats"][0]["messages"][0]["text"],
        "where is my order?"
    );
    assert_eq!(export["erasures"].as_array().map(Vec::len), Some(0));

    eventually(CONVERGE, "the chat reaches the redundant", || async {
        feed_of(&pair.redundant, &chat).await.0
    })
    .await;
    visitor_cli(&pair.primary, "erase", &id);
    eventually(CONVERGE, "the erasure reaches the redundant", || async {
        feed_of(&pair.redundant, &chat).await == (false, true)
    })
    .await;
    let export = visitor_cli(&pair.redundant, "export", &id);
    assert_eq!(export["chats"].as_array().map(Vec::len), Some(0));
    assert_eq!(export["erasures"][0]["chats"][0], chat);
}
