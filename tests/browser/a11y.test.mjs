// Issue 21's accessibility bar in a real browser: axe-core (WCAG 2.1 A and
// AA) finds no violation in any state of the widget or the console, light
// and dark, on a desktop window and on a 375x667 phone; and focus is always
// visible (the close button's ring was the header's own colour).
//
// One cluster (two relay processes with their own SQLite files, the
// moderator, the demo site) and an operator in the real console; for each
// colour scheme and window size a new visitor walks the widget through its
// states: the launcher alone, the panel with the pre-chat form, a chat with
// the operator's answer, the unread preview, the reconnecting banner, the
// rating after the operator closes it; last, with no operator online, the
// offline form and its error lines. The
// console is checked at its login form, its desk with a chat open, and its
// History view, in the same schemes and sizes.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../scripts/lib/cluster.mjs';
import { axeViolations } from './lib/axe.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { ConsoleOperator } from './lib/console-operator.mjs';
import { OPERATOR } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';

const SCHEMES = ['light', 'dark'];
const SIZES = {
  desktop: { width: 1200, height: 800 },
  phone: { width: 375, height: 667 },
};

/** Asserts axe finds nothing in `page` (within `include`), naming the state. */
async function assertAccessible(page, state, include) {
  const violations = await axeViolations(page, include);
  assert.deepEqual(violations, [], `axe (WCAG 2.1 AA) in ${state}:\n  ${violations.join('\n  ')}`);
}

/**
 * Presses Tab until the focused element inside the widget matches
 * `selector`; returns its outline and the background it sits on, as the
 * browser computes them with the focus ring showing.
 */
async function tabToInWidget(page, selector) {
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    const ring = await page.evaluate((selector) => {
      const root = document.getElementById('twinline-widget')?.shadowRoot;
      const el = root?.activeElement;
      if (!el || !el.matches(selector)) return null;
      const style = getComputedStyle(el);
      // The nearest ancestor (or the element) with an opaque background.
      let under = el.parentElement;
      while (under && getComputedStyle(under).backgroundColor === 'rgba(0, 0, 0, 0)') under = under.parentElement;
      return {
        focusVisible: el.matches(':focus-visible'),
        outlineStyle: style.outlineStyle,
        outlineWidth: style.outlineWidth,
        outlineColor: style.outlineColor,
        under: under ? getComputedStyle(under).backgroundColor : null,
      };
    }, selector);
    if (ring) return ring;
  }
  throw new Error(`Tab never reached ${selector} in the widget`);
}

describe('accessibility: axe finds no WCAG 2.1 AA violation in the widget or the console', { timeout: 300_000 }, () => {
  let cluster;
  let chromium;
  let operator;

  before(async () => {
    cluster = await Cluster.start({ operators: [OPERATOR], www: process.env.TWINLINE_WWW });
    chromium = await launchBrowser();
    // Online in the real console, so the panel offers the chat, not the offline form.
    operator = new ConsoleOperator(chromium.browser, cluster.consoleUrl('primary'), OPERATOR);
    await operator.start();
  });

  after(async () => {
    await operator?.stop();
    await chromium?.close();
    await cluster?.stop();
  });

  for (const scheme of SCHEMES) {
    for (const [size, viewport] of Object.entries(SIZES)) {
      it(`the widget in every state, ${scheme}, ${size}`, async () => {
        const context = await chromium.browser.newContext({ viewport, colorScheme: scheme });
        try {
          const page = await context.newPage();
          await page.goto(cluster.demoUrl({ prechat: 'optional' }));
          const widget = '#twinline-widget';
          await page.locator(`${widget} .launcher`).waitFor({ state: 'visible', timeout: 15_000 });
          await assertAccessible(page, `the launcher (${scheme}, ${size})`, widget);

          // The launcher's own focus ring shows against the page.
          const launcherRing = await tabToInWidget(page, '.launcher');
          assert.equal(launcherRing.focusVisible, true);
          assert.notEqual(launcherRing.outlineStyle, 'none', 'the launcher shows a focus ring');

          await page.locator(`${widget} .launcher`).click();
          await page.waitForFunction(() => window.Twinline?.loaded === true, null, { timeout: 15_000 });
          await page.locator(`${widget} .panel`).waitFor({ state: 'visible', timeout: 15_000 });
          await assertAccessible(page, `the panel with the pre-chat form (${scheme}, ${size})`, widget);

          // The close button sits on the header: its focus ring must not be
          // the header's colour.
          const closeRing = await tabToInWidget(page, '.x');
          assert.equal(closeRing.focusVisible, true);
          assert.notEqual(closeRing.outlineStyle, 'none', 'the close button shows a focus ring');
          assert.notEqual(closeRing.outlineColor, closeRing.under, `the close button's focus ring (${closeRing.outlineColor}) differs from the header it sits on`);

          // A chat: the visitor's message, the operator's answer.
          await page.evaluate(() => window.Twinline.send('Hello, is the blue kettle in stock?'));
          const chat = await operator.acceptNext();
          await operator.write(chat, 'Hi! Yes, in all sizes.');
          await until(
            () => page.evaluate(() => window.Twinline.transcript()),
            (t) => t.some((m) => m.author === 'operator') && t.every((m) => m.status !== 'sending'),
            10_000,
            "the operator's answer in the panel",
          );
          await assertAccessible(page, `a chat (${scheme}, ${size})`, widget);

          // The panel closed and a new answer: the unread preview beside the launcher.
          await page.evaluate(() => window.Twinline.close());
          await operator.write(chat, 'Shall I put one aside for you?');
          await page.locator(`${widget} .preview`).waitFor({ state: 'visible', timeout: 10_000 });
          await assertAccessible(page, `the unread preview (${scheme}, ${size})`, widget);
          await page.evaluate(() => window.Twinline.open());
          await page.locator(`${widget} .panel`).waitFor({ state: 'visible', timeout: 5_000 });

          // The network gone: the reconnecting banner.
          await context.setOffline(true);
          await page.locator(`${widget} .banner`).waitFor({ state: 'visible', timeout: 10_000 });
          await assertAccessible(page, `the reconnecting banner (${scheme}, ${size})`, widget);
          await context.setOffline(false);
          await page.locator(`${widget} .banner`).waitFor({ state: 'hidden', timeout: 20_000 });

          // The console beside it, in the same scheme and size.
          await operator.page.emulateMedia({ colorScheme: scheme });
          await operator.page.setViewportSize(viewport);
          await assertAccessible(operator.page, `the console's desk with a chat open (${scheme}, ${size})`);

          // The operator closes it: the panel offers the rating.
          await operator.page.locator('#close-chat').click();
          await page.locator(`${widget} .rate button[data-score="good"]`).waitFor({ state: 'visible', timeout: 10_000 });
          await assertAccessible(page, `the rating after the chat (${scheme}, ${size})`, widget);

          // The console's History view.
          await operator.page.locator('#history-toggle').click();
          await operator.page.locator('#history-view').waitFor({ state: 'visible', timeout: 5_000 });
          await assertAccessible(operator.page, `the console's History view (${scheme}, ${size})`);
          await operator.page.locator('#history-toggle').click();
        } finally {
          await context.close();
        }
      });

      it(`the console's login form, ${scheme}, ${size}`, async () => {
        const context = await chromium.browser.newContext({ viewport, colorScheme: scheme });
        try {
          const page = await context.newPage();
          await page.goto(cluster.consoleUrl('primary'));
          await page.getByLabel('Username').waitFor({ state: 'visible', timeout: 15_000 });
          await assertAccessible(page, `the console's login form (${scheme}, ${size})`);
        } finally {
          await context.close();
        }
      });
    }
  }

  // Last, since it needs every operator gone: the offline form, and its
  // error lines (shown in the error colour, which must read on both panels).
  it('the offline form and its errors, light and dark, desktop and phone', async () => {
    await operator.stop();
    operator = null;
    for (const scheme of SCHEMES) {
      for (const [size, viewport] of Object.entries(SIZES)) {
        const context = await chromium.browser.newContext({ viewport, colorScheme: scheme });
        try {
          const page = await context.newPage();
          await page.goto(cluster.demoUrl({ prechat: 'off' }));
          const widget = '#twinline-widget';
          await page.locator(`${widget} .launcher`).click({ timeout: 15_000 });
          const form = page.locator(`${widget} form.offline`);
          await form.waitFor({ state: 'visible', timeout: 20_000 });
          await assertAccessible(page, `the offline form (${scheme}, ${size})`, widget);
          await form.locator('button[type=submit]').click();
          await form.locator('.err').waitFor({ state: 'visible', timeout: 5_000 });
          await assertAccessible(page, `the offline form's errors (${scheme}, ${size})`, widget);
        } finally {
          await context.close();
        }
      }
    }
  });
});
