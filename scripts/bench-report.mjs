#!/usr/bin/env node
// Writes docs/benchmarks.md and the SVG plots from the raw results that
// scripts/bench.sh leaves in a directory (default target/bench):
//   compare.json          twinline-bench compare: Twinline beside the Socket.IO
//                         peer, every figure per server and run
//   steady.json, steady-<server>.json   twinline-bench steady: figures, and
//                         resource use over time
//   replication.json, failover.json     twinline-bench replication, failover
//                         (relay.json: what older runs wrote instead)
//   failover-samples.json raw failover samples from twinline-bench
//   soak.json, soak-single.json   twinline-soak reports
//   widget.txt            output of scripts/widget-size.mjs --time
//   commands.txt          the commands that produced them
// Plots are drawn by hand (a few SVG elements), with no plotting library.
//
// Sections between <!-- NAME:begin --> and <!-- NAME:end --> markers in the
// existing docs/benchmarks.md are kept when this run has nothing for them
// (the profile section is written by hand from scripts/profile-relay.sh, the
// nodes section from the PostgreSQL commands it names, the browser section
// from the browser tests it names), and
// with --only peer only the comparison section is replaced.
//
//   node scripts/bench-report.mjs [DIR] [--only peer]
import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { execSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = process.argv.slice(2);
const onlyAt = cli.indexOf("--only");
const only = onlyAt >= 0 ? cli[onlyAt + 1] : null;
const dir = cli.find((a, i) => !a.startsWith("--") && i !== onlyAt + 1) || join(root, "target", "bench");
const docs = join(root, "docs");
mkdirSync(docs, { recursive: true });

const read = (name) => {
  const path = join(dir, name);
  return existsSync(path) ? readFileSync(path, "utf8") : null;
};
const json = (name) => {
  const text = read(name);
  return text ? JSON.parse(text) : null;
};

const figures = [...(json("relay.json") || []), ...(json("replication.json") || []), ...(json("failover.json") || [])];
const compare = json("compare.json") || [];
const steadyFigures = json("steady.json") || [];
const SERVERS = [
  ["twinline", "Twinline"],
  ["socketio-sqlite", "Socket.IO + SQLite"],
  ["socketio-memory", "Socket.IO in memory"],
];
const steadyReports = SERVERS.map(([id]) => json(`steady-${id}.json`)).filter(Boolean);
const samples = json("failover-samples.json");
const soak = json("soak.json");
const single = json("soak-single.json");
const widget = read("widget.txt");
const commands = (read("commands.txt") || "").trim();

// ---------- machine ----------
function sh(command) {
  try {
    return execSync(command, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}
const cpuModel = (() => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    return line ? line.split(":")[1].trim() : cpus()[0]?.model || "unknown";
  } catch {
    return cpus()[0]?.model || "unknown";
  }
})();
const machine = {
  cpu: cpuModel,
  cores: sh("nproc"),
  memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
  kernel: sh("uname -sr"),
  rustc: sh("rustc --version"),
  node: process.version,
  commit: sh("git rev-parse --short HEAD"),
  date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
};

// ---------- formatting ----------
const fmt = (v, unit) => {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })} ${unit}`.trim();
};
const figure = (name) => figures.find((f) => f.name === name);
const startsWith = (prefix) => figures.filter((f) => f.name.startsWith(prefix));
const pct = (fraction) => `${(fraction * 100).toFixed(4)}%`;
const ninesText = (n) => (n > 1e9 ? "no miss measured" : String(n));

// ---------- SVG writer ----------
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function svg(width, height, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="${width}" height="${height}" fill="#fff"/>
${body.join("\n")}
</svg>
`;
}
const text = (x, y, s, extra = "") => `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${esc(s)}</text>`;
const line = (x1, y1, x2, y2, extra = 'stroke="#444"') =>
  `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${extra}/>`;
const rect = (x, y, w, h, fill) =>
  `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${Math.max(0, h).toFixed(1)}" fill="${fill}"/>`;

/** A "nice" axis maximum at or above v. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

/** One histogram panel at (x0, y0) of size w x h. */
function histogram(x0, y0, w, h, title, values, color, target) {
  const out = [];
  const sorted = [...values].sort((a, b) => a - b);
  out.push(text(x0, y0 - 8, title, 'font-weight="bold"'));
  if (!sorted.length) {
    out.push(text(x0 + 10, y0 + h / 2, "no samples"));
    return out;
  }
  const max = niceMax(Math.max(sorted[sorted.length - 1], target || 0) * 1.05);
  const bins = 30;
  const counts = new Array(bins).fill(0);
  for (const v of sorted) counts[Math.min(bins - 1, Math.floor((v / max) * bins))]++;
  const top = niceMax(Math.max(...counts));
  const bw = w / bins;
  counts.forEach((c, i) => out.push(rect(x0 + i * bw + 1, y0 + h - (c / top) * h, bw - 2, (c / top) * h, color)));
  out.push(line(x0, y0 + h, x0 + w, y0 + h));
  out.push(line(x0, y0, x0, y0 + h));
  for (let i = 0; i <= 4; i++) {
    const x = x0 + (i / 4) * w;
    out.push(line(x, y0 + h, x, y0 + h + 4));
    out.push(text(x, y0 + h + 16, `${Math.round((i / 4) * max)} ms`, 'text-anchor="middle"'));
  }
  out.push(text(x0 - 6, y0 + 4, String(top), 'text-anchor="end"'));
  out.push(text(x0 - 6, y0 + h, "0", 'text-anchor="end"'));
  const marks = [
    ["p50", percentile(sorted, 50), "#222"],
    ["p99", percentile(sorted, 99), "#c00"],
  ];
  if (target) marks.push(["target p99", target, "#0a0"]);
  marks.forEach(([name, v, stroke], i) => {
    const x = x0 + (v / max) * w;
    out.push(line(x, y0, x, y0 + h, `stroke="${stroke}" stroke-dasharray="4 3"`));
    out.push(text(Math.min(x + 3, x0 + w - 90), y0 + 12 + i * 14, `${name} ${Math.round(v)} ms`, `fill="${stroke}"`));
  });
  out.push(text(x0 + w, y0 - 8, `${sorted.length} samples, max ${Math.round(sorted[sorted.length - 1])} ms`, 'text-anchor="end" fill="#555"'));
  return out;
}

function failoverSvg() {
  const panels = [];
  if (samples) {
    panels.push(["Crash (SIGKILL): fault to ack of a message written then", samples.crash_ms, "#4a7fb5", 500]);
    panels.push(["Silent link loss: fault to ack of a message written then", samples.silent_ms, "#b5834a", 3000]);
  }
  for (const row of soak?.failover || []) {
    if (row.recovery_samples_ms.length && /crash|silent/.test(row.fault) && !/moderator/.test(row.fault)) {
      panels.push([`Soak, ${row.fault}: fault to client connected again`, row.recovery_samples_ms, "#7a5fa8", null]);
    }
  }
  const w = 700;
  const ph = 140;
  const body = [];
  panels.forEach(([title, values, color, target], i) => {
    body.push(...histogram(60, 40 + i * (ph + 70), w - 90, ph, title, values, color, target));
  });
  return svg(w, 40 + panels.length * (ph + 70), body);
}

/** The values of one comparison figure on one server, over the runs. */
function compareValues(name, server) {
  return compare.filter((f) => f.name === name && (f.server || "twinline") === server).map((f) => f.value);
}
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

function latencySvg() {
  // send -> operator percentiles for each server, mean over the runs.
  const chats = compare.find((f) => f.name.startsWith("send to operator p50 at "))?.name.match(/at (\d+) chats/)?.[1];
  const groups = ["p50", "p90", "p99", "p99.9", "max"];
  const series = [];
  for (const [id, label] of SERVERS) {
    const points = groups.map((p) => {
      const values = compareValues(`send to operator ${p} at ${chats} chats`, id).filter(Number.isFinite);
      return values.length ? mean(values) : undefined;
    });
    if (points.some((v) => v !== undefined)) series.push([label, points]);
  }
  const w = 700;
  const h = 300;
  const x0 = 60;
  const y0 = 50;
  const pw = w - 90;
  const ph = h - 100;
  const body = [];
  body.push(text(x0, 24, `Send to operator latency at ${chats || "?"} chats x 1 msg/s (mean over runs)`, 'font-weight="bold"'));
  if (!series.length) {
    body.push(text(x0, y0 + 40, "no latency figures"));
    return svg(w, h, body);
  }
  const max = niceMax(Math.max(...series.flatMap(([, pts]) => pts.filter((v) => v !== undefined))) * 1.1);
  const gw = pw / groups.length;
  const colors = ["#4a7fb5", "#b5834a", "#7a5fa8"];
  const bw = (gw - 20) / series.length;
  groups.forEach((p, gi) => {
    series.forEach(([, pts], si) => {
      const v = pts[gi];
      if (v === undefined) return;
      const x = x0 + gi * gw + 10 + si * bw;
      const bh = (v / max) * ph;
      body.push(rect(x, y0 + ph - bh, bw - 4, bh, colors[si]));
      body.push(text(x + (bw - 4) / 2, y0 + ph - bh - 4, v >= 10 ? v.toFixed(0) : v.toFixed(1), 'text-anchor="middle" font-size="11"'));
    });
    body.push(text(x0 + gi * gw + gw / 2, y0 + ph + 18, p, 'text-anchor="middle"'));
  });
  body.push(line(x0, y0 + ph, x0 + pw, y0 + ph));
  body.push(line(x0, y0, x0, y0 + ph));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ph - (i / 4) * ph;
    body.push(line(x0 - 4, y, x0, y));
    body.push(text(x0 - 6, y + 4, `${+((i / 4) * max).toFixed(1)}`, 'text-anchor="end"'));
  }
  body.push(text(14, y0 + ph / 2, "ms", ""));
  series.forEach(([label], si) => {
    body.push(rect(x0 + si * 200, h - 22, 12, 12, colors[si]));
    body.push(text(x0 + si * 200 + 18, h - 12, label));
  });
  return svg(w, h, body);
}

// ---------- the comparison ----------
/** "a-b unit" over the runs, or one value. */
function range(values, unit) {
  const finite = values.filter(Number.isFinite);
  if (!values.length) return "-";
  if (!finite.length) return "never";
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const missing = finite.length < values.length ? " (and never)" : "";
  if (fmt(lo, "") === fmt(hi, "")) return fmt(lo, unit) + missing;
  return `${fmt(lo, "")}-${fmt(hi, unit)}${missing}`;
}

/** Twinline / peer, as a range over the runs' pairings (midpoints). */
function ratio(twinline, peer) {
  const a = twinline.filter(Number.isFinite);
  const b = peer.filter(Number.isFinite);
  if (!a.length || !b.length) return "-";
  const ratios = [];
  for (const x of a) for (const y of b) if (y > 0) ratios.push(x / y);
  if (!ratios.length) return "-";
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  return lo.toFixed(2) === hi.toFixed(2) ? `${lo.toFixed(2)}x` : `${lo.toFixed(2)}-${hi.toFixed(2)}x`;
}

/** Goals from issue 20, by figure name. */
const GOALS = [
  [/^acks per second at full load$/, ">= 50,000 per relay"],
  [/^server CPU per ack at full load$/, "<= 15 us"],
  [/^server CPU per message at \d+ chats/, "<= Socket.IO in memory"],
  [/^send to operator p99 at/, "<= Socket.IO in memory"],
  [/^memory per idle connection/, "<= 10 KiB"],
  [/^acked messages missing/, "0"],
];
const goalOf = (name) => GOALS.find(([re]) => re.test(name))?.[1] || "";

function compareTable() {
  if (!compare.length) return "No comparison figures (run `npm run bench -- --only peer`).\n";
  const names = [...new Set(compare.map((f) => f.name))];
  const present = SERVERS.filter(([id]) => compare.some((f) => f.server === id));
  const peers = present.filter(([id]) => id !== "twinline");
  const runs = Math.max(...compare.map((f) => f.run || 1));
  const head = ["figure", ...present.map(([, label]) => label), ...peers.map(([, label]) => `Twinline / ${label}`), "goal (issue 20)"];
  const rows = [`| ${head.join(" | ")} |`, `| --- |${head.slice(1).map(() => " ---: |").join("")}`];
  for (const name of names) {
    const unit = compare.find((f) => f.name === name).unit;
    const cells = present.map(([id]) => range(compareValues(name, id), unit));
    const ratios = peers.map(([id]) => ratio(compareValues(name, "twinline"), compareValues(name, id)));
    rows.push(`| ${name} | ${cells.join(" | ")} | ${ratios.join(" | ")} | ${esc(goalOf(name))} |`);
  }
  return `Measured at ${machine.commit} on ${machine.date}: ${runs} run${runs > 1 ? "s" : ""} of every scenario on every server; a range is the lowest to the highest run, a ratio below 1 means Twinline needs less (for acks per second: does less).\n\n${rows.join("\n")}\n`;
}

function steadyTable() {
  if (!steadyReports.length) return "No steady-state run (`twinline-bench steady`).\n";
  const out = [];
  for (const report of steadyReports) {
    const label = SERVERS.find(([id]) => id === report.server)?.[1] || report.server;
    const c = report.config;
    out.push(`#### ${label}\n`);
    out.push(
      `${(c.seconds / 60).toFixed(1)} min: ${c.visitors} visitors at 1 msg/s, an operator per ${c.per_operator} chats replying to every ${c.reply_every}th message, ${c.reconnects_per_minute} reconnects a minute. ` +
        `${report.acked.toLocaleString("en-US")} messages acked, ${report.reconnects.toLocaleString("en-US")} reconnects; ` +
        `**${report.lost}** acked messages missing at the end` +
        (report.lost_on_redundant === null || report.lost_on_redundant === undefined ? "" : `, **${report.lost_on_redundant}** on the redundant`) +
        ".\n",
    );
    const processes = report.samples[0]?.processes.map((p) => p.process) || [];
    const head = ["t", "acked", ...processes.flatMap((p) => [`${p} RSS`, `${p} threads`, `${p} WAL`, `${p} db`])];
    out.push(`| ${head.join(" | ")} |`);
    out.push(`| --- |${head.slice(1).map(() => " ---: |").join("")}`);
    // At most about 16 rows: every n-th sample and the last.
    const step = Math.max(1, Math.ceil(report.samples.length / 16));
    report.samples.forEach((sample, i) => {
      if (i % step !== 0 && i !== report.samples.length - 1) return;
      const cells = processes.flatMap((name) => {
        const p = sample.processes.find((q) => q.process === name);
        if (!p) return ["-", "-", "-", "-"];
        return [`${(p.rss_kib / 1024).toFixed(1)} MB`, p.threads, `${(p.wal_bytes / 1e6).toFixed(1)} MB`, `${(p.db_bytes / 1e6).toFixed(1)} MB`];
      });
      out.push(`| ${sample.t_s.toFixed(0)} s | ${sample.acked.toLocaleString("en-US")} | ${cells.join(" | ")} |`);
    });
    const mine = steadyFigures.filter((f) => f.server === report.server && /growth|CPU per message/.test(f.name));
    if (mine.length) {
      out.push("");
      out.push(mine.map((f) => `${f.name.replace(/^steady: /, "")}: ${fmt(f.value, f.unit)}`).join("; ") + " (growth: from the end of the first third to the end, per hour).");
    }
    out.push("");
  }
  return out.join("\n");
}

// ---------- markdown ----------
function soakTable() {
  const rows = [];
  const both = [soak, single].filter(Boolean);
  if (!both.length) return "No soak results.\n";
  rows.push("| | " + both.map((r) => r.mode).join(" | ") + " |");
  rows.push("| --- |" + both.map(() => " ---: |").join(""));
  const row = (name, f) => rows.push(`| ${name} | ` + both.map(f).join(" | ") + " |");
  row("chats (operators)", (r) => `${r.chats} (${r.operators})`);
  row("fault phase", (r) => `${r.minutes} min, ${r.rate_per_side} msg/s per side`);
  row("faults applied", (r) => `${r.faults_applied} of ${r.faults.length}`);
  row("messages written", (r) => r.messages.toLocaleString("en-US"));
  row("lost", (r) => r.invariants.lost);
  row("duplicated", (r) => r.invariants.duplicated);
  row("out of order", (r) => r.invariants.out_of_order);
  row("diverged chats", (r) => r.invariants.diverged);
  row("clients settled after healing", (r) => (r.settled ? "yes" : "**no**"));
  row(
    "**availability** (acked within 1 s)",
    (r) => `**${pct(r.availability.fraction)}** (${r.availability.acked_in_time.toLocaleString("en-US")} of ${r.availability.samples.toLocaleString("en-US")})`,
  );
  row("nines", (r) => ninesText(r.availability.nines));
  row("result", (r) => (r.invariants.lost + r.invariants.duplicated + r.invariants.out_of_order + r.invariants.diverged === 0 && r.settled ? "pass" : "**FAIL**"));
  return rows.join("\n") + "\n";
}

function soakFailoverTable(report) {
  if (!report?.failover?.length) return "";
  const rows = [
    "| fault | applied | client outages | not connected p50 / p99 / max | fault to connected again p50 / p99 / max |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const r of report.failover) {
    const s = (x) => `${x.p50} / ${x.p99} / ${x.max} ms`;
    rows.push(`| ${r.fault} | ${r.faults} | ${r.outages}${r.unrecovered ? ` (${r.unrecovered} never back)` : ""} | ${r.outages ? s(r.interruption_ms) : "-"} | ${r.outages ? s(r.recovery_ms) : "-"} |`);
  }
  return rows.join("\n") + `\n\nOutages not within 3 s of any fault: ${report.unblamed_outages}.\n`;
}

function figureRows(list) {
  return list
    .map((f) => `| ${f.name} | ${fmt(f.value, f.unit)} | ${f.target ? esc(f.target) + (f.unit === "ms" && !/ms/.test(f.target) && f.target !== "0" ? " ms" : "") : ""} |`)
    .join("\n");
}

const widgetFigures = (() => {
  if (!widget) return [];
  const out = [];
  // widget-size.mjs's summary line: bytes on the wire from a real relay.
  const served = widget.match(/as served to a browser: first view (\d+) B, chat (\d+) B, loader body (\d+) B, return visit (\d+) B/);
  if (served) {
    const [, first, chat, loader, back] = served.map(Number);
    out.push({ name: "first view as served (loader + launcher, brotli, on the wire)", value: first / 1024, unit: "KB", target: "<= 31 KB" });
    out.push({ name: "loader as served (brotli body)", value: loader, unit: "B", target: "<= 1024 B" });
    out.push({ name: "chat bundle as served, fetched when the chat is first needed", value: chat / 1024, unit: "KB", target: "<= 100 KB" });
    out.push({ name: "return visit, both bundles (revalidations only)", value: back, unit: "B", target: null });
  }
  for (const m of widget.matchAll(/^\s+(primary [^\n]*?)\s+median (\d+) ms\s+min (\d+) ms\s+max (\d+) ms/gm)) {
    out.push({ name: `time to launcher, ${m[1].trim()} (median)`, value: +m[2], unit: "ms", target: null });
  }
  const click = widget.match(/click on launcher → panel open\s+median (\d+) ms/);
  if (click) out.push({ name: "click on the launcher to open panel, chat bundle not prefetched (median)", value: +click[1], unit: "ms", target: null });
  return out;
})();

const failoverFigures = startsWith("failover after").concat(startsWith("interruption on a planned"), startsWith("ack latency during a planned"));
const otherFigures = figures.filter(
  (f) => !failoverFigures.includes(f) && !/latency (p50|p90|p99|p99\.9|max) at/.test(f.name),
);

const docPath = join(docs, "benchmarks.md");
const previous = existsSync(docPath) ? readFileSync(docPath, "utf8") : "";
/** The marked section NAME of a page, markers included, or null. */
const sectionOf = (page, name) => page.match(new RegExp(`<!-- ${name}:begin -->[\\s\\S]*?<!-- ${name}:end -->`))?.[0] ?? null;

const peerFresh = `<!-- peer:begin -->
## Side by side with Socket.IO

The reference peer (tests/peer/socketio/server.mjs) is what a developer
would write for Twinline's job with Socket.IO 4.8: a chat is a room holding
its visitor and the operator who accepted it; a message is stored, acked to
its writer and emitted to the room's other members; a reconnecting client is
told what it lacks and what the server lacks. **Socket.IO + SQLite** keeps
messages as the relay does: SQLite (better-sqlite3) in WAL with
\`synchronous=FULL\`, \`INSERT OR IGNORE\` by the client's id, the ack only after
the commit, and everything that arrived in one turn of the event loop
committed in one transaction (Socket.IO's natural group commit).
**Socket.IO in memory** keeps them in a Map and acks at once.

The same load generator (twinline-bench) drives all three, every scenario
unchanged: the same tokio-tungstenite socket and serde JSON for both
protocols, only the framing differs (Twinline frames, or Socket.IO events
over Engine.IO's WebSocket transport, spoken by tests/src/bench/socketio.rs).
Server CPU is read from /proc/<pid>/stat of the server processes alone; the
load generator's own CPU per message is in the table too, to show it does
the same work for each server. Every process shares the machine's cores:
when other work runs on it too, rates and latencies move with that load,
and the CPU per message is the figure to trust.

What makes it fair: the same messages, clients and machine; the same
durability (fsync on commit, ack after commit); both merge by id; both
answer a resume. What does not: the relay does more per message (it appends
each write to the replication feed, updates the chat's row, checks a signed
token on every connection and an Origin, enforces rate limits, keeps
metrics and tracing spans), while the peer has no replication, no
moderator, no failover, no accounts (operators are not authenticated,
visitors carry no token) and no limits. One Node process runs its
JavaScript and its SQLite commits on one core; the relay uses every core.
The in-memory peer's durability is none: it loses every acked message when
killed, which the restart row shows.

${compareTable()}
![Send to operator latency](bench-latency.svg)

### Steady state

Twinline runs as deployed, two relays replicating (clients on the primary);
the peer alone. Resource use is sampled while the traffic runs; at the end
every acked message is looked for in every store.

${steadyTable()}
Printed by:

\`\`\`
${commands.split("\n").filter((c) => /twinline-bench (compare|steady)/.test(c)).join("\n") || "npm run bench -- --only peer"}
\`\`\`
<!-- peer:end -->`;
const peerSection = compare.length || steadyReports.length ? peerFresh : sectionOf(previous, "peer") || peerFresh;
const profileSection =
  sectionOf(previous, "profile") ||
  `<!-- profile:begin -->
## Where the relay's time goes

Not measured yet: run \`bash scripts/profile-relay.sh\` and write the result here.
<!-- profile:end -->`;

// Kept as it is (written from `twinline-bench compare --servers
// twinline,twinline-postgres,twinline-postgres-2` and `twinline-bench nodes`,
// which npm run bench does not run: they need PostgreSQL and HAProxy).
const nodesSection = sectionOf(previous, "nodes");

// Kept as it is (written by hand from the browser tests and the session's
// scenarios it names: issue 19's browser side).
const browserSection = sectionOf(previous, "browser");

const md = `# Benchmarks

Measured by \`npm run bench\` (scripts/bench.sh), which builds everything in
release mode, runs \`twinline-bench compare\` (Twinline beside the Socket.IO
reference peer) and \`twinline-bench steady\`, replication and failover, the
chaos soak on two deployments and on the primary alone, and the widget size
and launch-time script, then writes this page and its plots with
scripts/bench-report.mjs (\`npm run bench -- --only peer\`: the comparison
alone). Every process runs on
one machine over loopback, so network latency is absent and the client load
generator shares the CPU with the relays: figures are upper bounds on what
the software costs, not a production network.

## Machine

| | |
| --- | --- |
| CPU | ${machine.cpu} |
| cores (nproc) | ${machine.cores} |
| memory | ${machine.memory} |
| kernel | ${machine.kernel} |
| toolchain | ${machine.rustc}, node ${machine.node} |
| commit | ${machine.commit} |
| date | ${machine.date} |

## Availability under chaos

The soak runs many concurrent chats between native clients (the same core
session state machine as the widget, over real WebSockets) while a seeded
schedule of faults runs: SIGKILL and restart of either deployment, of both,
of the moderator; silent link loss and slow links between a group of
clients and one deployment; planned switches (hold the other deployment,
stop and restart this one, release). Then everything is healed and every
chat is compared on its visitor, its operator and every store.

**Availability** is the fraction of messages, written during the fault
phase, that a relay durably acknowledged within one second of being written:
a client that can send and be acknowledged within a second is "up" for that
message. The single-deployment column runs the same schedule against the
primary alone: faults of the redundant and the moderator do not apply, and a
planned switch becomes maintenance downtime of the primary.

${soakTable()}
Client outages in the two-deployment soak, by the fault they followed:

${soakFailoverTable(soak)}
![Failover time distributions](bench-failover.svg)

## Failover time seen by clients

${samples ? `${samples.crash_ms.length} crash samples, ${samples.silent_ms.length} silent-loss samples, ${samples.planned_interruption_ms.length} planned-switch samples (clients x rounds).` : ""}
A crash or silent-loss sample is the time from the fault to the durable ack
of a message written right after it; a planned-switch sample is the time a
client's link was not connected while the moderator moved everyone.

| figure | value | target |
| --- | ---: | --- |
${figureRows(failoverFigures)}

${browserSection ? `${browserSection}\n\n` : ""}${peerSection}

${profileSection}
${nodesSection ? `\n${nodesSection}\n` : ""}
## Relay and replication

| figure | value | target |
| --- | ---: | --- |
${figureRows(otherFigures)}

## Widget

| figure | value | target |
| --- | ---: | --- |
${figureRows(widgetFigures)}

${widget ? "```\n" + widget.trim() + "\n```\n" : "No widget figures.\n"}
## Commands

\`\`\`
${commands || "npm run bench"}
\`\`\`

Run it again with \`npm run bench\`; \`SOAK_ARGS="--minutes 10 --seed 7" npm run bench\`
for a longer soak. A soak alone: \`twinline-soak --chats 200 --minutes 3 --faults 50 --seed 1\`
(add \`--single\` for the primary alone); it exits non-zero if any message was
lost, duplicated, reordered or diverged.
`;

/** The page with the comparison replaced, or put where the relay-only latency section was. */
function withPeerSection(page) {
  if (sectionOf(page, "peer")) return page.replace(sectionOf(page, "peer"), () => peerFresh);
  const both = `${peerFresh}\n\n${profileSection}\n\n`;
  const latency = page.match(/## Message latency\n[\s\S]*?(?=\n## )/);
  if (latency) return page.replace(latency[0], () => both.trimEnd() + "\n");
  return page.replace("## Commands", () => `${both}## Commands`);
}

if (only === "peer" && previous) {
  writeFileSync(docPath, withPeerSection(previous));
  writeFileSync(join(docs, "bench-latency.svg"), latencySvg());
  console.log(`bench-report: replaced the comparison in docs/benchmarks.md and docs/bench-latency.svg from ${dir}`);
} else {
  writeFileSync(docPath, md);
  if (samples) writeFileSync(join(docs, "bench-failover.svg"), failoverSvg());
  if (compare.length) writeFileSync(join(docs, "bench-latency.svg"), latencySvg());
  console.log(`bench-report: wrote docs/benchmarks.md and its plots from ${dir}`);
}
