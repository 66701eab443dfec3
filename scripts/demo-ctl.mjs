// `npm run fail -- PART` and `npm run restore -- PART` for the running demo.
//
// fail:    SIGKILL the part's process (pid from <data>/cluster.json), as a
//          machine losing power: no shutdown, no flush.
// restore: asks the demo process (its control port, loopback) to start the
//          part again on its port with its data, so its output and Ctrl-C
//          stay with `npm start`.
// PART is primary, redundant or moderator.

import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './lib/cluster.mjs';

const [action, part] = process.argv.slice(2);
const PARTS = ['primary', 'redundant', 'moderator'];
if (!['fail', 'restore'].includes(action) || !PARTS.includes(part)) {
  console.error('usage: npm run fail -- primary|redundant|moderator\n       npm run restore -- primary|redundant|moderator');
  process.exit(2);
}

const dataDir = path.resolve(REPO, process.env.TWINLINE_DATA ?? 'data');
let state;
try {
  state = JSON.parse(fs.readFileSync(path.join(dataDir, 'cluster.json'), 'utf8'));
} catch {
  console.error(`no running demo found (${path.join(dataDir, 'cluster.json')}): start it with npm start`);
  process.exit(1);
}

if (action === 'fail') {
  const pid = state.pids?.[part];
  if (!pid) {
    console.error(`${part} is not running`);
    process.exit(1);
  }
  try {
    process.kill(pid, 'SIGKILL');
    console.log(`${part} (pid ${pid}) killed with SIGKILL`);
  } catch (error) {
    console.error(`could not kill ${part} (pid ${pid}): ${error.message}`);
    process.exit(1);
  }
  // Let the demo note it (pid file, cluster.json); harmless if it already did.
  await fetch(`http://127.0.0.1:${state.control}/fail/${part}`, { method: 'POST' }).catch(() => {});
} else {
  const res = await fetch(`http://127.0.0.1:${state.control}/restore/${part}`, { method: 'POST' }).catch((error) => {
    console.error(`the demo does not answer on its control port: ${error.message}`);
    process.exit(1);
  });
  const text = await res.text();
  if (!res.ok) {
    console.error(text.trim());
    process.exit(1);
  }
  console.log(text.trim());
}
