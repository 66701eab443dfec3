// Outsider attacks on authorisation, sign-in, numbers and the HTTP contract
// (issue 16), against a relay binary on loopback. Usage, from the repo:
//   cargo build --release -p twinline-relay
//   node scripts/attack-authority.mjs target/release/twinline-relay
// Prints one line per attack: what was tried and what happened. It starts
// its own relays in temporary folders and stops them; the floods come from
// 127.0.0.66-68 so that later steps, from 127.0.0.1, are not throttled by
// them. Not part of npm test: the tests that pin each outcome are in
// tests/tests/relay_refusals.rs and tests/tests/relay_authz.rs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(new URL('../package.json', import.meta.url));
const WebSocket = require('ws');

const BIN = process.argv[2];
const SECRET = 'attack-secret-0123456789';
const ADMIN = 'attack-admin-token-0123456789abcdef';
const ORIGIN = 'http://site.test';
const results = [];
const started = [];
const report = (name, outcome) => { results.push([name, outcome]); console.log(`${name}: ${outcome}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const help = execFileSync(BIN, ['operator', 'add', '--help']).toString();
const NEW_CLI = help.includes('--site');

function startRelay(extra = [], adminToken = ADMIN) {
  const dir = mkdtempSync(join(tmpdir(), 'authority-attack-'));
  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--secret', SECRET,
    '--admin-token', adminToken, '--site', `demo=${ORIGIN}`, '--site', 'other=http://other.test', '--www', dir, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'error' } });
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => reject(new Error(`relay exited ${code}: ${err.slice(0, 300)}`)));
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/[\d.:]+)/);
      if (m) { const relay = { url: m[1], ws: m[1].replace('http', 'ws') + '/v1/ws', dir, child, stop() { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } }; started.push(relay); resolve(relay); }
    });
  });
}

function cli(args, input) {
  return execFileSync(BIN, args, { input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}
function addOperator(relay, username, password, sites = ['demo'], role = 'agent') {
  const extra = NEW_CLI ? [...sites.flatMap((s) => ['--site', s]), '--role', role] : [];
  cli(['operator', 'add', '--data-dir', relay.dir, '--username', username, '--name', username, '--password-stdin', ...extra], password + '\n');
}
function rss(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: +s.match(/VmRSS:\s+(\d+)/)[1] / 1024, hwm: +s.match(/VmHWM:\s+(\d+)/)[1] / 1024 };
}

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null; try { json = JSON.parse(text); } catch {}
  return { status: r.status, text, json, headers: r.headers };
}
const login = (relay, username, password, headers) => post(`${relay.url}/v1/operator/login`, { username, password }, headers);
// The attacker's own address, so that its floods are not charged to the
// honest clients of the later steps (all on loopback).
const ATTACKER = '127.0.0.66';
function requestFrom(url, { method = 'GET', headers = {}, body = '' } = {}, localAddress = ATTACKER) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, localAddress, agent: false, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ status: res.statusCode, text: d }));
    });
    req.on('error', reject); req.end(body);
  });
}
function loginFrom(relay, username, password, localAddress = ATTACKER) {
  const body = JSON.stringify({ username, password });
  const u = new URL(`${relay.url}/v1/operator/login`);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ status: res.statusCode, text: d, headers: { get: (k) => res.headers[k.toLowerCase()] ?? null } }));
    });
    req.on('error', reject); req.end(body);
  });
}
const visitorToken = (relay, token = null, site = 'demo') => post(`${relay.url}/v1/visitor/token`, { site, token }, { origin: site === 'demo' ? ORIGIN : 'http://other.test' });

function connect(relay, origin, localAddress) {
  const ws = new WebSocket(relay.ws, { origin, localAddress });
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => {
    const text = data.toString();
    queue.push(text);
    for (const w of [...waiters]) w();
  });
  ws.closed = new Promise((r) => ws.on('close', (code) => r(code)));
  ws.on('error', () => {});
  ws.opened = new Promise((r, j) => { ws.on('open', r); ws.on('unexpected-response', (_q, res) => j(new Error('HTTP ' + res.statusCode))); ws.on('error', j); });
  ws.sendText = (t) => ws.send(t);
  ws.sendJson = (o) => ws.send(JSON.stringify(o));
  // Waits for a frame whose text matches pred; resolves null on timeout.
  ws.until = (pred, ms = 3000) => new Promise((resolve) => {
    const check = () => {
      const i = queue.findIndex((t) => pred(t, safeParse(t)));
      if (i >= 0) { const [t] = queue.splice(i, 1); cleanup(); resolve(t); return true; }
      return false;
    };
    const timer = setTimeout(() => { cleanup(); resolve(null); }, ms);
    const cleanup = () => { clearTimeout(timer); const k = waiters.indexOf(check); if (k >= 0) waiters.splice(k, 1); };
    if (!check()) waiters.push(check);
  });
  ws.all = () => queue.splice(0);
  return ws;
}
function safeParse(t) { try { return JSON.parse(t); } catch { return {}; } }

let seq = 0;
function ulid() {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let t = Date.now(); let s = '';
  for (let i = 0; i < 10; i++) { s = A[t % 32] + s; t = Math.floor(t / 32); }
  for (let i = 0; i < 16; i++) s += A[Math.floor(Math.random() * 32)];
  seq++;
  return s;
}

async function visitor(relay, localAddress) {
  const tok = (await visitorToken(relay)).json;
  const ws = connect(relay, ORIGIN, localAddress);
  await ws.opened;
  ws.sendJson({ type: 'hello', v: 1, role: 'visitor', site: 'demo', token: tok.token, resume: [] });
  await ws.until((_t, f) => f.type === 'welcome');
  return { tok, ws, lamport: 0 };
}
function msgJson(chat, author, text, lamport, at = Date.now(), id = ulid()) {
  return { id, text: `{"type":"send","msg":{"lamport":${lamport},"author":${JSON.stringify(author)},"id":"${id}","chat":"${chat}","text":${JSON.stringify(text)},"at":${at}}}` };
}
async function say(v, text, lamport = ++v.lamport, at) {
  const m = msgJson(v.tok.chat, { role: 'visitor', id: v.tok.visitor, name: 'V' }, text, lamport, at);
  v.ws.sendText(m.text);
  const reply = await v.ws.until((_t, f) => (f.type === 'ack' && f.id === m.id) || (f.type === 'error' && f.id === m.id));
  return { id: m.id, reply };
}
async function operator(relay, username, password, origin) {
  const l = await login(relay, username, password);
  if (l.status !== 200) throw new Error(`login ${username}: ${l.status} ${l.text}`);
  const ws = connect(relay, origin);
  await ws.opened;
  ws.sendJson({ type: 'hello', v: 1, role: 'operator', site: 'demo', token: l.json.token, resume: [] });
  const welcome = await ws.until((_t, f) => f.type === 'welcome' || f.type === 'error');
  return { ws, token: l.json.token, welcome };
}
const brief = (t) => (t === null ? 'nothing within 3 s' : t.length > 160 ? t.slice(0, 160) + '…' : t);

async function main() {
  const relay = await startRelay();
  addOperator(relay, 'ada', 'ada-password-1');
  addOperator(relay, 'bob', 'bob-password-1');
  addOperator(relay, 'olga', 'olga-password-1', ['other']);
  addOperator(relay, 'carol', 'carol-password-1');
  addOperator(relay, 'victim', 'victim-password-1');

  // 1. Wrong-password flood: memory, then throttling.
  const before = rss(relay.child.pid);
  const statuses = await Promise.all(Array.from({ length: 200 }, () => loginFrom(relay, 'victim', 'wrong-password').then((r) => r.status)));
  const after = rss(relay.child.pid);
  const count = (xs) => Object.entries(xs.reduce((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {})).map(([k, v]) => `${v}×${k}`).join(', ');
  report('200 parallel wrong logins', `${count(statuses)}; RSS ${before.rss.toFixed(0)} MB before, peak ${after.hwm.toFixed(0)} MB`);
  await sleep(1500);
  const seqStatuses = [];
  const t0 = Date.now();
  for (let i = 0; i < 600; i++) seqStatuses.push((await loginFrom(relay, 'carol', 'wrong-' + i, '127.0.0.67')).status);
  const first429 = seqStatuses.findIndex((s) => s === 429);
  report('600 sequential wrong passwords for one account', `${count(seqStatuses)} in ${((Date.now() - t0) / 1000).toFixed(1)} s; first refusal without checking at attempt ${first429 < 0 ? 'never' : first429 + 1}`);
  const right = await login(relay, 'carol', 'carol-password-1');
  report('the right password for that account after the flood (another address)', `HTTP ${right.status}${right.headers.get('retry-after') ? ' Retry-After ' + right.headers.get('retry-after') : ''}`);

  // 2. Enumeration timing (a fresh relay, so throttling does not skew it).
  {
    const r2 = await startRelay();
    addOperator(r2, 'ada', 'ada-password-1');
    // Interleaved, so machine load falls on both alike; 9 each keeps under
    // the account's 10 failures.
    const known = []; const unknown = [];
    for (let i = 0; i < 9; i++) {
      for (const [u, into] of [['ada', known], ['nobody-here', unknown]]) {
        const t = process.hrtime.bigint(); await loginFrom(r2, u, 'wrong-password-x', '127.0.0.68'); into.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const a = await login(r2, 'nobody-here', 'x'); const b = await login(r2, 'ada', 'x');
    report('login timing, unknown vs existing user', `median ${median(unknown).toFixed(1)} ms vs ${median(known).toFixed(1)} ms (9 each, interleaved); answers ${a.status} ${a.text} / ${b.status} ${b.text}`);
    r2.stop();
  }

  // 3. Operators doing what they must not.
  const v = await visitor(relay);
  await say(v, 'hello, I need help');
  const ada = await operator(relay, 'ada', 'ada-password-1');
  ada.ws.sendJson({ type: 'accept', chat: v.tok.chat });
  await ada.ws.until((_t, f) => f.type === 'chat' || f.type === 'error');
  const bob = await operator(relay, 'bob', 'bob-password-1');
  {
    const m = msgJson(v.tok.chat, { role: 'visitor', id: v.tok.visitor, name: 'V' }, 'I (the visitor) want a refund to IBAN X', 99);
    bob.ws.sendText(m.text);
    const r = await bob.ws.until((_t, f) => f.id === m.id);
    const seen = await v.ws.until((_t, f) => f.type === 'message' && f.msg.id === m.id, 1500);
    report('operator bob writes "as the visitor" into ada\'s chat', `${brief(r)}; the visitor ${seen ? 'received it' : 'did not receive it'}`);
  }
  {
    bob.ws.sendJson({ type: 'transfer', chat: v.tok.chat, to: 'bob' });
    const r = await bob.ws.until((_t, f) => f.type === 'error' || (f.type === 'status' && f.chat === v.tok.chat) || f.type === 'chat');
    report('bob transfers ada\'s chat to himself', brief(r));
  }
  {
    const waiting = await visitor(relay);
    await say(waiting, 'a waiting question on demo');
    const olga = await operator(relay, 'olga', 'olga-password-1');
    await sleep(300);
    const frames = olga.ws.all();
    const queue = frames.map(safeParse).filter((f) => f.type === 'queue').pop();
    const sawDemo = frames.some((t) => t.includes(waiting.tok.chat) || t.includes('a waiting question'));
    olga.ws.sendJson({ type: 'accept', chat: waiting.tok.chat });
    const r = await olga.ws.until((_t, f) => f.type === 'error' || f.type === 'chat' || f.type === 'status');
    report('olga (serves only site "other") and a waiting demo chat', `her queue lists ${queue ? queue.chats.length : '?'} chat(s), the demo chat ${sawDemo ? 'visible' : 'not visible'}; her accept of it: ${brief(r)}`);
    olga.ws.close();
  }

  // 4. A token after a password change, and logout.
  {
    const l = await login(relay, 'ada', 'ada-password-1');
    const connected = await operator(relay, 'ada', 'ada-password-1');
    if (NEW_CLI) cli(['operator', 'passwd', '--data-dir', relay.dir, '--username', 'ada', '--password-stdin'], 'ada-password-2\n');
    else cli(['operator', 'add', '--data-dir', relay.dir, '--username', 'ada', '--name', 'ada', '--password-stdin'], 'ada-password-2\n');
    const closedCode = await Promise.race([connected.ws.closed, sleep(4000).then(() => null)]);
    const ws = connect(relay, undefined); await ws.opened;
    ws.sendJson({ type: 'hello', v: 1, role: 'operator', site: 'demo', token: l.json.token, resume: [] });
    const r = await ws.until((_t, f) => f.type === 'welcome' || f.type === 'error');
    report('old token after a password change', `hello: ${brief(r)}; a session connected before: ${closedCode === null ? 'still open after 4 s' : 'closed (' + closedCode + ')'}`);
    const l2 = await login(relay, 'ada', 'ada-password-2');
    const out = await post(`${relay.url}/v1/operator/logout`, '', { authorization: `Bearer ${l2.json?.token}` });
    const ws2 = connect(relay, undefined); await ws2.opened;
    ws2.sendJson({ type: 'hello', v: 1, role: 'operator', site: 'demo', token: l2.json?.token, resume: [] });
    const r2 = await ws2.until((_t, f) => f.type === 'welcome' || f.type === 'error');
    report('POST /v1/operator/logout, then the token', `logout HTTP ${out.status}; hello: ${brief(r2)}`);
  }

  // 5. A visitor reading presence names.
  {
    const v2 = await visitor(relay);
    bob.ws.sendJson({ type: 'set_availability', online: false });
    bob.ws.sendJson({ type: 'set_availability', online: true });
    const p = await v2.ws.until((_t, f) => f.type === 'presence' && f.operators_online > 0);
    report('a visitor\'s presence frame', brief(p));
    v2.ws.close();
  }

  // 6. Numbers and time.
  const watcher = await operator(relay, 'bob', 'bob-password-1');
  {
    const v3 = await visitor(relay);
    const r = await say(v3, 'huge lamport', '18446744073709551615');
    const r2 = await say(v3, 'lamport 2^53', '9007199254740992');
    const seen = await watcher.ws.until((t) => t.includes('18446744073709551615') || t.includes('9007199254740992'), 1500);
    report('message with lamport 2^64-1', `${brief(r.reply)}; with 2^53: ${brief(r2.reply)}; an operator got a frame with it: ${seen ? 'yes' : 'no'}`);
    const r3 = await say(v3, 'from the year 2100', 5, 4102444800000);
    const check = connect(relay, ORIGIN); await check.opened;
    check.sendJson({ type: 'hello', v: 1, role: 'visitor', site: 'demo', token: v3.tok.token, resume: [] });
    const w = safeParse(await check.until((_t, f) => f.type === 'welcome') ?? '{}');
    const kept = w.chats?.[0]?.missing?.find((m) => m.id === r3.id);
    report('message with at = 2100', `${brief(r3.reply)}; stored with at = ${kept ? kept.at + (kept.at > Date.now() ? ' (in the future)' : ' (now)') : 'not stored'}`);
    check.close();
    v3.ws.close();
  }
  {
    const v4 = await visitor(relay);
    const note = (at, text) => { const id = ulid(); v4.ws.sendText(`{"type":"offline","note":{"id":"${id}","site":"demo","name":"N","email":"n@example.com","text":"${text}","at":${at}}}`); return id; };
    const id1 = note(4102444800000, 'dated 2100');
    const a1 = await v4.ws.until((_t, f) => f.id === id1);
    const id2 = note('9007199254740993', 'at 2^53+1');
    const a2 = await v4.ws.until((_t, f) => f.id === id2);
    const later = await visitor(relay);
    const id3 = (() => { const id = ulid(); later.ws.sendText(`{"type":"offline","note":{"id":"${id}","site":"demo","name":"N","email":"n@example.com","text":"written now","at":${Date.now()}}}`); return id; })();
    await later.ws.until((_t, f) => f.id === id3);
    const fresh = await operator(relay, 'bob', 'bob-password-1');
    const inbox = safeParse(await fresh.ws.until((_t, f) => f.type === 'inbox') ?? '{}');
    const first = inbox.notes?.[0];
    report('offline note dated 2100 / at 2^53+1', `${brief(a1)} / ${brief(a2)}; top of the inbox: ${first ? `"${first.text}" at ${first.at}` : 'none'}`);
    fresh.ws.close();
  }

  // 7. Contract.
  {
    const a = await visitor(relay); const b = await visitor(relay);
    const first = await say(a, 'original');
    const m = msgJson(b.tok.chat, { role: 'visitor', id: b.tok.visitor, name: 'V' }, 'same id, other chat', 1, Date.now(), first.id);
    b.ws.sendText(m.text);
    const r = await b.ws.until((_t, f) => f.id === first.id);
    const m2 = msgJson(a.tok.chat, { role: 'visitor', id: a.tok.visitor, name: 'V' }, 'same id, other text', 2, Date.now(), first.id);
    a.ws.sendText(m2.text);
    const r2 = await a.ws.until((_t, f) => f.id === first.id);
    report('a message id already used by another chat / with another text', `${brief(r)} / ${brief(r2)}`);
    const long = await (async () => { const mm = msgJson(a.tok.chat, { role: 'visitor', id: a.tok.visitor, name: 'N'.repeat(300) }, 'long name', 3); a.ws.sendText(mm.text); return a.ws.until((_t, f) => f.id === mm.id); })();
    report('author name of 300 characters', brief(long));
    a.ws.sendJson({ type: 'set_visitor', chat: a.tok.chat, name: 'A', email: 'a@example.com', page: 'https://shop.example/' + 'p'.repeat(600) });
    const vr = await a.ws.until((_t, f) => f.type === 'visitor' || f.type === 'error');
    const pageLen = safeParse(vr ?? '{}').info?.page?.length;
    report('page address of 621 characters', vr && safeParse(vr).type === 'error' ? brief(vr) : `stored with ${pageLen} characters`);
  }
  for (const [label, body, ct] of [['bad JSON', '{not json', 'application/json'], ['wrong content type', '{"site":"demo"}', 'text/plain'], ['body too large', JSON.stringify({ site: 'demo', token: 'x'.repeat(3 * 1024 * 1024) }), 'application/json']]) {
    const r = await fetch(`${relay.url}/v1/visitor/token`, { method: 'POST', headers: { 'content-type': ct, origin: ORIGIN }, body });
    report(`HTTP refusal: ${label}`, `${r.status} ${r.headers.get('content-type')} ${brief(await r.text())}`);
  }
  for (const [label, method, path] of [['unknown API path', 'GET', '/v1/nothing'], ['wrong method', 'GET', '/v1/operator/login']]) {
    const r = await fetch(`${relay.url}${path}`, { method });
    report(`HTTP refusal: ${label}`, `${r.status} ${r.headers.get('content-type')} ${brief(await r.text())}`);
  }

  // 8. Admin surfaces.
  {
    const m = await fetch(`${relay.url}/metrics`);
    report('/metrics without a token', `${m.status}`);
    const wrong = [];
    for (let i = 0; i < 100; i++) wrong.push((await requestFrom(`${relay.url}/v1/admin/drain`, { headers: { authorization: 'Bearer wrong-' + i } })).status);
    const rightAfter = (await requestFrom(`${relay.url}/v1/admin/drain`, { headers: { authorization: `Bearer ${ADMIN}` } })).status;
    const elsewhere = (await fetch(`${relay.url}/v1/admin/drain`, { headers: { authorization: `Bearer ${ADMIN}` } })).status;
    report('100 wrong admin tokens (from one address)', `${count(wrong)}; the right token then: ${rightAfter} from that address, ${elsewhere} from another`);
    for (const origin of ['null', 'http://evil.example', ORIGIN]) {
      const r = await fetch(`${relay.url}/v1/operator/login`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      const t = await fetch(`${relay.url}/v1/visitor/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      report(`CORS preflight from Origin ${origin}`, `login: ${r.headers.get('access-control-allow-origin') ?? '(none)'}; visitor token: ${t.headers.get('access-control-allow-origin') ?? '(none)'}`);
    }
    await sleep(1100);
    await fetch(`${relay.url}/v1/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: '{"to":"redundant"}' });
    const h = await fetch(`${relay.url}/v1/health`);
    report('health while draining', `${h.status} ${await h.text()}`);
  }
  try {
    const empty = await startRelay([], '');
    const r = await fetch(`${empty.url}/v1/admin/drain`);
    report('--admin-token ""', `relay started; admin call without a token: ${r.status}`);
    empty.stop();
  } catch (e) { report('--admin-token ""', `refused at start: ${e.message.split('\n')[0].slice(0, 150)}`); }
  relay.stop();

  // 9. Queue abuse: 200 chats from 127.0.0.1, one real visitor from 127.0.0.2.
  {
    const q = await startRelay(['--ip-rate', '1000']);
    addOperator(q, 'ada', 'ada-password-1');
    const spam = [];
    for (let i = 0; i < 200; i++) { const s = await visitor(q, '127.0.0.1'); await say(s, 'spam ' + i); spam.push(s); }
    const real = await visitorFrom(q, '127.0.0.2');
    await say(real, 'a real question');
    const op = await operator(q, 'ada', 'ada-password-1');
    const queue = safeParse(await op.ws.until((_t, f) => f.type === 'queue') ?? '{}');
    const pos = (queue.chats ?? []).findIndex((c) => c.chat === real.tok.chat);
    report('200 chats from one address, then a real visitor', `the queue shows ${queue.chats?.length} chats; the real visitor is ${pos < 0 ? 'not among them' : 'at position ' + (pos + 1)}`);
    const silent = await visitorFrom(q, '127.0.0.3');
    op.ws.sendJson({ type: 'ping', nonce: 1 });
    await sleep(300);
    const q2 = op.ws.all().map(safeParse).filter((f) => f.type === 'queue').pop() ?? queue;
    report('a chat whose visitor has not written', (q2.chats ?? []).some((c) => c.chat === silent.tok.chat) ? 'waits in the queue' : 'does not wait');
    q.stop();
  }
}
async function visitorFrom(relay, localAddress) {
  // Token request from a given local address (node fetch cannot bind one).
  const body = JSON.stringify({ site: 'demo', token: null });
  const tok = await new Promise((resolve, reject) => {
    const u = new URL(`${relay.url}/v1/visitor/token`);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress, headers: { 'content-type': 'application/json', origin: ORIGIN, 'content-length': Buffer.byteLength(body) } }, (res) => { let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve(JSON.parse(d))); });
    req.on('error', reject); req.end(body);
  });
  const ws = connect(relay, ORIGIN, localAddress);
  await ws.opened;
  ws.sendJson({ type: 'hello', v: 1, role: 'visitor', site: 'demo', token: tok.token, resume: [] });
  await ws.until((_t, f) => f.type === 'welcome');
  return { tok, ws, lamport: 0 };
}
const stopAll = () => { for (const relay of started) { try { relay.stop(); } catch {} } };
main().then(() => { stopAll(); process.exit(0); }, (e) => { console.error(e); stopAll(); process.exit(1); });
