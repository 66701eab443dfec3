// `npm run fail -- PART` and `npm run restore -- PART` for the running demo.
//
// fail:    SIGKILL the part's process (pid from <data>/cluster.json), as a
//          machine losing power: no shutdown, no flush.
// restore: asks the demo process (its control port, loopback) to start the
//          part again on its port with its data, so its output and Ctrl-C
//          stay with `npm start`.
// PART is primary, redundant or moderator; in the cluster demo
// (`npm start -- --nodes 2`) a node, primary-node-1, ..., or the moderator.

import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './lib/cluster.mjs';

const [action, part] = process.argv.slice(2);
const usage = (parts) => {
  console.error(`usage: npm run fail -- PART\n       npm run restore -- PART\nPART: ${parts.join(', ')}`);
  process.exit(2);
};
if (!['fail', 'restore'].includes(action) || !part) usage(['primary', 'redundant', 'moderator']);

// The demo that is running: the plain one, or the cluster demo.
const dirs = process.env.TWINLINE_DATA ? [process.env.TWINLINE_DATA] : ['data', 'data-nodes'];
let state;
for (const dir of dirs) {
  try {
    state = JSON.parse(fs.readFileSync(path.join(path.resolve(REPO, dir), 'cluster.json'), 'utf8'));
    break;
  } catch {}
}
if (!state) {
  console.error(`no running demo found (cluster.json in ${dirs.join(' or ')}): start it with npm start`);
  process.exit(1);
}
const parts = Object.keys(state.pids ?? {});
if (!parts.includes(part)) usage(parts);

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
