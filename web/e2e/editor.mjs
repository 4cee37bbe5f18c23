// Browser tests of the definitions screens (flow editor, version diff,
// flow settings with the cron preview, stand-alone tasks), run by run.mjs
// on its page and stack. ctx carries run.mjs's helpers.
import assert from 'node:assert/strict';

export async function editorSpecs({ page, stack, step, shot, tid, connect, setScript }) {
  /** The <input> of an antd field whose test id sits on the input or on its wrapper. */
  const input = (id) => page.locator(`input[data-testid="${id}"], [data-testid="${id}"] input`).first();
  /** A node of the editor's canvas (the version diff draws the same ids). */
  const cnode = (id) => tid('editor-canvas').locator(`[data-testid="node-${id}"]`);
  const edges = () => page.locator('[data-testid="editor-canvas"] .react-flow__edge');
  const waitEdges = (n) => page.waitForFunction((n) => document.querySelectorAll('[data-testid="editor-canvas"] .react-flow__edge').length === n, n);
  /** Clicks the empty canvas, so keys go to the graph and not to a field. */
  const focusCanvas = () => tid('editor-canvas').locator('.react-flow__pane').click({ position: { x: 10, y: 10 } });

  let flowURL;
  await step('editor: a flow from an empty canvas; the cycle is drawn below the nodes and refused; undo/redo; copy/paste; keyboard delete', async () => {
    await tid('nav-flows').click();
    await tid('flow-new').click();
    await tid('flow-name').fill('e2e-editor');
    await tid('add-shell').click();
    await tid('add-shell').click();
    await tid('add-or').click();
    await tid('auto-layout').click();
    await setScript('shell_1', 'echo extract $BATON_BIZDATE');
    await setScript('shell_2', 'echo load');
    await tid('edge-kind-failure').click();
    await connect('shell_1', 'shell_2');
    await tid('edge-kind-success').click();
    await connect('shell_2', 'or_1');
    await tid('auto-layout').click();
    await connect('or_1', 'shell_1'); // closes a cycle, pointing back
    await waitEdges(3);
    // The failure edge is styled as one (dotted red), the back edge runs in a lane below every node.
    const failure = page.locator('[data-testid="editor-canvas"] .react-flow__edge[data-id="shell_1->shell_2"] path.react-flow__edge-path');
    assert.equal(await failure.evaluate((p) => getComputedStyle(p).stroke), 'rgb(255, 77, 79)');
    const back = page.locator('[data-testid="editor-canvas"] .react-flow__edge[data-id="or_1->shell_1"]');
    assert.match(await back.getAttribute('class'), /react-flow__edge-back/);
    const lane = await back.locator('path.react-flow__edge-path').boundingBox();
    for (const n of ['shell_1', 'shell_2', 'or_1']) {
      const b = await tid(`node-${n}`).boundingBox();
      assert.ok(lane.y + lane.height > b.y + b.height + 10, `the back edge passes below ${n}`);
    }
    await tid('validate').click();
    await tid('editor-status').filter({ hasText: '1 problem' }).waitFor();
    assert.doesNotMatch(await tid('editor-status').textContent(), /1 problems/);
    assert.match(await tid('problem-0').textContent(), /or_1 → shell_1: cycle/);
    await page.locator('[data-testid="editor-canvas"] .react-flow__edge.edge-problem').waitFor();

    // Undo takes the closing edge back, redo restores it, undo again: no cycle.
    await focusCanvas();
    await page.keyboard.press('Control+z');
    await waitEdges(2);
    await tid('redo').click();
    await waitEdges(3);
    await focusCanvas();
    await page.keyboard.press('Control+Shift+z');
    assert.equal(await edges().count(), 3, 'nothing left to redo');
    await tid('undo').click();
    await waitEdges(2);

    // Copy and paste a node: a new id, the same script; the keyboard deletes it.
    await tid('node-shell_2').click();
    await page.keyboard.press('Control+c');
    await page.keyboard.press('Control+v');
    await tid('node-shell_3').waitFor();
    assert.match(await tid('node-script').textContent(), /echo load/);
    await page.keyboard.press('Delete');
    await tid('node-shell_3').waitFor({ state: 'detached' });
    assert.equal(await tid('node-shell_2').count(), 1);

    // The node form: attempts start at 1 (not 0); sharding with shards and params; a param; core.
    await tid('node-shell_1').click();
    assert.equal(await input('task-retry-attempts').inputValue(), '1');
    await input('task-retry-attempts').fill('3');
    await input('task-retry-backoff').fill('2');
    await tid('task-retry-initial').fill('10s');
    await tid('task-timeout').fill('5m');
    await tid('task-mode-sharding').click();
    await input('task-shards').fill('2');
    await tid('task-shard-params').fill('east\nwest');
    await tid('task-params-add').click();
    await tid('task-params-key-0').fill('region');
    await tid('task-params-value-0').fill('cn');
    await input('node-core').check();
    await shot('editor-node-form');

    // Flow settings (nothing selected): a cron trigger in a zone with its next fire times.
    await tid('open-settings').click();
    await tid('trigger-type-cron').click();
    await tid('trigger-cron').fill('0 30 2 * * ?');
    await tid('trigger-tz').click();
    await page.keyboard.type('Asia/Shanghai');
    await page.keyboard.press('Enter');
    // The preview is fetched again as the zone is typed: read it once it
    // has settled on the zone's five fire times.
    let fires = [];
    for (let i = 0; i < 40; i++) {
      await tid('cron-preview').locator('.ant-list-item').nth(4).waitFor();
      fires = await tid('cron-preview').locator('.ant-list-item').allTextContents();
      if (fires.length === 5 && fires.every((f) => /T02:30:00\+08:00$/.test(f))) break;
      await page.waitForTimeout(250);
    }
    assert.equal(fires.length, 5);
    for (const f of fires) assert.match(f, /T02:30:00\+08:00$/, f);
    await tid('trigger-cron').fill('0 30 2 * *');
    await tid('cron-preview-error').waitFor();
    await tid('trigger-cron').fill('0 30 2 * * ?');
    await tid('cron-preview').waitFor();
    await tid('flow-timeout').fill('2h');
    await shot('editor-schedule');

    await tid('validate').click();
    await page.getByText('The flow is valid').waitFor();
    await tid('save').click();
    await page.waitForURL(/\/flows\/[^/]+\/edit$/);
    await tid('flow-version').filter({ hasText: 'v1' }).waitFor();
    flowURL = page.url();
    const id = flowURL.split('/').at(-2);
    const saved = await stack.api('GET', `/flows/${id}`);
    assert.deepEqual(saved.trigger, { type: 'cron', cron: '0 30 2 * * ?', timezone: 'Asia/Shanghai' });
    assert.equal(saved.timeout, '2h');
    const s1 = saved.nodes.find((n) => n.id === 'shell_1');
    assert.deepEqual({ mode: s1.task.mode, shards: s1.task.shards, shard_params: s1.task.shard_params, params: s1.task.params, timeout: s1.task.timeout, core: s1.core },
      { mode: 'sharding', shards: 2, shard_params: ['east', 'west'], params: { region: 'cn' }, timeout: '5m', core: true });
    assert.deepEqual(s1.task.retry, { max_attempts: 3, backoff: 2, initial_interval: '10s' });
    assert.deepEqual(saved.edges.map((e) => `${e.from}->${e.to}:${e.on}`).sort(), ['shell_1->shell_2:failure', 'shell_2->or_1:success']);
  });

  await step('editor: version 2 (a changed script, an added node and edge) and the diff of v1 and v2', async () => {
    await setScript('shell_2', 'echo load v2');
    await tid('add-noop').click();
    await tid('auto-layout').click();
    await connect('or_1', 'noop_1');
    await waitEdges(3);
    await tid('save').click();
    await tid('flow-version').filter({ hasText: 'v2' }).waitFor();
    await tid('open-versions').click();
    await tid('version-2').waitFor();
    await tid('version-1').waitFor();
    const diff = tid('version-diff');
    await diff.waitFor();
    assert.match(await tid('diff-summary').textContent(), /1 added, 0 removed, 1 changed; 1 edge changes/);
    await diff.locator('.react-flow__node.diff-added[data-id="noop_1"]').waitFor();
    await diff.locator('.react-flow__node.diff-changed[data-id="shell_2"]').waitFor();
    await diff.locator('.react-flow__edge.diff-added[data-id="or_1->noop_1"]').waitFor();
    const table = await tid('diff-table').textContent();
    assert.match(table, /task\.shell\.script/);
    assert.match(table, /echo load v2/);
    await shot('editor-diff');
    // Loading v1 back into the editor, then undoing it, returns to v2's graph.
    await tid('version-restore-1').click();
    await cnode('noop_1').waitFor({ state: 'detached' });
    await tid('undo').click();
    await cnode('noop_1').waitFor();
  });

  await step('tasks: a task made with the form (the API\'s problem shown by field), listed, test run succeeds, disabled, deleted', async () => {
    await tid('nav-tasks').click();
    await tid('task-new').click();
    await tid('task-name').fill('e2e-task');
    await tid('task-kind').click();
    await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'HTTP' }).click();
    await tid('node-url').fill('ftp://nowhere');
    await tid('task-save').click();
    await tid('task-problem-0').filter({ hasText: 'http.url: must be an absolute http or https URL' }).waitFor();
    await tid('task-kind').click();
    await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'Shell' }).click();
    const cm = tid('node-script').locator('.cm-content');
    await cm.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText('echo task says $GREETING');
    await tid('task-params-add').click();
    await tid('task-params-key-0').fill('GREETING');
    await tid('task-params-value-0').fill('hello');
    await input('task-retry-attempts').fill('2');
    await tid('task-save').click();
    await page.waitForURL(/\/tasks\/[^/]+\/edit$/);
    await tid('task-version').filter({ hasText: 'v1' }).waitFor();
    await shot('task-form');
    const id = page.url().split('/').at(-2);
    const task = await stack.api('GET', `/tasks/${id}`);
    assert.equal(task.kind, 'shell');
    assert.deepEqual(task.params, { GREETING: 'hello' });
    assert.equal(task.retry.max_attempts, 2);

    await tid('nav-tasks').click();
    await tid('task-e2e-task').waitFor();
    await input('tasks-search').fill('no-such-task');
    await input('tasks-search').press('Enter');
    await tid('tasks-table').locator('.ant-empty').waitFor();
    await input('tasks-search').fill('e2e-task');
    await input('tasks-search').press('Enter');
    await tid('task-test-e2e-task').click();
    assert.ok(await input('run-dialog-test').isChecked(), 'a test run is marked as one');
    await page.locator('#run-dialog-ok').click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    await page.locator('[data-testid="run-status"] [data-status="success"]').waitFor({ timeout: 60_000 });
    const run = await stack.api('GET', `/runs/${page.url().split('/').at(-1)}`);
    assert.equal(run.trigger, 'test');

    await tid('nav-tasks').click();
    await tid('task-enabled-e2e-task').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="task-enabled-e2e-task"]')?.getAttribute('aria-checked') === 'false');
    assert.equal((await stack.api('GET', `/tasks/${id}`)).enabled, false);
    await tid('task-delete-e2e-task').click();
    // A click that lands while the confirmation animates in, or while the
    // list re-renders after the enable toggle's refetch, can be lost (seen
    // once in CI at load ~10): click OK again while it is still shown.
    for (let i = 0; ; i++) {
      await page.locator('#task-delete-ok').click();
      try {
        await tid('task-e2e-task').waitFor({ state: 'detached', timeout: 5000 });
        break;
      } catch (e) {
        if (i === 2 || !(await page.locator('#task-delete-ok').isVisible())) throw e;
      }
    }
  });

  await step('editor in Chinese (zh-CN labels), then back to English', async () => {
    await page.goto(flowURL);
    await page.locator('[data-testid="lang-switch"]').getByText('中文').click();
    // antd spaces out a two-character Chinese button label (校 验).
    await tid('validate').filter({ hasText: /校\s?验/ }).waitFor();
    assert.equal(await tid('save').textContent(), '保存（新版本）');
    assert.match(await tid('flow-settings').textContent(), /调度配置/);
    await tid('auto-layout').click();
    await tid('node-shell_1').click();
    const form = await tid('node-form').textContent();
    for (const w of ['执行模式', '分片数', '重试', '回滚', '核心任务节点']) assert.ok(form.includes(w), `${w} in the node form`);
    await shot('editor-zh');
    await tid('open-settings').click();
    await tid('cron-preview').filter({ hasText: '未来触发时间' }).waitFor();
    await shot('editor-schedule-zh');
    await page.locator('[data-testid="lang-switch"]').getByText('EN').click();
    await tid('validate').filter({ hasText: 'Validate' }).waitFor();
  });
}
