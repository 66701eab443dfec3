// The two-step widget end to end: real relays, the real loader on the demo
// site (its own origin), the launcher and chat bundles in chromium.
//
// A new visitor downloads the loader and the launcher bundle only; clicking
// the launcher fetches the chat bundle, opens the panel and a message typed
// there reaches the relay; a reload continues the chat without a click (the
// saved chat fetches the chat bundle at once); and when the primary is gone
// by the time of the click, the chat bundle comes from the redundant
// deployment and the chat runs there. Loaders pasted into pages before the
// launcher was named twinline_launcher (tests/browser/fixtures: the one that
// fetched the launcher as twinline_widget, and the one from before the
// launcher, with one bundle and no Twinline.load) still bring the chat.
//
// Needs the release relay and the bundles (scripts/test.sh builds them).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Cluster, REPO } from '../../scripts/lib/cluster.mjs';
import { launchBrowser, Visitor } from './lib/browser.mjs';
import { ConsoleOperator } from './lib/console-operator.mjs';

const OPERATOR = { username: 'ada', name: 'Ada', password: 'correct horse battery' };

/**
 * What the page has fetched of the widget, by bundle file name, a content
 * hash written `#` (`twinline_chat_bg.#.wasm`): the entry under the fixed
 * name, then the glue and wasm it names (scripts/lib/pack.mjs).
 */
async function fetched(page) {
  const files = await page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((r) => new URL(r.name))
      .filter((u) => u.pathname.includes('/pkg/'))
      .map((u) => `${u.port}:${u.pathname.split('/').pop()}`),
  );
  return files.map((file) => file.replace(/\.[0-9a-f]{16}\./, '.#.'));
}

const names = (list) => list.map((entry) => entry.split(':')[1]).sort();

/** Opens the demo page and waits for the launcher, clicking nothing. */
async function arrive(browser, url) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  const visitor = new Visitor(context, page);
  await page.goto(url);
  await visitor.launcher().waitFor({ timeout: 15_000 });
  return visitor;
}

/** True while the chat's panel is on screen (the launcher bundle has none). */
function panelShown() {
  const panel = document.getElementById('twinline-widget')?.shadowRoot?.querySelector('.panel');
  return Boolean(panel && !panel.hidden);
}

describe('launcher first, chat on demand', { timeout: 120_000 }, () => {
  let cluster;
  let chromium;
  let operator;
  const visitors = [];

  before(async () => {
    cluster = await Cluster.start({ operators: [OPERATOR], www: process.env.TWINLINE_WWW });
    chromium = await launchBrowser();
    // An operator online in the real console, so the panel offers the
    // composer (not the offline form).
    operator = new ConsoleOperator(chromium.browser, cluster.consoleUrl('primary'), OPERATOR);
    await operator.start();
  });

  after(async () => {
    await operator?.stop();
    for (const visitor of visitors) await visitor.close();
    await chromium?.close();
    await cluster?.stop();
  });

  it('the demo page pastes the current loader', () => {
    // The demo inlines www/loader.js (so it loads with either deployment
    // down); the tests below run that copy, so it must be the same text.
    const loader = fs.readFileSync(path.join(REPO, 'www', 'loader.js'), 'utf8').trim();
    const demo = fs.readFileSync(path.join(REPO, 'www', 'demo', 'index.html'), 'utf8');
    assert.ok(demo.includes(loader), 'www/demo/index.html must embed www/loader.js as it is');
  });

  it('a new visitor gets the launcher only; a click brings the chat, and it works', async () => {
    const visitor = await arrive(chromium.browser, cluster.demoUrl({ prechat: 'off' }));
    visitors.push(visitor);
    const { page } = visitor;
    // Long enough for anything the page would fetch on its own.
    await page.waitForTimeout(1_000);
    // The launcher only. Its entry may come from both deployments (on a
    // loaded machine the primary may not answer within the loader's
    // 250 ms head start, and the redundant is raced); its hashed glue and
    // wasm from the one that answered first, once.
    const launcher = await fetched(page);
    assert.deepEqual(
      [...new Set(names(launcher))],
      ['twinline_launcher.#.js', 'twinline_launcher.js', 'twinline_launcher_bg.#.wasm'],
      `${launcher}`,
    );
    const wasm = launcher.filter((f) => f.endsWith(':twinline_launcher_bg.#.wasm'));
    assert.equal(wasm.length, 1, `the launcher's wasm once: ${launcher}`);
    const servedBy = wasm[0].split(':')[0];
    assert.notEqual(await page.evaluate(() => window.Twinline.loaded), true);
    assert.equal(await page.evaluate(panelShown), false);
    assert.equal(await page.evaluate(() => document.querySelectorAll('#twinline-widget').length), 1);

    await visitor.clickLauncher();
    await visitor.waitBooted();
    assert.deepEqual(
      (await fetched(page)).filter((f) => f.includes('twinline_chat')).sort(),
      [`${servedBy}:twinline_chat.#.js`, `${servedBy}:twinline_chat.js`, `${servedBy}:twinline_chat_bg.#.wasm`],
      'the chat comes from the deployment that served the launcher',
    );
    await page.waitForFunction(panelShown);
    assert.equal(await page.evaluate(() => document.querySelectorAll('#twinline-widget').length), 1, 'one widget');
    // The click's panel has focus in its composer: type and press Enter.
    await page.keyboard.type('Is the blue one in stock?');
    await page.keyboard.press('Enter');
    await visitor.waitStatus((s) => s.state === 'connected', 10_000, 'connected');
    await page.waitForFunction(
      () => window.Twinline.transcript().some((m) => m.text === 'Is the blue one in stock?' && m.status === 'sent'),
      null,
      { timeout: 10_000 },
    );
    const [message] = (await visitor.transcript()).filter((m) => m.text === 'Is the blue one in stock?');
    assert.ok((await cluster.messagesOf('primary')).has(message.id), 'the relay holds the message');

    // The next page view continues the chat without waiting for a click.
    await page.reload();
    await visitor.waitBooted(); // no click: Twinline.loaded by itself
    assert.ok(names(await fetched(page)).includes('twinline_chat_bg.#.wasm'), 'a saved chat fetches the chat at once');
    await page.waitForFunction(
      (wanted) => window.Twinline.transcript().some((m) => m.id === wanted),
      message.id,
      { timeout: 10_000 },
    );
  });

  for (const [era, fixture] of [
    ['the launcher fetched as twinline_widget', 'loader-2561cc0.js'],
    ['one bundle, no Twinline.load', 'loader-7250756.js'],
  ]) {
    it(`a loader pasted before the rename still brings the chat (${era})`, async () => {
      const loader = fs.readFileSync(path.join(REPO, 'tests', 'browser', 'fixtures', fixture), 'utf8');
      const config = {
        site: 'demo',
        primary: cluster.url('primary'),
        redundant: cluster.url('redundant'),
        moderator: cluster.url('moderator'),
        prechat: 'off',
      };
      // A customer's page as it was pasted then, written into a page of the
      // site's origin (a page a test fulfils itself would count as a public
      // address, and chromium would refuse it the relays on loopback).
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>
<p>A page with an old loader.</p>
<script>window.TwinlineConfig = ${JSON.stringify(config)};</script>
<script>${loader}</script>
</body></html>`;
      const context = await chromium.browser.newContext({ viewport: { width: 900, height: 640 } });
      const page = await context.newPage();
      const visitor = new Visitor(context, page);
      visitors.push(visitor);
      await page.goto(`${cluster.siteOrigin}/pasted-page`);
      await page.setContent(html);
      await visitor
        .launcher()
        .waitFor({ timeout: 15_000 })
        .catch((error) => {
          throw new Error(`no launcher: ${error.message}\n${visitor.console.join('\n')}\n${visitor.pageErrors.join('\n')}`);
        });
      const before = names(await fetched(page));
      assert.ok(before.includes('twinline_widget.js'), `the old name is asked for: ${before}`);
      assert.equal(
        before.filter((name) => name === 'twinline_launcher_bg.#.wasm').length,
        1,
        `and the launcher answers, fetched once: ${before}`,
      );
      // The chat comes through a Twinline.load (the one-bundle loader has
      // none: the current loader was fetched to provide it).
      assert.equal(await page.evaluate(() => typeof window.Twinline.load), 'function');
      assert.ok(!before.includes('twinline_chat_bg.#.wasm'), `the chat waits for the visitor: ${before}`);
      await visitor.clickLauncher();
      await visitor.waitBooted();
      await page.waitForFunction(panelShown);
      const id = await visitor.send(`Hello from a page with ${fixture}`);
      await page.waitForFunction(
        (wanted) => window.Twinline.transcript().some((m) => m.id === wanted && m.status === 'sent'),
        id,
        { timeout: 15_000 },
      );
      assert.ok((await cluster.messagesOf('primary')).has(id), 'the relay holds the message');
      assert.equal(await page.evaluate(() => document.querySelectorAll('#twinline-widget').length), 1, 'one widget');
      assert.deepEqual(visitor.pageErrors, []);
    });
  }

  it('when the primary is gone by the time of the click, the chat comes from the redundant deployment', async () => {
    const visitor = await arrive(chromium.browser, cluster.demoUrl({ prechat: 'off', site: 'demo' }));
    visitors.push(visitor);
    const { page } = visitor;
    await cluster.kill9('primary');
    // A script's click: no pointer over the button first, so no prefetch
    // before the primary was gone.
    await page.evaluate(() => document.getElementById('twinline-widget').shadowRoot.querySelector('.launcher').click());
    await visitor.waitBooted(20_000);
    const redundantPort = new URL(cluster.url('redundant')).port;
    assert.ok(
      (await fetched(page)).includes(`${redundantPort}:twinline_chat_bg.#.wasm`),
      `chat bundle from the redundant deployment: ${await fetched(page)}`,
    );
    await page.waitForFunction(panelShown);
    const id = await visitor.send('Hello from a page whose primary just died');
    await visitor.waitStatus((s) => s.state === 'connected' && s.deployment === 'redundant', 15_000, 'on the redundant');
    await page.waitForFunction(
      (wanted) => window.Twinline.transcript().some((m) => m.id === wanted && m.status === 'sent'),
      id,
      { timeout: 15_000 },
    );
    assert.ok((await cluster.messagesOf('redundant')).has(id), 'the redundant relay holds the message');
  });
});
