// A chat kept going while a test hurts the cluster, and the checks every
// failure-table row ends with.

import assert from 'node:assert/strict';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a chat: the visitor writes, the operator accepts it.
 * @returns {Promise<{chat: string, sent: {visitor: string[], operator: string[]}}>}
 */
export async function beginChat(visitor, operator, { timeoutMs = 15_000 } = {}) {
  await visitor.open();
  const first = await visitor.send('Hello, is the blue kettle in stock?');
  const chat = await operator.acceptNext(timeoutMs);
  const reply = await operator.write(chat, 'Hi! Yes, all sizes. How can I help?');
  const state = { chat, sent: { visitor: [first], operator: [reply] } };
  await waitDelivered(visitor, operator, state, timeoutMs);
  return state;
}

/**
 * Both sides keep writing, alternately, every `everyMs` until `stop()`.
 * A visitor message that cannot be handed to the page (a reload in
 * progress) is skipped, not counted.
 */
export function keepChatting(visitor, operator, state, { everyMs = 200 } = {}) {
  let n = 0;
  let running = true;
  const loop = (async () => {
    while (running && !operator.closed) {
      n += 1;
      if (n % 2) {
        try {
          state.sent.visitor.push(await visitor.send(`visitor line ${n}`));
        } catch {}
      } else {
        try {
          state.sent.operator.push(await operator.write(state.chat, `operator line ${n}`));
        } catch {}
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Waits until both sides hold every message sent and the visitor's are all acknowledged. */
export async function waitDelivered(visitor, operator, state, timeoutMs = 20_000) {
  const want = [...state.sent.visitor, ...state.sent.operator];
  const deadline = Date.now() + timeoutMs;
  let v = [];
  let o = [];
  for (;;) {
    try {
      v = await visitor.transcript();
    } catch {}
    o = await operator.messages(state.chat).catch(() => o);
    const unacked = await operator.unacked().catch(() => -1);
    const vIds = new Set(v.map((m) => m.id));
    const oIds = new Set(o.map((m) => m.id));
    const done =
      want.every((id) => vIds.has(id) && oIds.has(id)) &&
      v.every((m) => m.author !== 'visitor' || m.status !== 'sending') &&
      unacked === 0 &&
      v.length === o.length;
    if (done) return;
    if (Date.now() > deadline) {
      const missingV = want.filter((id) => !vIds.has(id));
      const missingO = want.filter((id) => !oIds.has(id));
      throw new Error(
        `not delivered within ${timeoutMs} ms: visitor lacks ${missingV.length} (${missingV.slice(0, 3)}), ` +
          `operator lacks ${missingO.length} (${missingO.slice(0, 3)}), visitor unacked ` +
          `${v.filter((m) => m.author === 'visitor' && m.status === 'sending').length}, operator unacked ${unacked}, ` +
          `lengths ${v.length}/${o.length}; operator errors: ${operator.errors.slice(-3).join('; ')}`,
      );
    }
    await sleep(100);
  }
}

/**
 * The end of every row: the visitor and the operator hold the same
 * complete transcript, in the same order, with no duplicates.
 */
export async function assertSameTranscript(visitor, operator, state) {
  const v = await visitor.transcript();
  const o = await operator.messages(state.chat);
  const vIds = v.map((m) => m.id);
  const oIds = o.map((m) => m.id);
  assert.equal(new Set(vIds).size, vIds.length, 'the visitor shows a message twice');
  assert.equal(new Set(oIds).size, oIds.length, 'the operator holds a message twice');
  for (const id of [...state.sent.visitor, ...state.sent.operator]) {
    assert.ok(vIds.includes(id), `the visitor lost message ${id}`);
    assert.ok(oIds.includes(id), `the operator lost message ${id}`);
  }
  assert.deepEqual(vIds, oIds, 'the visitor and the operator show the chat in different orders');
  assert.deepEqual(
    v.map((m) => m.text),
    o.map((m) => m.text),
    'the texts differ between the visitor and the operator',
  );
  for (const m of v) {
    if (m.author === 'visitor') assert.notEqual(m.status, 'sending', `visitor message ${m.id} never acknowledged`);
  }
  return { messages: vIds.length };
}

/**
 * Whether a recorded state tells the visitor something is wrong: the
 * panel's "reconnecting" banner is visible, or the API says `offline` (the
 * state in which the widget shows it). `reconnecting` alone is the widget
 * switching deployments, which it keeps invisible by design.
 */
export const isErrorShown = (s) => s.banner || s.state === 'offline';

/**
 * Recorded states that showed the visitor an error outside the `allowed`
 * windows ([from, to] ms: times when no deployment was up).
 */
export function errorsWhileUp(visitor, allowed = []) {
  return visitor.states.filter((s) => isErrorShown(s) && !allowed.some(([from, to]) => s.at >= from && s.at <= to));
}

/**
 * Fault-to-first-ack: the first acknowledgement after `faultAt` that came
 * from a deployment other than `from` (either side's message), in ms.
 */
export async function failoverTime(visitor, operator, faultAt, { from = null, to = null } = {}) {
  await visitor.collect();
  const acks = [
    ...[...visitor.acks.values()].map((a) => ({ ...a, side: 'visitor' })),
    ...(await operator.ackLog()).map((a) => ({ ...a, side: 'operator' })),
  ]
    .filter((a) => a.at >= faultAt && a.deployment && a.deployment !== from && (to === null || a.deployment === to))
    .sort((a, b) => a.at - b.at);
  if (!acks.length) return null;
  return { ms: acks[0].at - faultAt, deployment: acks[0].deployment, side: acks[0].side };
}
