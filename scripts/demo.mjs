// `npm start` (after scripts/start.sh has built everything): the demo.
//
// Starts the whole installation on fixed ports, creates a demo operator,
// prints where to look, and keeps running until Ctrl-C, when it stops every
// process it started. While it runs, `npm run fail -- primary` and
// `npm run restore -- primary` (scripts/demo-ctl.mjs) hurt and heal one part
// of it; they find this process through <data>/cluster.json.
//
// Environment: TWINLINE_DATA (default ./data), TWINLINE_DEMO_PASSWORD.

import { createServer } from 'node:http';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Cluster, REPO } from './lib/cluster.mjs';

const dataDir = path.resolve(REPO, process.env.TWINLINE_DATA ?? 'data');
const operator = {
  username: 'demo',
  name: 'Dana (demo operator)',
  password: process.env.TWINLINE_DEMO_PASSWORD ?? 'twinline-demo',
};
const PARTS = ['primary', 'redundant', 'moderator'];

const stamp = () => new Date().toTimeString().slice(0, 8);
const say = (line) => console.log(`[${stamp()}] ${line}`);

fs.mkdirSync(dataDir, { recursive: true });
let cluster;
try {
  cluster = await Cluster.start({
    dataDir,
    ports: { moderator: 7000, primary: 7001, redundant: 7002, site: 8080 },
    operators: [operator],
    moderatorOptional: true,
    log: say,
  });
} catch (error) {
  console.error(`\nThe demo could not start: ${error.message}`);
  console.error('Is another demo still running (ports 7000-7002, 8080)? Logs are in', path.join(dataDir, 'logs'));
  process.exit(1);
}

// The control channel for `npm run fail/restore`: loopback only.
const control = createServer(async (req, res) => {
  const [, action, part] = new URL(req.url, 'http://x').pathname.split('/');
  try {
    if (req.method !== 'POST' || !PARTS.includes(part)) throw new Error(`unknown request ${req.method} ${req.url}`);
    if (action === 'fail') {
      await cluster.kill9(part);
    } else if (action === 'restore') {
      if (cluster.isRunning(part)) throw new Error(`${part} is already running`);
      await cluster.restart(part);
      say(`${part} restored`);
    } else {
      throw new Error(`unknown action ${action}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${action} ${part}: done\n`);
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${error.message}\n`);
  }
});
control.listen(0, '127.0.0.1');
await once(control, 'listening');
await cluster.note({ control: control.address().port, demoPid: process.pid });

const moderator = cluster.isRunning('moderator');
console.log(`
Twinline demo is running. Data and logs: ${path.relative(process.cwd(), dataDir) || '.'}/

  Demo site (a customer's page):  ${cluster.urls.site}/demo/
  Operator console:               ${cluster.consoleUrl('primary')}
                                  (the same page is on the redundant: ${cluster.consoleUrl('redundant')})
      username: ${operator.username}
      password: ${operator.password}
  Moderator status page:          ${moderator ? `${cluster.urls.moderator}/` : '(moderator not available in this build)'}

Open the demo site, start a chat, answer it from the console, then make a
deployment fail while you chat:

  npm run fail -- primary       # kill -9 the primary (or: redundant, moderator)
  npm run restore -- primary    # start it again on its port, with its data

Ctrl-C stops everything.
`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping`);
  control.close();
  await cluster.stop();
  fs.rmSync(path.join(dataDir, 'cluster.json'), { force: true });
  say('stopped');
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
