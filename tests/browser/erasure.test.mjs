// Issue 23, erasure, in a real browser: a visitor's chat erased through the
// REST API while the visitor's page and the operator's console hold it.
// Both are told `erased` and drop it; the page's storage keeps nothing of
// it; after the primary is killed and the page reloads (the widget fails
// over to the redundant with whatever it still holds), nothing of the
// chat is pushed back to either deployment, and the visitor gets a new,
// empty chat.
//
// A fresh cluster (two relay processes with their own SQLite files, the
// moderator, the demo site), a visitor on the demo page and an operator in
// the console page, both in Debian's chromium.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { relayBinary } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { beginChat } from './lib/chat.mjs';
import { withStage } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET = 'my home address is 12 Rue Example';

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

/** Everything the page keeps in localStorage, as one string. */
async function storage(page) {
  return page.evaluate(() => JSON.stringify(Object.entries(window.localStorage)));
}

/** Whether `deployment`'s feed holds anything of `chat`. */
async function holds(cluster, deployment, chat) {
  const messages = [...(await cluster.messagesOf(deployment)).values()];
  return messages.some((m) => m.chat === chat) || (await cluster.chatHeader(deployment, chat)) !== null;
}

test('a chat erased through the API leaves the page and the console, and nothing of it comes back after a failover and a reload', async () => {
  await withStage(chromium.browser, 'erasure', {}, async (stage) => {
    const { cluster, visitor, operator } = stage;
    const { chat } = await beginChat(visitor, operator);
    await visitor.send(SECRET);
    await until(() => operator.messages(chat), (m) => m.some((x) => x.text === SECRET), 10_000, 'the message in the console');
    await until(() => holds(cluster, 'redundant', chat), Boolean, 10_000, 'the chat on the redundant');
    assert.ok((await storage(visitor.page)).includes(SECRET), 'the page keeps the chat before the erasure');
    const header = await cluster.chatHeader('primary', chat);

    // A key with data:manage, made on the primary (the running relay
    // replicates it), then the erasure through the API.
    const key = execFileSync(
      relayBinary(),
      ['apikey', 'add', '--data-dir', path.join(cluster.dataDir, 'primary'), '--site', 'demo', '--scope', 'data:manage'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
    const res = await fetch(`${cluster.url('primary')}/v1/api/sites/demo/visitors/${header.visitor}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const erasure = JSON.parse(body);
    assert.deepEqual(erasure.chats, [chat]);

    // Told live: the page and the console drop it, storage included.
    await until(() => visitor.transcript(), (t) => t.length === 0, 10_000, 'the transcript emptied');
    await until(() => storage(visitor.page), (s) => !s.includes(SECRET), 10_000, 'the page storage without the chat');
    await until(() => operator.state(), (s) => !s.chats.some((c) => c.chat === chat), 10_000, 'the console without the chat');

    // The primary dies; the page reloads and comes up on the redundant.
    await cluster.kill9('primary');
    await visitor.reload();
    await visitor.open();
    await visitor.waitStatus((s) => s.state === 'connected' && s.deployment === 'redundant', 20_000, 'the visitor on the redundant');
    assert.deepEqual(await visitor.transcript(), [], 'a new, empty chat');
    assert.ok(!(await storage(visitor.page)).includes(SECRET));
    await until(() => holds(cluster, 'redundant', chat), (held) => held === false, 10_000, 'the redundant without the chat');

    // The primary comes back: the erasure wins there too, and after a while
    // of replication both ways neither holds anything of the chat.
    await cluster.restart('primary');
    await until(() => holds(cluster, 'primary', chat), (held) => held === false, 20_000, 'the primary without the chat');
    await sleep(2_000);
    for (const deployment of ['primary', 'redundant']) {
      assert.equal(await holds(cluster, deployment, chat), false, `${deployment} holds nothing of the chat`);
    }
    assert.deepEqual(visitor.pageErrors, [], 'the page threw');
  });
});
