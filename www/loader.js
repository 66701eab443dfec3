/* Twinline loader: set window.TwinlineConfig = {site, primary, redundant,
   moderator?}, then include this (inline, or as <script async src>). It keeps
   Twinline.* calls made before load and fetches the widget from the primary,
   or from the redundant one if the primary fails or is not done in 3 s. */
(function (w) {
  var c = w.TwinlineConfig || {}, T = w.Twinline = w.Twinline || {}, booted;
  if (T.loaded) return;
  T.q = T.q || [];
  "open close send setVisitor on".split(" ").forEach(function (m) {
    T[m] = T[m] || function () { T.q.push([m, [].slice.call(arguments)]); };
  });
  function load(from, next) {
    var timer = setTimeout(fallback, 3000), base;
    function fallback() {
      clearTimeout(timer);
      if (next && !booted) load(next);
      next = 0;
    }
    base = from.replace(/\/$/, "") + "/pkg/twinline_widget";
    import(base + ".js").then(function (m) {
      return m.default({ module_or_path: base + "_bg.wasm" }).then(function () {
        clearTimeout(timer);
        if (!booted) { booted = 1; c.servedBy = from; m.boot(); }
      });
    }).catch(fallback);
  }
  if (c.primary) load(c.primary, c.redundant);
})(window);
