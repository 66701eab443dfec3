// axe-core (Deque's accessibility engine, from npm) run inside a page: the
// WCAG 2.1 A and AA rules, over a part of the page or all of it. axe walks
// open shadow roots by itself, so the widget is checked as rendered.

import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/**
 * axe's browser build, evaluated in each page under test through the
 * DevTools protocol: the console's CSP (rightly) refuses an injected
 * script tag, and the page under test must keep its own CSP.
 */
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The rule sets the issue asks for: WCAG 2.1 level AA (which includes A). */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * The violations axe finds in `page`, limited to `include` (a CSS selector)
 * when given; each as "rule: help (target, ...)", ready for an assertion
 * message a developer can act on.
 */
export async function axeViolations(page, include) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const violations = await page.evaluate(
    async ({ include, tags }) => {
      // What the visitor reads once the panel has faded in: mid-animation
      // colours are half-transparent and would read as a contrast failure.
      // Document.getAnimations does not list animations inside shadow
      // trees (the widget's fade-in is in one), so every open shadow root is
      // asked too, and again until a frame passes with none running: an
      // animation may start on the frame after the one that showed the panel.
      const running = () => {
        const roots = [document];
        for (let i = 0; i < roots.length; i += 1) {
          for (const el of roots[i].querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
        }
        // An endless animation never settles: it is left out, not waited for.
        return roots
          .flatMap((root) => root.getAnimations())
          .filter((a) => a.playState !== 'finished' && a.effect?.getComputedTiming().endTime !== Infinity);
      };
      const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
      for (let tries = 0; tries < 20; tries += 1) {
        await frame();
        const animations = running();
        if (animations.length === 0) break;
        const settled = Promise.all(animations.map((a) => a.finished.catch(() => {})));
        await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      }
      const result = await window.axe.run(include ? { include: [include] } : document, {
        runOnly: { type: 'tag', values: tags },
        resultTypes: ['violations'],
      });
      return result.violations.map((v) => ({
        id: v.id,
        help: v.help,
        nodes: v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary?.split('\n').slice(1, 2).join(' ') ?? ''}`),
      }));
    },
    { include, tags: TAGS },
  );
  return violations.map((v) => `${v.id}: ${v.help}\n    ${v.nodes.join('\n    ')}`);
}
