// One failure-table row's stage: a fresh cluster, a visitor on the demo
// site in chromium, an operator, and the cleanup that runs whatever happens.

import fs from 'node:fs';
import path from 'node:path';
import { Cluster, REPO } from '../../../scripts/lib/cluster.mjs';
import { Visitor } from './browser.mjs';
import { ConsoleOperator } from './console-operator.mjs';

export const OPERATOR = { username: 'ada', name: 'Ada', password: 'correct horse battery' };

/** Where a failing row leaves its logs and a screenshot (gitignored). */
export const ARTIFACTS = path.join(REPO, 'tests', 'browser', 'artifacts');

/**
 * Runs `body({cluster, visitor, operator, openVisitor})` on a fresh cluster.
 * `visitor: false` leaves opening the page to the body (`openVisitor()`);
 * `nodes: 2` makes each deployment PostgreSQL, two relay nodes and HAProxy;
 * `operators` are the accounts made (`{username, name, password, sites}`),
 * the first of which is the stage's operator.
 */
export async function withStage(browser, name, { proxies = false, nodes = 1, visitor: autoVisitor = true, beforeClients, consoleHome, operators = [OPERATOR], relayArgs } = {}, body) {
  const cluster = await Cluster.start({
    proxies,
    nodes,
    operators,
    relayArgs,
    www: process.env.TWINLINE_WWW,
    // Only for working on the tests against a build without the moderator.
    moderator: !process.env.TWINLINE_NO_MODERATOR,
    moderatorArgs: (process.env.TWINLINE_MODERATOR_ARGS ?? '').split(' ').filter(Boolean),
  });
  let visitor = null;
  let operator = null;
  const stage = {
    cluster,
    get visitor() {
      return visitor;
    },
    get operator() {
      return operator;
    },
    async openVisitor(params = {}) {
      visitor = await Visitor.open(browser, cluster.demoUrl({ prechat: 'off', ...params }));
      return visitor;
    },
  };
  try {
    if (beforeClients) await beforeClients(stage);
    // The operator is the real console page, served by a relay: by the one
    // that answers (row 8 makes the primary unreachable from the start). It
    // knows the rest of the cluster from that relay's config.json.
    const home = consoleHome ?? 'primary';
    operator = new ConsoleOperator(browser, cluster.consoleUrl(home), OPERATOR);
    await operator.start();
    if (autoVisitor) await stage.openVisitor();
    await body(stage);
  } catch (error) {
    await keepArtifacts(name, stage).catch(() => {});
    throw error;
  } finally {
    await visitor?.close();
    await operator?.stop();
    await cluster.stop();
  }
}

async function keepArtifacts(name, stage) {
  const dir = path.join(ARTIFACTS, name.replace(/[^a-z0-9]+/gi, '-'));
  fs.mkdirSync(dir, { recursive: true });
  for (const file of fs.readdirSync(path.join(stage.cluster.dataDir, 'logs'))) {
    fs.copyFileSync(path.join(stage.cluster.dataDir, 'logs', file), path.join(dir, file));
  }
  if (stage.visitor) {
    await stage.visitor.collect();
    await stage.visitor.page.screenshot({ path: path.join(dir, 'visitor.png') }).catch(() => {});
    fs.writeFileSync(
      path.join(dir, 'visitor.json'),
      JSON.stringify(
        {
          states: stage.visitor.states,
          console: stage.visitor.console,
          pageErrors: stage.visitor.pageErrors,
          transcript: await stage.visitor.transcript().catch((e) => String(e)),
        },
        null,
        2,
      ),
    );
  }
  if (stage.operator) {
    fs.writeFileSync(path.join(dir, 'operator.json'), JSON.stringify(await stage.operator.artifacts(), null, 2));
    await stage.operator.page?.screenshot({ path: path.join(dir, 'console.png') }).catch(() => {});
  }
}
