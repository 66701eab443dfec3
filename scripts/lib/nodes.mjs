// What a deployment of several relay nodes runs beside them, for the
// cluster demo (`npm start -- --nodes 2`): its own PostgreSQL, in the
// deployment's data folder, and HAProxy in front of its nodes.
//
// PostgreSQL is Debian's (scripts/ensure-toolchain.sh --servers installs it):
// initdb into <dir>/pgdata, pg_ctl on a free loopback port with its socket in
// <dir>, run as the `postgres` user when we are root (initdb refuses root).
// A second start reuses the folder, so the demo's data survives a restart.
// HAProxy checks each node's /v1/health?node every 200 ms and passes
// WebSockets through; the deployment keeps one URL, the balancer's.

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The folder with initdb and pg_ctl: $TWINLINE_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBin() {
  if (process.env.TWINLINE_PG_BIN) return process.env.TWINLINE_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    : [];
  versions.sort((a, b) => Number(a) - Number(b));
  if (versions.length === 0) {
    throw new Error('PostgreSQL is not installed: bash scripts/ensure-toolchain.sh --servers');
  }
  return path.join(root, versions.at(-1), 'bin');
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL tool as the server's owner. */
function asOwner(program, args) {
  return isRoot() ? run('runuser', ['-u', 'postgres', '--', program, ...args]) : run(program, args);
}

/** A PostgreSQL server of one deployment, in `dir`, listening on `port`. */
export class Postgres {
  constructor({ dir, port }) {
    this.dir = path.resolve(dir);
    this.port = port;
    this.bin = postgresBin();
    this.data = path.join(this.dir, 'pgdata');
  }

  /** The deployment's database URL. */
  get url() {
    return `postgres://twinline@127.0.0.1:${this.port}/twinline`;
  }

  async start() {
    await fsp.mkdir(this.dir, { recursive: true });
    if (isRoot()) {
      await run('chown', ['postgres', this.dir]);
      // The postgres user must reach its folder: a private temporary
      // folder above it (mkdtemp makes them 0700) gets search permission
      // for others, nothing more.
      for (let dir = path.dirname(this.dir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
        const { mode } = await fsp.stat(dir);
        if ((mode & 0o001) === 0) await fsp.chmod(dir, (mode & 0o7777) | 0o001);
      }
    }
    if (!fs.existsSync(path.join(this.data, 'PG_VERSION'))) {
      await asOwner(path.join(this.bin, 'initdb'), [
        '-D', this.data, '-A', 'trust', '-U', 'twinline', '-E', 'UTF8', '--no-locale', '--no-instructions',
      ]);
    }
    await asOwner(path.join(this.bin, 'pg_ctl'), [
      '-D', this.data, '-l', path.join(this.dir, 'postgres.log'), '-w', '-t', '60',
      '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`, 'start',
    ]);
    // The database, once (psql from the same installation).
    const psql = (sql) =>
      run(path.join(this.bin, 'psql'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'twinline', '-d', 'postgres', '-tAc', sql]);
    const { stdout } = await psql("SELECT 1 FROM pg_database WHERE datname = 'twinline'");
    if (stdout.trim() !== '1') await psql('CREATE DATABASE twinline');
  }

  /** Stops the server (fast: committed data is safe). */
  async stop() {
    await asOwner(path.join(this.bin, 'pg_ctl'), ['-D', this.data, '-m', 'fast', '-w', 'stop']).catch(() => {});
  }
}

/** HAProxy in front of a deployment's nodes, on `port`. */
export class Balancer {
  constructor({ dir, port, backends, logFile }) {
    Object.assign(this, { dir, port, backends, logFile });
    this.child = null;
  }

  config() {
    const servers = Object.entries(this.backends)
      .map(([name, port]) => `    server ${name} 127.0.0.1:${port} check`)
      .join('\n');
    return `global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 10s
    option redispatch
    retries 3
frontend twinline
    bind 127.0.0.1:${this.port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /v1/health?node
    http-check expect status 200
    timeout check 2s
    default-server inter 1s fastinter 200ms downinter 200ms fall 2 rise 1
${servers}
`;
  }

  async start() {
    await fsp.mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, 'haproxy.cfg');
    await fsp.writeFile(file, this.config());
    const bin = process.env.TWINLINE_HAPROXY ?? (fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');
    const log = fs.createWriteStream(this.logFile, { flags: 'a' });
    this.child = spawn(bin, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.pipe(log);
    this.child.stderr.pipe(log);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.pid) throw new Error(`haproxy exited (log: ${this.logFile})`);
      if (await answers(this.port)) return;
      if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${this.port} (log: ${this.logFile})`);
      await sleep(50);
    }
  }

  get pid() {
    const running = this.child && this.child.exitCode === null && this.child.signalCode === null;
    return running ? this.child.pid : null;
  }

  async stop() {
    if (!this.pid) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
function answers(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
