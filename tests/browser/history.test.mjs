// Issue 22, "History", in a real browser: a chat closed and rated is found
// by the operator's search in the console's History view, by one of its
// words, and opened whole (transcript and rating, as text); an agent of
// another site finds nothing and cannot open it.
//
// A fresh cluster (two relay processes with their own SQLite files, the
// moderator, the demo site), a visitor on the demo page and operators in the
// console page, in Debian's chromium.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { beginChat } from './lib/chat.mjs';
import { ConsoleOperator } from './lib/console-operator.mjs';
import { OPERATOR, withStage } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';

/** An agent of another site only. */
const EVE = { username: 'eve', name: 'Eve', password: 'another horse battery', sites: ['elsewhere'] };
/** Rendered as text, everywhere. */
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

/** Searches `words` in `page`'s History view; the chat ids listed. */
async function searchHistory(page, words) {
  if (await page.locator('#history-view').isHidden()) await page.locator('#history-toggle').click();
  await page.locator('#history-q').fill(words);
  await page.locator('#history-state').selectOption('closed');
  const searches = () => page.locator('#history-results').evaluate((list) => Number(list.dataset.searches ?? 0));
  const before = await searches();
  await page.locator('#history-search').click();
  await until(searches, (n) => n > before, 10_000, 'the search answered');
  const error = await page.locator('#history-error').textContent();
  assert.equal(error, '', 'no error shown');
  return page.locator('#history-results li').evaluateAll((items) => items.map((li) => li.dataset.chat));
}

test('an operator finds a closed chat by a word, opens it and sees the transcript and rating; an agent of another site finds nothing', async () => {
  await withStage(chromium.browser, 'history-search', { operators: [OPERATOR, EVE] }, async (stage) => {
    const { chat } = await beginChat(stage.visitor, stage.operator);
    const question = `My parcel ZX81 never arrived ${HOSTILE}`;
    await stage.visitor.send(question);
    await stage.operator.write(chat, 'Sorry about that parcel: a new one leaves today.');
    const consoleChat = async () => (await stage.operator.state()).chats.find((c) => c.chat === chat);
    await until(consoleChat, (c) => c?.messages.some((m) => m.text === question), 10_000, 'the question in the console');
    await stage.operator.page.locator('#close-chat').click();
    await until(consoleChat, (c) => c?.state === 'closed', 10_000, 'the chat closed');
    await stage.visitor.page.locator('#twinline-widget .rate button[data-score="good"]').waitFor({ state: 'visible', timeout: 10_000 });
    await stage.visitor.page.evaluate(() => window.Twinline.rate('good', 'Quick <b>help</b>'));
    await until(consoleChat, (c) => c?.rating?.score === 'good', 10_000, 'the rating in the console');

    // The operator's search: a word's prefix, case aside.
    const page = stage.operator.page;
    const found = await until(() => searchHistory(page, 'zx8 PARCEL'), (ids) => ids.includes(chat), 15_000, 'the chat in the history');
    assert.deepEqual(found, [chat]);
    const hit = page.locator(`#history-results li[data-chat="${chat}"]`);
    assert.match(await hit.locator('.snippet').textContent(), /My parcel ZX81 never arrived/);
    assert.match(await hit.locator('.meta').textContent(), /demo .* closed .* by ada .* rated good/);
    assert.equal(await hit.locator('img').count(), 0, 'the snippet is text');

    // Opened whole: every message and the rating, as text.
    await hit.locator('button').click();
    const panel = page.locator('#history-chat');
    await panel.waitFor({ state: 'visible', timeout: 10_000 });
    await until(() => panel.getAttribute('data-chat'), (id) => id === chat, 10_000, 'the chat opened');
    const texts = await page.locator('#history-transcript .text').allTextContents();
    assert.ok(texts.includes('Hello, is the blue kettle in stock?'), `${texts}`);
    assert.ok(texts.includes(question), `${texts}`);
    assert.ok(texts.includes('Sorry about that parcel: a new one leaves today.'), `${texts}`);
    assert.equal(await page.locator('#history-chat-rating').textContent(), 'Rated good: Quick <b>help</b>');
    assert.equal(await panel.locator('img, b').count(), 0, 'nothing of the chat is HTML');
    await page.screenshot({ path: path.join(REPO, 'target', 'history-console.png') });

    // Back to the chats and the History view again.
    await page.locator('#history-toggle').click();
    await page.locator('#desk').waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await page.locator('#history-view').isHidden(), true);

    // An agent of another site: nothing found, and the chat cannot be opened by its id.
    const eve = new ConsoleOperator(chromium.browser, stage.cluster.consoleUrl('primary'), EVE);
    await eve.start();
    try {
      assert.deepEqual(await searchHistory(eve.page, 'parcel'), []);
      assert.equal(await eve.page.locator('#history-empty').isVisible(), true);
      const refused = await eve.page.evaluate((id) => window.twinlineConsole.historyChat(id).then(() => 'opened', (e) => e.message), chat);
      assert.equal(refused, 'no such chat');
    } finally {
      await eve.stop();
    }
    assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
    assert.deepEqual(stage.operator.errors, [], 'the console logged no error');
  });
});
