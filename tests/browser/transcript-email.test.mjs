// Issue 21, "after the chat": the transcript by email, from the visitor's
// panel to a real SMTP server (tests/smtp/sink.py, aiosmtpd, as the Rust
// process tests in tests/tests/transcript_email.rs start it), in Debian's
// chromium.
//
// - Both deployments with [mail]: the closed chat's foot offers "Email me
//   the transcript"; an address out of shape is refused beside the field
//   (nothing is sent), a good one is requested, stored (transcript_ack)
//   and the sink receives exactly one email with the chat's text, even
//   after both deployments held the request longer than a hand-over.
// - Neither deployment with [mail]: nothing is offered, and
//   Twinline.emailTranscript says why.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { beginChat } from './lib/chat.mjs';
import { withStage } from './lib/scenario.mjs';
import { until } from './lib/poll.mjs';
import { SmtpSink } from './lib/smtp-sink.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let chromium;
before(async () => {
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
});

/** The `serve` flags of a deployment that sends through `sink`. */
const mailFlags = (sink) => ['--smtp-url', sink.url, '--mail-from', 'Demo shop <chat@demo.example>', '--webhooks-retry-base-ms', '300', '--webhooks-handover-ms', '3000'];

/** The operator closes the chat with the console's button; the visitor's panel shows the closed chat's foot. */
async function operatorCloses(stage, chat) {
  await stage.operator.page.locator('#close-chat').click();
  await until(
    async () => (await stage.operator.state()).chats.find((c) => c.chat === chat),
    (c) => c?.state === 'closed',
    10_000,
    'the chat closed in the console',
  );
  await stage.visitor.page.locator('#twinline-widget .rate').waitFor({ state: 'visible', timeout: 10_000 });
}

test('the visitor asks for the transcript in the closed chat\'s panel; a bad address is refused; the sink receives exactly one email with the chat', async () => {
  const sink = await SmtpSink.start();
  try {
    await withStage(chromium.browser, 'transcript-email', { relayArgs: { primary: mailFlags(sink), redundant: mailFlags(sink) } }, async (stage) => {
      const { chat } = await beginChat(stage.visitor, stage.operator);
      const page = stage.visitor.page;
      const panel = page.locator('#twinline-widget');
      const form = panel.locator('form.mail');
      const email = (to) => page.evaluate((t) => window.Twinline.emailTranscript(t), to);
      await assert.rejects(email('ada at example.com'), /Twinline\.emailTranscript: address/, 'the API checks the address');
      await operatorCloses(stage, chat);
      await form.waitFor({ state: 'visible', timeout: 5_000 });
      const button = form.getByRole('button', { name: 'Email me the transcript' });
      assert.equal(await button.isVisible(), true);

      // Out of shape: refused beside the field, nothing leaves the form.
      const field = form.locator('input[type=email]');
      assert.equal(await field.getAttribute('maxlength'), '254', 'the limit PROTOCOL.md names');
      await field.fill('ada at example.com');
      await button.click();
      const error = form.locator('.err');
      await error.waitFor({ state: 'visible', timeout: 5_000 });
      assert.equal(await error.textContent(), 'Please enter an email address.');
      assert.equal(await error.getAttribute('role'), 'alert');

      await field.fill('ada@example.com');
      await button.click();
      await error.waitFor({ state: 'hidden', timeout: 5_000 });
      const state = panel.getByText('The transcript will be emailed to ada@example.com');
      await state.waitFor({ timeout: 10_000 });
      assert.equal(await state.getAttribute('aria-live'), 'polite');
      await page.screenshot({ path: path.join(REPO, 'target', 'transcript-email-visitor.png') });

      await until(() => sink.messages(), (messages) => messages.length >= 1, 20_000, 'the email at the sink');
      // Both deployments hold the request, closed; longer than a hand-over
      // and a few retries later, still one email.
      for (const deployment of ['primary', 'redundant']) {
        await until(() => stage.cluster.chatHeader(deployment, chat), (h) => h?.transcripts?.length === 1, 10_000, `the request on the ${deployment}`);
      }
      await sleep(6_000);
      const messages = sink.messages();
      assert.equal(messages.length, 1, 'exactly one email');
      const [{ headers, body }] = messages;
      assert.equal(headers.to, 'ada@example.com');
      const id = (await stage.cluster.chatHeader('primary', chat)).transcripts[0].id;
      assert.equal(headers['message-id'], `<${id}.transcript@demo.example>`);
      const visitorLine = body.indexOf('You: Hello, is the blue kettle in stock?');
      const operatorLine = body.indexOf('Ada: Hi! Yes, all sizes. How can I help?');
      assert.ok(visitorLine >= 0 && operatorLine > visitorLine, `the chat's text in display order:\n${body}`);
      assert.deepEqual(stage.visitor.pageErrors, [], 'the page threw');
    });
  } finally {
    await sink.stop();
  }
});

test('without [mail] on the deployment the closed chat offers no email, and Twinline.emailTranscript says why', async () => {
  await withStage(chromium.browser, 'transcript-email-off', {}, async (stage) => {
    const { chat } = await beginChat(stage.visitor, stage.operator);
    await operatorCloses(stage, chat);
    const panel = stage.visitor.page.locator('#twinline-widget');
    assert.equal(await panel.locator('form.mail').isVisible(), false, 'no email field');
    await assert.rejects(
      stage.visitor.page.evaluate(() => window.Twinline.emailTranscript('ada@example.com')),
      /sends no email/,
    );
  });
});
