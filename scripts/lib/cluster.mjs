// A whole Twinline installation on one machine, as real processes.
//
// The demo (`npm start`) and the browser tests both need the same thing:
// a primary and a redundant relay (each its own process and SQLite
// directory, replicating to each other), the moderator, and a customer's
// site on an origin of its own. With `nodes: N` (N > 1; the cluster demo,
// `npm start -- --nodes 2`) each deployment is instead its own PostgreSQL,
// N relay nodes on it (parts `primary-node-1`, ...) and HAProxy on the
// deployment's address (see nodes.mjs). This module starts and stops that set, and
// can hurt one part of it the way a data center gets hurt: `kill9` (a real
// SIGKILL, no flush), `restart` (same port, same data), and, when started
// with `proxies: true`, `freeze`/`thaw` (the deployment's address stops
// answering without a FIN or RST, see silent-proxy.mjs).
//
// Addresses: every part listens on 127.0.0.1. With proxies, everyone reaches
// a relay through its proxy (its "public" address): clients, the moderator,
// and the other relay (replication, and the peer origin a console served by
// one deployment uses to reach the other). A frozen proxy is a data center
// cut off from the network.

import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SilentProxy } from './silent-proxy.mjs';
import { Balancer, Postgres } from './nodes.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The relay binary: $TWINLINE_RELAY_BIN, else the release build under $CARGO_TARGET_DIR or ./target. */
export function relayBinary() {
  if (process.env.TWINLINE_RELAY_BIN) return process.env.TWINLINE_RELAY_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
  return path.resolve(REPO, target, 'release', 'twinline-relay');
}

// Ports freePort draws from: below Linux's ephemeral range (32768-60999), so
// no outgoing connection (a relay's replication link, another test's
// clients) can take a port between the moment it is picked and the moment a
// server binds it. A port from listen(0) is one the kernel may hand to the
// very next connect(), which made a relay restarted on its port fail now and
// then.
const TEST_PORTS = { start: 12000, end: 32000 };
const given = new Set();

/** A port that is free right now, never the same twice in this process. */
export async function freePort() {
  for (let attempt = 0; attempt < 10000; attempt++) {
    const port = TEST_PORTS.start + Math.floor(Math.random() * (TEST_PORTS.end - TEST_PORTS.start));
    if (given.has(port)) continue;
    given.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in ${TEST_PORTS.start}-${TEST_PORTS.end}`);
}

async function canBind(port) {
  const server = net.createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    await new Promise((resolve) => server.close(() => resolve()));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Children never outlive the node process that started them, even when it
// dies on an uncaught error: a leftover relay would hold its port.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * One child process that announces its address on stdout
 * (`... listening on http://...`). Output goes to a log file.
 */
class Service {
  constructor({ name, bin, args, logFile, env }) {
    Object.assign(this, { name, bin, args, logFile, env });
    this.child = null;
    this.url = null;
  }

  get running() {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid() {
    return this.running ? this.child.pid : null;
  }

  async start(timeoutMs = 15_000) {
    if (this.running) return this.url;
    this.url = null;
    const log = fs.createWriteStream(this.logFile, { flags: 'a' });
    log.write(`\n--- ${new Date().toISOString()} ${this.bin} ${this.args.join(' ')}\n`);
    const child = spawn(this.bin, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { RUST_LOG: 'info', ...process.env, ...this.env },
    });
    this.child = child;
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.stderr.pipe(log, { end: false });
    let seen = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not say where it listens within ${timeoutMs} ms (log: ${this.logFile})`)),
        timeoutMs,
      );
      let found = false;
      child.stdout.on('data', (chunk) => {
        log.write(chunk);
        if (found) return;
        seen += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(seen);
        if (match) {
          found = true;
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        setTimeout(() => {
          let tail = '';
          try {
            tail = fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-8).join('\n');
          } catch {}
          reject(new Error(`${this.name} exited (${signal ?? code}) before listening:\n${tail}`));
        }, 50);
      });
    });
    this.url = url;
    child.once('exit', () => log.end());
    return url;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill9() {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (graceful), SIGKILL after `graceMs`. */
  async stop(graceMs = 3_000) {
    if (!this.running) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Serves a directory over HTTP: the customer's site, on an origin of its own. */
async function startStaticSite(root, port) {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://site');
      let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
      if (!file.startsWith(root)) {
        res.writeHead(403).end('forbidden');
        return;
      }
      const stat = await fsp.stat(file).catch(() => null);
      if (stat?.isDirectory()) file = path.join(file, 'index.html');
      const body = await fsp.readFile(file);
      res.writeHead(200, {
        'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/**
 * A running cluster. Create with `Cluster.start(options)`.
 *
 * Names: 'primary', 'redundant', 'moderator'.
 */
export class Cluster {
  /**
   * @param {object} [options]
   * @param {{moderator?:number, primary?:number, redundant?:number, site?:number}} [options.ports] 0/absent = free port
   * @param {string} [options.dataDir] default: a new temp dir (removed by stop())
   * @param {boolean} [options.proxies] put a SilentProxy in front of each relay
   * @param {number} [options.nodes] relay nodes per deployment (more than 1: PostgreSQL and HAProxy)
   * @param {boolean} [options.moderator] start the moderator (default true)
   * @param {string[]} [options.moderatorArgs] extra moderator flags (probe timing)
   * @param {boolean} [options.moderatorOptional] carry on without it if it cannot start
   * @param {{username:string,name:string,password:string}[]} [options.operators]
   * @param {string} [options.www] static assets (default <repo>/www)
   * @param {{primary?:string[], redundant?:string[]}} [options.relayArgs] extra `serve` flags per deployment (e.g. [mail])
   * @param {(line:string)=>void} [options.log]
   */
  static async start(options = {}) {
    const cluster = new Cluster(options);
    try {
      await cluster.#start();
    } catch (error) {
      await cluster.stop().catch(() => {});
      throw error;
    }
    return cluster;
  }

  constructor(options) {
    this.options = options;
    this.bin = options.bin ?? relayBinary();
    this.www = path.resolve(options.www ?? path.join(REPO, 'www'));
    this.secret = options.secret ?? 'twinline-demo-shared-secret';
    this.adminToken = options.adminToken ?? 'twinline-demo-admin';
    this.operators = options.operators ?? [];
    this.log = options.log ?? (() => {});
    this.services = {};
    this.proxies = {};
    this.nodes = options.nodes ?? 1;
    this.postgres = {};
    this.balancers = {};
    this.nodePorts = {};
    this.ownsDataDir = !options.dataDir;
  }

  async #start() {
    if (!fs.existsSync(this.bin)) {
      throw new Error(`relay binary ${this.bin} is missing: cargo build --release -p twinline-relay`);
    }
    this.dataDir = this.options.dataDir
      ? path.resolve(this.options.dataDir)
      : await fsp.mkdtemp(path.join(os.tmpdir(), 'twinline-cluster-'));
    await fsp.mkdir(path.join(this.dataDir, 'logs'), { recursive: true });
    await fsp.mkdir(path.join(this.dataDir, 'pids'), { recursive: true });

    const ports = this.options.ports ?? {};
    const pick = async (port) => port || freePort();
    this.ports = {
      moderator: await pick(ports.moderator),
      primary: await pick(ports.primary),
      redundant: await pick(ports.redundant),
      site: await pick(ports.site),
    };
    if (this.nodes > 1 && this.options.proxies) throw new Error('nodes and proxies do not go together');
    // Where each relay really listens: behind a proxy, a port of its own.
    this.relayPorts = this.options.proxies
      ? { primary: await freePort(), redundant: await freePort() }
      : { primary: this.ports.primary, redundant: this.ports.redundant };

    this.siteOrigin = `http://127.0.0.1:${this.ports.site}`;
    this.urls = {
      primary: `http://127.0.0.1:${this.ports.primary}`,
      redundant: `http://127.0.0.1:${this.ports.redundant}`,
      moderator: `http://127.0.0.1:${this.ports.moderator}`,
      site: this.siteOrigin,
    };

    // Each deployment's database before anything that writes to it.
    if (this.nodes > 1) {
      for (const role of ['primary', 'redundant']) {
        const postgres = new Postgres({ dir: path.join(this.#relayDir(role), 'postgres'), port: await freePort() });
        await postgres.start();
        this.postgres[role] = postgres;
        this.log(`${role}: PostgreSQL on 127.0.0.1:${postgres.port}`);
      }
    }

    // Accounts first, in both stores: either deployment can log an operator
    // in even if the other never comes up (replication merges the two).
    for (const role of ['primary', 'redundant']) {
      await fsp.mkdir(this.#relayDir(role), { recursive: true });
      for (const operator of this.operators) await this.#addOperator(role, operator);
    }

    if (this.options.proxies) {
      for (const role of ['primary', 'redundant']) {
        const proxy = new SilentProxy({ targetPort: this.relayPorts[role], listenPort: this.ports[role] });
        await proxy.start();
        this.proxies[role] = proxy;
      }
    }

    this.site = await startStaticSite(this.www, this.ports.site);

    for (const role of ['primary', 'redundant']) {
      for (const [name, listen, store] of await this.#relaysOf(role)) {
        this.services[name] = this.#relay(role, name, listen, store);
      }
    }
    await Promise.all(Object.keys(this.services).map((name) => this.#startService(name)));
    if (this.nodes > 1) {
      for (const role of ['primary', 'redundant']) {
        const backends = Object.fromEntries(
          Object.entries(this.nodePorts).filter(([name]) => name.startsWith(`${role}-`)),
        );
        this.balancers[role] = new Balancer({
          dir: path.join(this.#relayDir(role), 'haproxy'),
          port: this.ports[role],
          backends,
          logFile: path.join(this.dataDir, 'logs', `${role}-haproxy.log`),
        });
        await this.balancers[role].start();
        this.log(`${role}: HAProxy on ${this.urls[role]} in front of ${Object.keys(backends).join(', ')}`);
        await this.waitHealthy(role);
      }
    }


    if (this.options.moderator !== false) {
      this.services.moderator = new Service({
        name: 'moderator',
        bin: this.bin,
        logFile: path.join(this.dataDir, 'logs', 'moderator.log'),
        args: [
          'moderator',
          '--listen', `127.0.0.1:${this.ports.moderator}`,
          '--primary', `primary=${this.urls.primary}`,
          '--redundant', `redundant=${this.urls.redundant}`,
          '--admin-token', this.adminToken,
          '--allow-origin', this.siteOrigin,
          '--allow-origin', `http://localhost:${this.ports.site}`,
          // The operator console is served by each relay.
          '--allow-origin', this.urls.primary,
          '--allow-origin', this.urls.redundant,
          ...(this.options.moderatorArgs ?? []),
        ],
      });
      try {
        await this.#startService('moderator');
      } catch (error) {
        if (!this.options.moderatorOptional) throw error;
        this.log(`moderator not started, clients will decide by themselves: ${error.message.trim().split('\n').filter(Boolean).at(-1)}`);
        delete this.services.moderator;
      }
    }
    await this.#writeState();
  }

  #relayDir(role) {
    return path.join(this.dataDir, role);
  }

  /** The store flags of a deployment's relays and operator commands. */
  #storeArgs(role) {
    return this.postgres[role] ? ['--database-url', this.postgres[role].url] : ['--data-dir', this.#relayDir(role)];
  }

  /** [name, listen port, store flags] of each relay process of a deployment. */
  async #relaysOf(role) {
    if (this.nodes <= 1) return [[role, this.relayPorts[role], this.#storeArgs(role)]];
    const relays = [];
    for (let n = 1; n <= this.nodes; n++) {
      const name = `${role}-node-${n}`;
      this.nodePorts[name] = await freePort();
      // A node-local folder beside the database (nothing another node needs).
      const local = path.join(this.#relayDir(role), name);
      await fsp.mkdir(local, { recursive: true });
      relays.push([name, this.nodePorts[name], [...this.#storeArgs(role), '--node', name, '--data-dir', local]]);
    }
    return relays;
  }

  #relay(role, name, port, store) {
    const other = role === 'primary' ? 'redundant' : 'primary';
    return new Service({
      name,
      bin: this.bin,
      logFile: path.join(this.dataDir, 'logs', `${name}.log`),
      args: [
        'serve',
        '--listen', `127.0.0.1:${port}`,
        '--name', role,
        '--role', role,
        ...store,
        '--peer', this.urls[other],
        '--peer-name', other,
        '--secret', this.secret,
        '--admin-token', this.adminToken,
        '--site', `demo=${this.siteOrigin},http://localhost:${this.ports.site}`,
        '--www', this.www,
        // The console each relay serves learns both deployments and the
        // moderator from the relay's config.json, nowhere else.
        ...(this.options.moderator !== false ? ['--moderator-url', this.urls.moderator] : []),
        ...(this.options.relayArgs?.[role] ?? []),
      ],
    });
  }

  /** The names of the parts `kill9` and `restart` take. */
  get parts() {
    return Object.keys(this.services);
  }

  async #addOperator(role, { username, name, password, sites = ['demo'] }) {
    await new Promise((resolve, reject) => {
      const child = execFile(
        this.bin,
        ['operator', 'add', ...this.#storeArgs(role), '--username', username, '--name', name, ...sites.flatMap((site) => ['--site', site]), '--password-stdin'],
        (error, _stdout, stderr) => (error ? reject(new Error(`operator add failed: ${stderr || error.message}`)) : resolve()),
      );
      child.stdin.end(`${password}\n`);
    });
  }

  async #startService(name) {
    const url = await this.services[name].start();
    this.log(`${name} listening on ${url}`);
    await fsp.writeFile(path.join(this.dataDir, 'pids', `${name}.pid`), `${this.services[name].pid}\n`);
    if (name !== 'moderator') await this.waitHealthy(name);
  }

  /** Records ports, pids and URLs in <dataDir>/cluster.json (read by `npm run fail/restore`). */
  async #writeState(extra = {}) {
    const pids = Object.fromEntries(Object.entries(this.services).map(([name, s]) => [name, s.pid]));
    this.state = { ...this.state, urls: this.urls, ports: this.ports, pids, ...extra };
    await fsp.writeFile(path.join(this.dataDir, 'cluster.json'), JSON.stringify(this.state, null, 2));
  }

  /** Adds fields to cluster.json (e.g. the demo's control port). */
  async note(extra) {
    await this.#writeState(extra);
  }

  /** Base URL clients use for a deployment (its proxy when there is one). */
  url(name) {
    return this.urls[name];
  }

  /** The operator console a deployment serves (it knows the rest from its relay). */
  consoleUrl(name = 'primary') {
    return `${this.urls[name]}/console/`;
  }

  /** The demo page's URL, with the addresses of this cluster in the query. */
  demoUrl(params = {}) {
    const query = new URLSearchParams({
      primary: this.urls.primary,
      redundant: this.urls.redundant,
      moderator: this.services.moderator ? this.urls.moderator : '',
      ...params,
    });
    return `${this.siteOrigin}/demo/?${query}`;
  }

  isRunning(name) {
    return Boolean(this.services[name]?.running);
  }

  /** Waits until a relay answers /v1/health with ready (through its public address). */
  async waitHealthy(name, timeoutMs = 10_000) {
    const url = `http://127.0.0.1:${this.relayPorts[name] ?? this.nodePorts[name]}/v1/health`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const health = await (await fetch(url, { signal: AbortSignal.timeout(1_000) })).json();
        if (health.ready) return health;
      } catch {}
      if (Date.now() > deadline) throw new Error(`${name} not healthy within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** A relay's health as clients see it, or null. */
  async health(name) {
    try {
      const res = await fetch(`http://127.0.0.1:${this.relayPorts[name]}/v1/health`, { signal: AbortSignal.timeout(1_000) });
      return await res.json();
    } catch {
      return null;
    }
  }

  /** The moderator's /v1/active, or null. */
  async active() {
    try {
      const res = await fetch(`${this.urls.moderator}/v1/active`, { signal: AbortSignal.timeout(1_000) });
      return res.ok ? await res.json() : null;
    } catch {
      return null;
    }
  }

  /** SIGKILL one part: 'primary', 'redundant' or 'moderator'. */
  async kill9(name) {
    this.#known(name);
    await this.services[name].kill9();
    this.log(`${name} killed (SIGKILL)`);
    await this.#writeState();
  }

  /** Starts a killed part again, on its port and with its data. */
  async restart(name) {
    this.#known(name);
    await this.#startService(name);
    await this.#writeState();
  }

  /** The deployment's address stops answering, silently (needs `proxies: true`). */
  freeze(name) {
    if (!this.proxies[name]) throw new Error(`no proxy in front of ${name}: start with proxies: true`);
    this.proxies[name].freeze();
    this.log(`${name} frozen (silent network loss)`);
  }

  thaw(name) {
    this.proxies[name].thaw();
    this.log(`${name} thawed`);
  }

  /** POST an admin request to a relay or the moderator. */
  async admin(name, pathname, body) {
    const base = name === 'moderator' ? this.urls.moderator : `http://127.0.0.1:${this.relayPorts[name]}`;
    const res = await fetch(`${base}${pathname}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${name} ${pathname}: HTTP ${res.status} ${text}`);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  /** Every message a relay holds (read through its replication feed), by id. */
  async messagesOf(name) {
    const messages = new Map();
    await this.#eachChange(name, (change) => {
      if (change.kind === 'message') messages.set(change.body.id, change.body);
    });
    return messages;
  }

  /** The header of `chat` as `name` stores it (status, visitor details, rating), or null. */
  async chatHeader(name, chat) {
    let header = null;
    await this.#eachChange(name, (change) => {
      if (change.kind === 'chat' && change.body.id === chat) header = change.body;
    });
    return header;
  }

  /** Calls `visit` with every change in `name`'s replication feed, oldest first. */
  async #eachChange(name, visit) {
    const { createHash } = await import('node:crypto');
    const bearer = createHash('sha256').update(`twinline-replication-v1:${this.secret}`).digest('hex');
    let since = 0;
    for (;;) {
      const res = await fetch(
        `http://127.0.0.1:${this.relayPorts[name]}/v1/replication/changes?since=${since}&peer=inspector`,
        { headers: { authorization: `Bearer ${bearer}` }, signal: AbortSignal.timeout(3_000) },
      );
      if (!res.ok) throw new Error(`${name} replication feed: HTTP ${res.status}`);
      const page = await res.json();
      for (const change of page.changes ?? []) visit(change);
      const next = page.next ?? since;
      if (next === since || next >= (page.head ?? 0)) return;
      since = next;
    }
  }

  #known(name) {
    if (!this.services[name]) throw new Error(`unknown part ${name} (${this.parts.join(', ')})`);
  }

  /** Stops everything: relays gracefully, then proxies and the site. Removes a temp data dir. */
  async stop() {
    await Promise.all(Object.values(this.services).map((s) => s.stop()));
    await Promise.all(Object.values(this.proxies).map((p) => p.stop()));
    await Promise.all(Object.values(this.balancers).map((b) => b.stop()));
    await Promise.all(Object.values(this.postgres).map((p) => p.stop()));
    if (this.site) {
      this.site.closeAllConnections?.();
      await new Promise((resolve) => this.site.close(resolve));
    }
    if (this.ownsDataDir && this.dataDir && !process.env.TWINLINE_KEEP_DATA) {
      await fsp.rm(this.dataDir, { recursive: true, force: true });
    }
  }
}
