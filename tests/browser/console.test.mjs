// The operator console end to end: two real relays, the moderator, the
// console page served by a relay and driven through its UI in chromium by
// two operators, and a visitor on the demo site (the real widget, on its
// own origin). One story, step by step: log in, a visitor asks, accept,
// talk both ways with typing shown both ways, transfer to the other
// operator, close; hostile text stays text everywhere it is shown; a reload
// needs no password.
//
// Needs the release relay and both bundles (scripts/test.sh builds them).
// TWINLINE_RELAY_BIN / CARGO_TARGET_DIR pick the relay, TWINLINE_WWW the
// assets (with pkg/ and console/pkg/).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Cluster } from '../../scripts/lib/cluster.mjs';
import { launchBrowser, Visitor } from './lib/browser.mjs';
import { ConsolePage, consoleUrl } from './lib/console-page.mjs';

const HOSTILE = '<img src=x onerror=alert(1)>';
const ADA = { username: 'ada', name: 'Ada', password: 'correct horse battery' };
const BOB = { username: 'bob', name: 'Bob', password: 'staple battery horse' };

describe('operator console', { timeout: 180_000 }, () => {
  let cluster;
  let chromium;
  let ada;
  let bob;
  let visitor;
  let chat;
  const dialogs = [];

  before(async () => {
    const www = process.env.TWINLINE_WWW;
    // The console bundle's entry (its glue and wasm have hashed names).
    const bundle = path.join(www ?? 'www', 'console', 'pkg', 'twinline_console.js');
    assert.ok(fs.existsSync(bundle), `${bundle} is missing: bash scripts/build-widget.sh`);
    cluster = await Cluster.start({ operators: [ADA, BOB], www });
    chromium = await launchBrowser();
  });

  after(async () => {
    for (const page of [ada, bob]) await page?.close();
    await visitor?.close();
    await chromium?.close();
    await cluster?.stop();
  });

  it('refuses a wrong password with a clear message, then logs in', async () => {
    ada = await ConsolePage.open(chromium.browser, 'ada', consoleUrl(cluster));
    await ada.submitLogin(ADA.username, 'not the password');
    const error = ada.page.locator('#login-error');
    await error.filter({ hasText: /wrong password/ }).waitFor({ timeout: 10_000 });
    assert.equal(await ada.page.locator('#desk').isVisible(), false);
    await ada.login(ADA.username, ADA.password);
    await ada.page.locator('#link').filter({ hasText: 'Connected to primary' }).waitFor();
  });

  it('shows a visitor waiting, with details rendered as text', async () => {
    bob = await ConsolePage.open(chromium.browser, 'bob', consoleUrl(cluster));
    await bob.login(BOB.username, BOB.password);
    await ada.waitState((s) => s.operators.includes('bob'), 10_000, 'bob online');

    visitor = await Visitor.open(chromium.browser, cluster.demoUrl({ prechat: 'off' }));
    visitor.page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    await visitor.open();
    await visitor.page.evaluate(
      (name) => window.Twinline.setVisitor({ name, email: 'kettle@example.com' }),
      HOSTILE,
    );
    await visitor.send(HOSTILE);
    const state = await ada.waitState(
      (s) => s.queue.some((q) => q.state === 'waiting' && q.name === HOSTILE),
      15_000,
      'the visitor in the queue',
    );
    chat = state.queue.find((q) => q.name === HOSTILE).chat;
    const entry = ada.page.locator('#queue > li').first();
    assert.equal(await entry.locator('.name').textContent(), HOSTILE);
    assert.equal(await entry.locator('.email').textContent(), 'kettle@example.com');
    assert.match(await entry.locator('.wait').textContent(), /^waiting \d+/);
    assert.match(await ada.page.title(), /^\(\d+\) Twinline console$/, 'title badge counts the waiting chat');
  });

  it('accepts the chat and shows the hostile message literally', async () => {
    await ada.page.getByRole('button', { name: `Accept chat with ${HOSTILE}` }).click();
    await ada.waitState((s) => s.chats.some((c) => c.chat === chat && c.mine), 10_000, 'the chat accepted');
    await ada.page.locator('#transcript > li').first().waitFor();
    const shown = await ada.shownTranscript();
    assert.equal(shown[0].text, HOSTILE);
    assert.equal(await ada.page.locator('#chat-name').textContent(), HOSTILE);
    assert.equal(await ada.page.locator('img').count(), 0, 'no element made from visitor text');
    assert.equal(
      await ada.page.locator('#tabs [role=tab][aria-selected=true] .label').textContent(),
      HOSTILE,
    );
  });

  it('exchanges messages both ways, with typing shown both ways', async () => {
    // Operator typing -> the widget shows it.
    await ada.type('Hello from Ada, one moment');
    const widgetTyping = visitor.page.locator('#twinline-widget .typing');
    await widgetTyping.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
    await ada.page.locator('#text').press('Enter');
    await ada.waitState(
      (s) => s.chats.find((c) => c.chat === chat).messages.some((m) => m.own && m.status === 'sent'),
      10_000,
      "Ada's message stored",
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const transcript = await visitor.transcript();
      if (transcript.some((m) => m.author === 'operator' && m.text === 'Hello from Ada, one moment')) break;
      assert.ok(Date.now() < deadline, `the visitor never got Ada's message: ${JSON.stringify(transcript)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Visitor typing -> the console shows it.
    const widgetText = visitor.page.locator('#twinline-widget form.composer textarea');
    await widgetText.pressSequentially('Thanks, I', { delay: 10 });
    await ada.page.locator('#typing').filter({ hasText: 'is typing' }).waitFor({ timeout: 10_000 });
    await visitor.send('Thanks, I will wait');
    await ada.page.locator('#transcript > li .text', { hasText: 'Thanks, I will wait' }).waitFor({ timeout: 10_000 });
    await ada.page.locator('#typing').filter({ hasText: /^$/ }).waitFor({ timeout: 10_000 });
    const shown = await ada.shownTranscript();
    assert.deepEqual(
      shown.map((m) => m.text),
      [HOSTILE, 'Hello from Ada, one moment', 'Thanks, I will wait'],
    );
    assert.match(shown[1].meta, /sent$/);
  });

  it('inserts a canned reply and keeps edited replies per operator', async () => {
    await ada.page.getByRole('button', { name: 'Edit replies' }).click();
    await ada.page.getByLabel('One reply per line').fill('We ship within two days.\nAnything else?');
    await ada.page.getByRole('button', { name: 'Save' }).click();
    await ada.page.getByLabel('Canned reply').selectOption('We ship within two days.');
    assert.equal(await ada.page.locator('#text').inputValue(), 'We ship within two days.');
    await ada.page.locator('#text').press('Enter');
    await ada.page.locator('#transcript > li .text', { hasText: 'We ship within two days.' }).waitFor();
    const stored = await ada.page.evaluate(() => localStorage.getItem('twinline:console:canned:ada'));
    assert.deepEqual(JSON.parse(stored), ['We ship within two days.', 'Anything else?']);
  });

  it('keeps the login over a reload', async () => {
    await ada.page.reload();
    await ada.page.waitForFunction(() => Boolean(window.twinlineConsole));
    await ada.page.locator('#desk').waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await ada.page.locator('#login-view').isVisible(), false);
    await ada.waitConnected();
    const state = await ada.state();
    assert.ok(state.chats.some((c) => c.chat === chat), 'the chat is still held after the reload');
  });

  it('transfers the chat to Bob, who answers', async () => {
    await ada.page.getByLabel('Transfer to').selectOption('bob');
    await ada.page.getByRole('button', { name: 'Transfer' }).click();
    await bob.waitState((s) => s.chats.some((c) => c.chat === chat && c.mine), 15_000, 'the chat transferred to bob');
    await ada.waitState(
      (s) => s.chats.some((c) => c.chat === chat && !c.mine && c.operator === 'bob'),
      10_000,
      'ada no longer holds it',
    );
    assert.equal(await ada.page.locator('#text').isDisabled(), true, 'Ada can no longer write in it');
    // Bob holds the whole transcript, hostile text still inert.
    await bob.page.locator('#transcript > li').nth(3).waitFor({ timeout: 10_000 });
    const shown = await bob.shownTranscript();
    assert.equal(shown[0].text, HOSTILE);
    assert.equal(await bob.page.locator('img').count(), 0);
    await bob.sendByKeyboard('Bob here, I take over.');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const transcript = await visitor.transcript();
      if (transcript.some((m) => m.text === 'Bob here, I take over.')) break;
      assert.ok(Date.now() < deadline, 'the visitor never got Bob’s message');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('keeps the chat through the death of the primary: nothing lost, nothing doubled', async () => {
    await cluster.kill9('primary');
    // Written while the console finds the redundant deployment.
    await bob.sendByKeyboard('Written during the switch');
    await bob.page.locator('#link').filter({ hasText: 'Connected to redundant' }).waitFor({ timeout: 20_000 });
    await bob.page.locator('#switching').filter({ hasText: 'Switched to redundant' }).waitFor({ timeout: 5_000 });
    await bob.waitState(
      (s) => s.chats.find((c) => c.chat === chat).messages.every((m) => m.status !== 'sending'),
      15_000,
      'every message stored on the redundant',
    );
    const deadline = Date.now() + 15_000;
    let transcript;
    for (;;) {
      transcript = await visitor.transcript();
      if (transcript.some((m) => m.text === 'Written during the switch')) break;
      assert.ok(Date.now() < deadline, `the visitor never got the message written during the switch`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ids = transcript.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'no message shown twice to the visitor');
    const shown = (await bob.shownTranscript()).map((m) => m.text);
    assert.equal(shown.filter((t) => t === 'Written during the switch').length, 1);
    assert.equal(new Set(shown).size, shown.length, 'no message shown twice to the operator');
  });

  it('closes the chat', async () => {
    await bob.page.getByRole('button', { name: 'Close chat' }).click();
    await bob.waitState((s) => s.chats.some((c) => c.chat === chat && c.state === 'closed'), 10_000, 'closed');
    await bob.page.locator('#chat-state').filter({ hasText: 'closed' }).waitFor();
    await ada.waitState((s) => !s.queue.some((q) => q.chat === chat && q.state === 'waiting'), 10_000, 'not queued');
    // A closed chat can be removed from the list.
    await bob.page.getByRole('button', { name: 'Remove from list' }).click();
    await bob.waitState((s) => !s.chats.some((c) => c.chat === chat), 10_000, 'forgotten');
  });

  it('with everyone away, a visitor gets the offline form and the note reaches the inbox as text', async () => {
    for (const page of [ada, bob]) await page.page.locator('#available').uncheck();
    await ada.waitState((s) => s.operatorsOnline === 0, 10_000, 'nobody online');

    const late = await Visitor.open(chromium.browser, cluster.demoUrl({ prechat: 'off' }));
    late.page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    try {
      await late.open();
      const form = late.page.locator('form.offline');
      await form.waitFor({ state: 'visible', timeout: 15_000 });
      await form.locator('input[type=text]').fill(HOSTILE);
      await form.locator('input[type=email]').fill('late@example.com');
      await form.locator('textarea').fill(`Do you ship to Oslo? ${HOSTILE}`);
      await form.getByRole('button', { name: 'Leave message' }).click();
      await late.page.getByText('Thank you! We will get back to you by email.').waitFor({ timeout: 15_000 });
    } finally {
      await late.close();
    }

    const state = await ada.waitState((s) => s.inbox.some((n) => n.email === 'late@example.com'), 15_000, 'the note');
    const note = state.inbox.find((n) => n.email === 'late@example.com');
    assert.equal(note.name, HOSTILE);
    const shown = ada.page.locator('#inbox > li').filter({ hasText: 'late@example.com' });
    assert.equal(await shown.locator('.text').textContent(), `Do you ship to Oslo? ${HOSTILE}`);
    assert.equal(await shown.locator('strong').textContent(), HOSTILE);
    assert.equal(await ada.page.locator('img').count(), 0, 'no element made from the note');
    for (const page of [ada, bob]) await page.page.locator('#available').check();
    await ada.waitState((s) => s.operatorsOnline === 2, 10_000, 'both back online');
  });

  it('never ran visitor text as markup', () => {
    for (const page of [ada, bob]) {
      assert.deepEqual(page.dialogs, [], `${page.name}: no alert`);
      assert.deepEqual(page.pageErrors, [], `${page.name}: no page errors`);
    }
    assert.deepEqual(dialogs, [], 'visitor: no alert');
  });
});
