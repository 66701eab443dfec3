//! The launcher bundle in a real browser: it shows the button and fetches
//! nothing more for a new visitor, fetches the chat on every way the chat is
//! needed (pointing, clicking, the page's calls, a saved chat, another tab),
//! keeps what was asked in the loader's queue, and hands its button to the
//! chat. `Twinline.load` is a recorder here; the end-to-end test
//! (tests/browser/launcher.test.mjs) runs the real loader and bundles.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Object, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use twinline_widget::config::Prechat;
use twinline_widget::i18n::Lang;
use twinline_widget::launcher::{self, CHAT_BUNDLE};
use twinline_widget::ui::launcher::{HOST_ID, Launcher};
use twinline_widget::ui::{Ui, UiEvent};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;
use web_sys::{Element, Event, HtmlElement, StorageEvent, StorageEventInit};

wasm_bindgen_test_configure!(run_in_browser);

const SITE: &str = "launcher-test";

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    Reflect::set(target, &key.into(), value).unwrap();
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap()
}

/// The page as the loader leaves it: a valid configuration, an empty
/// storage for the test site, and a `window.Twinline` stub whose `load`
/// records the bundle names (and keeps the failure callback).
fn page(config: &str) -> Object {
    let storage = window().local_storage().unwrap().unwrap();
    for key in ["token", "session"] {
        storage
            .remove_item(&format!("twinline:{SITE}:{key}"))
            .unwrap();
    }
    set(
        &window(),
        "TwinlineConfig",
        &js_sys::JSON::parse(config).unwrap(),
    );
    let api = Object::new();
    set(&api, "q", &Array::new());
    set(&api, "loads", &Array::new());
    let load = Function::new_with_args(
        "name, failed",
        "this.loads.push(name); this.failed = failed;",
    );
    set(&api, "load", &load);
    set(&window(), "Twinline", &api);
    api
}

fn valid_config() -> String {
    format!(
        r#"{{"site":"{SITE}","primary":"http://a.test","redundant":"http://b.test","lang":"de"}}"#
    )
}

fn loads(api: &Object) -> Vec<String> {
    Array::from(&get(api, "loads"))
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect()
}

fn queued(api: &Object) -> String {
    js_sys::JSON::stringify(&get(api, "q")).unwrap().into()
}

fn body() -> HtmlElement {
    window().document().unwrap().body().unwrap()
}

fn hosts() -> u32 {
    window()
        .document()
        .unwrap()
        .query_selector_all(&format!("#{HOST_ID}"))
        .unwrap()
        .length()
}

/// Shows the launcher; removes it again when dropped.
struct Shown(Launcher);

impl Shown {
    fn new() -> Shown {
        Shown(launcher::show(&body()).expect("the launcher shows"))
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.0.host.remove();
    }
}

fn dispatch(target: &Element, event: &str) {
    target.dispatch_event(&Event::new(event).unwrap()).unwrap();
}

#[wasm_bindgen_test]
fn a_new_visitor_gets_the_launcher_and_nothing_else() {
    let api = page(&valid_config());
    let shown = Shown::new();
    assert_eq!(hosts(), 1);
    let button = &shown.0.button;
    assert_eq!(
        button.get_attribute("aria-label").as_deref(),
        Some("Chat öffnen")
    );
    assert_eq!(shown.0.host.get_attribute("lang").as_deref(), Some("de"));
    assert!(shown.0.badge.has_attribute("hidden"));
    assert!(
        shown.0.root.query_selector(".panel").unwrap().is_none(),
        "the launcher bundle has no panel"
    );
    assert_eq!(
        loads(&api),
        Vec::<String>::new(),
        "nothing fetched before it is needed"
    );
    assert_eq!(queued(&api), "[]");
}

#[wasm_bindgen_test]
fn pointing_fetches_the_chat_and_a_click_also_asks_for_the_panel() {
    let api = page(&valid_config());
    let shown = Shown::new();
    let button = &shown.0.button;
    dispatch(button, "pointerenter");
    assert_eq!(loads(&api), [CHAT_BUNDLE]);
    assert_eq!(queued(&api), "[]", "pointing opens nothing");
    assert!(!button.has_attribute("aria-busy"));

    button.unchecked_ref::<HtmlElement>().click();
    assert_eq!(queued(&api), r#"[["open",[]]]"#);
    assert_eq!(button.get_attribute("aria-busy").as_deref(), Some("true"));
    assert_eq!(loads(&api), [CHAT_BUNDLE, CHAT_BUNDLE]);

    // No deployment delivered: the button is not busy any more.
    let failed: Function = get(&api, "failed").dyn_into().unwrap();
    failed.call0(&JsValue::NULL).unwrap();
    assert!(!button.has_attribute("aria-busy"));
}

#[wasm_bindgen_test]
fn the_pages_open_and_send_are_queued_and_fetch_the_chat() {
    let api = page(&valid_config());
    let _shown = Shown::new();
    let send: Function = get(&api, "send").dyn_into().unwrap();
    send.call1(&api, &"Hallo <b>".into()).unwrap();
    let open: Function = get(&api, "open").dyn_into().unwrap();
    open.call0(&api).unwrap();
    assert_eq!(queued(&api), r#"[["send",["Hallo <b>"]],["open",[]]]"#);
    assert_eq!(loads(&api), [CHAT_BUNDLE, CHAT_BUNDLE]);
}

#[wasm_bindgen_test]
fn a_chat_saved_in_this_browser_is_fetched_at_once() {
    let api = page(&valid_config());
    let storage = window().local_storage().unwrap().unwrap();
    storage
        .set_item(&format!("twinline:{SITE}:session"), "{}")
        .unwrap();
    let _shown = Shown::new();
    storage
        .remove_item(&format!("twinline:{SITE}:session"))
        .unwrap();
    assert_eq!(loads(&api), [CHAT_BUNDLE]);
    assert_eq!(queued(&api), "[]", "the panel stays as the visitor left it");
}

#[wasm_bindgen_test]
fn another_tab_starting_a_chat_fetches_it_here() {
    let api = page(&valid_config());
    let _shown = Shown::new();
    let storage_event = |key: &str, value: Option<&str>| {
        let init = StorageEventInit::new();
        init.set_key(Some(key));
        init.set_new_value(value);
        let event = StorageEvent::new_with_event_init_dict("storage", &init).unwrap();
        window().dispatch_event(&event).unwrap();
    };
    storage_event("twinline:another-site:session", Some("{}"));
    storage_event(&format!("twinline:{SITE}:session"), None);
    assert_eq!(
        loads(&api),
        Vec::<String>::new(),
        "other sites and removals do not count"
    );
    storage_event(&format!("twinline:{SITE}:session"), Some("{}"));
    assert_eq!(loads(&api), [CHAT_BUNDLE]);
}

#[wasm_bindgen_test]
fn the_chat_takes_the_same_button_over_and_answers_its_clicks() {
    let api = page(&valid_config());
    let shown = Shown::new();
    let button = shown.0.button.clone();
    button.unchecked_ref::<HtmlElement>().click();
    assert_eq!(button.get_attribute("aria-busy").as_deref(), Some("true"));

    let document = window().document().unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let ui = Ui::mount(
        &document,
        &body(),
        "de",
        Lang::De.texts(),
        "Chat",
        Prechat::Off,
        Rc::new(move |event| sink.borrow_mut().push(event)),
    )
    .unwrap();
    assert_eq!(hosts(), 1, "one widget in the page");
    assert!(ui.host().is_same_node(Some(&shown.0.host)), "the same host");
    let taken = ui.root().query_selector(".launcher").unwrap().unwrap();
    assert!(taken.is_same_node(Some(&button)), "the same button");
    assert!(
        !button.has_attribute("aria-busy"),
        "not busy once the chat is there"
    );
    assert!(ui.root().query_selector(".panel").unwrap().is_some());
    assert!(Launcher::take_over(&document).is_none(), "taken over once");

    // The chat's API is installed: the launcher bundle's listener stands back.
    set(&api, "loaded", &true.into());
    button.unchecked_ref::<HtmlElement>().click();
    assert_eq!(*events.borrow(), [UiEvent::Open]);
    assert_eq!(
        queued(&api),
        r#"[["open",[]]]"#,
        "nothing queued after the hand-over"
    );
    ui.host().remove();
}

#[wasm_bindgen_test]
fn a_refused_configuration_or_a_missing_loader_says_why_and_shows_nothing() {
    page(r#"{"primary":"http://a.test","redundant":"http://b.test"}"#);
    let error = launcher::show(&body()).err().expect("refused");
    assert!(
        error.as_string().unwrap().contains("`site` is missing"),
        "{error:?}"
    );
    page(&format!(
        r#"{{"site":"{SITE}","primary":"http://a.test","redundant":"http://b.test","prechat":"sometimes"}}"#
    ));
    let error = launcher::show(&body()).err().expect("refused");
    assert!(
        error.as_string().unwrap().contains("`prechat` must be"),
        "{error:?}"
    );
    page(&format!(
        r#"{{"site":"{SITE}","primary":"http://a.test","redundant":"http://b.test","moderator":7000}}"#
    ));
    let error = launcher::show(&body()).err().expect("refused");
    assert!(
        error
            .as_string()
            .unwrap()
            .contains("`moderator` must be a string"),
        "{error:?}"
    );
    page(&valid_config());
    Reflect::delete_property(&window(), &"Twinline".into()).unwrap();
    let error = launcher::show(&body()).err().expect("refused");
    assert!(
        error.as_string().unwrap().contains("include the loader"),
        "{error:?}"
    );
    assert_eq!(hosts(), 0);
}
