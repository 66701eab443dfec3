#!/usr/bin/env node
// What a visitor's browser downloads for the widget, measured as a real relay
// serves it: bytes on the wire (status line, headers and body, read off the
// socket) per request, for the three kinds of client a relay meets (a
// browser asking for brotli, a client with gzip only, one that asks for no
// encoding, which is what every client got before the relays compressed),
// on a first view (what shows the launcher: the loader, the launcher's
// entry, glue and wasm), when the chat is first needed (the chat's entry,
// glue and wasm) and on a return visit (the entries revalidated, the
// content-hashed files kept by the browser). Fails (exit 1) when what a
// browser downloads is over a budget:
//
//   first view, loader + launcher    <= 31 KB   (31,744 B)
//   chat bundle                      <= 100 KB  (102,400 B)
//   loader.js, body                  <= 1 KB    (1,024 B)
//
// With --time it then times, in headless chromium on localhost, a page from
// navigation to the launcher shown and from a click on the launcher to the
// open panel.
//
//   node scripts/widget-size.mjs           sizes (after the release relay
//                                           and scripts/build-widget.sh)
//   node scripts/widget-size.mjs --time    sizes, then the timing
//
// Builds nothing: it starts the release relay (scripts/lib/cluster.mjs;
// TWINLINE_RELAY_BIN picks another) over www/ (TWINLINE_WWW another). The
// timing loads a customer page of another origin in a fresh browser context
// per run (cold cache), in three situations:
//   primary up | primary refusing connections | primary accepting but silent
// (the last two are the loader's fallback to the redundant deployment). It
// prints figures only; it asserts nothing about them.
import { readFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { Cluster } from "./lib/cluster.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const www = process.env.TWINLINE_WWW || join(root, "www");
const KB = 1024;
/** What a browser may download: the issue's budgets. */
const BUDGETS = { firstView: 31 * KB, chat: 100 * KB, loader: 1 * KB };
/** The clients: what each sends as Accept-Encoding. */
const CLIENTS = [
  ["browser (br)", "gzip, deflate, br, zstd"],
  ["gzip only", "gzip, deflate"],
  ["no encoding", null],
];

/** One GET on a connection of its own: status, headers, body as sent, bytes on the wire. */
function fetchRaw(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: "close", ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), wire: req.socket.bytesRead }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function decoded(response) {
  const encoding = response.headers["content-encoding"];
  if (encoding === "br") return zlib.brotliDecompressSync(response.body);
  if (encoding === "gzip") return zlib.gunzipSync(response.body);
  return response.body;
}

/** The files a visitor fetches for `entry`: it, then the hashed names it imports and fetches. */
async function bundle(base, entry, accept) {
  const headers = accept ? { "accept-encoding": accept } : {};
  const first = await fetchRaw(`${base}/${entry}`, headers);
  if (first.status !== 200) throw new Error(`${entry}: HTTP ${first.status}`);
  const dir = entry.slice(0, entry.lastIndexOf("/") + 1);
  const named = decoded(first).toString().match(/[\w-]+\.[0-9a-f]{16}\.(?:js|wasm)/g) ?? [];
  if (named.length !== 2) throw new Error(`${entry} names ${named.join(", ") || "nothing"}: run scripts/build-widget.sh`);
  const files = [[entry, first]];
  for (const name of named) files.push([dir + name, await fetchRaw(`${base}/${dir}${name}`, headers)]);
  return files;
}

/** What a return visit costs: fixed names revalidated, immutable ones not asked for. */
async function returnVisit(base, files, accept) {
  let bytes = 0;
  let asked = 0;
  let downloaded = 0;
  for (const [path, response] of files) {
    if (/\bimmutable\b/.test(response.headers["cache-control"] ?? "")) continue;
    const conditional = { "accept-encoding": accept };
    if (response.headers.etag) conditional["if-none-match"] = response.headers.etag;
    if (response.headers["last-modified"]) conditional["if-modified-since"] = response.headers["last-modified"];
    const again = await fetchRaw(`${base}/${path}`, conditional);
    asked++;
    if (again.status !== 304) downloaded++;
    bytes += again.wire;
  }
  return { bytes, asked, downloaded, kept: files.length - asked };
}

const n = (x) => x.toLocaleString("en-US");

async function sizes(base) {
  const columns = [];
  for (const [client, accept] of CLIENTS) {
    const loader = ["loader.js", await fetchRaw(`${base}/loader.js`, accept ? { "accept-encoding": accept } : {})];
    columns.push({
      client,
      accept,
      firstView: [loader, ...(await bundle(base, "pkg/twinline_launcher.js", accept))],
      chat: await bundle(base, "pkg/twinline_chat.js", accept),
    });
  }
  const label = (path) => path.replace(/\.[0-9a-f]{16}\./, ".<hash>.");
  const encoding = (response) => response.headers["content-encoding"] ?? "-";
  const cell = (response) => `${n(response.wire).padStart(9)} ${encoding(response).padEnd(4)}`;
  const total = (files) => files.reduce((sum, [, response]) => sum + response.wire, 0);
  console.log(`widget as served by a relay (${base}), bytes on the wire per response (status line, headers, body):`);
  console.log(`  ${"".padEnd(36)}${columns.map((c) => c.client.padStart(15)).join("")}`);
  const over = [];
  for (const [part, title, budget] of [
    ["firstView", "first view: what shows the launcher (every page view)", BUDGETS.firstView],
    ["chat", "the chat, fetched when it is first needed", BUDGETS.chat],
  ]) {
    console.log(` ${title}:`);
    for (let i = 0; i < columns[0][part].length; i++) {
      const path = columns[0][part][i][0];
      console.log(`  ${label(path).padEnd(36)}${columns.map((c) => cell(c[part][i][1]).padStart(15)).join("")}`);
    }
    console.log(`  ${"total".padEnd(36)}${columns.map((c) => `${n(total(c[part])).padStart(9)}     `.padStart(15)).join("")}`);
    const browser = total(columns[0][part]);
    const verdict = browser <= budget ? "within" : "OVER";
    console.log(`  a browser gets ${n(browser)} B (${(browser / KB).toFixed(1)} KB), budget ${n(budget)} B (${budget / KB} KB): ${verdict}`);
    if (browser > budget) over.push(`${title}: ${n(browser)} B > ${n(budget)} B`);
    const before = total(columns[2][part]);
    console.log(`  before compression (no Content-Encoding): ${n(before)} B; now ${n(browser)} B, ${((1 - browser / before) * 100).toFixed(0)}% less`);
  }
  const loader = columns[0].firstView[0][1].body.length;
  console.log(` loader.js body: ${n(loader)} B as a browser gets it, budget ${n(BUDGETS.loader)} B: ${loader <= BUDGETS.loader ? "within" : "OVER"}`);
  if (loader > BUDGETS.loader) over.push(`loader.js: ${n(loader)} B > ${n(BUDGETS.loader)} B`);
  const back = await returnVisit(base, [...columns[0].firstView, ...columns[0].chat], columns[0].accept);
  console.log(
    ` return visit (a browser that has both): ${back.kept} content-hashed files kept (immutable, not asked for), ` +
      `${back.asked} revalidated (${back.asked - back.downloaded} answered 304), ${n(back.bytes)} B on the wire`,
  );
  if (back.downloaded) over.push(`return visit: ${back.downloaded} files downloaded again`);
  const first = total(columns[0].firstView);
  const chat = total(columns[0].chat);
  // One line for scripts/bench-report.mjs.
  console.log(` as served to a browser: first view ${first} B, chat ${chat} B, loader body ${loader} B, return visit ${back.bytes} B`);

  // The demo page pastes the loader inline; it must be the current one.
  const demo = readFileSync(join(www, "demo", "index.html"), "utf8");
  const loaderText = readFileSync(join(www, "loader.js"), "utf8").trim();
  console.log(` www/demo/index.html embeds the current loader.js: ${demo.includes(loaderText) ? "yes" : "NO (copy it in)"}`);
  return over;
}

/** Accepts connections and never answers: a deployment that hangs. */
function silentServer() {
  const held = [];
  const server = createServer((req, res) => held.push(res));
  server.held = held;
  return server;
}

/** The customer's page: config, then the loader inline. */
function pageServer(config) {
  const loader = readFileSync(join(www, "loader.js"), "utf8");
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>
<p>customer page</p>
<script>window.TwinlineConfig = ${JSON.stringify(config)};</script>
<script>${loader}</script>
</body></html>`;
  return createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(html);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

/** Records when the widget's host (built complete, launcher inside) enters the page. */
const probe = `
  new MutationObserver(function (records, observer) {
    var host = document.getElementById("twinline-widget");
    if (host && host.shadowRoot && host.shadowRoot.querySelector(".launcher")) {
      window.__launcherAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
`;

/**
 * Clicks the launcher the way a script does (no pointer moving over it
 * first, so no prefetch: the worst case) and returns the milliseconds until
 * the chat bundle has put its panel on screen.
 */
async function clickToPanel(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const start = performance.now();
        document.getElementById("twinline-widget").shadowRoot.querySelector(".launcher").click();
        const poll = () => {
          const panel = document.getElementById("twinline-widget")?.shadowRoot?.querySelector(".panel");
          if (panel && !panel.hidden) resolve(performance.now() - start);
          else requestAnimationFrame(poll);
        };
        poll();
      }),
  );
}

async function time(assetBase) {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    console.error("widget-size: --time needs playwright-core (npm install)");
    process.exit(1);
  }
  const silent = silentServer();
  const silentPort = await listen(silent);
  // A port nothing listens on: bind, note, close.
  const closed = createServer();
  const closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  const base = (port) => `http://127.0.0.1:${port}`;
  const cases = [
    ["primary up", assetBase, assetBase],
    ["primary refusing", base(closedPort), assetBase],
    ["primary silent (raced after 250 ms)", base(silentPort), assetBase],
  ];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  const runs = Number(process.env.RUNS || 5);
  console.log(`\ntime from navigation start to launcher shown (headless chromium, localhost, cold cache, ${runs} runs):`);
  try {
    for (const [name, primary, redundant] of cases) {
      const page_ = pageServer({ site: "demo", primary, redundant });
      const pagePort = await listen(page_);
      const figures = [];
      const loads = [];
      const clicks = [];
      let chatBeforeClick = 0;
      for (let i = 0; i < runs; i++) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.addInitScript(probe);
        // "localhost" is another origin than 127.0.0.1: the page is cross-origin to the assets.
        await page.goto(`http://localhost:${pagePort}/`, { waitUntil: "load" });
        await page.waitForFunction(() => window.__launcherAt !== undefined, null, { timeout: 15000 });
        figures.push(await page.evaluate(() => window.__launcherAt));
        loads.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
        if (name === "primary up") {
          const early = await page.evaluate(() =>
            performance.getEntriesByType("resource").filter((r) => r.name.includes("twinline_chat")).length,
          );
          if (early) chatBeforeClick++;
          clicks.push(await clickToPanel(page));
        }
        await context.close();
      }
      figures.sort((a, b) => a - b);
      const median = figures[Math.floor(figures.length / 2)];
      const fmt = (n) => `${n.toFixed(0)} ms`;
      console.log(
        `  ${name.padEnd(30)} median ${fmt(median)}  min ${fmt(figures[0])}  max ${fmt(figures[figures.length - 1])}` +
          `  (page load event: median ${fmt(loads.sort((a, b) => a - b)[Math.floor(loads.length / 2)])})`,
      );
      if (clicks.length) {
        clicks.sort((a, b) => a - b);
        console.log(
          `  ${"  click on launcher → panel open".padEnd(30)} median ${fmt(clicks[Math.floor(clicks.length / 2)])}  min ${fmt(clicks[0])}  max ${fmt(clicks[clicks.length - 1])}` +
            `  (chat bundle fetched before the click in ${chatBeforeClick} of ${runs} runs)`,
        );
      }
      page_.close();
    }
  } finally {
    await browser.close();
    for (const res of silent.held) res.destroy();
    silent.closeAllConnections?.();
    silent.close();
  }
}

const cluster = await Cluster.start({ moderator: false, www });
let over;
try {
  over = await sizes(cluster.url("primary"));
  if (process.argv.includes("--time")) await time(cluster.url("primary"));
} finally {
  await cluster.stop();
}
if (over.length) {
  console.error(`widget-size: over budget:\n  ${over.join("\n  ")}`);
  process.exit(1);
}
