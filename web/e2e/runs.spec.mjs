// Browser tests of the execution records (执行记录), run detail and
// backfill (补数据) screens, on real shell tasks. run.mjs calls runsSpec
// after its own steps, on the same stack and browser; `node
// e2e/runs.spec.mjs` runs these steps alone (its own stack and chromium).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runAlone } from './stack.mjs';

/** ctx: { page, stack, step(name, fn), shot(name) } from the runner. */
export async function runsSpec({ page, stack, step, shot }) {
  const tid = (id) => page.getByTestId(id);
  const rows = () => page.locator('[data-testid="runs-table"] tbody tr [data-testid="run-link"]');
  const waitNode = (node, status, timeout = 60_000) =>
    page.locator(`[data-testid="node-${node}"][data-status="${status}"]`).waitFor({ timeout });
  const waitRun = (status, timeout = 60_000) =>
    page.locator(`[data-testid="run-status"] [data-status="${status}"]`).waitFor({ timeout });
  async function nodeMenu(node) {
    await tid(`node-${node}`).click();
    const menu = page.locator('.ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu');
    await menu.waitFor();
    return menu.locator('[data-testid^="node-op-"], [data-testid^="instance-op-"]').evaluateAll((els) => els.map((e) => e.dataset.testid));
  }
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
  async function confirmOp(reason) {
    const dialog = page.locator('.ant-modal').filter({ has: tid('op-reason') });
    await tid('op-reason').fill(reason);
    await page.locator('#op-confirm').click();
    await dialog.waitFor({ state: 'hidden', timeout: 30_000 });
  }
  async function flow(name, nodes, edges = []) {
    return stack.api('POST', '/flows', { name, nodes, edges });
  }
  const shell = (id, script, extra = {}) => ({ id, type: 'task', task: { kind: 'shell', shell: { script }, ...extra } });
  async function runOf(flowId, body = {}) {
    return (await stack.api('POST', `/flows/${flowId}/runs`, body)).id;
  }
  async function until(what, fn, timeout = 60_000) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  // The console signed in as the admin, in English (run.mjs ends as a
  // viewer, in Chinese).
  await page.goto(stack.base + '/');
  await page.evaluate((tok) => { localStorage.setItem('baton.token', tok); localStorage.setItem('baton.lang', 'en'); }, stack.token);
  await step('a busy API (a 503 on /me) keeps the saved token: the console says so, asks again and opens', async () => {
    // The one answer faked here is the server's; everything after it is real.
    let failed = 0;
    await page.route('**/api/v1/me', (route) => {
      if (failed++ === 0) {
        return route.fulfill({ status: 503, contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'unavailable', message: 'the mirror database is unavailable' } }) });
      }
      return route.continue();
    });
    await page.goto(stack.base + '/runs');
    await page.getByText('The Baton API does not answer').waitFor({ timeout: 10_000 });
    await tid('runs-table').waitFor({ timeout: 15_000 });
    await page.unroute('**/api/v1/me');
    if (!(await page.evaluate(() => localStorage.getItem('baton.token')))) throw new Error('the token was dropped on a 503');
  });
  const mark = join(tmpdir(), `baton-e2e-flaky-${randomBytes(6).toString('hex')}`);
  let flaky;
  let flakyRun;

  await step('runs: a node fails live (event stream, no polling), its log shows why, retry from the menu, the run succeeds', async () => {
    flaky = await flow('e2e-flaky', [
      shell('flaky', `if [ -f ${mark} ]; then echo second try works; else touch ${mark}; echo first try breaks >&2; exit 2; fi`),
      { id: 'after', type: 'task', task: { kind: 'noop' } },
    ], [{ from: 'flaky', to: 'after' }]);
    const details = [];
    const listen = (r) => { if (/\/api\/v1\/runs\/[0-9a-f-]{36}$/.test(new URL(r.url()).pathname)) details.push(r.url()); };
    page.on('request', listen);
    flakyRun = await runOf(flaky.id, { bizdate: '2026-03-01' });
    await page.goto(`${stack.base}/runs/${flakyRun}`);
    await waitNode('flaky', 'failed');
    await waitRun('failed');
    // The states came from GET /runs/{id}/events: a handful of detail
    // reads (first load, new instances), not one every second.
    assert.ok(details.length <= 6, `detail fetched ${details.length} times`);
    const ops = await nodeMenu('flaky');
    assert.ok(ops.includes('node-op-retry') && ops.includes('node-op-log'), ops.join());
    await menuClick('node-op-log');
    await tid('log-text').filter({ hasText: 'first try breaks' }).waitFor();
    await tid('duration-chart').waitFor();
    await tid('tab-topology').click();
    await nodeMenu('flaky');
    await menuClick('node-op-retry');
    await confirmOp('flaky upstream, try again');
    await waitNode('flaky', 'success');
    await waitNode('after', 'success');
    await waitRun('success');
    page.off('request', listen);
    assert.ok(details.length <= 12, `detail fetched ${details.length} times`);
    await tid('tab-logs').click();
    await tid('log-instance-flaky-0-2').click();
    await tid('log-text').filter({ hasText: 'second try works' }).waitFor();
    await tid('log-state').filter({ hasText: 'end of log' }).waitFor();
    // This run's bar (outlined) is in the node's duration history.
    assert.ok(await tid('history-bar').count() >= 1);
    await shot('run-log-history');
  });

  await step('run detail: the Gantt view has a bar per instance; the timeline says who retried, when and why', async () => {
    await tid('tab-gantt').click();
    await tid('gantt').waitFor();
    await tid('gantt-row-flaky').nth(1).waitFor();
    assert.equal(await tid('gantt-row-flaky').count(), 2, 'two attempts of flaky');
    assert.equal(await tid('gantt-row-after').count(), 1);
    assert.equal(await page.locator('[data-testid="gantt-row-flaky"] .gantt-bar[data-status="failed"]').count(), 1);
    await shot('run-gantt');
    await tid('tab-transitions').click();
    const entry = tid('timeline-entry').filter({ hasText: 'node.retry' });
    await entry.first().waitFor();
    const text = await entry.first().textContent();
    assert.match(text, /admin/);
    assert.match(text, /flaky upstream, try again/);
    assert.match(text, /applied/);
    // The node's own transitions carry the actor and the reason too.
    await tid('timeline-entry').filter({ hasText: 'flaky' }).filter({ hasText: 'why: flaky upstream, try again' }).first().waitFor();
    await shot('run-timeline');
  });

  await step('skip (set success) a failed node: the run goes on and succeeds', async () => {
    const f = await flow('e2e-skip', [shell('bad', 'echo broken >&2; exit 1'), { id: 'next', type: 'task', task: { kind: 'noop' } }],
      [{ from: 'bad', to: 'next' }]);
    const run = await runOf(f.id);
    await page.goto(`${stack.base}/runs/${run}`);
    await waitNode('bad', 'failed');
    await nodeMenu('bad');
    await menuClick('node-op-skip');
    await confirmOp('input was empty, nothing to do');
    await waitNode('next', 'success');
    await waitRun('success');
  });

  let long;
  await step('stop a running run (confirmation, reason); a stop that the state overtook shows the 409 naming the run', async () => {
    long = await flow('e2e-long-runs', [shell('wait', 'echo started; sleep 120', { grace: '1s' }), { id: 'then', type: 'task', task: { kind: 'noop' } }],
      [{ from: 'wait', to: 'then' }]);
    const a = await runOf(long.id);
    await page.goto(`${stack.base}/runs/${a}`);
    await waitNode('wait', 'running');
    await tid('run-op-stop').click();
    await confirmOp('not needed today');
    await waitRun('stopped');
    await waitNode('wait', 'stopped');
    // The dialog is open when someone else stops the run: confirming it
    // is refused with the server's 409 message.
    const b = await runOf(long.id);
    await page.goto(`${stack.base}/runs/${b}`);
    await waitNode('wait', 'running');
    await tid('run-op-stop').click();
    await tid('op-reason').fill('racing another operator');
    await stack.api('POST', `/runs/${b}/stop`, { reason: 'the other operator' });
    await until('run b stopped', async () => (await stack.api('GET', `/runs/${b}`)).status === 'stopped');
    await page.locator('#op-confirm').click();
    const err = await tid('op-error').textContent();
    assert.match(err, /^409 /);
    assert.match(err, /cannot stop a run that is stopped/);
    await shot('run-409');
    await waitRun('stopped');
  });

  await step('rerun downstream: node picker, dry-run preview of the plan, then the nodes run again in this run', async () => {
    const a = (await stack.api('GET', `/runs?definition_id=${long.id}&limit=1`)).items[0].id;
    await page.goto(`${stack.base}/runs/${a}`);
    await waitRun('stopped');
    await tid('run-op-rerun-downstream').click();
    await tid('rerun-down-nodes').click();
    await page.locator('.ant-select-item-option').filter({ hasText: /^wait \(/ }).click();
    await page.keyboard.press('Escape');
    await tid('rerun-down-preview').click();
    const plan = await tid('rerun-down-plan').textContent();
    assert.match(plan, /wait/);
    await tid('rerun-down-reason').fill('try the stopped node again');
    await tid('rerun-down-confirm').click();
    await waitNode('wait', 'running');
    await stack.api('POST', `/runs/${a}/stop`, { reason: 'cleanup' });
    await waitRun('stopped');
  });

  await step('a 10 MiB log stays usable: virtualised lines, followed to its end, scrolls to the top', async () => {
    const f = await flow('e2e-biglog', [shell('big', "yes 'log line from a chatty task, padded to make it wider than most' | head -c 10481664; echo; echo THE-LAST-LINE")]);
    const run = await runOf(f.id);
    await page.goto(`${stack.base}/runs/${run}`);
    await waitNode('big', 'success', 120_000);
    await nodeMenu('big');
    await menuClick('node-op-log');
    const t0 = Date.now();
    await tid('log-text').filter({ hasText: 'THE-LAST-LINE' }).waitFor({ timeout: 60_000 });
    const followed = Date.now() - t0;
    await tid('log-state').filter({ hasText: 'end of log' }).waitFor();
    assert.match(await tid('log-size').textContent(), /10\.0 MiB/);
    const inDom = await page.locator('[data-testid="log-text"] .log-line').count();
    assert.ok(inDom < 200, `${inDom} lines in the DOM`);
    const t1 = Date.now();
    // A wheel up stops the following; Top goes to the first line.
    await tid('log-text').hover();
    await page.mouse.wheel(0, -600);
    await tid('log-top').click();
    await page.locator('[data-testid="log-text"] .log-line').filter({ hasText: /^1\s*log line/ }).waitFor();
    const toTop = Date.now() - t1;
    console.log(`     10 MiB log: shown to its last line in ${followed} ms, scrolled to the top in ${toTop} ms, ${inDom} line elements`);
    await shot('run-log-10mib');
  });

  await step('runs list: keyset paging (load more, infinite scroll), live patches without moving the page, batch retry with a result per run', async () => {
    // Pages of two: the sentinel under the table is in view, so each page
    // loads the next (infinite scroll) by its next_cursor, to the last.
    const total = (await stack.api('GET', '/runs?limit=1')).total;
    const cursors = [];
    const onReq = (r) => { const u = new URL(r.url()); if (u.pathname === '/api/v1/runs' && u.searchParams.get('cursor')) cursors.push(u.searchParams.get('cursor')); };
    page.on('request', onReq);
    await page.goto(`${stack.base}/runs?limit=2`);
    await rows().nth(1).waitFor();
    for (let i = 0; i < 40 && !(await tid('runs-end').count()); i++) {
      await page.mouse.wheel(0, 2000);
      await page.waitForTimeout(250);
    }
    await tid('runs-end').waitFor();
    page.off('request', onReq);
    const ids = await rows().evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.equal(ids.length, total, 'every run once the last page is in');
    assert.equal(new Set(ids).size, ids.length, 'no run twice across pages');
    assert.equal(cursors.length, Math.ceil(total / 2) - 1, `one request per further page: ${cursors.length}`);
    assert.equal(new Set(cursors).size, cursors.length);
    assert.match(await tid('runs-total').textContent(), new RegExp(`${total} runs, ${total} shown`));
    // With several pages loaded, a run started elsewhere is announced, not
    // pushed into the page; showing it goes back to the first page.
    const newest = await runOf(flaky.id, { bizdate: '2026-03-02' });
    await tid('runs-fresh').waitFor();
    assert.equal(await rows().count(), total);
    await tid('runs-show-new').click();
    await page.locator(`[data-testid="run-link"][href="/runs/${newest}"]`).waitFor();
    assert.equal(await rows().count(), 2);

    // Two failed runs of one flow, then batch retry from the list.
    const f = await flow('e2e-batch', [shell('once', `f=${mark}-$BATON_BIZDATE; if [ -f $f ]; then echo ok; else touch $f; exit 1; fi`)]);
    const r1 = await runOf(f.id, { bizdate: '2026-04-01' });
    const r2 = await runOf(f.id, { bizdate: '2026-04-02' });
    await page.goto(`${stack.base}/runs?definition=e2e-batch`);
    await until('both failed', async () => (await page.locator('[data-testid="run-row-status"] [data-status="failed"]').count()) === 2);
    const scrollBefore = await page.evaluate(() => window.scrollY);
    await page.locator('[data-testid="runs-table"] thead .ant-checkbox-input').check();
    await tid('batch-retry').click();
    await tid('batch-reason').fill('upstream fixed');
    await page.locator('#batch-confirm').click();
    const results = tid('batch-results');
    await results.waitFor();
    const text = await results.textContent();
    assert.equal((text.match(/Yes/g) ?? []).length, 2, text);
    for (const r of [r1, r2]) assert.ok(text.includes(r.slice(0, 8)), `${r} in ${text}`);
    await shot('runs-batch-retry');
    await page.keyboard.press('Escape');
    // The rows turn success in place, from the event stream.
    await until('both success', async () => (await page.locator('[data-testid="run-row-status"] [data-status="success"]').count()) === 2);
    assert.equal(await page.evaluate(() => window.scrollY), scrollBefore);
    // At the top of the first page a new run simply appears above.
    const third = await runOf(f.id, { bizdate: '2026-04-03' });
    await page.locator(`[data-testid="run-link"][href="/runs/${third}"]`).waitFor();
    assert.equal(await rows().count(), 3);
    assert.equal(await tid('runs-fresh').count(), 0);
    await page.goto(`${stack.base}/runs`);
    await rows().nth(5).waitFor();
    await shot('runs-list');
  });

  await step('backfill from a run: a node and its downstream, dry-run preview of dates and nodes, then the list shows its progress', async () => {
    await page.goto(`${stack.base}/runs/${flakyRun}`);
    await waitRun('success');
    await tid('run-op-backfill').click();
    const range = page.locator('.ant-modal .ant-picker-range');
    await range.locator('input').first().click();
    await range.locator('input').first().fill('2026-02-01');
    await range.locator('input').nth(1).click();
    await range.locator('input').nth(1).fill('2026-02-03');
    await page.keyboard.press('Enter');
    await page.locator('.ant-modal').getByText('A node and its downstream').click();
    await tid('backfill-node').click();
    await page.locator('.ant-select-item-option').filter({ hasText: /^after$/ }).click();
    await page.locator('.ant-modal').getByText('Parallel dates').click(); // close the select
    await page.locator('.ant-modal input.ant-input-number-input').fill('2');
    await tid('backfill-preview').click();
    const plan = await tid('backfill-plan').textContent();
    for (const d of ['2026-02-01', '2026-02-02', '2026-02-03']) assert.ok(plan.includes(d), `${d} in ${plan}`);
    assert.match(plan, /3 dates/);
    assert.match(plan, /3 runs, 3 node runs/);
    assert.ok(!plan.includes('flaky'), 'only after and its downstream');
    await shot('backfill-dialog-from-run');
    await page.locator('#backfill-start').click();
    await page.waitForURL(/backfill_id=/);
    await until('three backfill runs', async () => (await rows().count()) === 3, 60_000);
    await tid('nav-backfills').click();
    const row = tid('backfills-table').locator('tbody tr').first();
    await row.locator('[data-testid="backfill-status"][data-status="success"]').waitFor({ timeout: 60_000 });
    assert.match(await row.locator('[data-testid="backfill-counts"]').textContent(), /3 done · 0 failed/);
    await shot('backfills');
  });

  await step('backfill list: pause, resume and stop a running backfill; retry the failed dates of another', async () => {
    const bf = await stack.api('POST', '/backfills', { kind: 'flow', definition_id: long.id, from: '2026-05-01', to: '2026-05-04', parallel: 1 });
    const fails = await flow('e2e-bf-fails', [shell('nope', 'exit 4')]);
    const bad = await stack.api('POST', '/backfills', { kind: 'flow', definition_id: fails.id, from: '2026-05-01', to: '2026-05-01' });
    await page.goto(`${stack.base}/backfills`);
    const actions = tid(`backfill-actions-${bf.id}`);
    const status = (s) => tid('backfills-table').locator('tbody tr').filter({ has: actions }).locator(`[data-testid="backfill-status"][data-status="${s}"]`);
    await status('running').waitFor();
    await actions.getByTestId('backfill-op-pause').click();
    await status('paused').waitFor();
    await actions.getByTestId('backfill-op-resume').click();
    await status('running').waitFor();
    await actions.getByTestId('backfill-op-stop').click();
    await page.locator('#backfill-stop-confirm').click();
    await status('stopped').waitFor({ timeout: 60_000 });
    assert.equal(await actions.locator('[data-testid^="backfill-op-"]').count(), 0, 'a stopped backfill takes no operation');
    const badActions = tid(`backfill-actions-${bad.id}`);
    const badRow = tid('backfills-table').locator('tbody tr').filter({ has: badActions });
    await badRow.locator('[data-testid="backfill-status"][data-status="failed"]').waitFor({ timeout: 60_000 });
    await badActions.getByTestId('backfill-op-retry').click();
    await until('the failed date retried', async () => {
      const b = await stack.api('GET', `/backfills/${bad.id}`);
      return b.dates[0].attempt >= 2;
    });
  });

  await step('中文: the runs list, the Gantt view and the backfill dialog', async () => {
    await page.evaluate(() => localStorage.setItem('baton.lang', 'zh'));
    await page.goto(`${stack.base}/runs`);
    await tid('runs-more').or(tid('runs-end')).first().waitFor();
    await page.getByText('执行记录').first().waitFor();
    await shot('runs-list-zh');
    await page.goto(`${stack.base}/runs/${flakyRun}`);
    await waitRun('success');
    await tid('tab-gantt').click();
    await tid('gantt-row-flaky').nth(1).waitFor();
    await page.getByText('甘特图').first().waitFor();
    await shot('run-gantt-zh');
    await tid('run-op-backfill').click();
    await page.locator('.ant-modal').getByText('某节点及其下游').waitFor();
    await shot('backfill-dialog-zh');
    await page.keyboard.press('Escape');
    await page.evaluate(() => localStorage.setItem('baton.lang', 'en'));
  });
  rmSync(mark, { force: true });
}

// Alone: its own stack and chromium, as run.mjs sets them up.
if (import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone(runsSpec);
