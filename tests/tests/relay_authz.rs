//! Who may do what, against real relay processes: operators limited to the
//! sites their accounts name and to the chats they hold, sessions that end
//! on both deployments when an account changes, presence that tells
//! visitors how many operators are there but never who, and a queue that
//! one address cannot flood.

use std::net::IpAddr;
use std::time::Duration;
use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatState, Role};
use twinline_tests::client::{
    Operator, Visitor, WsClient, login, make_message, offline_note, visitor_token_with,
};
use twinline_tests::pair::{Pair, accounts_of, eventually};
use twinline_tests::process::{RelayOptions, RelayProcess};

const OTHER_SITE: &str = "other";
const OTHER_ORIGIN: &str = "http://other.test";

fn two_sites() -> RelayOptions {
    RelayOptions {
        extra: vec![
            "--site".into(),
            format!("{OTHER_SITE}={OTHER_ORIGIN}"),
            "--ip-rate".into(),
            "0".into(),
        ],
        ..RelayOptions::primary()
    }
}

fn error_code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// A visitor of the other site.
async fn other_site_visitor(relay: &RelayProcess) -> Visitor {
    let token = visitor_token_with(
        &reqwest::Client::new(),
        &relay.url(),
        OTHER_SITE,
        None,
        Some(OTHER_ORIGIN),
    )
    .await
    .expect("a token for the other site");
    let mut ws = WsClient::connect(&relay.ws_url(), Some(OTHER_ORIGIN))
        .await
        .unwrap();
    ws.send(&ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: OTHER_SITE.into(),
        token: token.token.clone(),
        resume: vec![],
    })
    .await;
    let ServerFrame::Welcome {
        operators_online, ..
    } = ws.recv().await
    else {
        panic!("expected welcome");
    };
    Visitor {
        token,
        ws,
        sent: Vec::new(),
        operators_online,
    }
}

/// The last queue frame among `frames`.
fn last_queue(frames: &[ServerFrame]) -> Option<Vec<twinline_core::ChatId>> {
    frames.iter().rev().find_map(|frame| match frame {
        ServerFrame::Queue { chats } => Some(chats.iter().map(|c| c.chat).collect()),
        _ => None,
    })
}

#[tokio::test]
async fn an_agent_sees_and_acts_only_on_the_sites_it_serves() {
    let relay = RelayProcess::start(two_sites());
    relay.add_operator("ada", "Ada", "correct horse");
    assert!(relay.operator_cli(
        &[
            "add",
            "--username",
            "olga",
            "--site",
            OTHER_SITE,
            "--password-stdin"
        ],
        "olga's password",
    ));
    let mut demo_visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let demo_chat = demo_visitor.token.chat;
    demo_visitor.say("a question on demo").await;
    let mut other_visitor = other_site_visitor(&relay).await;
    other_visitor.say("a question on other").await;
    let note = offline_note(7, OTHER_SITE, "call me");
    other_visitor.leave_note(&note).await;

    // Olga serves "other": its queue and inbox hold only that site, and
    // naming the demo chat in hello gets her nothing of it.
    let login = login(&relay.url(), "olga", "olga's password")
        .await
        .unwrap();
    let mut olga = Operator::resume(
        login,
        &relay.ws_url(),
        vec![ChatResume {
            chat: demo_chat,
            have: vec![],
        }],
    )
    .await;
    let frames = olga.ws.frames_until_pong(1).await;
    assert_eq!(last_queue(&frames), Some(vec![other_visitor.token.chat]));
    let inbox = frames.iter().find_map(|f| match f {
        ServerFrame::Inbox { notes } => Some(notes.iter().map(|n| n.id).collect::<Vec<_>>()),
        _ => None,
    });
    assert_eq!(inbox, Some(vec![note.id]));
    assert!(
        !frames
            .iter()
            .any(|f| format!("{f:?}").contains("a question on demo")),
        "nothing of the demo chat reaches an operator of another site"
    );
    for frame in [
        ClientFrame::Accept { chat: demo_chat },
        ClientFrame::Close { chat: demo_chat },
    ] {
        olga.ws.send(&frame).await;
        assert_eq!(
            error_code(&olga.ws.recv().await),
            Some(ErrorCode::Forbidden)
        );
    }
    let injected = make_message(olga.author(), demo_chat, "hello from elsewhere", 2);
    olga.ws
        .send(&ClientFrame::Send {
            msg: injected.clone(),
        })
        .await;
    assert!(matches!(
        olga.ws.recv().await,
        ServerFrame::Error { code: ErrorCode::Forbidden, id: Some(id), .. } if id == injected.id
    ));

    // Ada serves demo: she sees the demo chat and not the other one.
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let frames = ada.ws.frames_until_pong(2).await;
    assert_eq!(last_queue(&frames), Some(vec![demo_chat]));
    let ada_inbox = frames.iter().find_map(|f| match f {
        ServerFrame::Inbox { notes } => Some(notes.len()),
        _ => None,
    });
    assert_eq!(ada_inbox, Some(0));
    // The demo visitor never saw the refused message.
    let seen = demo_visitor.ws.frames_until_pong(3).await;
    assert!(
        !seen
            .iter()
            .any(|f| matches!(f, ServerFrame::Message { .. }))
    );
}

#[tokio::test]
async fn an_operator_writes_transfers_and_closes_only_chats_it_holds() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    relay.add_operator("bob", "Bob", "battery staple");
    assert!(relay.operator_cli(
        &[
            "add",
            "--username",
            "root",
            "--role",
            "admin",
            "--password-stdin"
        ],
        "root's password",
    ));
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("help me").await;
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    ada.accept(chat).await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { .. }))
        .await;
    let mut bob = Operator::join(&relay.url(), &relay.ws_url(), "bob", "battery staple").await;

    // Bob writes "as the visitor" into Ada's chat: refused, never acked.
    let mut forged = visitor.message("send the refund to IBAN X", 9);
    forged.author.name = "The visitor".into();
    bob.ws
        .send(&ClientFrame::Send {
            msg: forged.clone(),
        })
        .await;
    let answers = bob.ws.frames_until_pong(1).await;
    assert!(
        answers.iter().any(|f| matches!(f,
            ServerFrame::Error { code: ErrorCode::Forbidden, id: Some(id), .. } if *id == forged.id)),
        "{answers:?}"
    );
    assert!(!answers.iter().any(|f| matches!(f, ServerFrame::Ack { .. })));
    // Nor his own message, a transfer to himself, a close or typing.
    let own = make_message(bob.author(), chat, "I'll take it from here", 9);
    for frame in [
        ClientFrame::Send { msg: own.clone() },
        ClientFrame::Transfer {
            chat,
            to: "bob".into(),
        },
        ClientFrame::Close { chat },
    ] {
        bob.ws.send(&frame).await;
        assert_eq!(error_code(&bob.ws.recv().await), Some(ErrorCode::Forbidden));
    }
    bob.ws.send(&ClientFrame::Typing { chat, on: true }).await;
    let seen = visitor.ws.frames_until_pong(2).await;
    assert!(
        seen.iter().all(|f| !matches!(
            f,
            ServerFrame::Message { .. } | ServerFrame::Typing { .. } | ServerFrame::Status { .. }
        )),
        "the visitor saw something bob did: {seen:?}"
    );

    // Ada, who holds it, hands it to Bob; then she may no longer write.
    ada.ws
        .send(&ClientFrame::Transfer {
            chat,
            to: "bob".into(),
        })
        .await;
    bob.ws
        .recv_until(|f| matches!(f, ServerFrame::Chat { sync } if sync.chat == chat))
        .await;
    let late = make_message(ada.author(), chat, "one more thing", 10);
    ada.ws.send(&ClientFrame::Send { msg: late.clone() }).await;
    ada.ws
        .recv_until(|f| {
            matches!(f,
            ServerFrame::Error { code: ErrorCode::Forbidden, id: Some(id), .. } if *id == late.id)
        })
        .await;
    let reply = make_message(bob.author(), chat, "Bob here", 10);
    bob.ws.send(&ClientFrame::Send { msg: reply.clone() }).await;
    bob.ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id } if *id == reply.id))
        .await;

    // An admin may transfer anyone's chat.
    let mut root = Operator::join(&relay.url(), &relay.ws_url(), "root", "root's password").await;
    root.ws
        .send(&ClientFrame::Transfer {
            chat,
            to: "ada".into(),
        })
        .await;
    visitor
        .ws
        .recv_until(|f| {
            matches!(f, ServerFrame::Status { status, .. }
            if status.operator.as_deref() == Some("ada"))
        })
        .await;
}

#[tokio::test]
async fn writing_in_a_waiting_chat_takes_it() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("anyone?").await;
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let reply = make_message(ada.author(), chat, "yes, me", 2);
    ada.ws.send(&ClientFrame::Send { msg: reply.clone() }).await;
    ada.ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id } if *id == reply.id))
        .await;
    let status = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { .. }))
        .await;
    assert!(matches!(status, ServerFrame::Status { status, .. }
        if status.state == ChatState::Active && status.operator.as_deref() == Some("ada")));
}

/// Waits until the connection gets `bad_token` and closes.
async fn ended(ws: &mut WsClient) {
    ws.recv_until(|f| error_code(f) == Some(ErrorCode::BadToken))
        .await;
    ws.expect_closed().await;
}

/// Hello with an operator token on a fresh connection: the first answer.
async fn operator_hello(ws_url: &str, token: &str) -> ServerFrame {
    let mut ws = WsClient::connect(ws_url, None).await.unwrap();
    ws.send(&ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Operator,
        site: "console".into(),
        token: token.into(),
        resume: vec![],
    })
    .await;
    ws.recv().await
}

#[tokio::test]
async fn a_password_change_or_a_removal_ends_sessions_and_refuses_old_tokens() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let old = ada.login.clone();
    assert!(relay.operator_cli(
        &["passwd", "--username", "ada", "--password-stdin"],
        "battery staple"
    ));
    // The CLI wrote into the running relay's store: the connected session
    // is ended within its watch interval.
    ended(&mut ada.ws).await;
    assert_eq!(
        error_code(&operator_hello(&relay.ws_url(), &old.token).await),
        Some(ErrorCode::BadToken)
    );
    assert_eq!(
        login(&relay.url(), "ada", "correct horse").await.err(),
        Some(401)
    );
    let mut again = Operator::join(&relay.url(), &relay.ws_url(), "ada", "battery staple").await;
    assert!(relay.operator_cli(&["remove", "--username", "ada"], ""));
    ended(&mut again.ws).await;
    assert_eq!(
        login(&relay.url(), "ada", "battery staple").await.err(),
        Some(401)
    );
}

#[tokio::test]
async fn logout_ends_the_session_on_both_deployments() {
    let pair = Pair::start(&[]);
    pair.primary.add_operator("ada", "Ada", "correct horse");
    eventually(
        Duration::from_secs(20),
        "the account replicated",
        || async { accounts_of(&pair.redundant).await == ["ada"] },
    )
    .await;
    let session = login(&pair.primary.url(), "ada", "correct horse")
        .await
        .unwrap();
    let mut here = Operator::resume(session.clone(), &pair.primary.ws_url(), vec![]).await;
    let mut there = Operator::resume(session.clone(), &pair.redundant.ws_url(), vec![]).await;
    let logout = |base: String| {
        reqwest::Client::new()
            .post(format!("{base}/v1/operator/logout"))
            .bearer_auth(&session.token)
            .send()
    };
    assert_eq!(logout(pair.primary.url()).await.unwrap().status(), 204);
    ended(&mut here.ws).await;
    ended(&mut there.ws).await;
    assert_eq!(
        error_code(&operator_hello(&pair.redundant.ws_url(), &session.token).await),
        Some(ErrorCode::BadToken)
    );
    let again = logout(pair.redundant.url()).await.unwrap();
    assert_eq!(again.status(), 401);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "bad_token");
    // Signing in again works on either side.
    login(&pair.redundant.url(), "ada", "correct horse")
        .await
        .unwrap();
}

async fn next_presence(ws: &mut WsClient) -> ServerFrame {
    ws.recv_until(|f| matches!(f, ServerFrame::Presence { .. }))
        .await
}

#[tokio::test]
async fn visitors_learn_how_many_operators_are_online_never_who() {
    let relay = RelayProcess::start(two_sites());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let mut elsewhere = other_site_visitor(&relay).await;
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let presence = |online: u32| ServerFrame::Presence {
        operators_online: online,
        operators: vec![],
    };
    assert_eq!(next_presence(&mut visitor.ws).await, presence(1));
    // Ada does not serve the other site: its visitors see nobody there.
    assert_eq!(next_presence(&mut elsewhere.ws).await, presence(0));
    // Operators keep the names.
    let presence = next_presence(&mut ada.ws).await;
    assert!(matches!(presence, ServerFrame::Presence { operators, .. } if operators == ["ada"]));
}

/// The queue under abuse, with the default limits: a thousand chats from
/// one address (an abuser, or a thousand honest visitors behind one NAT:
/// the relay cannot tell them apart) all wait, every first message acked,
/// and a visitor from another address still comes in the queue's first
/// turn, not after them (docs/PROTOCOL.md, "The queue under abuse").
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_chats_from_one_address_all_wait_and_hide_no_other_visitor() {
    // A thousand WebSockets in this process, whatever its soft limit.
    twinline_relay::net::fd_limit::raise();
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let crowd: IpAddr = "127.0.0.1".parse().unwrap();
    // The first alone, so it is the oldest; then the rest fifty at a time.
    let mut spam = vec![Visitor::join_from(&relay.url(), &relay.ws_url(), crowd).await];
    spam[0].say("spam 0").await;
    let rest: Vec<usize> = (1..1_000).collect();
    for batch in rest.chunks(50) {
        let joined = futures_util::future::join_all(batch.iter().map(|i| {
            let (url, ws_url) = (relay.url(), relay.ws_url());
            async move {
                let mut visitor = Visitor::join_from(&url, &ws_url, crowd).await;
                visitor.say(&format!("spam {i}")).await;
                visitor
            }
        }))
        .await;
        spam.extend(joined);
    }
    assert_eq!(
        spam.len(),
        1_000,
        "every first message from the crowd acked"
    );
    let real: IpAddr = "127.0.0.2".parse().unwrap();
    let mut visitor = Visitor::join_from(&relay.url(), &relay.ws_url(), real).await;
    visitor.say("a real question").await;
    // A chat whose visitor has not written does not wait.
    let silent =
        Visitor::join_from(&relay.url(), &relay.ws_url(), "127.0.0.3".parse().unwrap()).await;
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let frames = ada.ws.frames_until_pong(1).await;
    let queue = last_queue(&frames).expect("a queue");
    assert_eq!(queue.len(), 200, "the queue frame holds at most 200");
    let position = queue.iter().position(|c| *c == visitor.token.chat);
    assert!(
        position.is_some_and(|p| p < 2),
        "the real visitor comes in the first turn, not after the flood: {position:?}"
    );
    assert!(!queue.contains(&silent.token.chat));
    assert_eq!(queue[0], spam[0].token.chat, "each source's oldest first");
}

#[tokio::test]
async fn a_console_replay_to_a_deployment_that_lost_the_accept_still_lands() {
    // No replication: the redundant never heard of the chat, the accept or
    // the messages. The console's replay takes the chat there and stores
    // what it holds, visitor messages included.
    let primary = RelayProcess::start(RelayOptions::primary());
    let redundant = RelayProcess::start(RelayOptions::redundant());
    primary.add_operator("ada", "Ada", "correct horse");
    redundant.add_operator("ada", "Ada", "correct horse");
    let mut visitor = Visitor::join(&primary.url(), &primary.ws_url()).await;
    let chat = visitor.token.chat;
    let question = visitor.say("is it in stock?").await;
    let session = login(&primary.url(), "ada", "correct horse").await.unwrap();
    let mut ada = Operator::resume(session.clone(), &primary.ws_url(), vec![]).await;
    ada.accept(chat).await;
    let answer = make_message(ada.author(), chat, "yes", 2);
    ada.ws
        .send(&ClientFrame::Send {
            msg: answer.clone(),
        })
        .await;
    ada.ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id } if *id == answer.id))
        .await;
    // The console moves to the redundant and names what it holds.
    let mut moved = WsClient::connect(&redundant.ws_url(), None).await.unwrap();
    let chats = moved
        .hello_with_catch_up(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Operator,
            site: "console".into(),
            token: session.token.clone(),
            resume: vec![ChatResume {
                chat,
                have: vec![question.id, answer.id],
            }],
        })
        .await;
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].lacking.len(), 2);
    moved
        .send_burst(&[
            ClientFrame::Send {
                msg: question.clone(),
            },
            ClientFrame::Send {
                msg: answer.clone(),
            },
        ])
        .await;
    let answers = moved.frames_until_pong(5).await;
    let acked: Vec<_> = answers
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Ack { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(acked, vec![question.id, answer.id], "{answers:?}");
    // The visitor arriving there finds both, and Ada holding the chat.
    let chats = visitor.stored(&redundant.ws_url()).await;
    assert_eq!(chats[0].missing.len(), 2);
    assert_eq!(chats[0].status.operator.as_deref(), Some("ada"));
}
