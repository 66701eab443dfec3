// An operator at the console page (www/console/), driven through its real
// UI in chromium: the form fields, the buttons, the keyboard. Reads go
// through the DOM the operator sees, plus `window.twinlineConsole.state()`
// (the object the page renders from) where a test needs ids.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The console on a relay: no query, the relay's config.json names the rest. */
export function consoleUrl(cluster, on = 'primary') {
  return cluster.consoleUrl(on);
}

export class ConsolePage {
  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.pageErrors = [];
    this.dialogs = [];
    this.log = [];
    page.on('console', (msg) => this.log.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (error) => this.pageErrors.push(error.message));
    // An alert() from injected markup would land here.
    page.on('dialog', (dialog) => {
      this.dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
  }

  /** Opens the console in a fresh browser context (its own localStorage). */
  static async open(browser, name, url) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    const operator = new ConsolePage(name, context, page);
    await page.goto(url);
    await page.waitForFunction(() => Boolean(window.twinlineConsole), null, { timeout: 15_000 });
    return operator;
  }

  /** Fills the login form and submits it. */
  async submitLogin(username, password) {
    await this.page.getByLabel('Username').fill(username);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Log in' }).click();
  }

  /** Logs in and waits until the desk shows and the link is up. */
  async login(username, password) {
    await this.submitLogin(username, password);
    await this.page.locator('#desk').waitFor({ state: 'visible', timeout: 15_000 });
    await this.waitConnected();
  }

  async waitConnected(timeoutMs = 15_000) {
    await this.waitState((s) => s.connection.state === 'connected', timeoutMs, 'connected');
  }

  async state() {
    return this.page.evaluate(() => window.twinlineConsole.state());
  }

  /** Waits until `predicate(state)` holds; returns that state. */
  async waitState(predicate, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    let state;
    for (;;) {
      state = await this.state().catch(() => state);
      if (state && predicate(state)) return state;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; state ${JSON.stringify(state)}\n` +
            this.log.slice(-10).join('\n'),
        );
      }
      await sleep(50);
    }
  }

  /** The transcript as the operator sees it: [{who, text, meta}] of the open chat. */
  async shownTranscript() {
    return this.page.$$eval('#transcript > li', (items) =>
      items.map((li) => ({
        who: li.querySelector('.who').textContent,
        text: li.querySelector('.text').textContent,
        meta: li.querySelector('.meta').textContent,
      })),
    );
  }

  /** Types into the composer and presses Enter (the keyboard path). */
  async type(text) {
    const box = this.page.locator('#text');
    await box.fill('');
    await box.pressSequentially(text, { delay: 5 });
  }

  async sendByKeyboard(text) {
    await this.type(text);
    await this.page.locator('#text').press('Enter');
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}
