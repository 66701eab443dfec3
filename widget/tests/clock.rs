//! The core session runs on the browser's monotonic clock
//! (`clock::session`), not on `Date.now()`: a wall clock that stands still
//! or is set back (by the visitor, by NTP) must not stall its timers. In a
//! real browser, with no relay reachable (a closed port), through the
//! console's bindings, which drive the same loop (`host`) as the visitor's
//! widget.
#![cfg(all(target_arch = "wasm32", feature = "console"))]

use js_sys::{Function, Reflect};
use serde_json::{Value, json};
use twinline_core::protocol::LoginResponse;
use twinline_widget::clock;
use twinline_widget::console::Console;
use twinline_widget::js;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens here (and browsers refuse the port outright).
const DEAD: &str = "http://127.0.0.1:9";
const HOUR: u64 = 3_600_000;

/// `Date.now` replaced by a clock that stands at `at`; `restore` puts the
/// real one back.
struct StoppedWallClock {
    real: JsValue,
}

impl StoppedWallClock {
    fn at(at: u64) -> StoppedWallClock {
        let date = Reflect::get(&js_sys::global(), &"Date".into()).unwrap();
        let real = Reflect::get(&date, &"now".into()).unwrap();
        let stopped = Function::new_no_args(&format!("return {at};"));
        Reflect::set(&date, &"now".into(), &stopped).unwrap();
        StoppedWallClock { real }
    }

    fn restore(self) {
        let date = Reflect::get(&js_sys::global(), &"Date".into()).unwrap();
        Reflect::set(&date, &"now".into(), &self.real).unwrap();
    }
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

#[wasm_bindgen_test]
fn the_session_clock_reads_like_the_wall_clock_and_only_moves_forward() {
    let wall = js::now();
    let first = clock::session();
    assert!(
        first.0.abs_diff(wall.0) < 5_000,
        "anchored to the wall clock: {first:?} vs {wall:?}"
    );
    let stopped = StoppedWallClock::at(wall.0 - HOUR);
    assert_eq!(js::now().0, wall.0 - HOUR, "the wall clock went back");
    let later = clock::session();
    stopped.restore();
    assert!(later >= first, "{later:?} < {first:?}");
}

#[wasm_bindgen_test]
async fn a_wall_clock_set_back_and_standing_still_does_not_stall_reconnecting() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    storage.clear().unwrap();
    let login = LoginResponse {
        token: "token-from-an-earlier-login".into(),
        username: "dee".into(),
        name: "Dee".into(),
        expires: js::now().plus(HOUR),
    };
    storage
        .set_item("twinline:console:login", &js::to_json(&login).unwrap())
        .unwrap();
    let config = js::to_js(&json!({ "primary": DEAD, "redundant": DEAD })).unwrap();
    let console = Console::new(config).unwrap();
    // From here on the wall clock says an hour ago, and stays there: every
    // reconnect waits for a backoff timer, which a session on Date.now()
    // would never see pass.
    let stopped = StoppedWallClock::at(js::now().0 - HOUR);
    let mut state = Value::Null;
    for _ in 0..100 {
        state = serde_wasm_bindgen::from_value(console.state().unwrap()).unwrap();
        if state["connection"]["state"] == json!("offline") {
            break;
        }
        sleep(50).await;
    }
    stopped.restore();
    console.stop();
    storage.clear().unwrap();
    assert_eq!(
        state["connection"]["state"],
        json!("offline"),
        "both deployments tried, one after a backoff: {state}"
    );
}
