// Files in the operator console (issue 21), end to end: two real relays,
// the console page served by the primary and driven through its UI in
// chromium, and a visitor speaking the wire protocol from node (so this
// test needs nothing of the widget's own file UI). The operator attaches a
// PNG: the visitor receives a message carrying it, and the redundant
// deployment serves the same bytes. The visitor uploads a PDF through the
// relay's HTTP API and sends it: the console shows it as a named download
// (its hostile name as text), and the PNG as a preview.
//
// Needs the release relay and the console bundle (scripts/test.sh builds
// them). TWINLINE_RELAY_BIN / CARGO_TARGET_DIR pick the relay,
// TWINLINE_WWW the assets.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { Cluster } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { ConsolePage, consoleUrl } from './lib/console-page.mjs';

const ADA = { username: 'ada', name: 'Ada', password: 'correct horse battery' };
const HOSTILE = '<img src=x onerror=alert(1)>.pdf';
// A 1x1 PNG, padded past one chunk so the upload takes two.
const PNG = Buffer.concat([
  Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005050201a7b1c2b50000000049454e44ae426082',
    'hex',
  ),
  Buffer.alloc(70_000, 0),
]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function ulid() {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = Date.now();
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = A[t % 32] + s;
    t = Math.floor(t / 32);
  }
  for (let i = 0; i < 16; i++) s += A[Math.floor(Math.random() * 32)];
  return s;
}

/** A visitor on the demo site speaking the protocol: frames kept, awaited by predicate. */
async function rawVisitor(cluster) {
  const origin = cluster.siteOrigin;
  const answer = await fetch(`${cluster.urls.primary}/v1/visitor/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ site: 'demo', token: null }),
  });
  assert.equal(answer.status, 200, await answer.clone().text());
  const { token, visitor, chat } = await answer.json();
  const ws = new WebSocket(`${cluster.urls.primary.replace('http', 'ws')}/v1/ws`, { origin });
  const frames = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', v: 1, role: 'visitor', site: 'demo', token, resume: [] }));
  let lamport = 0;
  return {
    token,
    chat,
    frames,
    ws,
    send(text, file = undefined) {
      lamport += 1;
      const msg = { lamport, author: { role: 'visitor', id: visitor, name: 'Grace' }, id: ulid(), chat, text, at: Date.now(), ...(file ? { file } : {}) };
      ws.send(JSON.stringify({ type: 'send', msg }));
      return msg.id;
    },
    async until(find, ms, what) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const found = frames.find(find);
        if (found) return found;
        await sleep(50);
      }
      throw new Error(`timed out waiting for ${what}`);
    },
  };
}

async function upload(base, token, chat, bytes, name) {
  const id = ulid();
  const auth = { authorization: `Bearer ${token}` };
  for (let index = 0; index * 65_536 < bytes.length; index++) {
    const chunk = bytes.subarray(index * 65_536, (index + 1) * 65_536);
    const r = await fetch(`${base}/v1/files/${id}/chunks/${index}?chat=${chat}&size=${bytes.length}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: chunk,
    });
    assert.equal(r.status, 200, await r.text());
  }
  const r = await fetch(`${base}/v1/files/${id}/complete?chat=${chat}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name, size: bytes.length, sha256: sha256(bytes) }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

describe('files in the operator console', { timeout: 180_000 }, () => {
  let cluster;
  let chromium;
  let ada;
  let visitor;
  let png;

  before(async () => {
    cluster = await Cluster.start({ operators: [ADA], www: process.env.TWINLINE_WWW });
    chromium = await launchBrowser();
    ada = await ConsolePage.open(chromium.browser, 'ada', consoleUrl(cluster));
    await ada.login(ADA.username, ADA.password);
    await ada.page.locator('#link').filter({ hasText: 'Connected to primary' }).waitFor();
    visitor = await rawVisitor(cluster);
    await visitor.until((f) => f.type === 'welcome', 10_000, 'the welcome');
    visitor.send('Here is my invoice question');
    await ada.waitState((s) => s.queue.some((q) => q.chat === visitor.chat), 15_000, 'the chat queued');
    await ada.page.getByRole('button', { name: /^Accept chat with/ }).click();
    await ada.waitState((s) => s.chats.some((c) => c.chat === visitor.chat && c.mine), 10_000, 'accepted');
  });

  after(async () => {
    visitor?.ws.close();
    await ada?.close();
    await chromium?.close();
    await cluster?.stop();
  });

  it('sends a PNG from the attach button: the visitor gets a message carrying it', async () => {
    await ada.page.setInputFiles('#attach-input', { name: 'screenshot.png', mimeType: 'image/png', buffer: PNG });
    const frame = await visitor.until((f) => f.type === 'message' && f.msg.file, 20_000, "the operator's file");
    png = frame.msg.file;
    assert.equal(png.name, 'screenshot.png');
    assert.equal(png.size, PNG.length);
    assert.equal(png.type, 'image/png');
    assert.equal(png.sha256, sha256(PNG));
    assert.equal(frame.msg.author.role, 'operator');
    const state = await ada.waitState(
      (s) => s.chats[0].messages.some((m) => m.file?.id === png.id && m.status === 'sent'),
      10_000,
      'the file message sent',
    );
    assert.deepEqual(state.uploads, [], 'the finished upload left the list');
    // Shown as a preview from an object URL.
    const img = ada.page.locator(`#transcript .file[data-file="${png.id}"] img.preview`);
    await img.waitFor({ state: 'attached' });
    // Loaded (the console's CSP lets images come from object URLs).
    await ada.page.waitForFunction((id) => {
      const img = document.querySelector(`.file[data-file="${id}"] img`);
      return img?.src.startsWith('blob:') && img.complete && img.naturalWidth === 1;
    }, png.id);
  });

  it('the other deployment serves the same bytes to the visitor', async () => {
    let got;
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${cluster.urls.redundant}/v1/files/${png.id}`, {
        headers: { authorization: `Bearer ${visitor.token}` },
      });
      if (r.status === 200) {
        got = Buffer.from(await r.arrayBuffer());
        break;
      }
      await sleep(100);
    }
    assert.ok(got, 'the redundant deployment never served the file');
    assert.equal(sha256(got), sha256(PNG));
  });

  it("shows the visitor's PDF as a named download, its name as text", async () => {
    const pdf = await upload(cluster.urls.primary, visitor.token, visitor.chat, PDF, HOSTILE);
    visitor.send('', pdf);
    await ada.waitState(
      (s) => s.chats[0].messages.some((m) => m.file?.id === pdf.id && m.file.show === 'download'),
      15_000,
      "the visitor's file",
    );
    const link = ada.page.locator(`#transcript .file[data-file="${pdf.id}"] a.file-link`);
    await link.waitFor();
    assert.match(await link.textContent(), /^<img src=x onerror=alert\(1\)>\.pdf \(\d+ B\)$/);
    assert.equal(await link.getAttribute('download'), HOSTILE);
    await ada.page.waitForFunction((id) => document.querySelector(`.file[data-file="${id}"] a`)?.href.startsWith('blob:'), pdf.id);
    // What the link is made of: the bytes the console downloads.
    const bytes = await ada.page.evaluate(
      async (id) => Array.from(await window.twinlineConsole.download(id)),
      pdf.id,
    );
    assert.equal(sha256(Buffer.from(bytes)), sha256(PDF));
    assert.equal(await ada.page.locator('#transcript img:not(.preview)').count(), 0, 'no element made from a name');
    assert.deepEqual(ada.dialogs, []);
  });

  it('sends a file dropped on the chat', async () => {
    await ada.page.evaluate((bytes) => {
      const drop = new DataTransfer();
      drop.items.add(new File([new Uint8Array(bytes)], 'dropped.pdf', { type: 'application/pdf' }));
      document.getElementById('chat').dispatchEvent(new DragEvent('drop', { dataTransfer: drop, bubbles: true, cancelable: true }));
    }, Array.from(PDF));
    const frame = await visitor.until((f) => f.type === 'message' && f.msg.file?.name === 'dropped.pdf', 20_000, 'the dropped file');
    assert.equal(frame.msg.file.sha256, sha256(PDF));
    assert.equal(frame.msg.file.type, 'application/pdf');
  });

  it("shows the chat's files in the History too", async () => {
    await ada.page.locator('#history-toggle').click();
    await ada.page.locator('#history-q').fill('invoice');
    await ada.page.locator('#history-state').selectOption('open');
    await ada.page.locator('#history-search').click();
    const hit = ada.page.locator(`#history-results button[data-chat="${visitor.chat}"]`);
    await hit.waitFor({ timeout: 10_000 }).catch(async (error) => {
      const said = await ada.page.locator('#history-error').textContent();
      const found = await ada.page.locator('#history-results').textContent();
      throw new Error(`${error.message}; the page said ${JSON.stringify(said)}, found ${JSON.stringify(found)}`);
    });
    await hit.click();
    const files = ada.page.locator('#history-transcript .file');
    await files.nth(2).waitFor({ state: 'attached', timeout: 10_000 });
    const shown = await files.evaluateAll((nodes) => nodes.map((n) => [n.dataset.show, n.querySelector('a').textContent]));
    assert.deepEqual(
      shown.map(([show, text]) => [show, text.replace(/ \(.*\)$/, '')]),
      [
        ['preview', 'screenshot.png'],
        ['download', HOSTILE],
        ['download', 'dropped.pdf'],
      ],
    );
    await ada.page.locator('#history-toggle').click();
  });

  it('shows the relay refusing a type it does not accept', async () => {
    await ada.page.setInputFiles('#attach-input', {
      name: 'page.svg',
      mimeType: 'image/svg+xml',
      buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    });
    const refused = ada.page.locator('#uploads li[data-state=refused] .error');
    await refused.filter({ hasText: /not accepted/ }).waitFor({ timeout: 10_000 });
    await ada.page.locator('#uploads li[data-state=refused] .dismiss').click();
    await ada.waitState((s) => s.uploads.length === 0, 5_000, 'the refusal dismissed');
    assert.deepEqual(ada.pageErrors, []);
  });
});
