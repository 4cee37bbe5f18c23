// Browser tests of the alerts screens (告警): a webhook channel pointing
// at a real HTTP receiver started here (baton dev lets loopback through
// the SSRF guard when BATON_HTTP_ALLOW is unset), a send test that
// arrives signed, a run_failed rule attached in the flow editor, a failed
// run whose alert shows delivered in the history and reaches the receiver
// exactly once, the group default rules, a viewer's read-only view and
// the pages in Chinese. run.mjs calls alertsSpec on its stack and browser;
// `node e2e/alerts.spec.mjs` runs it alone.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { navTo, runAlone } from './stack.mjs';

/** A webhook receiver on a free loopback port; posts are kept in order. */
async function receiver() {
  const posts = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      posts.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  return { posts, url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((ok) => srv.close(ok)) };
}

/** ctx: { page, stack, step(name, fn), shot(name) } from the runner. */
export async function alertsSpec({ page, stack, step, shot }) {
  const tid = (id) => page.getByTestId(id);
  const signIn = async (token, lang = 'en') => {
    await page.evaluate(([t, l]) => { localStorage.setItem('baton.token', t); localStorage.setItem('baton.lang', l); }, [token, lang]);
    await page.goto(stack.base + '/runs');
    await tid('nav-runs').waitFor(); // the header: signed in
  };
  async function until(what, fn, timeout = 60_000) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  /** A screenshot once the toasts of earlier steps are gone. */
  const still = async (name) => {
    await page.locator('.ant-message-notice').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
    await shot(name);
  };
  const hook = await receiver();
  const secret = 'e2e-signing-secret';
  const alertPosts = (event) => hook.posts.filter((p) => p.url === '/hook' && JSON.parse(p.body).event === event);
  let flowId;
  let runId;
  try {
    await step('alert channels: a webhook channel with a signing secret is created from the header\'s Operations menu', async () => {
      await page.goto(stack.base + '/');
      await signIn(stack.token);
      await navTo(page, 'alert-channels');
      await tid('channel-new').click();
      await tid('channel-name').fill('e2e-hook');
      await tid('channel-url').fill(`${hook.url}/hook`);
      await tid('channel-secret').fill(secret);
      await tid('channel-sign').waitFor(); // the signature settings appear with a secret
      await tid('channel-save').click();
      const row = tid('channels-table').locator('tbody tr').filter({ hasText: 'e2e-hook' });
      await row.waitFor();
      assert.ok((await row.textContent()).includes(hook.url), 'the row shows the URL\'s host');
      assert.ok(!(await row.textContent()).includes('/hook'), 'the URL itself is a secret');
    });

    await step('editing the channel shows no stored secret and keeps it unless re-entered; a bad template is refused on its field', async () => {
      await tid('channel-edit-e2e-hook').click();
      assert.equal(await tid('channel-url').inputValue(), '', 'the stored URL is not shown');
      assert.match(await tid('channel-url').getAttribute('placeholder'), new RegExp(`${hook.url.replace(/[.:/]/g, '\\$&')}.*leave empty to keep`));
      assert.equal(await tid('channel-secret').inputValue(), '');
      assert.match(await tid('channel-secret').getAttribute('placeholder'), /Set — leave empty to keep it/);
      const html = await page.locator('.ant-modal').innerHTML();
      assert.ok(!html.includes(secret) && !html.includes('/hook'), 'no secret in the dialog');
      // A custom template that does not parse: the API's 400 lands on the body field.
      await tid('channel-template').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden)').getByText('Custom template').click();
      await tid('channel-body').fill('{"text": {{.Title}');
      await tid('channel-save').click();
      await tid('channel-field-problem').waitFor();
      assert.match(await tid('channel-error').textContent(), /webhook\.body/);
      await tid('channel-template').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden)').getByText('Generic JSON').click();
      await tid('channel-save').click();
      await page.locator('.ant-modal').waitFor({ state: 'hidden' });
      const [stored] = (await stack.api('GET', '/alert-channels')).items;
      assert.equal(stored.webhook.url, '[sealed]');
      assert.equal(stored.webhook.secret, '[sealed]');
      assert.equal(stored.webhook.body, undefined);
    });

    await step('send test: it arrives at the receiver, signed with the kept secret, and the success is shown', async () => {
      await tid('channel-test-e2e-hook').click();
      const result = tid('channel-test-result-e2e-hook');
      await result.waitFor();
      assert.equal(await result.getAttribute('data-delivered'), 'true', await result.textContent());
      assert.match(await result.textContent(), /Test delivered to e2e-hook/);
      const post = await until('the test POST', () => hook.posts.find((p) => p.url === '/hook'));
      assert.equal(post.method, 'POST');
      const sig = 'sha256=' + createHmac('sha256', secret).update(post.body).digest('hex');
      assert.equal(post.headers['x-baton-signature'], sig, 'HMAC of the body with the secret entered at creation');
      await still('alert-channels');
    });

    await step('flow editor: a run_failed rule to the channel; a bad SLA is shown on its rule; saved as a new version', async () => {
      const f = await stack.api('POST', '/flows', {
        name: 'e2e-alerting', nodes: [{ id: 'extract', type: 'task', task: { kind: 'shell', shell: { script: 'echo no input >&2; exit 2' } } }],
      });
      flowId = f.id;
      await navTo(page, 'flows');
      await tid('flow-e2e-alerting').click();
      await tid('flow-version').filter({ hasText: 'v1' }).waitFor();
      await tid('open-settings').click();
      await tid('alert-rules-add').click();
      await tid('alert-rules-add').click();
      // Rule 1: run_failed (the default event) to e2e-hook, picked from the channel list.
      await tid('alert-rules-0-channels').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'e2e-hook' }).click();
      await page.keyboard.press('Escape');
      // Rule 2: an SLA at a time of day that does not exist.
      await tid('alert-rules-1-events').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'SLA missed' }).click();
      await page.keyboard.press('Escape');
      await tid('alert-rules-1-sla-mode').getByText('Time of day').click();
      await tid('alert-rules-1-sla-at').fill('25:99');
      await tid('validate').click();
      const problem = tid('alert-rules-1-problem');
      await problem.waitFor();
      const text = await problem.textContent();
      assert.match(text, /sla\.at/, text);
      assert.match(text, /channels/, `rule 2 has no channel either: ${text}`);
      assert.equal(await tid('alert-rules-0-problem').count(), 0, 'rule 1 is fine');
      await tid('alert-rules-1').scrollIntoViewIfNeeded();
      await still('editor-alerts');
      await tid('alert-rules-1-remove').click();
      await tid('save').click();
      await tid('flow-version').filter({ hasText: 'v2' }).waitFor();
      const stored = await stack.api('GET', `/flows/${flowId}`);
      assert.deepEqual(stored.alerts, [{ events: ['run_failed'], channels: ['e2e-hook'] }]);
      // The version diff lists the changed rules.
      await tid('open-versions').click();
      await tid('diff-table').filter({ hasText: 'alerts' }).waitFor();
      await page.keyboard.press('Escape');
    });

    await step('the run fails: its alert is delivered once, shown in the history opened from the run', async () => {
      await tid('editor-run').click();
      await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
      runId = page.url().split('/').pop();
      await page.locator('[data-testid="run-status"] [data-status="failed"]').waitFor({ timeout: 60_000 });
      await tid('run-alerts-link').click();
      await page.waitForURL(new RegExp(`/alerts\\?run_id=${runId}`));
      const row = tid('alerts-table').locator('tbody tr').filter({ hasText: 'Run failed' });
      await row.locator('[data-testid="alert-status"][data-status="sent"]').waitFor({ timeout: 60_000 });
      const text = await row.textContent();
      assert.ok(text.includes('e2e-hook') && text.includes(runId.slice(0, 8)) && /Delivered/.test(text) && /1 attempt/.test(text), text);
      await until('the alert POST', () => alertPosts('run_failed').length === 1);
      const body = JSON.parse(alertPosts('run_failed')[0].body);
      assert.ok(JSON.stringify(body).includes(runId), 'the message carries the run');
      // Exactly one: nothing else arrives (an activity retry or replay would page twice).
      await page.waitForTimeout(3000);
      assert.equal(alertPosts('run_failed').length, 1);
      assert.equal(hook.posts.length, 2, 'the test and the alert');
      // The row's run link opens the run; filters narrow the list.
      await tid('alerts-filter-status').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden)').getByText('Failed', { exact: true }).click();
      await page.waitForURL(/status=failed/);
      await tid('alerts-table').locator('.ant-empty').waitFor();
      // Raised since an hour from now: none (the route's since / until).
      await page.goto(`${stack.base}/alerts?run_id=${runId}&since=${new Date(Date.now() + 3600_000).toISOString()}`);
      await tid('alerts-table').locator('.ant-empty').waitFor();
      await page.getByRole('button', { name: 'Reset' }).click();
      await navTo(page, 'alerts');
      await row.waitFor();
      await still('alert-history');
      await row.getByTestId('alert-run-link').click();
      await page.waitForURL(new RegExp(`/runs/${runId}$`));
    });

    await step('group default rules: an admin sets a group\'s rules on the channels page', async () => {
      await navTo(page, 'alert-channels');
      await tid('tab-group-rules').click();
      await tid('group-rules-name').fill('e2e-etl');
      await tid('group-rules-open').click();
      await tid('group-e2e-etl-rules-add').click();
      await tid('group-e2e-etl-rules-0-events').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'Recovered after failure' }).click();
      await page.keyboard.press('Escape');
      await tid('group-rules-save-e2e-etl').click();
      // No channel yet: refused on the rule.
      await tid('group-e2e-etl-rules-0-problem').filter({ hasText: 'channel' }).waitFor();
      await tid('group-e2e-etl-rules-0-channels').click();
      await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option').filter({ hasText: 'e2e-hook' }).click();
      await page.keyboard.press('Escape');
      await tid('group-rules-save-e2e-etl').click();
      await until('the group rules', async () => (await stack.api('GET', '/alert-rules/groups/e2e-etl')).rules.length === 1);
      assert.deepEqual((await stack.api('GET', '/alert-rules/groups/e2e-etl')).rules, [{ events: ['run_failed', 'recovered'], channels: ['e2e-hook'] }]);
    });

    await step('task form: a stand-alone task saved with an SLA rule (a duration after its schedule time)', async () => {
      await navTo(page, 'tasks');
      await tid('task-new').click();
      await tid('task-name').fill('e2e-alerting-task');
      await tid('alert-rules-add').click();
      await tid('alert-rules-0-events').click();
      const open = page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option');
      await open.filter({ hasText: 'Run failed' }).click(); // unpicks the default
      await open.filter({ hasText: 'SLA missed' }).click();
      await page.keyboard.press('Escape');
      await tid('alert-rules-0-sla-after').fill('90m');
      await tid('alert-rules-0-channels').click();
      await open.filter({ hasText: 'e2e-hook' }).click();
      await page.keyboard.press('Escape');
      await tid('task-save').click();
      await page.waitForURL(/\/tasks\/[^/]+\/edit$/);
      const task = await stack.api('GET', `/tasks/${page.url().split('/').at(-2)}`);
      assert.deepEqual(task.alerts, [{ events: ['sla_miss'], channels: ['e2e-hook'], sla: { after: '90m' } }]);
      await tid('task-alerts').getByTestId('alert-rules-0').waitFor();
    });

    await step('in Chinese: the alert history and the channels page', async () => {
      await page.locator('[data-testid="lang-switch"]').getByText('中文').click();
      await navTo(page, 'alerts');
      await page.getByText('告警历史').waitFor();
      await tid('alerts-table').locator('tbody tr').filter({ hasText: '运行失败' }).filter({ hasText: '已送达' }).waitFor();
      await still('alert-history-zh');
      await navTo(page, 'alert-channels');
      await tid('channels-table').getByText('发送测试').waitFor();
      await tid('tab-group-rules').filter({ hasText: '分组默认规则' }).waitFor();
      await still('alert-channels-zh');
      await page.locator('[data-testid="lang-switch"]').getByText('EN').click();
    });

    await step('a viewer: the history, the rules on the flow with their channel names, no channel mutation', async () => {
      const viewer = (await stack.api('POST', '/tokens', { name: 'e2e-alerts-viewer', role: 'viewer' })).token;
      await signIn(viewer);
      await navTo(page, 'alerts');
      await tid('alerts-table').locator('tbody tr').filter({ hasText: 'Run failed' }).filter({ hasText: 'Delivered' }).waitFor();
      await navTo(page, 'alert-channels');
      await tid('channels-admin-only').waitFor();
      for (const id of ['channel-new', 'channel-edit-e2e-hook', 'channel-test-e2e-hook', 'channel-delete-e2e-hook']) assert.equal(await tid(id).count(), 0, id);
      await tid('tab-group-rules').click();
      await tid('group-rules-e2e-etl').getByTestId('alert-rule-channel').filter({ hasText: 'e2e-hook' }).waitFor();
      assert.equal(await tid('group-rules-save-e2e-etl').count(), 0);
      assert.equal(await tid('group-rules-name').count(), 0);
      await page.goto(`${stack.base}/flows/${flowId}/edit`);
      await tid('open-settings').click();
      const rule = tid('alert-rules').getByTestId('alert-rule-0');
      await rule.waitFor();
      assert.match(await rule.textContent(), /Run failed.*e2e-hook/);
      assert.equal(await tid('alert-rules-add').count(), 0);
      await signIn(stack.token);
    });
  } finally {
    await hook.close();
  }
}

// Run alone: its own stack and browser.
if (import.meta.url === pathToFileURL(process.argv[1]).href) await runAlone(alertsSpec);
