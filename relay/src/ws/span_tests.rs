//! Every log line of a connection carries its `connection` span: its hub
//! key and client address from the start, its site and chat or its
//! operator once `hello` proved them. Checked on the real connection loop
//! over channels, with the log captured as the relay prints it.
//! Other tests' connections log beside these (see [`captured_log`]), so
//! lines are found by what only this test's connections are (their chats,
//! addresses and operator).

use super::connection;
use super::identity::Peer;
use super::test_socket::{Outgoing, channel_socket};
use crate::test_relay::{TestRelay, captured_log};
use crate::tokens::Claim;
use axum::extract::ws::Message as WsMessage;
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatId, Millis, Role, Ulid, VisitorId};

/// Waits for the welcome among what the relay wrote.
async fn welcomed(out: &mut Outgoing) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), out.recv())
            .await
            .expect("a welcome in time")
            .expect("the connection is open");
        if let WsMessage::Text(text) = message
            && let Ok(ServerFrame::Welcome { .. }) = ServerFrame::parse(text.as_str())
        {
            return;
        }
    }
}

/// The key in a line's `connection{key=N ...}` span.
fn key_of(line: &str) -> &str {
    let after = line
        .split_once("connection{key=")
        .unwrap_or_else(|| panic!("no connection span in {line:?}"))
        .1;
    &after[..after.find([' ', '}']).unwrap_or(after.len())]
}

#[tokio::test]
async fn every_log_line_of_a_connection_names_it_and_what_it_proved() {
    let logs = captured_log();
    let relay = TestRelay::start();
    let state = relay.state.clone();
    let ada = relay.add_operator("ada", "correct horse battery").await;
    let exp = crate::clock::now().plus(3_600_000);
    let chats = [
        ChatId(Ulid::new(Millis(7), 2)),
        ChatId(Ulid::new(Millis(7), 3)),
    ];
    let mut hellos: Vec<(Peer, ClientFrame)> = chats
        .iter()
        .enumerate()
        .map(|(n, &chat)| {
            let token = state.signer.sign(&Claim::Visitor {
                site: "demo".into(),
                visitor: VisitorId(Ulid::new(Millis(7), 10 + n as u128)),
                chat,
                exp,
            });
            let peer = Peer {
                origin: Some("http://site.test".into()),
                same_origin: false,
                ip: format!("127.0.0.{}", n + 2).parse().unwrap(),
            };
            let hello = ClientFrame::Hello {
                v: PROTOCOL_VERSION,
                role: Role::Visitor,
                site: "demo".into(),
                token,
                resume: vec![],
            };
            (peer, hello)
        })
        .collect();
    let operator_token = state.signer.sign(&Claim::Operator {
        username: "ada".into(),
        name: "Ada".into(),
        exp,
        ver: ada.version,
    });
    hellos.push((
        Peer {
            origin: None,
            same_origin: false,
            ip: "127.0.0.9".parse().unwrap(),
        },
        ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Operator,
            site: String::new(),
            token: operator_token,
            resume: vec![],
        },
    ));
    let mut tasks = Vec::new();
    for (peer, hello) in hellos {
        let (socket, client, mut out) = channel_socket();
        tasks.push(tokio::spawn(connection::run(
            socket,
            state.clone(),
            peer,
            None,
        )));
        client
            .send(Ok(WsMessage::Text(hello.to_json().into())))
            .unwrap();
        welcomed(&mut out).await;
        // The client hangs up: the connection ends (and says so).
        drop(client);
    }
    for task in tasks {
        task.await.expect("the connection ends cleanly");
    }
    drop(state);
    relay.stop().await;

    let log = logs.text();
    let line = |needle: &str, also: &str| -> String {
        log.lines()
            .find(|line| line.contains(needle) && line.contains(also))
            .unwrap_or_else(|| panic!("no line with {needle:?} and {also:?} in:\n{log}"))
            .to_string()
    };
    let mut keys = Vec::new();
    for (n, chat) in chats.iter().enumerate() {
        let connected = line("visitor connected", &format!("chat={chat}"));
        assert!(
            connected.contains(&format!("ip=127.0.0.{}", n + 2)),
            "{connected}"
        );
        assert!(connected.contains("site=\"demo\""), "{connected}");
        keys.push(key_of(&connected).to_string());
    }
    let connected = line("operator connected", "operator=\"ada\"");
    assert!(connected.contains("ip=127.0.0.9"), "{connected}");
    keys.push(key_of(&connected).to_string());
    // A later line of the operator's connection still carries who it is.
    let gone = line("operator disconnected", "operator=\"ada\"");
    assert_eq!(key_of(&gone), key_of(&connected));
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "one key per connection: {keys:?}");
}
