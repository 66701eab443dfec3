// tests/smtp/sink.py (aiosmtpd) for the browser tests, as the Rust process
// tests start it: a real SMTP server that writes every message it takes to
// a folder. `messages()` reads them back: headers (lowercase names) and the
// decoded text body.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { REPO, freePort } from '../../../scripts/lib/cluster.mjs';

export class SmtpSink {
  /** Starts the sink; `flags` are more of sink.py's (`--reject`, `--hold-first-ms`). */
  static async start(flags = []) {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'twinline-smtp-'));
    const port = await freePort();
    const out = path.join(dir, 'mail');
    const child = spawn('python3', [path.join(REPO, 'tests', 'smtp', 'sink.py'), '--port', String(port), '--out', out, ...flags], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('smtp sink did not start (python3 with aiosmtpd: scripts/ensure-toolchain.sh --servers)')), 10_000);
      child.once('exit', (code) => reject(new Error(`smtp sink exited with ${code}`)));
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('smtp-sink listening on ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return new SmtpSink(child, port, out, dir);
  }

  constructor(child, port, out, dir) {
    Object.assign(this, { child, port, out, dir });
  }

  get url() {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Every message taken so far, in order: {headers, body}. */
  messages() {
    const files = fs.existsSync(this.out) ? fs.readdirSync(this.out).filter((f) => f.endsWith('.eml')) : [];
    files.sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    return files.map((f) => parse(fs.readFileSync(path.join(this.out, f), 'utf8')));
  }

  async stop() {
    this.child.kill('SIGKILL');
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

/** Headers (unfolded, names lowercased) and the decoded body of a message. */
function parse(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const headers = {};
  let last = null;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) {
      headers[last] += ` ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      if (colon > 0) {
        last = line.slice(0, colon).trim().toLowerCase();
        headers[last] = line.slice(colon + 1).trim();
      }
    }
  }
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  let decoded = body;
  if (encoding === 'base64') {
    decoded = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  } else if (encoding === 'quoted-printable') {
    const joined = body.replace(/=\n/g, '');
    const bytes = [];
    for (let i = 0; i < joined.length; i++) {
      const hex = joined.slice(i + 1, i + 3);
      if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(joined[i], 'utf8'));
      }
    }
    decoded = Buffer.from(bytes).toString('utf8');
  }
  return { headers, body: decoded.replace(/\r\n/g, '\n') };
}
