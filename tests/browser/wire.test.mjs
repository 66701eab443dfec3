// What chromium downloads from a relay, counted on the wire (the DevTools
// protocol's Network events: encodedDataLength is what came over the
// network, headers included; a response from the cache has none).
//
// A first view of the demo page gets the launcher, and a click the chat,
// each as its fixed-name entry, content-hashed glue and wasm, all brotli
// (the relay's precompressed variants), within the budgets README states;
// a reload downloads nothing again (the hashed files are immutable, the
// entries still fresh). The console page, also served by a relay, comes
// compressed too, and a reload revalidates the page itself: 304, no body.
//
// Needs the release relay and the bundles (scripts/test.sh builds them).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../scripts/lib/cluster.mjs';
import { launchBrowser, Visitor } from './lib/browser.mjs';

const KB = 1024;
const HASHED = /\.[0-9a-f]{16}\./;

/** Every request a page makes, as the DevTools protocol reports it. */
class Wire {
  static async attach(page) {
    const wire = new Wire();
    const cdp = await page.context().newCDPSession(page);
    const at = (id) => {
      if (!wire.requests.has(id)) wire.requests.set(id, { done: false, decoded: 0, cached: false });
      return wire.requests.get(id);
    };
    cdp.on('Network.requestWillBeSent', (e) => Object.assign(at(e.requestId), { url: new URL(e.request.url) }));
    cdp.on('Network.requestServedFromCache', (e) => {
      at(e.requestId).cached = true;
    });
    cdp.on('Network.responseReceived', (e) => {
      const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
      const cached = e.response.fromDiskCache || e.response.fromPrefetchCache || e.response.fromServiceWorker;
      Object.assign(at(e.requestId), { status: e.response.status, headers, cached: at(e.requestId).cached || cached });
    });
    // The status as it came over the network: after a revalidation,
    // responseReceived reports the cached 200, this the 304 that was sent.
    cdp.on('Network.responseReceivedExtraInfo', (e) => {
      at(e.requestId).sent = e.statusCode;
    });
    cdp.on('Network.dataReceived', (e) => {
      at(e.requestId).decoded += e.dataLength;
    });
    cdp.on('Network.loadingFinished', (e) => Object.assign(at(e.requestId), { done: true, encoded: e.encodedDataLength }));
    cdp.on('Network.loadingFailed', (e) => Object.assign(at(e.requestId), { done: true, failed: e.errorText }));
    await cdp.send('Network.enable');
    return wire;
  }

  constructor() {
    this.requests = new Map();
  }

  /** Forgets what was seen (the next round starts). */
  reset() {
    this.requests.clear();
  }

  /** The static files fetched from `origins` (the API and config.json left out). */
  files(origins) {
    return [...this.requests.values()].filter(
      (r) => r.url && origins.includes(r.url.origin) && !r.url.pathname.startsWith('/v1/') && !r.url.pathname.endsWith('/config.json'),
    );
  }

  /** Waits until every request seen so far has finished. */
  async settled(timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while ([...this.requests.values()].some((r) => r.url && !r.done && r.url.protocol.startsWith('http'))) {
      if (Date.now() > deadline) throw new Error('requests still open after 15 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const name = (r) => r.url.pathname.replace(HASHED, '.#.');
const sum = (list) => list.reduce((total, r) => total + r.encoded, 0);
const table = (list) =>
  list
    .map((r) => `${name(r)} ${r.cached ? 'cache' : r.sent} ${r.headers?.['content-encoding'] ?? '-'} ${r.encoded} B on the wire, ${r.decoded} B decoded`)
    .join('\n');

/** Checks a first view's files: each brotli, the large ones much smaller than decoded. */
function assertCompressed(list) {
  for (const r of list) {
    assert.equal(r.cached, false, `${name(r)} came from a cache on a first view`);
    assert.equal(r.sent, 200, `${name(r)}: ${table(list)}`);
    assert.equal(r.headers['content-encoding'], 'br', `${name(r)}: ${table(list)}`);
    assert.equal(r.headers.vary, 'accept-encoding', name(r));
    if (r.decoded > 10 * KB) assert.ok(r.encoded < r.decoded / 2, `${name(r)} barely compressed: ${table(list)}`);
  }
}

/** Checks a return visit's files: each from the cache, or a 304 without a body. */
function assertNothingDownloaded(list) {
  for (const r of list) {
    if (r.cached) continue;
    assert.equal(r.sent, 304, `${name(r)} downloaded again: ${table(list)}`);
    assert.ok(!HASHED.test(r.url.pathname), `${name(r)} is immutable, yet was asked for again`);
  }
}

describe('what a browser downloads, on the wire', { timeout: 120_000 }, () => {
  let cluster;
  let chromium;
  let relays;

  before(async () => {
    cluster = await Cluster.start({ www: process.env.TWINLINE_WWW });
    chromium = await launchBrowser();
    relays = [cluster.url('primary'), cluster.url('redundant')];
  });

  after(async () => {
    await chromium?.close();
    await cluster?.stop();
  });

  it('a first view comes compressed and within budget, a reload downloads nothing', async (t) => {
    const context = await chromium.browser.newContext({ viewport: { width: 900, height: 640 } });
    try {
      const page = await context.newPage();
      const visitor = new Visitor(context, page);
      const wire = await Wire.attach(page);
      await page.goto(cluster.demoUrl({ prechat: 'off' }));
      await visitor.launcher().waitFor({ timeout: 15_000 });
      await wire.settled();
      const launcher = wire.files(relays);
      assert.deepEqual(launcher.map(name).sort(), [
        '/pkg/twinline_launcher.#.js',
        '/pkg/twinline_launcher.js',
        '/pkg/twinline_launcher_bg.#.wasm',
      ]);
      assertCompressed(launcher);

      wire.reset();
      await visitor.clickLauncher();
      await visitor.waitBooted();
      await wire.settled();
      const chat = wire.files(relays);
      assert.deepEqual(chat.map(name).sort(), [
        '/pkg/twinline_chat.#.js',
        '/pkg/twinline_chat.js',
        '/pkg/twinline_chat_bg.#.wasm',
      ]);
      assertCompressed(chat);
      t.diagnostic(`first view, the launcher: ${sum(launcher)} B on the wire\n${table(launcher)}`);
      t.diagnostic(`the chat: ${sum(chat)} B on the wire\n${table(chat)}`);

      // The next page view, and the chat again.
      wire.reset();
      await page.reload();
      await visitor.launcher().waitFor({ timeout: 15_000 });
      await visitor.clickLauncher();
      await visitor.waitBooted();
      await wire.settled();
      const again = wire.files(relays);
      t.diagnostic(`reload: ${sum(again.filter((r) => !r.cached))} B on the wire\n${table(again)}`);
      assertNothingDownloaded(again);

      // README's budgets (the loader is inline on the demo page).
      assert.ok(sum(launcher) <= 31 * KB, `the launcher's first view is ${sum(launcher)} B, over 31 KB`);
      assert.ok(sum(chat) <= 100 * KB, `the chat is ${sum(chat)} B, over 100 KB`);
    } finally {
      await context.close();
    }
  });

  it("the console's page comes compressed, and a reload revalidates it with a 304", async (t) => {
    const context = await chromium.browser.newContext();
    try {
      const page = await context.newPage();
      const wire = await Wire.attach(page);
      const ready = () => page.waitForFunction(() => Boolean(window.twinlineConsole), null, { timeout: 15_000 });
      await page.goto(cluster.consoleUrl('primary'));
      await ready();
      await wire.settled();
      const first = wire.files(relays);
      assert.deepEqual(first.map(name).sort(), [
        '/console/',
        '/console/console.css',
        '/console/console.js',
        '/console/history.js',
        '/console/pkg/twinline_console.#.js',
        '/console/pkg/twinline_console.js',
        '/console/pkg/twinline_console_bg.#.wasm',
      ]);
      assertCompressed(first);
      t.diagnostic(`the console, first view: ${sum(first)} B on the wire\n${table(first)}`);

      wire.reset();
      await page.reload();
      await ready();
      await wire.settled();
      const again = wire.files(relays);
      t.diagnostic(`reload: ${sum(again.filter((r) => !r.cached))} B on the wire\n${table(again)}`);
      const document = again.find((r) => r.url.pathname === '/console/');
      assert.equal(document?.sent, 304, `the page is revalidated: ${table(again)}`);
      assert.ok(document.encoded < 1 * KB, `a 304 is headers only: ${document.encoded} B`);
      assertNothingDownloaded(again);
    } finally {
      await context.close();
    }
  });
});
