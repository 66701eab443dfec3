#!/usr/bin/env node
// Prints what a visitor's browser downloads for the widget, gzipped: before
// the launcher shows (the loader and the launcher bundle, the budget)
// and when the chat is first used (the chat bundle), and with --time how long
// a page takes from navigation to showing the launcher, and from a click on
// the launcher to the open panel.
//
//   node scripts/widget-size.mjs           sizes (after scripts/build-widget.sh)
//   node scripts/widget-size.mjs --time    sizes, then time-to-launcher in
//                                           headless chromium on localhost
//
// Builds nothing: it reads www/pkg (scripts/build-widget.sh) and www/loader.js.
// The timing serves www/ like a relay does (CORS, application/wasm) on one
// port and a customer page on another origin, and loads the page in a fresh
// browser context per run (cold cache), in three situations:
//   primary up | primary refusing connections | primary accepting but silent
// (the last two are the loader's fallback to the redundant deployment). It
// prints figures only; it asserts nothing about them.
import { readFileSync, existsSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createServer } from "node:http";
import { join, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const www = process.env.TWINLINE_WWW || join(root, "www");
const BUDGET_BUNDLE = 60 * 1024;
const BUDGET_LOADER = 1024;

function gz(path) {
  const raw = readFileSync(path);
  return { raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length };
}

function sizes() {
  const files = {
    loader: join(www, "loader.js"),
    glue: join(www, "pkg", "twinline_launcher.js"),
    wasm: join(www, "pkg", "twinline_launcher_bg.wasm"),
    chatGlue: join(www, "pkg", "twinline_chat.js"),
    chatWasm: join(www, "pkg", "twinline_chat_bg.wasm"),
  };
  for (const [name, path] of Object.entries(files)) {
    if (!existsSync(path)) {
      console.error(`widget-size: ${path} is missing (${name}); run scripts/build-widget.sh`);
      process.exit(1);
    }
  }
  const loader = gz(files.loader);
  const glue = gz(files.glue);
  const wasm = gz(files.wasm);
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const row = (name, s) =>
    console.log(`  ${name.padEnd(26)} ${String(s.raw).padStart(8)} B raw  ${String(s.gzip).padStart(7)} B gzip (${kb(s.gzip)})`);
  const chatGlue = gz(files.chatGlue);
  const chatWasm = gz(files.chatWasm);
  console.log("widget download sizes (gzip -9):");
  console.log(" before the launcher shows (every page view):");
  row("loader.js", loader);
  row("twinline_launcher.js", glue);
  row("twinline_launcher_bg.wasm", wasm);
  const bundle = glue.gzip + wasm.gzip;
  console.log(`  launcher glue + wasm: ${bundle} B gzip (${kb(bundle)}), budget ${kb(BUDGET_BUNDLE)}: ${bundle <= BUDGET_BUNDLE ? "within" : "OVER"}`);
  console.log(`  loader: ${loader.gzip} B gzip, budget ${BUDGET_LOADER} B: ${loader.gzip <= BUDGET_LOADER ? "within" : "OVER"}`);
  console.log(" when the chat is first needed (a click, a saved chat, Twinline.open/send):");
  row("twinline_chat.js", chatGlue);
  row("twinline_chat_bg.wasm", chatWasm);
  const chat = chatGlue.gzip + chatWasm.gzip;
  console.log(`  chat glue + wasm: ${chat} B gzip (${kb(chat)}); everything for a visitor who chats: ${kb(loader.gzip + bundle + chat)}`);

  // The demo page pastes the loader inline; it must be the current one.
  const demo = readFileSync(join(www, "demo", "index.html"), "utf8");
  const loaderText = readFileSync(files.loader, "utf8").trim();
  console.log(`  www/demo/index.html embeds the current loader.js: ${demo.includes(loaderText) ? "yes" : "NO (copy it in)"}`);
}

const types = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
};

/** Serves www/ the way the relay does: CORS on assets, 404 for the API. */
function assetServer() {
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = join(www, path);
    if (!file.startsWith(www) || path.startsWith("/v1/") || !existsSync(file)) {
      res.writeHead(404, { "access-control-allow-origin": "*" }).end();
      return;
    }
    res.writeHead(200, {
      "content-type": types[extname(file)] || "application/octet-stream",
      "access-control-allow-origin": "*",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
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

async function time() {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    console.error("widget-size: --time needs playwright-core (npm install)");
    process.exit(1);
  }
  const assets = assetServer();
  const assetPort = await listen(assets);
  const silent = silentServer();
  const silentPort = await listen(silent);
  // A port nothing listens on: bind, note, close.
  const closed = createServer();
  const closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  const base = (port) => `http://127.0.0.1:${port}`;
  const cases = [
    ["primary up", base(assetPort), base(assetPort)],
    ["primary refusing", base(closedPort), base(assetPort)],
    ["primary silent (3 s fallback)", base(silentPort), base(assetPort)],
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
    assets.close();
  }
}

sizes();
if (process.argv.includes("--time")) {
  await time();
}
