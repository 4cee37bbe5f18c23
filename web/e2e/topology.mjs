// Browser tests of the run topology at scale and of its node menu, against
// the real stack run.mjs starts (or, run alone with `node e2e/topology.mjs`,
// one of its own):
// - 100, 1,000 and 10,000 noop-node runs open; the Performance API marks
//   (fetch -> layout -> first interactive render) are recorded, cold (layout
//   in the worker) and warm (layout from IndexedDB), with the load average;
//   BATON_E2E_BENCH=file writes them as JSON;
// - only the visible part of a 10,000-node graph is in the DOM; live
//   updates patch node states without another layout;
// - the node menu, walked for a node in every status, offers exactly the
//   operations of that status (and what the server's allowed_ops say);
//   a menu gone stale gets the server's 409 naming the node;
// - locate current progress, lineage highlighting, rerun downstream with
//   its dry-run preview; a viewer gets the log only, and no mutating button
//   on the operations pages.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { navTo } from './stack.mjs';

/** A layered flow of n noop nodes: each joins its column's node one layer up, a third also its neighbour's, a tenth one two layers up. */
export function layeredFlow(name, n) {
  const w = Math.max(1, Math.round(Math.sqrt(n)));
  const nodes = [];
  const edges = [];
  for (let k = 0; k < n; k++) {
    const l = Math.floor(k / w);
    const i = k % w;
    nodes.push({ id: `n${l}_${i}`, type: 'task', task: { kind: 'noop' } });
    if (l > 0) {
      edges.push({ from: `n${l - 1}_${i}`, to: `n${l}_${i}` });
      if (i % 3 === 0 && i + 1 < w) edges.push({ from: `n${l - 1}_${i + 1}`, to: `n${l}_${i}` });
    }
    if (l > 1 && i % 10 === 0) edges.push({ from: `n${l - 2}_${(i + 5) % w}`, to: `n${l}_${i}` });
  }
  return { name, nodes, edges };
}

// What the node menu offers for a task node in each status of a running
// run: design §5's table (docs/operations.md), written out independently
// of the code under test. "ran": the node has instances.
const expected = {
  waiting: ['node-op-pause', 'node-op-rerun-downstream', 'node-op-retry', 'node-op-stop'],
  paused: ['node-op-resume', 'node-op-stop'],
  running: ['instance-op-stop', 'node-op-log', 'node-op-rerun-from', 'node-op-stop'],
  success: ['instance-op-rerun', 'node-op-log', 'node-op-rerun-downstream', 'node-op-rerun-from', 'node-op-retry'],
  failed: ['instance-op-rerun', 'node-op-log', 'node-op-rerun-downstream', 'node-op-rerun-from', 'node-op-retry', 'node-op-skip'],
  timeout: ['instance-op-rerun', 'node-op-log', 'node-op-rerun-downstream', 'node-op-rerun-from', 'node-op-retry', 'node-op-skip'],
  stopped: ['instance-op-rerun', 'node-op-log', 'node-op-rerun-downstream', 'node-op-rerun-from', 'node-op-retry', 'node-op-skip'],
  skipped: ['node-op-rerun-downstream', 'node-op-retry'],
};
const testidOf = {
  'node-stop': 'node-op-stop', 'node-pause': 'node-op-pause', 'node-resume': 'node-op-resume', 'node-retry': 'node-op-retry',
  'node-skip': 'node-op-skip', 'rerun-downstream': 'node-op-rerun-downstream', 'rerun-from': 'node-op-rerun-from',
  'instance-stop': 'instance-op-stop', 'instance-rerun': 'instance-op-rerun',
};

export async function topologySpec({ page, stack, step, shot }) {
  const benchRuns = Number(process.env.BATON_E2E_BENCH_RUNS ?? 1);
  const tid = (id) => page.getByTestId(id);
  const signIn = async (token, lang = 'en') => {
    await page.evaluate(([t, l]) => { localStorage.setItem('baton.token', t); localStorage.setItem('baton.lang', l); }, [token, lang]);
  };
  const waitNode = (node, status, timeout = 90_000) =>
    page.locator(`[data-testid="node-${node}"][data-status="${status}"]`).waitFor({ timeout });
  const openMenu = async (node) => {
    await tid(`node-${node}`).click();
    const menu = page.locator('.ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu');
    await menu.waitFor();
    return menu.locator('[data-testid^="node-op-"], [data-testid^="instance-op-"]').evaluateAll((els) => els.map((e) => e.dataset.testid));
  };
  /**
   * Clicks a node-menu item. Under load a click can land while the menu
   * still animates in and not be taken: click again while the item is
   * still shown (a taken click closes the menu).
   */
  async function menuClick(testid) {
    for (let i = 0; i < 3; i++) {
      await tid(testid).click();
      try {
        await tid(testid).waitFor({ state: 'hidden', timeout: 3000 });
        return;
      } catch (e) {
        if (i === 2) throw e;
      }
    }
  }
  const closeMenu = async () => {
    await page.keyboard.press('Escape');
    await page.locator('.ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu').waitFor({ state: 'hidden' }).catch(() => {});
  };
  const timing = () => page.waitForFunction(() => window.__batonTopology, null, { timeout: 120_000 }).then((h) => h.jsonValue());

  await page.goto(stack.base + '/');
  await signIn(stack.token);

  const figures = [];
  let bigRun;
  for (const n of [100, 1000, 10000]) {
    await step(`topology of a ${n}-node run: opens, marks fetch -> layout -> render, cold and warm`, async () => {
      const flow = await stack.api('POST', '/flows', layeredFlow(`e2e-topo-${n}`, n));
      const run = (await stack.api('POST', `/flows/${flow.id}/runs`, {})).id;
      if (n === 10000) bigRun = run;
      const row = { nodes: n, cold: [], warm: [] };
      // BATON_E2E_BENCH_RUNS opens: cold (the layout cache emptied first), then warm.
      for (let rep = 0; rep < benchRuns; rep++) for (const pass of ['cold', 'warm']) {
        if (pass === 'cold' && rep > 0) {
          const cdp = await page.context().newCDPSession(page);
          await cdp.send('Storage.clearDataForOrigin', { origin: new URL(stack.base).origin, storageTypes: 'indexeddb' });
          await cdp.detach();
        }
        const load = loadavg()[0];
        await page.goto(`${stack.base}/runs/${run}`);
        const t = await timing();
        assert.equal(t.nodes, n);
        assert.equal(t.layoutSource, pass === 'cold' ? 'worker' : 'indexeddb', `${pass} layout source`);
        assert.equal(t.engine, n <= 300 ? 'dagre' : 'layered');
        // Interactive: a click on a node opens its menu.
        const first = page.locator('[data-testid^="node-n0_"]').first();
        const t0 = Date.now();
        await first.click();
        await page.locator('.ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu').waitFor();
        const clickMs = Date.now() - t0;
        await closeMenu();
        const inDom = await page.locator('.react-flow__node').count();
        if (n === 10000) assert.ok(inDom < 2000, `only the visible nodes are rendered (${inDom} in the DOM)`);
        if (n === 10000) assert.ok(t.given.nodes < 2000 && t.given.edges < 3000, `xyflow is given only what is near the viewport (${t.given.nodes} nodes, ${t.given.edges} edges)`);
        row[pass].push({ ...t, clickMs, inDom, load });
        console.log(`     ${n} nodes ${pass}: fetch ${t.fetch.toFixed(0)} ms, parse ${t.parse.toFixed(0)} ms, layout ${t.layout.toFixed(0)} ms, ` +
          `render ${t.render.toFixed(0)} ms, interactive ${t.interactive.toFixed(0)} ms, total ${t.total.toFixed(0)} ms ` +
          `(from navigation ${t.sinceNavigation.toFixed(0)} ms), menu ${clickMs} ms, ${t.given.nodes}/${t.given.edges} given to xyflow, ` +
          `${inDom} nodes in the DOM, load ${load.toFixed(2)}`);
      }
      figures.push(row);
      if (n === 10000) {
        await tid('topo-clear-focus').click();
        await shot('run-topology-10000');
      }
    });
  }
  if (process.env.BATON_E2E_BENCH) writeFileSync(process.env.BATON_E2E_BENCH, JSON.stringify(figures, null, 2));

  await step('10,000 nodes: live states patch the nodes in view without another layout; lineage and locate work', async () => {
    await page.goto(`${stack.base}/runs/${bigRun}`);
    await timing();
    // Some node in view turns from waiting to success while the page is open.
    await page.waitForFunction(() => {
      const ns = [...document.querySelectorAll('[data-testid^="node-n"]')];
      return ns.some((e) => e.dataset.status === 'success');
    }, null, { timeout: 120_000 });
    const before = await page.locator('[data-testid="node-n0_0"]').evaluate((e) => e.closest('.react-flow__node').style.transform);
    await page.waitForTimeout(4000); // events and a refetch go by
    const after = await page.locator('[data-testid="node-n0_0"]').evaluate((e) => e.closest('.react-flow__node').style.transform);
    assert.equal(after, before, 'node positions do not move');
    assert.equal(await page.evaluate(() => window.__batonTopology.layouts), 1, 'one layout for the life of the page');
    // Lineage: a node's upstream and downstream stay lit, the rest fades.
    await tid('node-n1_0').click();
    await tid('topo-lineage').waitFor();
    assert.match(await tid('topo-lineage').textContent(), /n1_0: \d+ nodes/);
    await closeMenu();
    const faded = await page.locator('[data-testid="node-n0_5"]').evaluate((e) => getComputedStyle(e).opacity);
    const lit = await page.locator('[data-testid="node-n0_0"]').evaluate((e) => getComputedStyle(e).opacity);
    assert.equal(faded, '0.25');
    assert.equal(lit, '1');
    await stack.api('POST', `/runs/${bigRun}/stop`, { reason: 'e2e: benchmark done' }).catch(() => {});
  });

  let statesRun;
  await step('node menu: a node in every status offers exactly its operations (and the server\'s allowed_ops)', async () => {
    const flow = await stack.api('POST', '/flows', {
      name: 'e2e-states', nodes: [
        { id: 'ok', type: 'task', task: { kind: 'noop' } },
        { id: 'bad', type: 'task', task: { kind: 'shell', shell: { script: 'echo bad; exit 1' } } },
        { id: 'after_bad', type: 'task', task: { kind: 'noop' } },
        { id: 'long', type: 'task', task: { kind: 'shell', shell: { script: 'echo long-start; sleep 600' }, grace: '1s' } },
        { id: 'held', type: 'task', task: { kind: 'noop' } },
        { id: 'paused_n', type: 'task', task: { kind: 'noop' } },
        { id: 'stop_me', type: 'task', task: { kind: 'shell', shell: { script: 'sleep 600' }, grace: '1s' } },
        { id: 'slow', type: 'task', task: { kind: 'shell', shell: { script: 'sleep 60' }, timeout: '1s', grace: '1s' } },
        { id: 'gate', type: 'and' },
      ], edges: [
        { from: 'bad', to: 'after_bad' }, { from: 'long', to: 'held' }, { from: 'long', to: 'paused_n' },
        { from: 'ok', to: 'gate' }, { from: 'after_bad', to: 'gate' },
      ],
    });
    statesRun = (await stack.api('POST', `/flows/${flow.id}/runs`, {})).id;
    await page.goto(`${stack.base}/runs/${statesRun}`);
    await waitNode('long', 'running');
    await stack.api('POST', `/runs/${statesRun}/nodes/paused_n/pause`, { reason: 'e2e' });
    await waitNode('stop_me', 'running');
    await stack.api('POST', `/runs/${statesRun}/nodes/stop_me/stop`, { reason: 'e2e' });
    const want = { ok: 'success', bad: 'failed', after_bad: 'skipped', long: 'running', held: 'waiting', paused_n: 'paused', stop_me: 'stopped', slow: 'timeout' };
    for (const [node, st] of Object.entries(want)) await waitNode(node, st);
    // No reload and no wait for the view to be read again: each menu
    // follows its node's live state (the event stream) at once.
    const view = await stack.api('GET', `/runs/${statesRun}?view=topology`);
    const covered = new Set();
    for (const [node, st] of Object.entries(want)) {
      const ops = (await openMenu(node)).sort();
      await closeMenu();
      assert.deepEqual(ops, expected[st], `menu of ${node} (${st})`);
      const server = (view.nodes.find((x) => x.id === node).allowed_ops ?? []).map((o) => testidOf[o]);
      const withLog = view.nodes.find((x) => x.id === node).instances?.length ? [...server, 'node-op-log'] : server;
      assert.deepEqual(ops, withLog.sort(), `menu of ${node} is the server's allowed_ops`);
      covered.add(st);
    }
    assert.deepEqual([...covered].sort(), Object.keys(expected).sort(), 'every status walked');
    assert.deepEqual(await openMenu('gate'), [], 'a logic node has no operation');
    await closeMenu();
    await tid('topo-clear-focus').click();
    await shot('run-topology-states');
  });

  await step('a menu gone stale: the server refuses with 409 naming the node', async () => {
    assert.deepEqual((await openMenu('paused_n')).sort(), expected.paused);
    await stack.api('POST', `/runs/${statesRun}/nodes/paused_n/resume`, { reason: 'e2e: moved on' });
    await menuClick('node-op-resume');
    const err = await tid('op-error').first().textContent();
    assert.match(err, /^409 node_not_eligible: .*paused_n \(waiting\)/);
    await page.locator('.ant-notification-notice-close').first().click().catch(() => {});
  });

  await step('a menu opened right after a live change offers the new state\'s operations (no wait for the view to be read again)', async () => {
    await closeMenu();
    await stack.api('POST', `/runs/${statesRun}/nodes/held/pause`, { reason: 'e2e: live menu' });
    await waitNode('held', 'paused');
    // The view is read again only seconds after a node change: this menu
    // comes from the event stream's patch.
    assert.deepEqual((await openMenu('held')).sort(), expected.paused, 'menu of held just paused');
    await closeMenu();
    await stack.api('POST', `/runs/${statesRun}/nodes/held/resume`, { reason: 'e2e: live menu' });
    await waitNode('held', 'waiting');
    assert.deepEqual((await openMenu('held')).sort(), expected.waiting, 'menu of held just resumed');
    await closeMenu();
  });

  await step('locate current progress centres on the running node and opens its log', async () => {
    await tid('tab-topology').click();
    await tid('locate').click();
    await tid('log-text').filter({ hasText: 'long-start' }).waitFor({ timeout: 30_000 });
    await tid('tab-topology').click();
    await tid('topo-lineage').waitFor();
    assert.match(await tid('topo-lineage').textContent(), /^long: 2 nodes/);
  });

  await step('rerun downstream: node picker, dry-run preview of every node that runs again, reason, applied', async () => {
    await openMenu('bad');
    // Under load a click can land while the menu still animates in: click
    // again while the menu is still there and the picker is not.
    for (let i = 0; i < 3; i++) {
      await tid('node-op-rerun-downstream').click();
      try {
        await tid('rerun-down-nodes').waitFor({ timeout: 5000 });
        break;
      } catch (e) {
        if (i === 2 || !(await tid('node-op-rerun-downstream').isVisible())) throw e;
      }
    }
    // The same picker as the run-level button's, opened with the node chosen.
    await tid('rerun-down-nodes').filter({ hasText: 'bad' }).waitFor();
    await tid('rerun-down-preview').click();
    await tid('rerun-down-plan').waitFor();
    const plan = await tid('rerun-down-plan').locator('.ant-list-item').allTextContents();
    assert.deepEqual(plan, ['bad', 'after_bad', 'gate']);
    await tid('rerun-down-reason').fill('e2e: input fixed');
    await tid('rerun-down-confirm').click();
    await tid('rerun-down-plan').waitFor({ state: 'hidden', timeout: 30_000 });
    assert.equal(await tid('op-error').count(), 0, 'applied without a refusal');
    const run = await stack.api('GET', `/runs/${statesRun}`);
    assert.ok(run.transitions.some((t) => t.entity === 'node' && t.entity_id === 'bad' && (t.reason ?? '').includes('e2e: input fixed')),
      'the rerun is logged with its reason');
  });

  await step('topology in Chinese', async () => {
    await page.locator('[data-testid="lang-switch"]').getByText('中文').click();
    await tid('topo-count').filter({ hasText: '个节点' }).waitFor();
    await waitNode('ok', 'success');
    await shot('run-topology-states-zh');
    await page.locator('[data-testid="lang-switch"]').getByText('EN').click();
  });

  await step('a viewer: the node menu offers the log only; no mutating button on the operations pages', async () => {
    const viewer = (await stack.api('POST', '/tokens', { name: 'e2e-topo-viewer', role: 'viewer' })).token;
    await signIn(viewer);
    await page.goto(`${stack.base}/runs/${statesRun}`);
    await waitNode('ok', 'success');
    assert.deepEqual(await openMenu('long'), ['node-op-log']);
    await closeMenu();
    assert.deepEqual(await openMenu('held'), []);
    await closeMenu();
    await navTo(page, 'workers');
    await tid('workers-table').locator('tbody tr').first().waitFor();
    // The dev worker, by its group, live (seen within the engine's liveness window).
    await tid('workers-group-default').waitFor();
    assert.equal(await tid('workers-group-default').getByTestId('worker-live').first().textContent(), 'live');
    await navTo(page, 'audit');
    await tid('audit-table').waitFor();
    assert.equal(await tid('nav-tokens').count(), 0);
    for (const screen of ['workers', 'audit']) {
      await navTo(page, screen);
      await tid(`${screen}-table`).waitFor();
      const buttons = await page.locator('main button, .ant-layout-content button').evaluateAll((bs) => bs.map((b) => b.dataset.testid ?? b.textContent));
      assert.ok(buttons.every((b) => !/create|revoke|delete|stop|retry/i.test(b ?? '')), `${screen}: ${buttons}`);
    }
    await page.goto(`${stack.base}/tokens`);
    assert.equal(await tid('token-create').count(), 0);
    await signIn(stack.token);
    await stack.api('POST', `/runs/${statesRun}/stop`, { reason: 'e2e: done' }).catch(() => {});
  });
  return figures;
}

// Run alone: its own stack and browser.
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { chromium } = await import('playwright-core');
  const { startStack } = await import('./stack.mjs');
  const stack = await startStack();
  const profile = mkdtempSync(join(tmpdir(), 'baton-e2e-chromium-'));
  const shots = process.env.BATON_E2E_SCREENSHOTS;
  let code = 0;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.BATON_TEST_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    viewport: { width: 1440, height: 900 }, locale: 'en-US',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  try {
    await topologySpec({
      page, stack,
      step: async (name, fn) => {
        const t0 = Date.now();
        try {
          await fn();
          console.log(`ok   ${name} (${Date.now() - t0} ms)`);
        } catch (e) {
          console.log(`FAIL ${name}: ${e.stack ?? e}`);
          await page.screenshot({ path: join(stack.dataDir, 'failure.png') }).catch(() => {});
          throw e;
        }
      },
      shot: async (name) => {
        if (!shots) return;
        mkdirSync(shots, { recursive: true });
        await page.waitForTimeout(300);
        await page.screenshot({ path: join(shots, `${name}.png`) });
      },
    });
  } catch {
    code = 1;
    process.env.BATON_E2E_KEEP = '1';
    console.log(`data dir kept: ${stack.dataDir}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await stack.stop();
  }
  process.exit(code);
}
