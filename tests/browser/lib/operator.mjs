// An operator for the browser tests, speaking docs/PROTOCOL.md from node.
//
// The failure-table tests need someone on the operator's side chatting
// while a deployment fails. Until the operator console page can be driven
// here, this client plays that part with the same rules the core session
// follows (docs/PROTOCOL.md, SESSION_API.md), written out small:
//
// - which deployment: the moderator's `active` while it answers; when it
//   does not, the primary if its /v1/health answers, else the redundant;
// - heartbeat: ping every `heartbeatMs`; a link on which nothing arrives for
//   `deadMs` is dead (silent network loss), as is a closed one;
// - after every `welcome`: merge `missing`, replay every message of a held
//   chat that the relay lists as `lacking` (the operator's side pushes the
//   ongoing chat to the new relay), resend everything not yet acked;
// - `migrate` and a moderator naming another deployment: connect there,
//   and close the old link only once welcomed (make-before-break).
//
// Every ack is recorded with the deployment that sent it and the time, so a
// test can tell when the first message was acknowledged after a fault.

import WebSocket from 'ws';
import crypto from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ROLE_RANK = { visitor: 0, operator: 1, system: 2 };

/** A ULID: 48 bits of milliseconds, 80 random bits, Crockford base32. */
export function ulid(now = Date.now()) {
  let value = (BigInt(now) << 80n) | BigInt(`0x${crypto.randomBytes(10).toString('hex')}`);
  let text = '';
  for (let i = 0; i < 26; i++) {
    text = CROCKFORD[Number(value & 31n)] + text;
    value >>= 5n;
  }
  return text;
}

/** The display order every replica shares: (lamport, author, id). */
export function compareMessages(a, b) {
  const keys = (m) => [m.lamport, ROLE_RANK[m.author.role], m.author.id, m.author.name ?? '', m.id];
  const ka = keys(a);
  const kb = keys(b);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] < kb[i]) return -1;
    if (ka[i] > kb[i]) return 1;
  }
  return 0;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson(url, timeoutMs) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

export class OperatorClient {
  /**
   * @param {object} options
   * @param {{primary:string, redundant:string, moderator?:string}} options.urls
   * @param {string} options.username
   * @param {string} options.password
   * @param {string} [options.site]
   */
  constructor({ urls, username, password, site = 'demo', heartbeatMs = 500, deadMs = 2_000, requestMs = 1_000 }) {
    Object.assign(this, { urls, username, password, site, heartbeatMs, deadMs, requestMs });
    this.chats = new Map(); // chat id -> Map(message id -> message)
    this.handled = new Set(); // chats this operator accepted
    this.queue = [];
    this.pending = new Map(); // message id -> message, until acked
    this.acks = []; // {id, deployment, at}
    this.ackedIds = new Set();
    this.lamport = 0;
    this.link = null; // {ws, deployment, welcomed, lastHeard}
    this.connections = []; // {deployment, at}: every welcome
    this.errors = [];
    this.closed = false;
    this.waiters = new Set();
  }

  /** Logs in (at whichever deployment answers) and connects. */
  async start() {
    for (let attempt = 0; ; attempt++) {
      for (const name of ['primary', 'redundant']) {
        try {
          const res = await fetch(`${this.urls[name]}/v1/operator/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: this.username, password: this.password }),
            signal: AbortSignal.timeout(this.requestMs),
          });
          if (res.ok) {
            this.login = await res.json();
            break;
          }
          this.errors.push(`login at ${name}: HTTP ${res.status}`);
        } catch (error) {
          this.errors.push(`login at ${name}: ${error.message}`);
        }
      }
      if (this.login) break;
      if (attempt > 20) throw new Error(`operator login failed: ${this.errors.slice(-2).join('; ')}`);
      await sleep(250);
    }
    this.author = { role: 'operator', id: this.login.username, name: this.login.name };
    this.timer = setInterval(() => this.#tick(), this.heartbeatMs);
    await this.#reconnect();
    await this.waitFor(() => this.link?.welcomed, 10_000, 'operator welcomed');
  }

  /** Which deployment to use now: the moderator's choice, else primary if it answers, else redundant. */
  async choose() {
    if (this.urls.moderator) {
      const active = await getJson(`${this.urls.moderator}/v1/active`, this.requestMs);
      if (active?.active && this.urls[active.active]) return active.active;
    }
    const health = await getJson(`${this.urls.primary}/v1/health`, this.requestMs);
    return health ? 'primary' : 'redundant';
  }

  async #reconnect() {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    try {
      let delay = 100;
      while (!this.closed && !this.link?.welcomed) {
        const deployment = await this.choose();
        if (this.closed) break;
        const link = this.#connect(deployment);
        const ok = await this.#welcomed(link, 3_000);
        if (ok) {
          this.#adopt(link);
          break;
        }
        link.ws.terminate();
        await sleep(delay);
        delay = Math.min(delay * 2, 1_000);
      }
    } finally {
      this.reconnecting = false;
    }
  }

  #connect(deployment) {
    const url = `${this.urls[deployment].replace(/^http/, 'ws')}/v1/ws`;
    const ws = new WebSocket(url);
    const link = { ws, deployment, welcomed: false, lastHeard: Date.now(), dead: false };
    ws.on('error', () => {});
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          type: 'hello',
          v: 1,
          role: 'operator',
          site: this.site,
          token: this.login.token,
          resume: [...this.handled].map((chat) => ({ chat, have: [...(this.chats.get(chat)?.keys() ?? [])] })),
        }),
      );
    });
    ws.on('message', (data) => {
      link.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      this.#onFrame(link, frame);
    });
    ws.on('close', () => this.#lost(link));
    return link;
  }

  #welcomed(link, timeoutMs) {
    return new Promise((resolve) => {
      const started = Date.now();
      const check = setInterval(() => {
        if (link.welcomed || link.dead || Date.now() - started > timeoutMs) {
          clearInterval(check);
          resolve(link.welcomed);
        }
      }, 10);
    });
  }

  /** Makes `link` the current one; the previous one is closed after (make-before-break). */
  #adopt(link) {
    const old = this.link;
    this.link = link;
    if (old && old !== link) {
      old.retired = true;
      old.ws.close();
    }
    this.connections.push({ deployment: link.deployment, at: Date.now() });
    this.#send(link, { type: 'set_availability', online: true });
    for (const msg of this.pending.values()) this.#send(link, { type: 'send', msg });
    this.#notify();
  }

  #lost(link) {
    link.dead = true;
    if (link !== this.link || link.retired) return;
    this.link = null;
    this.#notify();
    this.#reconnect();
  }

  #tick() {
    const link = this.link;
    if (!link || this.closed) return;
    if (Date.now() - link.lastHeard > this.deadMs) {
      // Nothing heard: the link is dead even though no close came.
      link.ws.terminate();
      this.#lost(link);
      return;
    }
    this.#send(link, { type: 'ping', nonce: Date.now() });
    if (!this.steering && !this.reconnecting && !this.migrating) {
      this.steering = true;
      this.#steer().finally(() => (this.steering = false));
    }
  }

  /**
   * Moves to the deployment the rules say while connected: the moderator's
   * choice; without it, back to the primary once it answers and has caught
   * up (replication lag zero), as the core session does.
   */
  async #steer() {
    let target = null;
    const active = this.urls.moderator ? await getJson(`${this.urls.moderator}/v1/active`, this.requestMs) : null;
    if (active?.active && this.urls[active.active]) {
      target = active.active;
    } else if (this.link?.deployment === 'redundant') {
      const health = await getJson(`${this.urls.primary}/v1/health`, this.requestMs);
      const caughtUp = !health?.lag || (health.lag.connected && health.lag.changes === 0);
      if (health?.ready && !health.draining && caughtUp) target = 'primary';
    }
    if (target && this.link?.welcomed && target !== this.link.deployment) await this.#migrate(target);
  }

  async #migrate(deployment) {
    if (this.migrating || this.closed) return;
    this.migrating = true;
    try {
      const link = this.#connect(deployment);
      if (await this.#welcomed(link, 3_000)) this.#adopt(link);
      else link.ws.terminate();
    } finally {
      this.migrating = false;
    }
  }

  #send(link, frame) {
    if (link.ws.readyState === WebSocket.OPEN) link.ws.send(JSON.stringify(frame));
  }

  #merge(msg) {
    if (!this.chats.has(msg.chat)) this.chats.set(msg.chat, new Map());
    this.chats.get(msg.chat).set(msg.id, msg);
    this.lamport = Math.max(this.lamport, msg.lamport);
  }

  #onFrame(link, frame) {
    switch (frame.type) {
      case 'welcome': {
        for (const sync of frame.chats ?? []) {
          for (const msg of sync.missing ?? []) this.#merge(msg);
          for (const id of sync.lacking ?? []) {
            const msg = this.chats.get(sync.chat)?.get(id);
            if (msg) this.#send(link, { type: 'send', msg });
          }
        }
        link.welcomed = true;
        break;
      }
      case 'chat':
        this.handled.add(frame.sync.chat);
        for (const msg of frame.sync.missing ?? []) this.#merge(msg);
        for (const id of frame.sync.lacking ?? []) {
          const msg = this.chats.get(frame.sync.chat)?.get(id);
          if (msg) this.#send(link, { type: 'send', msg });
        }
        break;
      case 'message':
        this.#merge(frame.msg);
        break;
      case 'ack':
        this.pending.delete(frame.id);
        if (!this.ackedIds.has(frame.id)) {
          this.ackedIds.add(frame.id);
          this.acks.push({ id: frame.id, deployment: link.deployment, at: Date.now() });
        }
        break;
      case 'queue':
        this.queue = frame.chats ?? [];
        break;
      case 'migrate':
        if (this.urls[frame.to] && frame.to !== link.deployment) this.#migrate(frame.to);
        break;
      case 'error':
        this.errors.push(`${link.deployment}: ${frame.code}: ${frame.message}`);
        break;
      default:
        break;
    }
    this.#notify();
  }

  #notify() {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves when `predicate()` holds; rejects with `what` after `timeoutMs`. */
  waitFor(predicate, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let value;
        try {
          value = predicate();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (value) {
          finish();
          resolve(value);
        }
      };
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`operator: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearInterval(poll);
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for a chat in the queue and accepts it; resolves to its id. */
  async acceptNext(timeoutMs = 10_000) {
    const entry = await this.waitFor(
      () => this.queue.find((e) => e.status?.state === 'waiting' && !this.handled.has(e.chat)),
      timeoutMs,
      'a waiting chat in the queue',
    );
    this.#send(this.link, { type: 'accept', chat: entry.chat });
    await this.waitFor(() => this.handled.has(entry.chat), timeoutMs, 'the accepted chat');
    return entry.chat;
  }

  /** Sends a message (queued while disconnected); returns its id at once. */
  say(chat, text) {
    const msg = { lamport: ++this.lamport, author: this.author, id: ulid(), chat, text, at: Date.now() };
    this.#merge(msg);
    this.pending.set(msg.id, msg);
    if (this.link?.welcomed) this.#send(this.link, { type: 'send', msg });
    return msg.id;
  }

  /** The chat in display order. */
  transcript(chat) {
    return [...(this.chats.get(chat)?.values() ?? [])].sort(compareMessages);
  }

  /** Which deployment the operator is connected to now (null while switching). */
  get deployment() {
    return this.link?.welcomed ? this.link.deployment : null;
  }

  // The operator interface the failure-table rows use (shared with
  // ConsoleOperator, the real console page): every call async.

  /** Sends `text`; resolves to the message id. */
  async write(chat, text) {
    return this.say(chat, text);
  }

  /** [{id, author, text}] of the chat, in display order. */
  async messages(chat) {
    return this.transcript(chat).map((m) => ({ id: m.id, author: m.author.role, text: m.text }));
  }

  /** How many of the operator's messages are not yet acknowledged. */
  async unacked() {
    return this.pending.size;
  }

  /** Every acknowledgement: [{id, deployment, at}]. */
  async ackLog() {
    return this.acks;
  }

  /** How many times a link was established (1 = never switched). */
  async linkCount() {
    return this.connections.length;
  }

  async waitDeployment(deployment, timeoutMs) {
    await this.waitFor(() => this.deployment === deployment, timeoutMs, `operator on ${deployment}`);
  }

  /** What to keep when a row fails. */
  async artifacts() {
    return { kind: 'node', connections: this.connections, errors: this.errors, acks: this.acks };
  }

  async stop() {
    this.closed = true;
    clearInterval(this.timer);
    this.link?.ws.terminate();
  }
}
