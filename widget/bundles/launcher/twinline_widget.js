// pkg/twinline_widget.js: the launcher under the name it had until it was
// named for what it is (twinline_launcher). Loaders already pasted into
// customers' pages fetch this file and instantiate it with
// pkg/twinline_widget_bg.wasm, which no longer exists: this hands them the
// launcher's entry instead (pkg/twinline_launcher.js, which fetches the
// launcher's content-hashed glue and wasm from the deployment that served
// it, whatever wasm address it is given).
// A loader from before the launcher existed (one bundle, no Twinline.load)
// gets the current loader from that deployment, which loads the launcher
// (the same module: nothing is fetched twice) and does the rest.
import init, { boot as launch } from "./twinline_launcher.js";

export default function () {
  return init();
}

export function boot() {
  var T = window.Twinline;
  if (T && T.load) return launch();
  var s = document.createElement("script");
  s.src = new URL("../loader.js", import.meta.url).href;
  document.head.appendChild(s);
}
