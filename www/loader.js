/* Twinline loader: set window.TwinlineConfig (README), then include this.
   It queues Twinline.* calls until the chat is there (send returns the id)
   and fetches each part from the deployment that served the last, racing
   the other after 250 ms or a failure (RFC 8305 happy eyeballs). */
(function (w) {
  var c = w.TwinlineConfig || {}, T = w.Twinline = w.Twinline || {}, done = {}, busy = {}, tries = {}, failed = {};
  if (T.loaded) return;
  T.q = T.q || [];
  "open close setVisitor on".split(" ").forEach(function (m) {
    T[m] = T[m] || function () { T.q.push([m, [].slice.call(arguments)]); };
  });
  T.send = T.send || function (text) {
    var A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ", t = Date.now(), r = crypto.getRandomValues(new Uint8Array(16)), id = "", i;
    for (i = 10; i--; t = Math.floor(t / 32)) id = A[t % 32] + id;
    for (i = 0; i < 16; ) id += A[r[i++] & 31];
    T.q.push(["send", [text], id]);
    return id;
  };
  T.load = function (name, onFail) {
    var a = c.servedBy || c.primary, b = a == c.primary ? c.redundant : c.primary,
      k = tries[name] = (tries[name] || 0) + 1, won, timer;
    failed[name] = onFail || failed[name];
    if (done[name] || busy[name]) return;
    function other() {
      clearTimeout(timer);
      if (b) load(b);
      b = 0;
    }
    function load(from) {
      var base = from.replace(/\/$/, "") + "/pkg/" + name;
      busy[name] = (busy[name] || 0) + 1;
      import(base + ".js" + (k > 1 ? "?" + k : "")).then(function (m) {
        if (won) return;
        won = from;
        clearTimeout(timer);
        return m.default().then(function () {
          done[name] = 1; c.servedBy = from; m.boot();
        });
      }).catch(function () {
        if (won == from) won = 0;
        other();
      }).then(function () {
        if (!--busy[name] && !done[name] && failed[name]) failed[name]();
      });
    }
    timer = setTimeout(other, 250);
    load(a);
  };
  if (c.primary) T.load("twinline_launcher");
})(window);
