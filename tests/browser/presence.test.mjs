// "Visitor left" (issue 22) in a real browser: a visitor and an operator
// chat; the visitor closes the page (the tab holding the chat's only
// connection), and the console shows "Visitor left" beside the chat, as
// text, from the relay's record of the close (after the 10 s grace that
// keeps a tab handover from counting as leaving).
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

/** The console's view of the chat. */
async function consoleChat(operator, chat) {
  return (await operator.state()).chats.find((c) => c.chat === chat);
}

test('the visitor closes the page: the console shows the visitor left', async () => {
  await withStage(chromium.browser, 'presence', {}, async (stage) => {
    const { chat } = await beginChat(stage.visitor, stage.operator);
    await until(() => consoleChat(stage.operator, chat), (c) => c?.visitor.presence === 'Visitor online', 10_000, 'the visitor online');
    const line = stage.operator.page.locator('#chat-presence');
    assert.equal(await line.textContent(), 'Visitor online');

    await stage.visitor.close();
    await until(
      () => consoleChat(stage.operator, chat),
      (c) => c?.visitor.presence === 'Visitor left just now',
      30_000,
      'the console state saying the visitor left',
    );
    await until(() => line.textContent(), (text) => text === 'Visitor left just now', 5_000, '"Visitor left" on screen');
    assert.equal(await line.evaluate((node) => node.classList.contains('left')), true);
    assert.equal(await line.evaluate((node) => node.children.length), 0, 'set as text');
  });
});
