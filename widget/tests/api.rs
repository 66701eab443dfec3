//! `window.Twinline` and the app around it, in a real browser, with no relay
//! reachable (the deployments point at a closed port): what the visitor
//! writes is shown at once, kept in localStorage, survives a reload, and
//! calls made before the widget loaded are replayed.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Object, Reflect};
use twinline_widget::app::App;
use twinline_widget::config::{Prechat, RawConfig, WidgetConfig};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens here (and browsers refuse the port outright).
const DEAD: &str = "http://127.0.0.1:9";

fn config(site: &str) -> WidgetConfig {
    RawConfig {
        site: site.into(),
        primary: DEAD.into(),
        redundant: DEAD.into(),
        moderator: None,
        primary_name: None,
        redundant_name: None,
        prechat: Prechat::Off,
        lang: Some("en".into()),
        title: None,
        served_by: None,
    }
    .validate()
    .unwrap()
}

fn start(site: &str) -> App {
    let body = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .body()
        .unwrap();
    let app = App::start(config(site), &body).unwrap();
    app.run();
    app
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

fn call(api: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(api, &method.into()).unwrap().unchecked_into();
    let list = Array::new();
    for a in args {
        list.push(a);
    }
    Reflect::apply(&f, api, &list)
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

/// A JS function that pushes its first argument onto `sink`.
fn recorder(sink: &Array) -> Function {
    let sink = sink.clone();
    Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| {
        sink.push(&v);
    })
    .into_js_value()
    .unchecked_into()
}

/// The chat booting on a page whose loader stub queued `queue`, as the
/// chat bundle does (`boot`): start, install the API (replaying), run.
fn boot_after_stub(site: &str, queue: &Array) -> App {
    let window = web_sys::window().unwrap();
    let stub = Object::new();
    Reflect::set(&stub, &"q".into(), queue).unwrap();
    Reflect::set(&window, &"Twinline".into(), &stub).unwrap();
    let body = window.document().unwrap().body().unwrap();
    let app = App::start(config(site), &body).unwrap();
    twinline_widget::api::install(&app);
    app.run();
    app
}

#[wasm_bindgen_test]
async fn calls_queued_before_load_are_replayed_in_order() {
    let window = web_sys::window().unwrap();
    let events = Array::new();
    let opened = Array::new();
    let queue = Array::new();
    queue.push(&Array::of2(
        &"on".into(),
        &Array::of2(&"message".into(), &recorder(&events)),
    ));
    queue.push(&Array::of2(
        &"on".into(),
        &Array::of2(&"open".into(), &recorder(&opened)),
    ));
    queue.push(&Array::of2(
        &"send".into(),
        &Array::of1(&"hello before load".into()),
    ));
    queue.push(&Array::of2(&"open".into(), &Array::new()));
    let app = boot_after_stub("queue-test", &queue);

    let api = Reflect::get(&window, &"Twinline".into()).unwrap();
    assert_eq!(get(&api, "loaded"), JsValue::TRUE);
    assert_eq!(events.length(), 1, "one message event");
    let message = events.get(0);
    assert_eq!(get(&message, "text"), "hello before load");
    assert_eq!(get(&message, "author"), "visitor");
    assert_eq!(get(&message, "status"), "sending");
    assert_eq!(get(&message, "id").as_string().unwrap().len(), 26);
    assert_eq!(opened.length(), 1, "open event");
    let panel = app.shadow_root().query_selector(".panel").unwrap().unwrap();
    assert!(!panel.has_attribute("hidden"));

    let transcript: Array = call(&api, "transcript", &[]).unwrap().unchecked_into();
    assert_eq!(transcript.length(), 1);
    assert_eq!(get(&transcript.get(0), "text"), "hello before load");
    app.unmount();
    sleep(10).await;
}

#[wasm_bindgen_test]
async fn send_returns_an_id_refuses_bad_text_and_keeps_hostile_text_as_text() {
    let app = start("send-test");
    let api: JsValue = twinline_widget::api::build(&app).into();

    let error = call(&api, "send", &["   ".into()]).unwrap_err();
    let message = get(&error, "message").as_string().unwrap();
    assert!(message.contains("empty"), "{message}");
    let error = call(&api, "send", &["x".repeat(4001).into()]).unwrap_err();
    assert!(get(&error, "message").as_string().unwrap().contains("4000"));
    assert!(call(&api, "send", &[JsValue::from(5)]).is_err());

    let hostile = "<img src=x onerror=\"window.__api_pwned=1\">";
    let id = call(&api, "send", &[hostile.into()]).unwrap();
    assert_eq!(id.as_string().unwrap().len(), 26);
    let transcript: Array = call(&api, "transcript", &[]).unwrap().unchecked_into();
    assert_eq!(transcript.length(), 1);
    assert_eq!(get(&transcript.get(0), "id"), id);
    assert_eq!(get(&transcript.get(0), "status"), "sending");
    let root = app.shadow_root();
    assert!(root.query_selector("img").unwrap().is_none());
    assert_eq!(
        root.query_selector(".log .text")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        hostile
    );
    sleep(50).await;
    let pwned = Reflect::get(&web_sys::window().unwrap(), &"__api_pwned".into()).unwrap();
    assert!(pwned.is_undefined());
    app.unmount();
}

#[wasm_bindgen_test]
async fn events_fire_and_unsubscribe() {
    let app = start("events-test");
    let api: JsValue = twinline_widget::api::build(&app).into();
    let opens = Array::new();
    let closes = Array::new();
    call(&api, "on", &["open".into(), recorder(&opens).into()]).unwrap();
    let off: Function = call(&api, "on", &["close".into(), recorder(&closes).into()])
        .unwrap()
        .unchecked_into();
    assert!(call(&api, "on", &["nonsense".into(), recorder(&opens).into()]).is_err());

    call(&api, "open", &[]).unwrap();
    call(&api, "open", &[]).unwrap();
    call(&api, "close", &[]).unwrap();
    assert_eq!((opens.length(), closes.length()), (1, 1), "once per change");
    off.call0(&JsValue::NULL).unwrap();
    call(&api, "open", &[]).unwrap();
    call(&api, "close", &[]).unwrap();
    assert_eq!((opens.length(), closes.length()), (2, 1));
    app.unmount();
}

#[wasm_bindgen_test]
async fn a_queued_send_keeps_the_id_the_loader_returned() {
    // As www/loader.js queues it: the id made and returned before the chat
    // existed (its time, a second ago, is the message's).
    let at = twinline_widget::js::now().0 - 1_000;
    let id = twinline_core::MessageId::new(twinline_core::Millis(at), 99).to_string();
    let queue = Array::new();
    queue.push(&Array::of3(
        &"send".into(),
        &Array::of1(&"queued by the loader".into()),
        &id.clone().into(),
    ));
    // The same call read twice is still one message.
    queue.push(&queue.get(0));
    let app = boot_after_stub("queued-id-test", &queue);
    let transcript = app.transcript();
    assert_eq!(transcript.len(), 1, "{transcript:?}");
    assert_eq!(transcript[0].id, id);
    assert_eq!(transcript[0].at, at);
    assert_eq!(transcript[0].text, "queued by the loader");
    app.unmount();
    sleep(10).await;
}

#[wasm_bindgen_test]
async fn status_reports_offline_when_neither_deployment_answers() {
    let started = twinline_widget::clock::session();
    let app = start("status-test");
    let api: JsValue = twinline_widget::api::build(&app).into();
    let statuses = Array::new();
    call(&api, "on", &["status".into(), recorder(&statuses).into()]).unwrap();
    let status = call(&api, "status", &[]).unwrap();
    assert_eq!(get(&status, "state"), "connecting");
    assert!(get(&status, "deployment").is_null());
    // This tab leads after its claim is confirmed, then asks both for a token.
    for _ in 0..50 {
        if get(&call(&api, "status", &[]).unwrap(), "state") == "offline" {
            break;
        }
        sleep(100).await;
    }
    assert!(app.leads());
    assert_eq!(get(&call(&api, "status", &[]).unwrap(), "state"), "offline");
    assert_eq!(
        get(&statuses.get(statuses.length() - 1), "state"),
        "offline"
    );
    // The panel says so only once the chat has been without a link for
    // the grace (5 s: a failover or a blip shows nothing), then calmly.
    let banner = app
        .shadow_root()
        .query_selector(".banner")
        .unwrap()
        .unwrap();
    let offline_at = twinline_widget::clock::session();
    let grace = twinline_widget::app::state::TROUBLE_SHOWN_AFTER_MS;
    if offline_at.since(started) < grace - 500 {
        assert!(banner.has_attribute("hidden"), "not yet: within the grace");
    }
    for _ in 0..80 {
        if !banner.has_attribute("hidden") {
            break;
        }
        sleep(100).await;
    }
    let shown_at = twinline_widget::clock::session();
    assert!(!banner.has_attribute("hidden"), "calm reconnecting note");
    assert!(
        shown_at.since(started) >= grace,
        "shown {} ms after the start",
        shown_at.since(started)
    );
    app.unmount();
}

#[wasm_bindgen_test]
async fn unsent_messages_survive_a_reload() {
    let app = start("reload-test");
    let id = app.send("written while offline").unwrap();
    // Kept in localStorage at once, before any relay saw it.
    let storage = local_storage();
    let keys: Vec<String> = (0..storage.length().unwrap())
        .filter_map(|i| storage.key(i).unwrap())
        .filter(|k| k.starts_with("twinline:reload-test:unsent:"))
        .collect();
    assert_eq!(keys.len(), 1);
    assert!(storage.get_item(&keys[0]).unwrap().unwrap().contains(&id));
    app.unmount();

    // The "reloaded" page: a new tab id; it leads and shows the message.
    let again = start("reload-test");
    for _ in 0..30 {
        if again.leads() && !again.transcript().is_empty() {
            break;
        }
        sleep(100).await;
    }
    let transcript = again.transcript();
    assert_eq!(transcript.len(), 1);
    assert_eq!(transcript[0].id, id);
    assert_eq!(transcript[0].text, "written while offline");
    again.unmount();
}

#[wasm_bindgen_test]
async fn two_tabs_elect_one_leader_and_the_follower_forwards() {
    let a = start("tabs-test");
    sleep(50).await;
    let b = start("tabs-test");
    for _ in 0..30 {
        if a.leads() || b.leads() {
            break;
        }
        sleep(100).await;
    }
    sleep(1_200).await;
    assert!(a.leads() ^ b.leads(), "exactly one leader");
    let (leader, follower) = if a.leads() { (&a, &b) } else { (&b, &a) };
    let id = follower.send("from the other tab").unwrap();
    for _ in 0..30 {
        if leader.transcript().iter().any(|m| m.id == id) {
            break;
        }
        sleep(100).await;
    }
    assert!(
        leader.transcript().iter().any(|m| m.id == id),
        "leader took it"
    );
    assert!(
        follower.transcript().iter().any(|m| m.id == id),
        "follower shows it"
    );

    // The leader's tab closes: the follower takes over.
    leader.unmount();
    for _ in 0..30 {
        if follower.leads() {
            break;
        }
        sleep(100).await;
    }
    assert!(follower.leads());
    assert!(follower.transcript().iter().any(|m| m.id == id));
    follower.unmount();
}
