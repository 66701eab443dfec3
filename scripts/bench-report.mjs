#!/usr/bin/env node
// Writes docs/benchmarks.md and the SVG plots from the raw results that
// scripts/bench.sh leaves in a directory (default target/bench):
//   relay.json            figures from twinline-bench
//   failover-samples.json raw failover samples from twinline-bench
//   soak.json, soak-single.json   twinline-soak reports
//   widget.txt            output of scripts/widget-size.mjs --time
//   commands.txt          the commands that produced them
// Plots are drawn by hand (a few SVG elements), with no plotting library.
//
//   node scripts/bench-report.mjs [DIR]
import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { execSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = process.argv[2] || join(root, "target", "bench");
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

const figures = json("relay.json") || [];
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

function latencySvg() {
  const series = [];
  for (const [label, prefix] of [
    ["ack (durable)", "ack latency"],
    ["visitor to operator", "visitor to operator latency"],
  ]) {
    const points = [];
    for (const p of ["p50", "p90", "p99", "p99.9", "max"]) {
      const f = figures.find((f) => f.name.startsWith(`${prefix} ${p} at `));
      if (f) points.push([p, f.value]);
    }
    const chats = figures.find((f) => f.name.startsWith(`${prefix} p50 at `))?.name.match(/at (\d+) chats/)?.[1];
    if (points.length) series.push([label, points, chats]);
  }
  const w = 700;
  const h = 300;
  const x0 = 60;
  const y0 = 50;
  const pw = w - 90;
  const ph = h - 100;
  const body = [];
  const chats = series[0]?.[2] || "?";
  body.push(text(x0, 24, `Message latency percentiles at ${chats} concurrent chats, one message per chat per second`, 'font-weight="bold"'));
  if (!series.length) {
    body.push(text(x0, y0 + 40, "no latency figures"));
    return svg(w, h, body);
  }
  const max = niceMax(Math.max(...series.flatMap(([, pts]) => pts.map(([, v]) => v))) * 1.1);
  const groups = series[0][1].map(([p]) => p);
  const gw = pw / groups.length;
  const colors = ["#4a7fb5", "#b5834a"];
  const bw = (gw - 20) / series.length;
  groups.forEach((p, gi) => {
    series.forEach(([, pts], si) => {
      const v = pts.find(([q]) => q === p)?.[1];
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
  const bundle = widget.match(/launcher glue \+ wasm: (\d+) B gzip/);
  if (bundle) out.push({ name: "widget before the launcher shows (launcher glue + wasm), gzipped", value: +bundle[1] / 1024, unit: "KB", target: "<= 60 KB" });
  const loader = widget.match(/loader: (\d+) B gzip/);
  if (loader) out.push({ name: "loader snippet, gzipped", value: +loader[1], unit: "B", target: "<= 1024 B" });
  const chat = widget.match(/chat glue \+ wasm: (\d+) B gzip/);
  if (chat) out.push({ name: "chat bundle, fetched when the chat is first needed, gzipped", value: +chat[1] / 1024, unit: "KB", target: null });
  for (const m of widget.matchAll(/^\s+(primary [^\n]*?)\s+median (\d+) ms\s+min (\d+) ms\s+max (\d+) ms/gm)) {
    out.push({ name: `time to launcher, ${m[1].trim()} (median)`, value: +m[2], unit: "ms", target: null });
  }
  const click = widget.match(/click on launcher → panel open\s+median (\d+) ms/);
  if (click) out.push({ name: "click on the launcher to open panel, chat bundle not prefetched (median)", value: +click[1], unit: "ms", target: null });
  return out;
})();

const failoverFigures = startsWith("failover after").concat(startsWith("interruption on a planned"), startsWith("ack latency during a planned"));
const latencyFigures = figures.filter((f) => /latency (p50|p99) at/.test(f.name));
const otherFigures = figures.filter(
  (f) => !failoverFigures.includes(f) && !/latency (p50|p90|p99|p99\.9|max) at/.test(f.name),
);

const md = `# Benchmarks

Measured by \`npm run bench\` (scripts/bench.sh), which builds everything in
release mode, runs \`twinline-bench all\`, the chaos soak on two deployments and
on the primary alone, and the widget size and launch-time script, then writes
this page and its plots with scripts/bench-report.mjs. Every process runs on
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

## Message latency

| figure | value | target |
| --- | ---: | --- |
${figureRows(latencyFigures)}

![Latency percentiles](bench-latency.svg)

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

writeFileSync(join(docs, "benchmarks.md"), md);
writeFileSync(join(docs, "bench-failover.svg"), failoverSvg());
writeFileSync(join(docs, "bench-latency.svg"), latencySvg());
console.log(`bench-report: wrote docs/benchmarks.md, docs/bench-failover.svg, docs/bench-latency.svg from ${dir}`);
