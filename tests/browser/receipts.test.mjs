// Read receipts (issue 21) in a real browser: the operator's console has
// the chat on screen, so the visitor's panel says "Seen" under the
// visitor's message and the page hears `Twinline.on("read")`; the
// visitor's open panel has seen the operator's answer, so the console says
// so under it. Then the primary is SIGKILLed: after a reload (a new session
// that knows only what a relay tells it), the visitor's panel still shows
// "Seen" from what the redundant holds.
//
// A fresh cluster (two relay processes with their own SQLite files, the
// moderator, the demo site), a visitor on the demo page and an operator in
// the console page, both in Debian's chromium.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './lib/browser.mjs';
import { beginChat } from './lib/chat.mjs';
import { withStage } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

/** The meta line of the visitor's message `id` in the panel. */
function visitorMeta(stage, id) {
  return stage.visitor.page.locator(`#twinline-widget .log .msg[data-id="${id}"] .meta`);
}

/** The console's view of the chat. */
async function consoleChat(operator, chat) {
  return (await operator.state()).chats.find((c) => c.chat === chat);
}

test('each side sees what the other has read, and a receipt still shows from the redundant after the primary is killed', async () => {
  await withStage(chromium.browser, 'receipts', {}, async (stage) => {
    await stage.visitor.page.evaluate(() => {
      window.__reads = [];
      window.Twinline.on('read', (r) => window.__reads.push(r.id));
    });
    const { chat, sent } = await beginChat(stage.visitor, stage.operator);
    const question = sent.visitor[0];
    const answer = sent.operator[0];

    // The console shows the chat: the visitor's panel says "Seen" under the
    // question, as text, and the page hears it.
    await until(() => visitorMeta(stage, question).textContent(), (text) => text?.includes('Seen'), 10_000, '"Seen" under the question');
    await until(() => stage.visitor.page.evaluate(() => window.__reads), (reads) => reads.includes(question), 5_000, 'the read event');

    // The visitor's panel is open on a visible page: the console shows the
    // visitor has seen the answer, in its state and on screen.
    await until(() => consoleChat(stage.operator, chat), (c) => c?.seen === answer, 10_000, 'the console state showing the answer seen');
    const seenLine = stage.operator.page.locator(`#transcript > li[data-seen="true"]`);
    await until(() => seenLine.count(), (n) => n === 1, 5_000, 'one message marked seen on screen');
    assert.equal(await seenLine.locator('.seen').textContent(), 'Seen by the visitor');
    assert.equal(await seenLine.locator('.seen').isVisible(), true);

    // A newer visitor message the console has on screen moves "Seen" to it.
    const later = await stage.visitor.send('And in red?');
    await until(() => visitorMeta(stage, later).textContent(), (text) => text?.includes('Seen'), 10_000, '"Seen" under the later message');
    assert.doesNotMatch(await visitorMeta(stage, question).textContent(), /Seen/, 'only under the newest');

    // The primary dies. A reload starts a session that knows only what
    // the relay it reaches tells it: the redundant's welcome carries the
    // operator's receipt (replicated, or replayed by the console).
    await stage.cluster.kill9('primary');
    await stage.visitor.waitStatus((s) => s.state === 'connected' && s.deployment === 'redundant', 20_000, 'the visitor on the redundant');
    await until(
      () => stage.cluster.chatHeader('redundant', chat),
      (h) => h !== null && h !== undefined,
      10_000,
      'the chat on the redundant',
    );
    await stage.visitor.reload();
    await stage.visitor.open();
    await stage.visitor.waitStatus((s) => s.state === 'connected', 20_000, 'the reloaded visitor connected');
    await until(() => visitorMeta(stage, later).textContent(), (text) => text?.includes('Seen'), 20_000, '"Seen" from the redundant after the reload');
    const deployment = (await stage.visitor.status()).deployment;
    assert.equal(deployment, 'redundant', 'shown by the redundant');
  });
});
