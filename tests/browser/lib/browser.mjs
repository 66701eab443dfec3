// Debian's chromium driven by playwright-core, and a visitor on the demo site.
//
// The visitor is the real thing: the demo page on its own origin, the
// loader, the wasm widget fetched from a relay. The test reads it only
// through the page's public API (`window.Twinline.transcript()` and
// `.status()`), plus a small recorder injected before the page's scripts run
// that notes every status change (with whether the panel's "reconnecting"
// banner is visible), every moment the banner was shown or hidden (watched
// by a MutationObserver, so a flash between two polls is not missed), and
// the moment each visitor message turned from "sending" to acknowledged,
// with the deployment the widget was on.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Flags every test chromium gets (see the team's toolchain notes). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Launches headless chromium with a fresh profile directory; `close()` removes it.
 * @returns {Promise<{browser: import('playwright-core').BrowserContext['browser'], newContext: Function, close: Function}>}
 */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: bash scripts/ensure-toolchain.sh --browser`);
  }
  // launch() gives every browser a fresh temporary profile of its own
  // (playwright refuses --user-data-dir here); TMPDIR keeps its leftovers in
  // a folder this function removes.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'twinline-chromium-'));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    env: { ...process.env, TMPDIR: scratch },
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}

// Runs in the page before its own scripts: waits for the widget, then records.
const RECORDER = () => {
  const rec = (window.__twinlineRecord = { states: [], acks: {}, errors: [], banner: [] });
  window.addEventListener('error', (e) => rec.errors.push(String(e.message)));
  const start = () => {
    const T = window.Twinline;
    if (!T || !T.loaded) return false;
    let last = '';
    // What the visitor sees of the connection: the panel's banner.
    const bannerShown = () => {
      const banner = document.getElementById('twinline-widget')?.shadowRoot?.querySelector('.banner');
      return Boolean(banner && !banner.hidden);
    };
    const note = () => {
      const s = T.status();
      const banner = bannerShown();
      const key = `${s.state}/${s.deployment}/${banner}`;
      if (key !== last) {
        last = key;
        rec.states.push({ at: Date.now(), state: s.state, deployment: s.deployment, banner });
      }
      for (const m of T.transcript()) {
        if (m.author === 'visitor' && m.status !== 'sending' && !rec.acks[m.id]) {
          rec.acks[m.id] = { at: Date.now(), deployment: s.deployment };
        }
      }
    };
    T.on('status', note);
    T.on('message', note);
    note();
    setInterval(note, 20);
    const banner = document.getElementById('twinline-widget')?.shadowRoot?.querySelector('.banner');
    if (banner) {
      new MutationObserver(() => {
        const shown = bannerShown();
        if (rec.banner.at(-1)?.shown !== shown) rec.banner.push({ at: Date.now(), shown });
      }).observe(banner, { attributes: true, attributeFilter: ['hidden'] });
    }
    return true;
  };
  if (!start()) {
    const wait = setInterval(() => start() && clearInterval(wait), 10);
  }
};

/** A visitor: one browser context (its own storage) on the demo page. */
export class Visitor {
  constructor(context, page) {
    this.context = context;
    this.page = page;
    this.states = [];
    this.acks = new Map();
    /** Every time the reconnecting banner appeared or went: {at, shown}. */
    this.banner = [];
    this.pageErrors = [];
    this.console = [];
    page.on('console', (msg) => this.console.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (error) => this.pageErrors.push(error.message));
  }

  /**
   * Opens `url` in a fresh context and starts chatting as a visitor does:
   * waits for the launcher, clicks it (which loads the chat bundle and
   * opens the panel), and waits until the chat has booted. `onPage(page)`
   * runs before the page loads (to watch its sockets from the first).
   */
  static async open(browser, url, { timeoutMs = 15_000, viewport = { width: 900, height: 640 }, onPage } = {}) {
    const context = await browser.newContext({ viewport });
    await context.addInitScript(RECORDER);
    const page = await context.newPage();
    onPage?.(page);
    const visitor = new Visitor(context, page);
    visitor.openedAt = Date.now();
    await page.goto(url);
    const deadline = Date.now() + timeoutMs;
    await visitor.clickLauncher(timeoutMs);
    await visitor.waitBooted(Math.max(1_000, deadline - Date.now()));
    return visitor;
  }

  /** The launcher button (either bundle's: they are the same button). */
  launcher() {
    return this.page.locator('#twinline-widget .launcher');
  }

  /** Waits for the launcher and clicks it with the mouse. */
  async clickLauncher(timeoutMs = 15_000) {
    try {
      await this.launcher().click({ timeout: timeoutMs });
    } catch (error) {
      throw new Error(`the launcher did not show: ${error.message}\n${this.console.slice(-10).join('\n')}`);
    }
  }

  async waitBooted(timeoutMs = 15_000) {
    try {
      await this.page.waitForFunction(() => window.Twinline && window.Twinline.loaded === true, null, {
        timeout: timeoutMs,
        polling: 50,
      });
    } catch (error) {
      throw new Error(`the widget did not boot: ${error.message}\n${this.console.slice(-10).join('\n')}`);
    }
  }

  /** Pulls what the in-page recorder saw so far (call before a reload loses it). */
  async collect() {
    let record;
    try {
      record = await this.page.evaluate(() => window.__twinlineRecord ?? null);
    } catch {
      return;
    }
    if (!record) return;
    for (const s of record.states) {
      if (!this.states.some((t) => t.at === s.at && t.state === s.state && t.deployment === s.deployment)) {
        this.states.push(s);
      }
    }
    this.states.sort((a, b) => a.at - b.at);
    for (const [id, ack] of Object.entries(record.acks)) if (!this.acks.has(id)) this.acks.set(id, ack);
    for (const b of record.banner) {
      if (!this.banner.some((c) => c.at === b.at && c.shown === b.shown)) this.banner.push(b);
    }
    this.banner.sort((a, b) => a.at - b.at);
    this.pageErrors.push(...record.errors.filter((e) => !this.pageErrors.includes(e)));
  }

  async open() {
    await this.page.evaluate(() => window.Twinline.open());
  }

  /** Twinline.send(text): the new message's id. */
  async send(text) {
    return this.page.evaluate((t) => window.Twinline.send(t), text);
  }

  async transcript() {
    return this.page.evaluate(() => window.Twinline.transcript());
  }

  async status() {
    return this.page.evaluate(() => window.Twinline.status());
  }

  /** Reloads the page and waits for the widget again. */
  async reload() {
    await this.collect();
    await this.page.reload();
    await this.waitBooted();
  }

  /** Waits until `predicate(status)` holds. */
  async waitStatus(predicate, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    let status;
    for (;;) {
      try {
        status = await this.status();
        if (predicate(status)) return status;
      } catch {}
      if (Date.now() > deadline) {
        throw new Error(`visitor: timed out after ${timeoutMs} ms waiting for ${what}; status ${JSON.stringify(status)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Whether the visitor was shown a state other than connected at any
   * moment so far: the reconnecting banner (the only place the widget
   * renders the link), by the poll or the observer.
   */
  async nonConnectedShown() {
    await this.collect();
    return this.banner.some((b) => b.shown) || this.states.some((s) => s.banner);
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}
