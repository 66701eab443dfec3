// A deployment on several machines, in a real browser: each deployment is
// its own PostgreSQL, two relay nodes and HAProxy on the deployment's one
// URL (the cluster demo, `npm start -- --nodes 2`, scripts/lib/nodes.mjs).
// A visitor on the demo page and an operator in the real console chat while
// the active deployment's nodes are SIGKILLed one after the other (each
// started again before the next dies): whichever node each side was on, it
// reconnects through the balancer to the other node of the same deployment,
// the moderator never leaves the primary, and both sides end with the same
// complete transcript, no error ever shown.
//
// Needs the release relay and the bundles (scripts/test.sh builds them),
// PostgreSQL and HAProxy (scripts/ensure-toolchain.sh --servers).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './lib/browser.mjs';
import { assertSameTranscript, beginChat, errorsWhileUp, keepChatting, waitDelivered } from './lib/chat.mjs';
import { withStage } from './lib/scenario.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

test('nodes of the active deployment SIGKILLed in turn while chatting: the chat stays on the primary', { timeout: 180_000 }, async () => {
  await withStage(chromium.browser, 'nodes', { nodes: 2 }, async (stage) => {
    const { cluster, visitor, operator } = stage;
    assert.deepEqual(cluster.parts.filter((p) => p.startsWith('primary')), ['primary-node-1', 'primary-node-2']);
    const state = await beginChat(visitor, operator);
    await visitor.waitStatus((s) => s.state === 'connected' && s.deployment === 'primary', 10_000, 'visitor on the primary');
    await operator.waitDeployment('primary', 10_000);

    const seen = new Set();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const active = await cluster.active();
        if (active) seen.add(active.active);
        await sleep(50);
      }
    })();
    const chatter = keepChatting(visitor, operator, state);
    for (const node of ['primary-node-1', 'primary-node-2']) {
      await sleep(1_000);
      await cluster.kill9(node);
      await sleep(1_500);
      await cluster.restart(node);
    }
    await sleep(1_000);
    await chatter.stop();
    watching = false;
    await watcher;

    await waitDelivered(visitor, operator, state);
    await assertSameTranscript(visitor, operator, state);
    assert.deepEqual([...seen], ['primary'], 'the moderator never left the primary');
    const status = await visitor.status();
    assert.equal(status.deployment, 'primary', 'the visitor is still on the primary');
    await operator.waitDeployment('primary', 1_000);
    await visitor.collect();
    assert.deepEqual(errorsWhileUp(visitor), [], 'the visitor was shown an error state');
    assert.deepEqual(visitor.pageErrors, [], 'the page threw');
    const stored = await cluster.messagesOf('primary');
    for (const id of [...state.sent.visitor, ...state.sent.operator]) {
      assert.ok(stored.has(id), `${id} is stored on the primary`);
    }
  });
});
