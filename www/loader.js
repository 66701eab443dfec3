/* Twinline loader: set window.TwinlineConfig = {site, primary, redundant,
   moderator?}, then include this (inline, or as <script async src>). It keeps
   Twinline.* calls made before load and fetches the launcher, and later (by
   Twinline.load) the chat, from the deployment that served the last part
   (first the primary), or from the other if it fails or is not done in 3 s. */
(function (w) {
  var c = w.TwinlineConfig || {}, T = w.Twinline = w.Twinline || {}, done = {}, busy = {}, tries = {}, failed = {};
  if (T.loaded) return;
  T.q = T.q || [];
  "open close send setVisitor on".split(" ").forEach(function (m) {
    T[m] = T[m] || function () { T.q.push([m, [].slice.call(arguments)]); };
  });
  T.load = function (name, onFail) {
    var a = c.servedBy || c.primary, k = tries[name] = (tries[name] || 0) + 1;
    failed[name] = onFail || failed[name];
    if (done[name] || busy[name]) return;
    function load(from, next) {
      var timer = setTimeout(fallback, 3000), base = from.replace(/\/$/, "") + "/pkg/" + name;
      busy[name] = (busy[name] || 0) + 1;
      function fallback() {
        clearTimeout(timer);
        if (next && !done[name]) load(next);
        next = 0;
      }
      // A failed import() stays failed for its URL: a retry asks another.
      import(base + ".js" + (k > 1 ? "?" + k : "")).then(function (m) {
        return m.default({ module_or_path: base + "_bg.wasm" }).then(function () {
          clearTimeout(timer);
          if (!done[name]) { done[name] = 1; c.servedBy = from; m.boot(); }
        });
      }).catch(fallback).then(function () {
        if (!--busy[name] && !done[name] && failed[name]) failed[name]();
      });
    }
    load(a, a == c.primary ? c.redundant : c.primary);
  };
  if (c.primary) T.load("twinline_launcher");
})(window);
