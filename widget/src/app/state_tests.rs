//! The visitor app's decisions, one tab at a time, with the events the
//! browser would feed it and the answers the shell would give.

use super::*;
use crate::i18n::Lang;
use crate::view::{ChatPhase, Status};
use twinline_core::{Ulid, VisitorId};

const PAGE: &str = "https://shop.example/kettle";

fn now() -> Millis {
    Millis(1_764_036_000_000)
}

fn keys() -> Keys {
    Keys::new("shop")
}

fn tab(me: &str) -> AppState {
    tab_with(me, Lang::En, Prechat::Off, false, Vec::new())
}

fn tab_with(
    me: &str,
    lang: Lang,
    prechat: Prechat,
    prechat_done: bool,
    unsent: Vec<Unsent>,
) -> AppState {
    let mut n = 0u128;
    AppState::new(Setup {
        keys: keys(),
        me: me.into(),
        texts: lang.texts(),
        prechat,
        prechat_done,
        unsent,
        random: Box::new(move || {
            n += 1;
            n
        }),
        page: Box::new(|| PAGE.into()),
    })
}

fn effects(s: &mut AppState) -> Vec<Effect> {
    std::iter::from_fn(|| s.poll_effect()).collect()
}

fn token(n: u128) -> VisitorTokenResponse {
    VisitorTokenResponse {
        token: format!("token-{n}"),
        visitor: VisitorId(Ulid::new(Millis(1), n)),
        chat: ChatId(Ulid::new(Millis(2), n)),
        expires: Millis(u64::MAX),
    }
}

fn unsent(id: &str) -> Unsent {
    Unsent {
        id: id.into(),
        text: format!("text {id}"),
        at: 5,
    }
}

fn message(id: &str, author: &str) -> ViewMessage {
    ViewMessage {
        id: id.into(),
        author: author.into(),
        name: String::new(),
        text: format!("text {id}"),
        at: 5,
        status: if author == "visitor" {
            Status::Sent
        } else {
            Status::Received
        },
    }
}

fn view_with(messages: Vec<ViewMessage>) -> View {
    View {
        chat: Some(token(1).chat.to_string()),
        messages,
        link: Link::Connected,
        deployment: Some("primary".into()),
        operators_online: Some(1),
        phase: ChatPhase::Active,
        ..View::default()
    }
}

fn send_call(entry: &Unsent) -> Effect {
    Effect::Engine(EngineCall::Send {
        id: entry.id.clone(),
        text: entry.text.clone(),
    })
}

/// Writes `text` in `s`: the message as its unsent key holds it, and what
/// `s` did.
fn write(s: &mut AppState, text: &str) -> (Unsent, Vec<Effect>) {
    let id = s.send(now(), text).unwrap();
    let written = Unsent {
        id,
        text: text.into(),
        at: now().0,
    };
    (written, effects(s))
}

/// Elects `s` leader and answers its question with what storage holds;
/// what it does then.
fn elect(
    s: &mut AppState,
    token: Option<VisitorTokenResponse>,
    chat: Option<ChatId>,
) -> Vec<Effect> {
    s.handle(now(), Event::Tick { leads: true });
    assert_eq!(effects(s), vec![Effect::ReadSaved, Effect::CollectUnsent]);
    s.handle(now(), Event::Saved { token, chat });
    effects(s)
}

/// Tab `a`, elected leader, resuming `token(1)`'s saved chat.
fn leader() -> AppState {
    let mut s = tab("a");
    assert_eq!(
        elect(&mut s, Some(token(1)), Some(token(1).chat)),
        vec![Effect::StartEngine(token(1)), Effect::CollectUnsent]
    );
    s
}

/// Tab `a`, elected leader, with no saved chat: fetching a token.
fn leader_without_token() -> AppState {
    let mut s = tab("a");
    assert_eq!(
        elect(&mut s, None, None),
        vec![Effect::FetchToken { after_ms: 0 }]
    );
    s
}

/// Tab `b`, following.
fn follower() -> AppState {
    let mut s = tab("b");
    s.handle(now(), Event::Tick { leads: false });
    let _ = effects(&mut s);
    s
}

#[test]
fn a_tab_follows_and_asks_for_the_view_until_it_has_one() {
    let mut s = tab("b");
    s.handle(now(), Event::Tick { leads: false });
    assert_eq!(
        effects(&mut s),
        vec![Effect::Post(TabMessage::Hello { from: "b".into() })]
    );
    assert!(!s.leads());
    let view = view_with(vec![message("M1", "operator")]);
    s.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: view.clone(),
        }),
    );
    s.handle(now(), Event::Tick { leads: false });
    assert_eq!(effects(&mut s), vec![], "it has the view: no more hellos");
    s.refresh(now(), None, 0);
    assert_eq!(s.shown().view.messages, view.messages);
}

#[test]
fn a_new_leader_resumes_the_saved_chat_when_it_is_its_tokens() {
    let s = leader();
    assert!(s.leads());
}

#[test]
fn a_new_leader_without_a_matching_saved_chat_fetches_a_token_backing_off_to_30_s() {
    let mut s = tab("a");
    // The saved session is another chat's (the token was renewed for a
    // new chat since).
    assert_eq!(
        elect(&mut s, Some(token(1)), Some(token(2).chat)),
        vec![Effect::FetchToken { after_ms: 0 }]
    );

    let mut waits = Vec::new();
    for _ in 0..7 {
        s.handle(now(), Event::Token(Err("both down".into())));
        let out = effects(&mut s);
        assert!(matches!(&out[0], Effect::Warn(w) if w.contains("both down")));
        let Effect::FetchToken { after_ms } = out[1] else {
            panic!("a retry: {out:?}")
        };
        waits.push(after_ms);
    }
    assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    // Every tab shows that neither deployment answers.
    s.refresh(now(), None, 0);
    assert_eq!(s.shown().view.link, Link::Offline);
    assert!(effects(&mut s).iter().any(|e| matches!(
        e,
        Effect::Post(TabMessage::View { view, .. }) if view.link == Link::Offline
    )));

    s.handle(now(), Event::Token(Ok(token(2))));
    assert_eq!(
        effects(&mut s),
        vec![Effect::StartEngine(token(2)), Effect::CollectUnsent]
    );
    s.handle(now(), Event::Token(Ok(token(3))));
    assert_eq!(effects(&mut s), vec![], "a late answer changes nothing");
}

#[test]
fn a_token_that_arrives_after_the_tab_stopped_leading_is_dropped() {
    let mut s = leader_without_token();
    s.handle(now(), Event::Tick { leads: false });
    let _ = effects(&mut s);
    s.handle(now(), Event::Token(Ok(token(1))));
    assert_eq!(effects(&mut s), vec![]);
    // Leading again starts afresh.
    assert_eq!(
        elect(&mut s, None, None),
        vec![Effect::FetchToken { after_ms: 0 }]
    );
}

#[test]
fn a_message_is_in_this_tabs_unsent_key_before_it_goes_anywhere() {
    let mut s = follower();
    let (written, out) = write(&mut s, "Is the blue one in stock?");
    let id = written.id.clone();
    assert_eq!(id.len(), 26);
    assert_eq!(
        id.parse::<MessageId>().unwrap().0.millis(),
        now(),
        "the id carries the wall-clock time it was written"
    );
    assert_eq!(
        out,
        vec![
            Effect::Refuse(None),
            Effect::SaveUnsent(vec![written.clone()]),
            Effect::Post(TabMessage::Unsent { from: "b".into() }),
        ]
    );
    // Shown at once as sending, and announced to the page.
    s.refresh(now(), None, 0);
    let shown = s.shown().view.messages[0].clone();
    assert_eq!(
        (shown.id.as_str(), shown.status),
        (id.as_str(), Status::Sending)
    );
    assert!(effects(&mut s).contains(&Effect::Emit(PageEvent::Message(shown))));
}

#[test]
fn the_leaders_own_message_reaches_the_session_even_when_storage_refused_it() {
    let mut s = leader();
    let (written, out) = write(&mut s, "hello");
    assert_eq!(
        out,
        vec![
            Effect::Refuse(None),
            Effect::SaveUnsent(vec![written.clone()]),
            Effect::CollectUnsent,
        ]
    );
    // The storage holds no key for it (quota): the session still gets it.
    s.handle(now(), Event::Unsent(vec![]));
    assert_eq!(effects(&mut s), vec![send_call(&written)]);
    // Once the session's view has it, this tab's key empties.
    s.refresh(
        now(),
        Some(view_with(vec![message(&written.id, "visitor")])),
        0,
    );
    assert!(effects(&mut s).contains(&Effect::SaveUnsent(vec![])));
}

#[test]
fn the_leader_takes_every_tabs_unsent_messages_into_the_session_and_removes_their_keys() {
    let mut s = leader();
    let (one, two, three) = (unsent("B1"), unsent("B2"), unsent("B3"));
    s.handle(
        now(),
        Event::Unsent(vec![
            (keys().unsent("b"), vec![one.clone(), two.clone()]),
            (keys().unsent("a"), vec![]),
        ]),
    );
    assert_eq!(
        effects(&mut s),
        vec![
            send_call(&one),
            send_call(&two),
            Effect::Remove(keys().unsent("b")),
        ],
        "this tab's own key is its own to clear"
    );
    // What the session already holds is not sent again.
    s.refresh(now(), Some(view_with(vec![message("B1", "visitor")])), 0);
    let _ = effects(&mut s);
    s.handle(
        now(),
        Event::Unsent(vec![(keys().unsent("c"), vec![one, three.clone()])]),
    );
    assert_eq!(
        effects(&mut s),
        vec![send_call(&three), Effect::Remove(keys().unsent("c"))]
    );
}

#[test]
fn a_leader_without_a_token_yet_shows_other_tabs_messages_as_sending_and_sends_them_later() {
    let mut s = leader_without_token();
    let theirs = unsent("B1");
    s.handle(
        now(),
        Event::Unsent(vec![(keys().unsent("b"), vec![theirs.clone()])]),
    );
    assert_eq!(
        effects(&mut s),
        vec![],
        "their key stays until a session holds them"
    );
    s.refresh(now(), None, 0);
    let shown = &s.shown().view.messages;
    assert_eq!(
        (shown[0].id.as_str(), shown[0].status),
        ("B1", Status::Sending)
    );
    let _ = effects(&mut s);

    s.handle(now(), Event::Token(Ok(token(1))));
    assert_eq!(
        effects(&mut s),
        vec![Effect::StartEngine(token(1)), Effect::CollectUnsent]
    );
    s.handle(
        now(),
        Event::Unsent(vec![(keys().unsent("b"), vec![theirs.clone()])]),
    );
    assert_eq!(
        effects(&mut s),
        vec![send_call(&theirs), Effect::Remove(keys().unsent("b"))]
    );
}

#[test]
fn a_follower_repairs_its_key_and_announces_its_messages_every_tick_until_the_view_has_them() {
    let written = unsent("B1");
    let mut s = tab_with("b", Lang::En, Prechat::Off, false, vec![written.clone()]);
    s.handle(now(), Event::Tick { leads: false });
    assert_eq!(
        effects(&mut s),
        vec![
            Effect::Post(TabMessage::Hello { from: "b".into() }),
            Effect::SaveUnsent(vec![written.clone()]),
            Effect::Post(TabMessage::Unsent { from: "b".into() }),
        ]
    );
    s.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: view_with(vec![message("B1", "visitor")]),
        }),
    );
    s.refresh(now(), None, 0);
    assert!(effects(&mut s).contains(&Effect::SaveUnsent(vec![])));
    s.handle(now(), Event::Tick { leads: false });
    assert_eq!(effects(&mut s), vec![]);
}

#[test]
fn visitor_details_and_offline_notes_wait_for_the_engine() {
    let mut s = leader_without_token();
    s.handle(
        now(),
        Event::SetVisitor {
            name: " Ada ".into(),
            email: "ada@example.com ".into(),
        },
    );
    let note = Note {
        name: "Ada".into(),
        email: "ada@example.com".into(),
        text: "Call me back".into(),
    };
    s.handle(
        now(),
        Event::Ui(UiEvent::Offline {
            name: note.name.clone(),
            email: note.email.clone(),
            text: note.text.clone(),
        }),
    );
    assert_eq!(effects(&mut s), vec![], "held: no engine yet");
    s.handle(now(), Event::Token(Ok(token(1))));
    assert_eq!(
        effects(&mut s),
        vec![
            Effect::StartEngine(token(1)),
            Effect::Engine(EngineCall::Visitor {
                name: "Ada".into(),
                email: "ada@example.com".into(),
                page: PAGE.into(),
            }),
            Effect::Engine(EngineCall::Note(note)),
            Effect::CollectUnsent,
        ]
    );
}

#[test]
fn details_given_in_a_follower_are_posted_and_kept_in_case_it_becomes_the_leader() {
    let mut s = follower();
    s.handle(
        now(),
        Event::SetVisitor {
            name: "Ada".into(),
            email: String::new(),
        },
    );
    assert_eq!(
        effects(&mut s),
        vec![Effect::Post(TabMessage::Visitor {
            from: "b".into(),
            name: "Ada".into(),
            email: String::new(),
            page: PAGE.into(),
        })]
    );
    assert!(
        elect(&mut s, Some(token(1)), Some(token(1).chat)).contains(&Effect::Engine(
            EngineCall::Visitor {
                name: "Ada".into(),
                email: String::new(),
                page: PAGE.into(),
            }
        ))
    );
}

#[test]
fn a_follower_forwards_what_the_visitor_does_and_the_leader_carries_it_out() {
    let mut b = follower();
    b.handle(now(), Event::Ui(UiEvent::Typing));
    let offline = UiEvent::Offline {
        name: "Ada".into(),
        email: "a@example.com".into(),
        text: "hi".into(),
    };
    b.handle(now(), Event::Ui(offline));
    b.handle(now(), Event::Ui(UiEvent::NewChat));
    let posted: Vec<TabMessage> = effects(&mut b)
        .into_iter()
        .map(|e| match e {
            Effect::Post(m) => m,
            other => panic!("a follower only posts: {other:?}"),
        })
        .collect();

    let mut a = leader();
    let mut carried = Vec::new();
    for message in posted {
        a.handle(now(), Event::Tab(message));
        carried.extend(effects(&mut a));
    }
    assert_eq!(
        carried,
        vec![
            Effect::Engine(EngineCall::Typing),
            Effect::Engine(EngineCall::Note(Note {
                name: "Ada".into(),
                email: "a@example.com".into(),
                text: "hi".into(),
            })),
            Effect::StopEngine,
            Effect::ForgetChat,
            Effect::Remove(keys().prechat()),
            Effect::FetchToken { after_ms: 0 },
        ]
    );

    // What only a leader acts on, a follower ignores, and the reverse.
    b.handle(now(), Event::Tab(TabMessage::Typing { from: "c".into() }));
    b.handle(now(), Event::Tab(TabMessage::Hello { from: "c".into() }));
    assert_eq!(effects(&mut b), vec![]);
    let mut a = leader();
    a.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "c".into(),
            view: View::default(),
        }),
    );
    a.handle(now(), Event::Tab(TabMessage::Bye { from: "c".into() }));
    assert_eq!(effects(&mut a), vec![]);
    a.handle(now(), Event::Tab(TabMessage::Hello { from: "c".into() }));
    assert!(matches!(
        &effects(&mut a)[..],
        [Effect::Post(TabMessage::View { .. })]
    ));
    a.handle(now(), Event::Tab(TabMessage::Unsent { from: "c".into() }));
    assert_eq!(effects(&mut a), vec![Effect::CollectUnsent]);
}

#[test]
fn keystrokes_reach_the_leaders_session_from_any_tab_and_are_dropped_before_it_runs() {
    let mut a = leader();
    a.handle(now(), Event::Ui(UiEvent::Typing));
    assert_eq!(effects(&mut a), vec![Effect::Engine(EngineCall::Typing)]);
    let mut waiting = leader_without_token();
    waiting.handle(now(), Event::Ui(UiEvent::Typing));
    waiting.handle(now(), Event::Tab(TabMessage::Typing { from: "b".into() }));
    assert_eq!(effects(&mut waiting), vec![]);
}

#[test]
fn losing_the_lead_stops_the_engine_and_asks_the_new_leader_for_the_view() {
    let mut s = leader();
    s.handle(now(), Event::Tick { leads: false });
    let out = effects(&mut s);
    assert_eq!(out[0], Effect::StopEngine);
    assert!(
        out[1..]
            .iter()
            .all(|e| *e == Effect::Post(TabMessage::Hello { from: "a".into() }))
    );
    assert!(!s.leads());
}

#[test]
fn leaving_stops_the_engine_and_gives_the_lease_up() {
    let mut s = leader();
    s.handle(now(), Event::Leave);
    assert_eq!(effects(&mut s), vec![Effect::StopEngine, Effect::Resign]);
    assert!(!s.leads());
    // A page restored from the back/forward cache leads again when elected.
    assert_eq!(
        elect(&mut s, Some(token(1)), Some(token(1).chat)),
        vec![Effect::StartEngine(token(1)), Effect::CollectUnsent]
    );
}

#[test]
fn a_goodbye_from_the_leader_makes_a_follower_check_the_lease_at_once() {
    let mut s = follower();
    s.handle(now(), Event::Tab(TabMessage::Bye { from: "a".into() }));
    assert_eq!(effects(&mut s), vec![Effect::TickNow]);
}

#[test]
fn opening_and_closing_are_announced_once_per_change() {
    let mut s = follower();
    s.handle(now(), Event::SetOpen(true));
    s.handle(now(), Event::Ui(UiEvent::Open));
    assert_eq!(
        effects(&mut s),
        vec![Effect::Open(true), Effect::Emit(PageEvent::Open)]
    );
    assert!(s.is_open());
    s.handle(now(), Event::Ui(UiEvent::Close));
    s.handle(now(), Event::SetOpen(false));
    assert_eq!(
        effects(&mut s),
        vec![Effect::Open(false), Effect::Emit(PageEvent::Close)]
    );
}

#[test]
fn unread_counts_what_arrived_while_the_panel_was_closed_and_opening_reads_it() {
    let mut s = follower();
    let view = view_with(vec![
        message("V1", "visitor"),
        message("O1", "operator"),
        message("O2", "operator"),
    ]);
    s.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view,
        }),
    );
    s.refresh(now(), None, 0);
    assert_eq!(s.shown().unread, 2, "own messages do not count");
    s.refresh(now(), None, 1);
    assert_eq!(s.shown().unread, 1, "another tab read one");
    let _ = effects(&mut s);
    s.handle(now(), Event::SetOpen(true));
    s.refresh(now(), None, 1);
    assert!(effects(&mut s).contains(&Effect::Store {
        key: keys().read(),
        value: "2".into()
    }));
    assert_eq!(s.shown().unread, 0);
}

#[test]
fn the_prechat_form_shows_until_it_is_done_or_the_chat_has_started() {
    let mut s = tab_with("b", Lang::En, Prechat::Optional, false, Vec::new());
    s.refresh(now(), None, 0);
    assert!(s.shown().prechat);
    s.handle(
        now(),
        Event::Ui(UiEvent::Prechat {
            name: String::new(),
            email: String::new(),
        }),
    );
    assert_eq!(
        effects(&mut s),
        vec![Effect::Store {
            key: keys().prechat(),
            value: "1".into()
        }],
        "skipped: nothing to tell the operator"
    );
    s.refresh(now(), None, 0);
    assert!(!s.shown().prechat);

    let mut started = tab_with("c", Lang::En, Prechat::Required, false, Vec::new());
    started.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: view_with(vec![message("O1", "operator")]),
        }),
    );
    started.refresh(now(), None, 0);
    assert!(!started.shown().prechat);
    let mut done = tab_with("d", Lang::En, Prechat::Required, true, Vec::new());
    done.refresh(now(), None, 0);
    assert!(!done.shown().prechat);
    let mut off = tab_with("e", Lang::En, Prechat::Off, false, Vec::new());
    off.refresh(now(), None, 0);
    assert!(!off.shown().prechat);
}

#[test]
fn the_page_hears_each_message_once_and_each_status_change() {
    let mut s = leader();
    s.handle(now(), Event::Ready);
    assert_eq!(
        effects(&mut s),
        vec![Effect::Emit(PageEvent::Status {
            deployment: None,
            link: Link::Connecting
        })]
    );
    let view = view_with(vec![message("O1", "operator")]);
    s.refresh(now(), Some(view.clone()), 0);
    assert_eq!(
        effects(&mut s),
        vec![
            Effect::Post(TabMessage::View {
                from: "a".into(),
                view: view.clone()
            }),
            Effect::Emit(PageEvent::Message(view.messages[0].clone())),
            Effect::Emit(PageEvent::Status {
                deployment: Some("primary".into()),
                link: Link::Connected
            }),
        ]
    );
    s.refresh(now(), Some(view), 0);
    assert_eq!(effects(&mut s), vec![], "nothing changed, nothing said");
}

#[test]
fn bad_text_is_refused_in_the_visitors_language_and_kept_nowhere() {
    let mut s = tab_with("b", Lang::De, Prechat::Off, false, Vec::new());
    let error = s.send(now(), "   ").unwrap_err();
    assert!(error.contains("empty"), "{error}");
    assert_eq!(
        effects(&mut s),
        vec![Effect::Refuse(Some(Lang::De.texts().error_empty))]
    );
    let error = s.send(now(), &"x".repeat(4_001)).unwrap_err();
    assert!(error.contains("4000"), "{error}");
    assert_eq!(
        effects(&mut s),
        vec![Effect::Refuse(Some(Lang::De.texts().error_too_long))]
    );
    s.handle(now(), Event::Ui(UiEvent::Send(String::new())));
    assert!(matches!(
        &effects(&mut s)[..],
        [Effect::Refuse(Some(_)), Effect::Warn(_)]
    ));
    s.refresh(now(), None, 0);
    assert!(s.shown().view.messages.is_empty());
}

#[test]
fn a_new_chat_forgets_the_old_one_everywhere_and_fetches_a_token() {
    let mut s = leader();
    s.refresh(now(), Some(view_with(vec![message("O1", "operator")])), 0);
    let _ = effects(&mut s);
    s.handle(now(), Event::Ui(UiEvent::NewChat));
    assert_eq!(
        effects(&mut s),
        vec![
            Effect::StopEngine,
            Effect::ForgetChat,
            Effect::Remove(keys().prechat()),
            Effect::FetchToken { after_ms: 0 },
        ]
    );
    s.refresh(now(), None, 0);
    assert!(s.shown().view.messages.is_empty());
    assert!(effects(&mut s).contains(&Effect::Post(TabMessage::View {
        from: "a".into(),
        view: View::default()
    })));
}

fn view_linked(link: Link) -> View {
    View {
        link,
        ..view_with(vec![message("O1", "operator")])
    }
}

#[test]
fn an_interruption_shorter_than_the_grace_shows_nothing() {
    let mut s = leader();
    let t0 = Millis(10_000);
    s.refresh(t0, Some(view_linked(Link::Connected)), 0);
    assert!(!s.shown().banner);
    assert_eq!(s.wake_at(), None, "nothing to wait for");
    // A failover: reconnecting for 4.9 s, then connected elsewhere.
    for (at, link) in [
        (t0.plus(1), Link::Reconnecting),
        (t0.plus(2_000), Link::Offline),
        (t0.plus(TROUBLE_SHOWN_AFTER_MS - 100), Link::Reconnecting),
    ] {
        s.refresh(at, Some(view_linked(link)), 0);
        assert!(!s.shown().banner, "{link:?} at +{} ms", at.since(t0));
        assert_eq!(
            s.wake_at(),
            Some(t0.plus(1 + TROUBLE_SHOWN_AFTER_MS)),
            "the moment it would show"
        );
    }
    s.refresh(
        t0.plus(TROUBLE_SHOWN_AFTER_MS - 50),
        Some(view_linked(Link::Connected)),
        0,
    );
    assert!(!s.shown().banner);
    assert_eq!(s.wake_at(), None);
    // The page is still told the truth.
    assert!(effects(&mut s).contains(&Effect::Emit(PageEvent::Status {
        deployment: Some("primary".into()),
        link: Link::Reconnecting,
    })));
}

#[test]
fn a_longer_one_shows_the_banner_until_connected_again() {
    let mut s = leader();
    let t0 = Millis(10_000);
    s.refresh(t0, Some(view_linked(Link::Connected)), 0);
    s.refresh(t0.plus(10), Some(view_linked(Link::Reconnecting)), 0);
    let due = s.wake_at().expect("a wake-up for the banner");
    assert_eq!(due, t0.plus(10 + TROUBLE_SHOWN_AFTER_MS));
    s.refresh(due, None, 0);
    assert!(s.shown().banner, "shown once the grace is over");
    assert_eq!(s.wake_at(), None);
    s.refresh(due.plus(1), Some(view_linked(Link::Connected)), 0);
    assert!(!s.shown().banner);
    // A second interruption gets the whole grace again.
    s.refresh(due.plus(2), Some(view_linked(Link::Reconnecting)), 0);
    s.refresh(due.plus(TROUBLE_SHOWN_AFTER_MS), None, 0);
    assert!(!s.shown().banner);
}

#[test]
fn a_queued_send_keeps_the_id_the_page_was_given_and_its_time() {
    let mut s = leader();
    let _ = effects(&mut s);
    // The loader made it at page load, a second before the chat arrived.
    let id = MessageId::new(Millis(now().0 - 1_000), 77);
    assert_eq!(s.send_with_id("Hi", id), Ok(id.to_string()));
    let written = effects(&mut s);
    let saved = Unsent {
        id: id.to_string(),
        text: "Hi".into(),
        at: now().0 - 1_000,
    };
    assert_eq!(
        written[..2],
        [Effect::Refuse(None), Effect::SaveUnsent(vec![saved])]
    );
    // The same call replayed again (a queue read twice) is the same message.
    assert_eq!(s.send_with_id("Hi", id), Ok(id.to_string()));
    assert_eq!(effects(&mut s), vec![]);
    // Text the chat refuses is refused as from the composer.
    let bad = MessageId::new(now(), 78);
    assert!(s.send_with_id(" ", bad).is_err());
}

#[test]
fn a_rating_is_taken_once_the_chat_is_closed_in_any_tab_and_reaches_the_leaders_session() {
    let closed = View {
        phase: ChatPhase::Closed,
        ..view_with(vec![message("m1", "operator")])
    };
    let mut a = leader();
    assert_eq!(
        a.rate(Score::Good, ""),
        Err("the chat is not closed".into()),
        "not before the chat is closed"
    );
    assert_eq!(effects(&mut a), vec![]);
    a.refresh(now(), Some(closed.clone()), 0);
    let _ = effects(&mut a);
    let long = "x".repeat(twinline_core::rating::MAX_COMMENT_CHARS + 1);
    assert!(a.rate(Score::Bad, &long).is_err());
    a.handle(
        now(),
        Event::Ui(UiEvent::Rate {
            score: Score::Good,
            comment: "kind".into(),
        }),
    );
    assert_eq!(
        effects(&mut a),
        vec![Effect::Engine(EngineCall::Rate {
            score: Score::Good,
            comment: "kind".into(),
        })]
    );

    // A follower that holds the closed view hands the rating to the leader.
    let mut b = follower();
    b.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: closed,
        }),
    );
    b.rate(Score::Bad, "slow").unwrap();
    let posted: Vec<TabMessage> = effects(&mut b)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Post(m @ TabMessage::Rate { .. }) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(posted.len(), 1);
    for message in posted {
        a.handle(now(), Event::Tab(message));
    }
    assert_eq!(
        effects(&mut a),
        vec![Effect::Engine(EngineCall::Rate {
            score: Score::Bad,
            comment: "slow".into(),
        })]
    );
}

#[test]
fn the_newest_unread_message_is_previewed_beside_the_launcher_until_the_panel_opens() {
    let mut s = follower();
    let long = format!("{}   and\nmore", "word ".repeat(30));
    let mut newest = message("O2", "operator");
    newest.text = long;
    let show = |s: &mut AppState, messages| {
        s.handle(
            now(),
            Event::Tab(TabMessage::View {
                from: "a".into(),
                view: view_with(messages),
            }),
        );
        s.refresh(now(), None, 0);
    };
    show(&mut s, vec![message("V1", "visitor")]);
    assert_eq!(s.shown().preview, None, "nothing unread");
    show(
        &mut s,
        vec![message("O1", "operator"), message("V1", "visitor")],
    );
    assert_eq!(
        s.shown().preview,
        Some("text O1"),
        "the newest incoming, not own"
    );
    show(
        &mut s,
        vec![message("O1", "operator"), message("V1", "visitor"), newest],
    );
    let preview = s.shown().preview.unwrap();
    assert_eq!(preview.chars().count(), PREVIEW_CHARS);
    assert!(preview.ends_with('…') && !preview.contains('\n') && !preview.contains("  "));
    s.handle(now(), Event::SetOpen(true));
    s.refresh(now(), None, 0);
    assert_eq!(s.shown().preview, None, "opening the panel clears it");
}

#[test]
fn a_preview_is_one_line_of_at_most_its_length_cut_with_an_ellipsis() {
    assert_eq!(preview_of("  Hello,\n\tworld  "), "Hello, world");
    assert_eq!(preview_of(""), "");
    assert_eq!(preview_of(" \n "), "");
    let exact = "é".repeat(PREVIEW_CHARS);
    assert_eq!(preview_of(&exact), exact, "as long as allowed: not cut");
    let over = format!("{exact}x");
    let cut = preview_of(&over);
    assert_eq!(cut.chars().count(), PREVIEW_CHARS);
    assert_eq!(cut, format!("{}…", "é".repeat(PREVIEW_CHARS - 1)));
    let word_after = format!("{} tail", "a".repeat(PREVIEW_CHARS));
    assert_eq!(
        preview_of(&word_after),
        format!("{}…", "a".repeat(PREVIEW_CHARS - 1)),
        "the space that would be one too many cuts too"
    );
    let space_fits = format!("{} b", "a".repeat(PREVIEW_CHARS - 2));
    assert_eq!(preview_of(&space_fits), space_fits);
}

fn seen_calls(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Engine(EngineCall::Seen)))
        .count()
}

#[test]
fn a_receipt_is_given_only_for_an_open_panel_on_a_visible_page_once_per_new_message() {
    let mut s = leader();
    let _ = effects(&mut s);
    let first = view_with(vec![message("V1", "visitor"), message("O1", "operator")]);
    s.refresh(now(), Some(first.clone()), 0);
    assert_eq!(seen_calls(&effects(&mut s)), 0, "the panel is closed");
    s.handle(now(), Event::SetOpen(true));
    s.set_visible(false);
    s.refresh(now(), Some(first.clone()), 0);
    assert_eq!(seen_calls(&effects(&mut s)), 0, "the page is hidden");
    s.set_visible(true);
    s.refresh(now(), Some(first.clone()), 0);
    assert_eq!(seen_calls(&effects(&mut s)), 1, "open and visible");
    s.refresh(now(), Some(first), 0);
    assert_eq!(seen_calls(&effects(&mut s)), 0, "nothing new");
    let own = view_with(vec![
        message("V1", "visitor"),
        message("O1", "operator"),
        message("V2", "visitor"),
    ]);
    s.refresh(now(), Some(own), 0);
    assert_eq!(
        seen_calls(&effects(&mut s)),
        0,
        "the visitor's own message is no news to the operator"
    );
    let answered = view_with(vec![
        message("V1", "visitor"),
        message("O1", "operator"),
        message("V2", "visitor"),
        message("O2", "operator"),
    ]);
    s.refresh(now(), Some(answered), 0);
    assert_eq!(seen_calls(&effects(&mut s)), 1);
}

#[test]
fn a_follower_showing_the_chat_asks_the_leader_for_the_receipt() {
    let mut s = follower();
    s.handle(now(), Event::SetOpen(true));
    s.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: view_with(vec![message("O1", "operator")]),
        }),
    );
    s.refresh(now(), None, 0);
    assert!(
        effects(&mut s).contains(&Effect::Post(TabMessage::Seen { from: "b".into() })),
        "asked the leader"
    );
    let mut leader = leader();
    let _ = effects(&mut leader);
    leader.handle(now(), Event::Tab(TabMessage::Seen { from: "b".into() }));
    assert_eq!(seen_calls(&effects(&mut leader)), 1);
}

#[test]
fn the_page_hears_read_when_the_operator_has_seen_a_newer_message() {
    let mut s = leader();
    let mut view = view_with(vec![message("V1", "visitor"), message("V2", "visitor")]);
    s.refresh(now(), Some(view.clone()), 0);
    let _ = effects(&mut s);
    view.seen = Some("V1".into());
    s.refresh(now(), Some(view.clone()), 0);
    assert!(effects(&mut s).contains(&Effect::Emit(PageEvent::Read("V1".into()))));
    s.refresh(now(), Some(view.clone()), 0);
    assert!(
        !effects(&mut s)
            .iter()
            .any(|e| matches!(e, Effect::Emit(PageEvent::Read(_)))),
        "once"
    );
    view.seen = Some("V2".into());
    s.refresh(now(), Some(view), 0);
    assert_eq!(s.shown().view.seen.as_deref(), Some("V2"));
    assert!(effects(&mut s).contains(&Effect::Emit(PageEvent::Read("V2".into()))));
}

#[test]
fn the_transcript_by_email_is_taken_only_where_the_relay_sends_mail_checked_in_any_tab() {
    let without = View {
        phase: ChatPhase::Closed,
        ..view_with(vec![message("m1", "operator")])
    };
    let with = View {
        mail: true,
        ..without.clone()
    };
    let mut a = leader();
    a.refresh(now(), Some(without), 0);
    let _ = effects(&mut a);
    assert_eq!(
        a.email_transcript("ada@example.com"),
        Err("this deployment sends no email".into())
    );
    assert_eq!(effects(&mut a), vec![]);
    a.refresh(now(), Some(with.clone()), 0);
    let _ = effects(&mut a);
    let refused = a.email_transcript("ada at example.com").unwrap_err();
    assert!(refused.starts_with("address: "), "{refused}");
    let long = format!(
        "{}@example.com",
        "a".repeat(twinline_core::transcript_email::MAX_ADDRESS_BYTES)
    );
    assert!(a.email_transcript(&long).is_err(), "over the limit");
    assert_eq!(
        effects(&mut a),
        vec![],
        "nothing refused reaches the session"
    );
    a.handle(
        now(),
        Event::Ui(UiEvent::EmailTranscript(" ada@example.com ".into())),
    );
    assert_eq!(
        effects(&mut a),
        vec![Effect::Engine(EngineCall::EmailTranscript(
            "ada@example.com".into()
        ))]
    );

    // A follower that holds the view hands the request to the leader,
    // which checks it again.
    let mut b = follower();
    b.handle(
        now(),
        Event::Tab(TabMessage::View {
            from: "a".into(),
            view: with,
        }),
    );
    b.email_transcript("bob@example.com").unwrap();
    let posted: Vec<TabMessage> = effects(&mut b)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Post(m @ TabMessage::EmailTranscript { .. }) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(posted.len(), 1);
    for message in posted {
        a.handle(now(), Event::Tab(message));
    }
    a.handle(
        now(),
        Event::Tab(TabMessage::EmailTranscript {
            from: "b".into(),
            email: "not an address".into(),
        }),
    );
    let after = effects(&mut a);
    assert_eq!(
        after[0],
        Effect::Engine(EngineCall::EmailTranscript("bob@example.com".into()))
    );
    assert!(
        matches!(&after[1..], [Effect::Warn(w)] if w.starts_with("address")),
        "{after:?}"
    );
}
