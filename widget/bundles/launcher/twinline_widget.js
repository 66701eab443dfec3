// pkg/twinline_widget.js: the launcher under the name it had until it was
// named for what it is (twinline_launcher). Loaders already pasted into
// customers' pages fetch this file and instantiate it with
// pkg/twinline_widget_bg.wasm, which no longer exists: this instantiates
// the launcher's wasm instead, from the deployment that served this file.
// A loader from before the launcher existed (one bundle, no Twinline.load)
// gets the current loader from that deployment, which loads the launcher
// (the same module: nothing is fetched twice) and does the rest.
import init, { boot as launch } from "./twinline_launcher.js";

export default function () {
  return init({ module_or_path: new URL("twinline_launcher_bg.wasm", import.meta.url) });
}

export function boot() {
  var T = window.Twinline;
  if (T && T.load) return launch();
  var s = document.createElement("script");
  s.src = new URL("../loader.js", import.meta.url).href;
  document.head.appendChild(s);
}
