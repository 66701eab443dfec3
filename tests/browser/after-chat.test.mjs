// Issue 21, "after the chat", in a real browser: the unread preview beside
// the closed panel's launcher; the visitor's rating of a
// closed chat, from the panel and from `Twinline.rate`, shown to the
// operator in the real console; and the failure-table row "a rating during
// failover": given while the primary is down, it reaches the redundant and
// the operator once, and the primary once it is back.
//
// Each test: a fresh cluster (two relay processes with their own SQLite
// files, the moderator, the demo site), a visitor on the demo page and an
// operator in the console page, both in Debian's chromium.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { beginChat } from './lib/chat.mjs';
import { withStage } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Rendered as text, everywhere: a comment that would run script as HTML. */
const HOSTILE = '<img src=x onerror="window.__pwned=1"> "slow" & late';

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

/** The console's view of the chat. */
async function consoleChat(operator, chat) {
  return (await operator.state()).chats.find((c) => c.chat === chat);
}

/** The operator closes the chat with the console's button; the visitor's panel then offers the rating. */
async function operatorCloses(stage, chat) {
  await stage.operator.page.locator('#close-chat').click();
  await until(() => consoleChat(stage.operator, chat), (c) => c?.state === 'closed', 10_000, 'the chat closed in the console');
  await stage.visitor.page.locator('#twinline-widget .rate button[data-score="good"]').waitFor({ state: 'visible', timeout: 10_000 });
}

/** Waits until the operator's console shows `score` (and `comment`) for the chat, in its state and on screen. */
async function operatorSees(stage, chat, score, comment, timeoutMs = 10_000) {
  await until(
    () => consoleChat(stage.operator, chat),
    (c) => c?.rating?.score === score && c.rating.comment === comment,
    timeoutMs,
    `the console showing the rating ${score}`,
  );
  const shown = stage.operator.page.locator('#chat-rating');
  await until(() => shown.textContent(), (text) => text.includes(score) && text.includes(comment), 5_000, 'the rating on screen');
  assert.equal(await shown.isVisible(), true, 'the rating is shown beside the chat');
  assert.equal(await shown.locator('img').count(), 0, 'the comment is rendered as text');
}

test('unread preview beside the closed panel; the visitor rates the closed chat, the operator sees it beside the chat, a later rating wins', async () => {
  await withStage(chromium.browser, 'after-chat-rating', {}, async (stage) => {
    const { chat } = await beginChat(stage.visitor, stage.operator);

    // With the panel closed, the operator's new message is previewed beside
    // the launcher, as text, in a polite live region (what screen readers
    // announce); opening the panel clears it, and a read message is not
    // previewed again.
    const preview = stage.visitor.page.locator('#twinline-widget .preview');
    await stage.visitor.page.evaluate(() => window.Twinline.close());
    assert.equal(await preview.isVisible(), false, 'no preview without an unread message');
    const question = `Anything else? ${HOSTILE}`;
    await stage.operator.write(chat, question);
    await preview.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await preview.textContent(), question, 'the message, as text');
    assert.equal(await preview.getAttribute('aria-live'), 'polite');
    assert.equal(await preview.getAttribute('role'), 'status');
    assert.equal(await preview.locator('img').count(), 0);
    await stage.visitor.page.screenshot({ path: path.join(REPO, 'target', 'after-chat-preview.png') });
    await preview.click();
    await stage.visitor.page.locator('#twinline-widget .panel').waitFor({ state: 'visible', timeout: 5_000 });
    await preview.waitFor({ state: 'hidden', timeout: 5_000 });
    await stage.visitor.page.evaluate(() => window.Twinline.close());
    await sleep(300);
    assert.equal(await preview.isVisible(), false, 'read once the panel was open');
    await stage.visitor.page.evaluate(() => window.Twinline.open());

    // Messages grouped by author and minute, in the panel and in the
    // console, by the one rule (checked against each message's time, so a
    // minute turning between two messages cannot make this flaky).
    await stage.operator.write(chat, 'And one more thing.');
    await until(
      () => stage.visitor.page.evaluate(() => window.Twinline.transcript().map((m) => m.text)),
      (texts) => texts.includes('And one more thing.'),
      10_000,
      'the second operator message in the panel',
    );
    const grouped = (messages, key) =>
      messages.map((m, i) => {
        const before = messages[i - 1];
        return Boolean(before) && m.author !== 'system' && before.author === m.author && key(before) === key(m) && Math.floor(before.at / 60_000) === Math.floor(m.at / 60_000);
      });
    const widgetMessages = await stage.visitor.page.evaluate(() => window.Twinline.transcript());
    const widgetConts = await stage.visitor.page.locator('#twinline-widget .log .msg').evaluateAll((items) => items.map((item) => item.classList.contains('cont')));
    assert.deepEqual(widgetConts, grouped(widgetMessages, (m) => m.name));
    const consoleMessages = (await consoleChat(stage.operator, chat)).messages;
    await until(
      () => stage.operator.page.locator('#transcript > li').evaluateAll((items) => items.map((item) => item.classList.contains('cont'))),
      (conts) => JSON.stringify(conts) === JSON.stringify(grouped(consoleMessages, (m) => m.authorId)),
      5_000,
      'the console grouping its messages',
    );
    assert.ok(consoleMessages.length >= 3, 'messages from both sides');

    const rate = (score, comment) => stage.visitor.page.evaluate(([s, c]) => window.Twinline.rate(s, c), [score, comment]);
    await assert.rejects(rate('good', ''), /not closed/, 'no rating before the chat is closed');
    await operatorCloses(stage, chat);

    const panel = stage.visitor.page.locator('#twinline-widget');
    await panel.locator('.rate textarea').fill(HOSTILE);
    await panel.locator('.rate button[data-score="bad"]').click();
    await panel.getByText('Thank you for your rating.').waitFor({ timeout: 10_000 });
    assert.equal(await panel.locator('.rate button[data-score="bad"]').getAttribute('aria-pressed'), 'true');
    assert.equal(await panel.locator('.rate button[data-score="good"]').getAttribute('aria-pressed'), 'false');
    await operatorSees(stage, chat, 'bad', HOSTILE);
    // For a person to look at (gitignored target/).
    await stage.visitor.page.screenshot({ path: path.join(REPO, 'target', 'after-chat-visitor.png') });
    await stage.operator.page.screenshot({ path: path.join(REPO, 'target', 'after-chat-console.png') });

    // The visitor changes their mind through the page's API.
    await rate('good', 'On second thought: helpful.');
    await operatorSees(stage, chat, 'good', 'On second thought: helpful.');
    await assert.rejects(rate('meh', ''), /score must be/);
    await assert.rejects(rate('good', 'x'.repeat(1_001)), /comment/);
    await panel.locator('.rate button[data-score="good"][aria-pressed="true"]').waitFor({ timeout: 5_000 });
    // Both deployments hold it: the primary stored it, replication carried it.
    for (const deployment of ['primary', 'redundant']) {
      await until(() => stage.cluster.chatHeader(deployment, chat), (h) => h?.rating?.score === 'good', 10_000, `the rating on the ${deployment}`);
    }
    assert.equal(await stage.visitor.page.evaluate(() => window.__pwned ?? null), null);
    assert.equal(await stage.operator.page.evaluate(() => window.__pwned ?? null), null);
    assert.deepEqual(stage.visitor.pageErrors, [], 'the page threw');
  });
});

test('failure row: a rating given while the primary is down reaches the redundant and the operator once, then the primary', async () => {
  await withStage(chromium.browser, 'after-chat-rating-failover', {}, async (stage) => {
    const { chat } = await beginChat(stage.visitor, stage.operator);
    await operatorCloses(stage, chat);
    // The close is on both deployments before the primary goes.
    await until(() => stage.cluster.chatHeader('redundant', chat), (h) => h?.status?.state === 'closed', 10_000, 'the close replicated');

    await stage.cluster.kill9('primary');
    // Given at once, before the widget has noticed: in flight or queued.
    await stage.visitor.page.evaluate(() => window.Twinline.rate('good', 'Fast, even during an outage.'));
    const panel = stage.visitor.page.locator('#twinline-widget');
    await panel.getByText('Thank you for your rating.').waitFor({ timeout: 15_000 });
    await stage.visitor.waitStatus((s) => s.state === 'connected' && s.deployment === 'redundant', 15_000, 'the visitor on the redundant');
    await stage.operator.waitDeployment('redundant', 15_000);
    await operatorSees(stage, chat, 'good', 'Fast, even during an outage.', 15_000);
    const onRedundant = await stage.cluster.chatHeader('redundant', chat);
    assert.equal(onRedundant.rating.score, 'good');

    // Once: the rating's id is the one the visitor made, stored under one stamp.
    await stage.cluster.restart('primary');
    const onPrimary = await until(() => stage.cluster.chatHeader('primary', chat), (h) => h?.rating, 20_000, 'the rating replicated back to the primary');
    assert.deepEqual(onPrimary.rating, (await stage.cluster.chatHeader('redundant', chat)).rating, 'one rating, the same on both');
    const console = await consoleChat(stage.operator, chat);
    assert.deepEqual(console.rating, { score: 'good', comment: 'Fast, even during an outage.' });
  });
});
