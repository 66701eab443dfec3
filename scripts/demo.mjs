// `npm start` (after scripts/start.sh has built everything): the demo.
//
// Starts the whole installation on fixed ports, creates a demo operator,
// prints where to look, and keeps running until Ctrl-C, when it stops every
// process it started. While it runs, `npm run fail -- primary` and
// `npm run restore -- primary` (scripts/demo-ctl.mjs) hurt and heal one part
// of it; they find this process through <data>/cluster.json.
//
// `--nodes N` (N > 1, `npm start -- --nodes 2`): the cluster demo, each
// deployment its own PostgreSQL, N relay nodes and HAProxy on the same
// ports as above; `npm run fail -- primary-node-1` kills one node.
//
// Environment: TWINLINE_DATA (default ./data, or ./data-nodes for the
// cluster demo), TWINLINE_DEMO_PASSWORD.

import { createServer } from 'node:http';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Cluster, REPO } from './lib/cluster.mjs';

const args = process.argv.slice(2);
const nodesAt = args.indexOf('--nodes');
const nodes = nodesAt >= 0 ? Number(args[nodesAt + 1]) : 1;
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 8) {
  console.error('usage: npm start [-- --nodes N]   (N from 1 to 8)');
  process.exit(2);
}
// The cluster demo keeps its data apart: a deployment's store is either
// SQLite or PostgreSQL.
const dataDir = path.resolve(REPO, process.env.TWINLINE_DATA ?? (nodes > 1 ? 'data-nodes' : 'data'));
const operator = {
  username: 'demo',
  name: 'Dana (demo operator)',
  password: process.env.TWINLINE_DEMO_PASSWORD ?? 'twinline-demo',
};

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
    nodes,
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
    if (req.method !== 'POST' || !cluster.parts.includes(part)) throw new Error(`unknown request ${req.method} ${req.url}`);
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

${nodes > 1 ? `  npm run fail -- primary-node-1     # kill -9 one node: its clients move to the other
  npm run restore -- primary-node-1  # start it again
  (parts: ${cluster.parts.join(', ')})
` : `  npm run fail -- primary       # kill -9 the primary (or: redundant, moderator)
  npm run restore -- primary    # start it again on its port, with its data
`}
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
