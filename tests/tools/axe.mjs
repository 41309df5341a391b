// Runs axe-core's WCAG 2.1 A/AA rules on a page in headless Chromium, the
// page opened in a 1200 px window, and prints the result as JSON:
// {page_width, passes, violations: [{id, impact, help, nodes, example}]}.
// Run from a folder whose node_modules holds axe-core and playwright-core
// (scripts/test installs them; tests/report.rs copies this file there).
// Usage: node axe.mjs URL [CHROMIUM]
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [page_url, exe] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: exe || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
await page.goto(page_url);
await page.addScriptTag({ content: axeSource });
const result = await page.evaluate(async () => await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
const width = await page.evaluate(() => document.documentElement.scrollWidth);
await browser.close();
console.log(JSON.stringify({
  // Wider than the 1200 px window: the reader must scroll sideways.
  page_width: width,
  passes: result.passes.length,
  violations: result.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, example: v.nodes[0] && v.nodes[0].html.slice(0, 200) })),
}));
