// The failover table: one row per failure-table test that passed, printed at
// the end of the suite and written to target/browser-failover.json (this
// run's rows only: a row that failed is absent, never a stale figure).

import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../../../scripts/lib/cluster.mjs';

export const REPORT_FILE = path.join(REPO, 'target', 'browser-failover.json');

const rows = [];

/**
 * @param {{row:string, scenario:string, measured:string, ms:number|null, via?:string,
 *          messages?:number, errorShown?:boolean, nonConnectedShown?:boolean, note?:string}} entry
 */
export function record(entry) {
  rows.push({ ...entry, at: new Date().toISOString() });
}

/** Writes this run's rows and returns them, in row order. */
export function save() {
  const all = [...rows].sort((a, b) => a.row.localeCompare(b.row, 'en', { numeric: true }));
  fs.mkdirSync(path.dirname(REPORT_FILE), { recursive: true });
  fs.writeFileSync(REPORT_FILE, JSON.stringify({ rows: all }, null, 2));
  return all;
}

/** The table as Markdown. */
export function table(all) {
  const lines = [
    '| row | scenario | measured | ms | via | messages | error shown | non-connected shown |',
    '| --- | --- | --- | ---: | --- | ---: | --- | --- |',
  ];
  for (const r of all) {
    lines.push(
      `| ${r.row} | ${r.scenario} | ${r.measured} | ${r.ms ?? '–'} | ${r.via ?? ''} | ${r.messages ?? ''} | ${
        r.errorShown ? 'yes' : 'no'
      } | ${r.nonConnectedShown ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}

/** Saves and prints (to stderr, which node --test passes through). */
export function printReport() {
  const all = save();
  process.stderr.write(`\nObserved failover times (${path.relative(REPO, REPORT_FILE)}):\n${table(all)}\n`);
  return all;
}
