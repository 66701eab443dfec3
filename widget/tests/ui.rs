//! The panel in a real browser: text stays text, rendering is keyed by id,
//! forms refuse bad input, focus and live regions behave.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use twinline_widget::config::Prechat;
use twinline_widget::i18n::Lang;
use twinline_widget::ui::{Shown, Ui, UiEvent};
use twinline_widget::view::{ChatPhase, Link, Status, View, ViewMessage, ViewNote};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

struct Mounted {
    ui: Ui,
    events: Rc<RefCell<Vec<UiEvent>>>,
}

fn mount(prechat: Prechat) -> Mounted {
    let document = web_sys::window().unwrap().document().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let ui = Ui::mount(
        &document,
        &document.body().unwrap(),
        "en",
        Lang::En.texts(),
        "Chat with us",
        prechat,
        Rc::new(move |event| sink.borrow_mut().push(event)),
    )
    .unwrap();
    Mounted { ui, events }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.ui.host().remove();
    }
}

impl Mounted {
    fn find(&self, selector: &str) -> Element {
        self.ui
            .root()
            .query_selector(selector)
            .unwrap()
            .unwrap_or_else(|| panic!("no {selector}"))
    }

    fn visible(&self, selector: &str) -> bool {
        !self.find(selector).has_attribute("hidden")
    }

    fn render(&mut self, view: &View, unread: usize, prechat: bool) {
        self.ui.render(&Shown {
            view,
            unread,
            preview: None,
            prechat,
            banner: false,
        });
    }
}

fn message(id: &str, author: &str, text: &str, status: Status) -> ViewMessage {
    ViewMessage {
        id: id.into(),
        author: author.into(),
        name: if author == "operator" {
            "Alice".into()
        } else {
            String::new()
        },
        text: text.into(),
        at: 1_764_036_000_000,
        status,
    }
}

#[wasm_bindgen_test]
fn launcher_is_in_a_shadow_root_and_labelled() {
    let m = mount(Prechat::Off);
    assert_eq!(m.ui.host().id(), "twinline-widget");
    assert!(m.ui.host().shadow_root().is_some(), "open shadow root");
    let launcher = m.find("button.launcher");
    assert_eq!(launcher.get_attribute("aria-label").unwrap(), "Open chat");
    assert_eq!(launcher.get_attribute("aria-expanded").unwrap(), "false");
    assert!(!m.visible(".panel"));
    let log = m.find(".log");
    assert_eq!(log.get_attribute("role").unwrap(), "log");
    assert_eq!(log.get_attribute("aria-live").unwrap(), "polite");
}

#[wasm_bindgen_test]
fn hostile_text_is_rendered_as_text() {
    let mut m = mount(Prechat::Off);
    let hostile = "<img src=x onerror=\"window.__twinline_pwned=1\"><script>window.__twinline_pwned=2</script><b>bold</b>";
    let view = View {
        messages: vec![
            message(
                "01JDQ60B2C3D4E5F6G7H8J9KAM",
                "visitor",
                hostile,
                Status::Sent,
            ),
            message(
                "01JDQ62AAAAAAAAAAAAAAAAAAA",
                "operator",
                hostile,
                Status::Received,
            ),
        ],
        ..View::default()
    };
    m.render(&view, 0, false);
    let root = m.ui.root();
    assert!(root.query_selector("img").unwrap().is_none());
    assert!(root.query_selector(".log script").unwrap().is_none());
    assert!(root.query_selector(".log b").unwrap().is_none());
    let texts = root.query_selector_all(".log .text").unwrap();
    assert_eq!(texts.length(), 2);
    for i in 0..2 {
        assert_eq!(texts.item(i).unwrap().text_content().unwrap(), hostile);
    }
    let pwned =
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"__twinline_pwned".into()).unwrap();
    assert!(pwned.is_undefined());
    // Names are text too.
    let mut evil = message(
        "01JDQ63AAAAAAAAAAAAAAAAAAA",
        "operator",
        "hi",
        Status::Received,
    );
    evil.name = "<i>Mallory</i>".into();
    let view = View {
        messages: vec![evil],
        ..View::default()
    };
    m.render(&view, 0, false);
    assert_eq!(
        m.find(".log .who").text_content().unwrap(),
        "<i>Mallory</i>"
    );
    assert!(m.ui.root().query_selector(".log i").unwrap().is_none());
}

#[wasm_bindgen_test]
fn rendering_is_keyed_by_id_and_follows_display_order() {
    let mut m = mount(Prechat::Off);
    let a = message(
        "01JDQ60AAAAAAAAAAAAAAAAAAA",
        "visitor",
        "one",
        Status::Sending,
    );
    let b = message(
        "01JDQ60BBBBBBBBBBBBBBBBBBB",
        "operator",
        "two",
        Status::Received,
    );
    m.render(
        &View {
            messages: vec![a.clone(), b.clone()],
            ..View::default()
        },
        0,
        false,
    );
    let first_a = m.find("[data-id='01JDQ60AAAAAAAAAAAAAAAAAAA']");
    assert!(first_a.text_content().unwrap().contains("Sending…"));

    // A is acked, C (merged after a failover) sorts between A and B.
    let mut a_sent = a.clone();
    a_sent.status = Status::Sent;
    let c = message(
        "01JDQ60CCCCCCCCCCCCCCCCCCC",
        "operator",
        "three",
        Status::Received,
    );
    m.render(
        &View {
            messages: vec![a_sent, c, b],
            ..View::default()
        },
        0,
        false,
    );
    let ids: Vec<String> = {
        let nodes = m.ui.root().query_selector_all(".log .msg").unwrap();
        (0..nodes.length())
            .map(|i| {
                nodes
                    .item(i)
                    .unwrap()
                    .unchecked_into::<Element>()
                    .get_attribute("data-id")
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(
        ids,
        [
            "01JDQ60AAAAAAAAAAAAAAAAAAA",
            "01JDQ60CCCCCCCCCCCCCCCCCCC",
            "01JDQ60BBBBBBBBBBBBBBBBBBB"
        ]
    );
    let again_a = m.find("[data-id='01JDQ60AAAAAAAAAAAAAAAAAAA']");
    assert!(
        again_a.is_same_node(Some(&first_a)),
        "same element, updated in place"
    );
    assert!(again_a.text_content().unwrap().contains("Sent"));
    assert!(!again_a.text_content().unwrap().contains("Sending"));
    assert_eq!(
        m.find(".msg:not(.own) .who").text_content().unwrap(),
        "Alice"
    );
}

#[wasm_bindgen_test]
fn composer_refuses_empty_text_and_sends_real_text() {
    let mut m = mount(Prechat::Off);
    m.render(&View::default(), 0, false);
    m.ui.set_open(true);
    let form: HtmlElement = m.find("form.composer").unchecked_into();
    let text: HtmlTextAreaElement = m.find("form.composer textarea").unchecked_into();
    let button: HtmlElement = m.find("form.composer button").unchecked_into();

    text.set_value("   ");
    button.click();
    assert!(m.events.borrow().is_empty(), "nothing sent");
    assert!(m.visible("form.composer .err"));
    assert_eq!(
        m.find("form.composer .err").text_content().unwrap(),
        "Please write something first."
    );

    text.set_value("Is the blue one in stock?");
    button.click();
    assert_eq!(
        m.events.borrow().as_slice(),
        [UiEvent::Send("Is the blue one in stock?".into())]
    );
    assert_eq!(text.value(), "", "composer cleared");
    assert!(!m.visible("form.composer .err"));
    drop(form);
}

#[wasm_bindgen_test]
fn open_focuses_the_composer_escape_closes_and_focus_returns() {
    let mut m = mount(Prechat::Off);
    m.render(&View::default(), 0, false);
    m.find("button.launcher")
        .unchecked_into::<HtmlElement>()
        .click();
    assert_eq!(m.events.borrow().as_slice(), [UiEvent::Open]);
    m.ui.set_open(true);
    assert!(m.visible(".panel"));
    assert!(!m.visible("button.launcher"));
    let active = m.ui.root().active_element().unwrap();
    assert_eq!(active.tag_name(), "TEXTAREA");

    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    init.set_bubbles(true);
    let escape =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    active.dispatch_event(&escape).unwrap();
    assert_eq!(m.events.borrow().last(), Some(&UiEvent::Close));
    m.ui.set_open(false);
    assert!(!m.visible(".panel"));
    let active = m.ui.root().active_element().unwrap();
    assert!(active.class_list().contains("launcher"));
}

#[wasm_bindgen_test]
fn unread_badge_counts_and_labels() {
    let mut m = mount(Prechat::Off);
    m.render(&View::default(), 3, false);
    assert!(m.visible(".badge"));
    assert_eq!(m.find(".badge").text_content().unwrap(), "3");
    assert_eq!(
        m.find("button.launcher")
            .get_attribute("aria-label")
            .unwrap(),
        "Open chat, 3 unread messages"
    );
    m.render(&View::default(), 0, false);
    assert!(!m.visible(".badge"));
}

#[wasm_bindgen_test]
fn the_reconnecting_banner_shows_when_the_state_says_whatever_the_link() {
    // When it is said (only after a grace, so a failover shows nothing) is
    // the app state's decision, tested natively in app/state_tests.rs.
    let mut m = mount(Prechat::Off);
    for link in [
        Link::Connecting,
        Link::Connected,
        Link::Reconnecting,
        Link::Offline,
    ] {
        for banner in [false, true] {
            let view = View {
                link,
                ..View::default()
            };
            m.ui.render(&Shown {
                view: &view,
                unread: 0,
                preview: None,
                prechat: false,
                banner,
            });
            assert_eq!(m.visible(".banner"), banner, "{link:?}");
        }
    }
    assert_eq!(m.find(".banner").get_attribute("role").unwrap(), "status");
}

#[wasm_bindgen_test]
fn typing_indicator_names_the_operator() {
    let mut m = mount(Prechat::Off);
    m.render(
        &View {
            typing: Some("Alice".into()),
            ..View::default()
        },
        0,
        false,
    );
    assert_eq!(
        m.find(".typing").text_content().unwrap(),
        "Alice is typing…"
    );
    m.render(&View::default(), 0, false);
    assert_eq!(m.find(".typing").text_content().unwrap(), "");
}

#[wasm_bindgen_test]
fn prechat_form_checks_required_fields() {
    let mut m = mount(Prechat::Required);
    m.render(&View::default(), 0, true);
    assert!(m.visible("form.prechat"));
    assert!(!m.visible("form.composer"));
    let button: HtmlElement = m.find("form.prechat button").unchecked_into();
    button.click();
    assert!(m.events.borrow().is_empty());
    assert!(m.visible("form.prechat .err"));
    let inputs =
        m.ui.root()
            .query_selector_all("form.prechat input")
            .unwrap();
    let name: HtmlInputElement = inputs.item(0).unwrap().unchecked_into();
    let email: HtmlInputElement = inputs.item(1).unwrap().unchecked_into();
    name.set_value("Ada");
    email.set_value("ada@example.com");
    button.click();
    assert_eq!(
        m.events.borrow().as_slice(),
        [UiEvent::Prechat {
            name: "Ada".into(),
            email: "ada@example.com".into()
        }]
    );
}

#[wasm_bindgen_test]
fn offline_form_when_no_operator_is_online_then_thanks() {
    let mut m = mount(Prechat::Optional);
    let mut view = View {
        operators_online: Some(0),
        visitor_email: "ada@example.com".into(),
        ..View::default()
    };
    m.render(&view, 0, true);
    assert!(m.visible("form.offline"));
    assert!(!m.visible("form.composer"));
    assert!(!m.visible("form.prechat"));
    let text: HtmlTextAreaElement = m.find("form.offline textarea").unchecked_into();
    text.set_value("Please call me back.");
    m.find("form.offline button")
        .unchecked_into::<HtmlElement>()
        .click();
    assert_eq!(
        m.events.borrow().as_slice(),
        [UiEvent::Offline {
            name: String::new(),
            email: "ada@example.com".into(),
            text: "Please call me back.".into()
        }]
    );
    view.notes.push(ViewNote {
        id: "01JDQ61XYZ0123456789ABCDEF".into(),
        stored: true,
    });
    m.render(&view, 0, true);
    assert!(!m.visible("form.offline"));
    assert!(
        m.find(".panel")
            .text_content()
            .unwrap()
            .contains("Thank you!")
    );
}

#[wasm_bindgen_test]
fn closed_chat_offers_a_new_one() {
    let mut m = mount(Prechat::Off);
    m.render(
        &View {
            phase: ChatPhase::Closed,
            ..View::default()
        },
        0,
        false,
    );
    assert!(!m.visible("form.composer"));
    let buttons = m.ui.root().query_selector_all(".end > .btn").unwrap();
    let new_chat: HtmlElement = buttons.item(0).unwrap().unchecked_into();
    new_chat.click();
    assert_eq!(m.events.borrow().as_slice(), [UiEvent::NewChat]);
}

#[wasm_bindgen_test]
fn a_closed_chat_offers_a_rating_and_says_when_it_is_stored() {
    let mut m = mount(Prechat::Off);
    let closed = |rating| View {
        phase: ChatPhase::Closed,
        rating,
        ..View::default()
    };
    m.render(&closed(None), 0, false);
    let bad: HtmlElement = m.find(".rate button[data-score=bad]").unchecked_into();
    bad.click();
    assert_eq!(
        m.events.borrow().as_slice(),
        [UiEvent::Rate {
            score: twinline_core::Score::Bad,
            comment: String::new(),
        }]
    );
    m.render(
        &closed(Some(twinline_widget::view::ViewRating {
            score: twinline_core::Score::Bad,
            comment: String::new(),
            stored: true,
        })),
        0,
        false,
    );
    assert_eq!(bad.get_attribute("aria-pressed").as_deref(), Some("true"));
    assert!(
        m.find(".rate")
            .text_content()
            .unwrap()
            .contains("Thank you for your rating.")
    );
}

#[wasm_bindgen_test]
fn a_closed_chat_offers_the_transcript_by_email_only_with_mail_and_checks_the_address() {
    let mut m = mount(Prechat::Off);
    let closed = |mail, email| View {
        phase: ChatPhase::Closed,
        mail,
        email,
        ..View::default()
    };
    m.render(&closed(false, None), 0, false);
    assert!(!m.visible("form.mail"), "not offered without mail");
    m.render(&closed(true, None), 0, false);
    assert!(m.visible("form.mail"));
    let field: HtmlInputElement = m.find("form.mail input").unchecked_into();
    assert_eq!(field.get_attribute("maxlength").as_deref(), Some("254"));
    let button: HtmlElement = m.find("form.mail button").unchecked_into();
    field.set_value("ada at example.com");
    button.click();
    assert!(
        m.events.borrow().is_empty(),
        "a bad address stays in the form"
    );
    assert!(m.visible("form.mail .err"));
    assert_eq!(
        m.find("form.mail .err").text_content().as_deref(),
        Some("Please enter an email address.")
    );
    field.set_value(" ada@example.com ");
    button.click();
    assert_eq!(
        m.events.borrow().as_slice(),
        [UiEvent::EmailTranscript("ada@example.com".into())]
    );
    assert!(!m.visible("form.mail .err"));
    let email = |stored| {
        Some(Box::new(twinline_widget::view::ViewEmail {
            to: "ada@example.com".into(),
            stored,
        }))
    };
    m.render(&closed(true, email(false)), 0, false);
    let state = m.find(".end > p[aria-live]");
    assert_eq!(
        state.text_content().as_deref(),
        Some("Sending your request…")
    );
    m.render(&closed(true, email(true)), 0, false);
    assert_eq!(
        state.text_content().as_deref(),
        Some("The transcript will be emailed to ada@example.com")
    );
    // Failed over to a deployment without mail: the form goes, the line stays.
    m.render(&closed(false, email(true)), 0, false);
    assert!(!m.visible("form.mail"));
    assert!(state.text_content().unwrap().contains("ada@example.com"));
}

#[wasm_bindgen_test]
fn german_texts_when_the_language_is_german() {
    let document = web_sys::window().unwrap().document().unwrap();
    let ui = Ui::mount(
        &document,
        &document.body().unwrap(),
        "de",
        Lang::De.texts(),
        Lang::De.texts().title,
        Prechat::Off,
        Rc::new(|_| {}),
    )
    .unwrap();
    let launcher = ui
        .root()
        .query_selector("button.launcher")
        .unwrap()
        .unwrap();
    assert_eq!(launcher.get_attribute("aria-label").unwrap(), "Chat öffnen");
    assert_eq!(ui.host().get_attribute("lang").unwrap(), "de");
    ui.host().remove();
}

#[wasm_bindgen_test]
fn the_unread_preview_is_a_polite_live_region_of_text_hidden_while_open() {
    let mut m = mount(Prechat::Off);
    let view = View::default();
    let preview = "<b>Hi</b> there";
    m.ui.render(&Shown {
        view: &view,
        unread: 1,
        preview: Some(preview),
        prechat: false,
        banner: false,
    });
    let shown = m.find(".preview");
    assert!(m.visible(".preview"));
    assert_eq!(shown.text_content().unwrap(), preview, "as text");
    assert_eq!(shown.child_element_count(), 0, "no markup");
    assert_eq!(shown.get_attribute("aria-live").unwrap(), "polite");
    assert_eq!(shown.get_attribute("role").unwrap(), "status");
    m.render(&view, 0, false);
    assert!(!m.visible(".preview"), "nothing unread, nothing previewed");
}

#[wasm_bindgen_test]
fn messages_are_grouped_by_author_and_minute_and_regrouped_when_one_is_merged_between() {
    let mut m = mount(Prechat::Off);
    let at = |msg: ViewMessage, at: u64| ViewMessage { at, ..msg };
    let t = 1_764_036_000_000;
    let a = at(
        message(
            "01JDQ60AAAAAAAAAAAAAAAAAAA",
            "operator",
            "a",
            Status::Received,
        ),
        t,
    );
    let b = at(
        message(
            "01JDQ60BBBBBBBBBBBBBBBBBBB",
            "operator",
            "b",
            Status::Received,
        ),
        t + 1_000,
    );
    let c = at(
        message(
            "01JDQ60CCCCCCCCCCCCCCCCCCC",
            "visitor",
            "c",
            Status::Sending,
        ),
        t + 2_000,
    );
    let d = at(
        message("01JDQ60DDDDDDDDDDDDDDDDDDD", "visitor", "d", Status::Sent),
        t + 3_000,
    );
    let e = at(
        message("01JDQ60EEEEEEEEEEEEEEEEEEE", "visitor", "e", Status::Sent),
        t + 60_000,
    );
    let shown = |m: &mut Mounted, messages: Vec<ViewMessage>| {
        m.render(
            &View {
                messages,
                ..View::default()
            },
            0,
            false,
        );
        let nodes = m.ui.root().query_selector_all(".log .msg").unwrap();
        (0..nodes.length())
            .map(|i| {
                let item: Element = nodes.item(i).unwrap().dyn_into().unwrap();
                let meta = item.query_selector(".meta").unwrap().unwrap();
                (
                    item.class_list().contains("cont"),
                    meta.text_content().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let groups = shown(
        &mut m,
        vec![a.clone(), b.clone(), c.clone(), d.clone(), e.clone()],
    );
    let conts: Vec<bool> = groups.iter().map(|(cont, _)| *cont).collect();
    assert_eq!(
        conts,
        [false, true, false, true, false],
        "by author, then by minute"
    );
    assert_eq!(
        groups[1].1, "",
        "a continued, received message shows no time again"
    );
    assert_eq!(
        groups[3].1, "Sent",
        "a continued own message keeps its state, not the time"
    );
    assert!(groups[2].1.ends_with(" · Sending…"), "{}", groups[2].1);
    assert!(
        groups[2].1.contains(':'),
        "the group's first shows the time: {}",
        groups[2].1
    );
    // A visitor message merged in between (after a failover) splits the
    // operator's group: b now starts one, with its time.
    let merged = at(
        message("01JDQ60ABABABABABABABABABA", "visitor", "m", Status::Sent),
        t + 500,
    );
    let groups = shown(&mut m, vec![a, merged, b, c, d, e]);
    let conts: Vec<bool> = groups.iter().map(|(cont, _)| *cont).collect();
    assert_eq!(conts, [false, false, false, false, true, false]);
    assert!(
        groups[2].1.contains(':'),
        "b shows its time again: {}",
        groups[2].1
    );
}
