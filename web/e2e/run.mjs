// Browser tests of the console against a real stack: Debian's chromium
// driven by playwright-core, `baton dev` with real shell tasks. Run with
// `npm run e2e` (or `make test-web`); BATON_E2E_SCREENSHOTS=dir writes the
// README's screenshots there.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { navTo, startStack } from './stack.mjs';
import { editorSpecs } from './editor.mjs';
import { topologySpec } from './topology.mjs';
import { runsSpec } from './runs.spec.mjs';
import { alertsSpec } from './alerts.spec.mjs';

const shots = process.env.BATON_E2E_SCREENSHOTS;
const chromiumPath = process.env.BATON_TEST_CHROMIUM ?? '/usr/bin/chromium';

const stack = await startStack();
const profile = mkdtempSync(join(tmpdir(), 'baton-e2e-chromium-'));
let context;
try {
  // A fresh profile per run: no cached bundle, no remembered token.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run'],
    viewport: { width: 1440, height: 900 },
    locale: 'en-US',
  });
} catch (e) {
  await stack.stop();
  throw e;
}
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(20_000);
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let failed = false;
const started = Date.now();
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
    await page.screenshot({ path: join(stack.dataDir, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  }
}
async function shot(name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.waitForTimeout(300); // let animations settle
  await page.screenshot({ path: join(shots, `${name}.png`) });
}
const tid = (id) => page.getByTestId(id);

/** Drags from one node's source handle onto another node's target handle. */
async function connect(from, to) {
  const src = tid(`node-${from}`).locator('.react-flow__handle.source');
  const dst = tid(`node-${to}`).locator('.react-flow__handle.target');
  const a = await src.boundingBox();
  const b = await dst.boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 10 });
  await page.mouse.up();
}

async function setScript(node, script) {
  await tid(`node-${node}`).click();
  const cm = tid('node-script').locator('.cm-content');
  await cm.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // One input event for the whole script: on a loaded machine typing it key
  // by key outlasts the timeout, and keystrokes are not what is tested.
  await page.keyboard.insertText(script);
}

/**
 * The run-level buttons enabled now (run-op-* without the prefix, sorted).
 * They follow the run's live state: read right after the status tag shows
 * a state, with no wait of their own.
 */
async function runButtons() {
  return (await tid('run-actions').locator('button[data-testid^="run-op-"]:not([disabled])')
    .evaluateAll((bs) => bs.map((b) => b.dataset.testid.slice('run-op-'.length)))).sort();
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

/** Confirms the open operation dialog with a reason, and waits until it closed. */
async function confirmOp(reason) {
  const dialog = page.locator('.ant-modal').filter({ has: tid('op-reason') });
  await tid('op-reason').fill(reason);
  // Under heavy load a click can land while the dialog still animates in;
  // click again until it is taken (the button then shows it is loading).
  for (let i = 0; i < 5; i++) {
    await page.locator('#op-confirm').click();
    try {
      await dialog.waitFor({ state: 'hidden', timeout: 5000 });
      return;
    } catch {
      if (await page.locator('#op-confirm.ant-btn-loading').count()) {
        await dialog.waitFor({ state: 'hidden', timeout: 30_000 });
        return;
      }
    }
  }
  throw new Error('the operation dialog did not close');
}

async function login(token) {
  await tid('login-token').fill(token);
  await tid('login-submit').click();
}

async function waitNode(node, status, timeout = 60_000) {
  await page.locator(`[data-testid="node-${node}"][data-status="${status}"]`).waitFor({ timeout });
}

/** Opens the topology's menu of a node and returns the operations it offers. */
async function nodeMenu(node) {
  await tid(`node-${node}`).click();
  const menu = page.locator('.ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu');
  await menu.waitFor();
  return menu.locator('[data-testid^="node-op-"], [data-testid^="instance-op-"]').evaluateAll((els) => els.map((e) => e.dataset.testid));
}

try {
  let viewerToken;
  await step('a viewer token exists (POST /tokens)', async () => {
    viewerToken = (await stack.api('POST', '/tokens', { name: 'e2e-viewer', role: 'viewer' })).token;
    assert.ok(viewerToken);
  });

  await step('GET / serves the console; a wrong token is refused with a clear message', async () => {
    await page.goto(stack.base + '/');
    await login('bt_not_a_token');
    const err = await tid('login-error').textContent();
    assert.match(err, /wrong or has been revoked/);
    assert.match(err, /invalid or revoked token/);
  });

  await step('the admin logs in and sees the task center', async () => {
    await login(stack.token);
    await tid('runs-table').waitFor();
    await tid('badge-running').waitFor();
    assert.equal(await tid('user').textContent(), 'admin');
    assert.ok(await tid('temporal-ui').getAttribute('href'));
  });

  let flowURL;
  await step('editor: two shell nodes, an or node, a failure edge; a cycle is refused on its edge; fixed and saved', async () => {
    await tid('nav-flows').click();
    await tid('flow-new').click();
    await tid('flow-name').fill('e2e-recover');
    await tid('add-shell').click();
    await tid('add-shell').click();
    await tid('add-or').click();
    await tid('auto-layout').click();
    // Place them apart so the handles do not overlap.
    await setScript('shell_1', 'echo extracting $BATON_BIZDATE; echo boom >&2; exit 3');
    await setScript('shell_2', 'echo recovering after the failure');
    await tid('edge-kind-failure').click();
    await connect('shell_1', 'shell_2');
    await tid('edge-kind-success').click();
    await connect('shell_2', 'or_1');
    await connect('or_1', 'shell_1'); // closes a cycle
    assert.equal(await page.locator('.react-flow__edge').count(), 3);
    await tid('auto-layout').click();
    await tid('validate').click();
    await tid('editor-status').waitFor();
    const problem = await tid('problem-0').textContent();
    assert.match(problem, /or_1 → shell_1: cycle: shell_1 -> shell_2 -> or_1 -> shell_1/);
    assert.equal(await tid('problem-1').count(), 0, 'one problem');
    // The cycle is reported on the edge that closes it, and drawn there.
    const bad = page.locator('.react-flow__edge.edge-problem');
    assert.equal(await bad.count(), 1);
    assert.match(await bad.textContent(), /cycle/);
    await shot('editor-validation');
    await tid('problem-0').click(); // selects that edge
    await tid('edge-form').filter({ hasText: 'or_1 → shell_1' }).waitFor();
    await page.keyboard.press('Delete');
    await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 2);
    assert.equal(await page.locator('.react-flow__edge.edge-problem').count(), 0, 'an edit clears the marks');
    await tid('validate').click();
    await page.getByText('The flow is valid').waitFor();
    await tid('save').click();
    await page.waitForURL(/\/flows\/[^/]+\/edit$/);
    await tid('flow-version').filter({ hasText: 'v1' }).waitFor();
    flowURL = page.url();
    await tid('auto-layout').click();
    await shot('editor');
  });

  let runURL;
  await step('run it: the failure edge handles shell_1, the or node fires, the run succeeds live on the topology', async () => {
    await tid('editor-run').click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    runURL = page.url();
    await waitNode('shell_1', 'failed');
    await waitNode('shell_2', 'success');
    await waitNode('or_1', 'success');
    await page.locator('[data-testid="run-status"] [data-status="success"]').waitFor({ timeout: 30_000 });
    await shot('run-topology');
  });

  await step('node log: shell_1 shows its stderr', async () => {
    // The menu follows the live state at once: the run turned success on
    // the page (the previous step waited for it), no second read needed.
    const ops = await nodeMenu('shell_1');
    assert.deepEqual(ops, ['node-op-rerun-from', 'node-op-log'], 'a closed (successful) run offers only rerun-from-node and the log');
    await menuClick('node-op-log');
    await tid('log-text').filter({ hasText: 'boom' }).waitFor();
    assert.match(await tid('log-text').textContent(), /extracting \d{4}-\d\d-\d\d/);
    await shot('log-view');
  });

  let failingRun;
  await step('a failed node offers retry and set success, not stop; set success asks for a reason and finishes the run', async () => {
    const flow = await stack.api('POST', '/flows', {
      name: 'e2e-fails', nodes: [
        { id: 'extract', type: 'task', task: { kind: 'shell', shell: { script: 'echo failing; exit 1' } } },
        { id: 'load', type: 'task', task: { kind: 'shell', shell: { script: 'echo loaded' } } },
      ], edges: [{ from: 'extract', to: 'load', on: 'success' }],
    });
    failingRun = (await stack.api('POST', `/flows/${flow.id}/runs`, {})).id;
    await page.goto(`${stack.base}/runs/${failingRun}`);
    await waitNode('extract', 'failed');
    await page.locator('[data-testid="run-status"] [data-status="failed"]').waitFor({ timeout: 30_000 });
    // Run-level actions of a failed run (the server's allowed_ops; the
    // others are shown disabled).
    assert.deepEqual(await runButtons(), ['abandon', 'backfill', 'rerun', 'rerun-downstream', 'retry', 'rollback']);
    assert.ok(await tid('run-op-stop').isDisabled(), 'a failed run cannot be stopped');
    const ops = await nodeMenu('extract');
    assert.deepEqual(ops.sort(), ['instance-op-rerun', 'node-op-log', 'node-op-rerun-downstream', 'node-op-rerun-from', 'node-op-retry', 'node-op-skip']);
    await page.keyboard.press('Escape');
    // Locate current progress: the first failed node, its log ready.
    await tid('locate').click();
    await tid('tab-logs').click();
    await tid('log-text').filter({ hasText: 'failing' }).waitFor();
    await tid('tab-topology').click();
    await tid('node-extract').waitFor();
    await nodeMenu('extract');
    await menuClick('node-op-skip');
    await confirmOp('known bad input; data fixed by hand');
    await waitNode('extract', 'success');
    await waitNode('load', 'success');
    await page.locator('[data-testid="run-status"] [data-status="success"]').waitFor({ timeout: 30_000 });
    // Closed: only rerun (and a backfill) are left, live, without a reload.
    assert.deepEqual(await runButtons(), ['backfill', 'rerun']);
    const run = await stack.api('GET', `/runs/${failingRun}`);
    const tr = run.transitions.find((t) => t.entity_id === 'extract' && t.to === 'success');
    assert.equal(tr?.reason, 'known bad input; data fixed by hand');
    assert.equal(tr?.actor, 'admin');
  });

  await step('stop a running run from the run page: confirmation with a reason; node and run stopped', async () => {
    const flow = await stack.api('POST', '/flows', {
      name: 'e2e-long', nodes: [
        { id: 'wait', type: 'task', task: { kind: 'shell', shell: { script: 'echo started; sleep 120' }, grace: '1s' } },
        { id: 'after', type: 'task', task: { kind: 'noop' } },
      ], edges: [{ from: 'wait', to: 'after' }],
    });
    const run = (await stack.api('POST', `/flows/${flow.id}/runs`, {})).id;
    await page.goto(`${stack.base}/runs/${run}`);
    await waitNode('wait', 'running');
    assert.deepEqual((await nodeMenu('wait')).sort(), ['instance-op-stop', 'node-op-log', 'node-op-rerun-from', 'node-op-stop']);
    await page.keyboard.press('Escape');
    // A running run: stop and pause; rerun downstream for the node that never ran.
    assert.deepEqual(await runButtons(), ['backfill', 'pause', 'rerun-downstream', 'stop']);
    // Pause and resume are not destructive: applied at once, and the buttons follow.
    await tid('run-op-pause').click();
    await page.locator('[data-testid="run-status"] [data-status="paused"]').waitFor({ timeout: 30_000 });
    assert.deepEqual(await runButtons(), ['backfill', 'rerun-downstream', 'resume', 'stop']);
    await tid('run-op-resume').click();
    await page.locator('[data-testid="run-status"] [data-status="running"]').waitFor({ timeout: 30_000 });
    assert.deepEqual(await runButtons(), ['backfill', 'pause', 'rerun-downstream', 'stop']);
    await tid('run-op-stop').click();
    await confirmOp('wrong parameters');
    await page.locator('[data-testid="run-status"] [data-status="stopped"]').waitFor({ timeout: 30_000 });
    await waitNode('wait', 'stopped');
    assert.deepEqual(await runButtons(), ['abandon', 'backfill', 'rerun', 'rerun-downstream', 'retry', 'rollback']);
  });

  await step('runs list: both runs, status counters, filter, batch stop of finished runs shows each 409', async () => {
    await tid('nav-runs').click();
    await page.locator('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').nth(1).waitFor();
    assert.equal(await page.locator('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').count(), 3);
    assert.match(await tid('count-success').textContent(), /2/);
    assert.match(await tid('count-stopped').textContent(), /1/);
    await tid('filter-definition').fill('e2e-fails');
    await tid('filter-submit').click();
    await page.waitForURL(/definition=e2e-fails/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').length === 1);
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.locator('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').nth(2).waitFor();
    assert.equal(await tid('filter-definition').inputValue(), '', 'reset clears the filter form');
    // Only the two successful runs: batch stop refuses each with the server's 409 message.
    await tid('count-success').click();
    await page.waitForURL(/status=success/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').length === 2);
    await page.locator('[data-testid="runs-table"] thead .ant-checkbox-input').check();
    await tid('batch-stop').click();
    await page.locator('#batch-confirm').click();
    const results = tid('batch-results');
    await results.waitFor();
    const text = await results.textContent();
    assert.equal((text.match(/No/g) ?? []).length, 2, text);
    assert.equal((text.match(/is success and closed: only rerun and rerun-from-node apply/g) ?? []).length, 2, text);
    await shot('runs-batch-results');
    await page.keyboard.press('Escape');
    await tid('nav-runs').click();
    await page.locator('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').nth(2).waitFor();
    await shot('runs');
  });

  await step('backfill (补数据) of the editor-built flow: dry-run preview of dates and nodes, then one run per date', async () => {
    await tid('nav-flows').click();
    await tid('flow-backfill-e2e-recover').click();
    const range = page.locator('.ant-modal .ant-picker-range');
    await range.locator('input').first().click();
    await range.locator('input').first().fill('2026-01-01');
    await range.locator('input').nth(1).click();
    await range.locator('input').nth(1).fill('2026-01-03');
    await page.keyboard.press('Enter');
    await tid('backfill-preview').click();
    const plan = tid('backfill-plan');
    await plan.waitFor();
    const text = await plan.textContent();
    for (const d of ['2026-01-01', '2026-01-02', '2026-01-03', 'shell_1', 'shell_2', 'or_1']) assert.ok(text.includes(d), `${d} in ${text}`);
    assert.match(text, /3 dates/);
    await shot('backfill-dialog');
    await page.locator('#backfill-start').click();
    await page.waitForURL(/trigger=backfill/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="runs-table"] tbody tr [data-testid="run-link"]').length === 3, null, { timeout: 60_000 });
    const bizdates = await tid('runs-table').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent));
    for (const d of ['2026-01-01', '2026-01-02', '2026-01-03']) assert.ok(bizdates.some((r) => r.includes(d) && r.includes('Backfill')), `a backfill run for ${d}`);
  });

  await editorSpecs({ page, stack, step, shot, tid, connect, setScript });
  // Alert channels, rules, history (e2e/alerts.spec.mjs).
  await alertsSpec({ page, stack, step, shot });

  await step('operations pages: workers, audit log of the operations, a token created (secret once), revoked, then refused at sign-in', async () => {
    await navTo(page, 'workers');
    await tid('workers-table').locator('tbody tr').filter({ hasText: 'dev' }).waitFor();
    await navTo(page, 'audit');
    await tid('audit-table').locator('tbody tr').filter({ hasText: '/nodes/extract/skip' }).first().waitFor();
    await tid('audit-actor').locator('input').fill('nobody-at-all');
    await tid('audit-actor').locator('input').press('Enter');
    await tid('audit-table').locator('.ant-empty').waitFor();
    await navTo(page, 'tokens');
    await tid('token-name').fill('e2e-temp');
    await tid('token-create').click();
    const secret = (await tid('token-secret').textContent()).trim();
    assert.match(secret, /^bt_/);
    await tid('token-revoke-e2e-temp').click();
    await page.locator('.ant-popconfirm .ant-btn-dangerous').click();
    await tid('tokens-table').locator('tbody tr').filter({ hasText: 'e2e-temp' }).filter({ hasText: 'revoked' }).waitFor();
    await tid('logout').click();
    await login(secret);
    assert.match(await tid('login-error').textContent(), /wrong or has been revoked/);
    await login(stack.token);
    await tid('tokens-table').waitFor(); // back where the session ended
  });

  await step('a viewer sees no mutating button', async () => {
    await tid('logout').click();
    await login(viewerToken);
    await tid('nav-runs').click();
    await tid('runs-table').waitFor();
    assert.match(await tid('role').textContent(), /viewer/);
    // The operations menu, open, lists the viewer's pages but not the tokens.
    await tid('nav-ops').click();
    await page.locator('.nav-ops-popup').getByTestId('nav-audit').waitFor();
    assert.equal(await tid('nav-tokens').count(), 0, 'token management is for admins');
    await tid('nav-ops').click();
    assert.equal(await tid('batch-stop').count(), 0);
    assert.equal(await page.locator('[data-testid="runs-table"] .ant-checkbox').count(), 0);
    await tid('nav-flows').click();
    await tid('flows-table').locator('tbody tr').first().waitFor();
    assert.equal(await tid('flow-new').count(), 0);
    assert.equal(await tid('flow-run-e2e-recover').count(), 0);
    assert.equal(await tid('flow-delete-e2e-recover').count(), 0);
    assert.equal(await tid('flow-backfill-e2e-recover').count(), 0);
    assert.ok(await tid('flow-enabled-e2e-recover').isDisabled());
    await page.goto(`${stack.base}/runs/${failingRun}`);
    await waitNode('extract', 'success');
    assert.equal(await tid('run-actions').locator('[data-testid^="run-op-"]').count(), 0);
    assert.deepEqual(await nodeMenu('extract'), ['node-op-log']);
    await page.keyboard.press('Escape');
    assert.equal(await tid('locate').count(), 1, 'locating is reading, viewers have it');
    await page.keyboard.press('Escape');
    await page.goto(flowURL);
    await tid('editor-canvas').waitFor();
    assert.equal(await tid('save').count(), 0);
    assert.equal(await tid('add-shell').count(), 0);
  });

  await step('switch to Chinese, remembered across a reload', async () => {
    await page.goto(runURL);
    await page.locator('[data-testid="lang-switch"]').getByText('中文').click();
    await tid('nav-runs').filter({ hasText: '执行记录' }).waitFor();
    await page.getByText('批次', { exact: false }).first().waitFor();
    await page.reload();
    await tid('nav-runs').filter({ hasText: '执行记录' }).waitFor();
    await waitNode('or_1', 'success');
    await shot('run-topology-zh');
    await page.goto(`${stack.base}/runs`);
    await tid('runs-table').locator('tbody tr').first().waitFor();
    await shot('runs-zh');
  });

  // The topology at 100 / 1,000 / 10,000 nodes and the node menu in every status (e2e/topology.mjs).
  await topologySpec({ page, stack, step, shot });
  // Execution records, run detail and backfill (e2e/runs.spec.mjs).
  await runsSpec({ page, stack, step, shot });

  assert.deepEqual(consoleErrors, [], 'no uncaught errors in the page');
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  if (failed) {
    console.log(`--- baton dev log (${stack.logPath}), last lines ---`);
    console.log(readFileSync(stack.logPath, 'utf8').split('\n').slice(-40).join('\n'));
    console.log(`failure screenshot: ${join(stack.dataDir, 'failure.png')} (data dir kept)`);
    process.env.BATON_E2E_KEEP = '1';
  }
  await stack.stop();
}
console.log(`e2e: all steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
