// The operator side of a failure-table row played by the real operator
// console (www/console/, served by a relay) in chromium.
//
// The person's actions go through the page's UI: the login form, the
// queue's Accept button, the composer and its Enter key. Reads go through
// `window.twinlineConsole.state()`, the object the page renders from, plus a
// recorder injected after login that notes every connection change and the
// moment each of the operator's messages stopped being "sending", with the
// deployment the console was on (for fault-to-first-ack).
//
// What the rows use: start, acceptNext, write, messages, unacked, ackLog,
// linkCount, waitDeployment, artifacts, stop.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const RECORDER = () => {
  if (window.__consoleRecord) return;
  const rec = (window.__consoleRecord = { links: [], acks: {} });
  let last = '';
  const note = () => {
    const state = window.twinlineConsole.state();
    const c = state.connection;
    const where = c.state === 'connected' ? c.name || c.deployment : null;
    const key = `${c.state}/${where}`;
    if (key !== last) {
      last = key;
      rec.links.push({ at: Date.now(), state: c.state, deployment: where });
    }
    for (const chat of state.chats) {
      for (const m of chat.messages) {
        if (m.own && m.status !== 'sending' && !rec.acks[m.id]) rec.acks[m.id] = { at: Date.now(), deployment: where };
      }
    }
  };
  window.twinlineConsole.onChange(note);
  setInterval(note, 20);
  note();
};

export class ConsoleOperator {
  /**
   * @param {import('playwright-core').Browser} browser
   * @param {string} url the console page on one relay (which names the other deployments)
   * @param {{username: string, password: string, onPage?: (page: import('playwright-core').Page) => void}} who
   *   `onPage` sees the page before it loads (to watch its sockets from the first)
   */
  constructor(browser, url, { username, password, onPage }) {
    Object.assign(this, { browser, url, username, password, onPage });
    this.errors = [];
    this.closed = false;
  }

  async start() {
    this.context = await this.browser.newContext({ viewport: { width: 1200, height: 800 } });
    this.page = await this.context.newPage();
    this.onPage?.(this.page);
    this.page.on('console', (msg) => msg.type() === 'error' && this.errors.push(msg.text()));
    this.page.on('pageerror', (error) => this.errors.push(`pageerror: ${error.message}`));
    await this.page.goto(this.url);
    await this.page.waitForFunction(() => Boolean(window.twinlineConsole), null, { timeout: 15_000 });
    await this.page.getByLabel('Username').fill(this.username);
    await this.page.getByLabel('Password').fill(this.password);
    await this.page.getByRole('button', { name: 'Log in' }).click();
    await this.page.locator('#desk').waitFor({ state: 'visible', timeout: 15_000 });
    await this.#waitState((s) => s.connection.state === 'connected', 15_000, 'connected');
    await this.page.evaluate(RECORDER);
  }

  async state() {
    return this.page.evaluate(() => window.twinlineConsole.state());
  }

  async #waitState(predicate, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    let state;
    for (;;) {
      state = await this.state().catch(() => state);
      if (state && predicate(state)) return state;
      if (Date.now() > deadline) {
        throw new Error(`console: timed out after ${timeoutMs} ms waiting for ${what}; connection ${JSON.stringify(state?.connection)}`);
      }
      await sleep(50);
    }
  }

  /** Waits for a waiting chat in the queue and clicks its Accept button. */
  async acceptNext(timeoutMs = 15_000) {
    const state = await this.#waitState((s) => s.queue.some((q) => q.state === 'waiting'), timeoutMs, 'a waiting chat');
    const chat = state.queue.find((q) => q.state === 'waiting').chat;
    await this.page.locator('#queue button.accept').first().click();
    await this.#waitState((s) => s.chats.some((c) => c.chat === chat && c.mine), timeoutMs, 'the accepted chat');
    this.chat = chat;
    return chat;
  }

  /** Types `text` into the open chat's composer and presses Enter; resolves to the new message's id. */
  async write(chat, text) {
    if (chat !== this.chat) throw new Error('the console test operator writes only in the chat it accepted');
    const box = this.page.locator('#text');
    await box.fill(text);
    await box.press('Enter');
    const state = await this.#waitState(
      (s) => s.chats.find((c) => c.chat === chat)?.messages.some((m) => m.own && m.text === text),
      5_000,
      `"${text}" in the transcript`,
    );
    const own = state.chats.find((c) => c.chat === chat).messages.filter((m) => m.own && m.text === text);
    return own[own.length - 1].id;
  }

  async messages(chat) {
    const state = await this.state();
    return (state.chats.find((c) => c.chat === chat)?.messages ?? []).map((m) => ({ id: m.id, author: m.author, text: m.text }));
  }

  async unacked() {
    const state = await this.state();
    return state.chats.reduce((n, c) => n + c.messages.filter((m) => m.own && m.status === 'sending').length, 0);
  }

  async #record() {
    return this.page.evaluate(() => window.__consoleRecord);
  }

  async ackLog() {
    const rec = await this.#record();
    return Object.entries(rec.acks).map(([id, a]) => ({ id, ...a }));
  }

  async linkCount() {
    const rec = await this.#record();
    return rec.links.filter((l) => l.state === 'connected').length;
  }

  get deployment() {
    return this.lastDeployment ?? null;
  }

  async waitDeployment(deployment, timeoutMs) {
    await this.#waitState(
      (s) => s.connection.state === 'connected' && (s.connection.name || s.connection.deployment) === deployment,
      timeoutMs,
      `console connected to ${deployment}`,
    );
    this.lastDeployment = deployment;
  }

  async artifacts() {
    return {
      kind: 'console',
      url: this.url,
      record: await this.#record().catch(() => null),
      errors: this.errors,
      connection: (await this.state().catch(() => null))?.connection,
    };
  }

  async stop() {
    this.closed = true;
    await this.context?.close().catch(() => {});
  }
}
