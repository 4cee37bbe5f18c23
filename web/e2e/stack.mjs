// A real Baton stack for the browser tests: bin/baton dev (embedded
// Temporal, SQLite mirror, a worker running real shell tasks) in a fresh
// data directory, on a free port, with a known admin token.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export const repo = resolve(import.meta.dirname, '../..');

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export async function startStack() {
  const bin = process.env.BATON_BIN ?? join(repo, 'bin/baton');
  if (!process.env.BATON_BIN) {
    console.log('e2e: building bin/baton');
    execFileSync('go', ['build', '-o', bin, './cmd/baton'], {
      cwd: repo, stdio: 'inherit', env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
    });
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-e2e-'));
  const token = 'bt_e2e_' + randomBytes(12).toString('hex');
  const httpPort = await freePort();
  const uiPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const logPath = join(dataDir, 'baton-dev.log');
  const log = createWriteStream(logPath);
  const proc = spawn(bin, ['dev'], {
    cwd: dataDir,
    env: {
      ...process.env, BATON_DATA_DIR: dataDir, BATON_ADMIN_TOKEN: token,
      BATON_HTTP_ADDR: `127.0.0.1:${httpPort}`, BATON_TEMPORAL_UI_ADDR: `127.0.0.1:${uiPort}`,
      // A free port for the embedded Temporal frontend, so stacks of
      // parallel test runs on one machine do not wait for each other.
      BATON_TEMPORAL_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.on('exit', (code) => { exited = code; });

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited !== null) throw new Error(`baton dev exited with ${exited}; see ${logPath}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`baton dev did not answer /healthz within 120 s; see ${logPath}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  async function api(method, path, body, tok = token) {
    const r = await fetch(base + '/api/v1' + path, {
      method,
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', 'Idempotency-Key': randomBytes(8).toString('hex') },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async function stop() {
    if (exited === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 15_000); proc.on('exit', () => { clearTimeout(t); r(); }); });
    }
    if (!process.env.BATON_E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
  }
  return { base, token, dataDir, logPath, api, stop };
}

// The header's operations pages sit in one submenu (运维 / Operations).
const opsPages = new Set(['workers', 'audit', 'alert-channels', 'tokens']);

/**
 * Opens a console page through the header menu, as an operator would: a
 * page folded into the menu's "…" overflow or missing from it fails here.
 */
export async function navTo(page, item) {
  const header = page.locator('.ant-layout-header');
  // rc-overflow marks the items it folds aria-hidden and shows its "…" item.
  const folded = await header.locator('.ant-menu-overflow-item[aria-hidden="true"]:not(.ant-menu-overflow-item-rest)').count();
  const rest = await header.locator('.ant-menu-overflow-item-rest:not([aria-hidden="true"])').count();
  if (folded || rest) throw new Error(`the header menu folds ${folded} item(s) into its overflow`);
  if (opsPages.has(item)) {
    const link = page.locator('.nav-ops-popup').getByTestId(`nav-${item}`);
    // The submenu opens on hover and animates: under load a click on its
    // item can land while it moves and not be taken (seen at load ~10).
    // Open it and click again until the page is the item's.
    const there = new RegExp(`/${item}(\\?|$)`);
    for (let i = 0; ; i++) {
      if (!(await link.isVisible())) await header.getByTestId('nav-ops').click();
      await link.click();
      try {
        await page.waitForURL(there, { timeout: 3000 });
        break;
      } catch (e) {
        if (i === 2) throw e;
      }
    }
    await page.locator('.nav-ops-popup').waitFor({ state: 'hidden' }).catch(() => {});
  } else {
    await header.getByTestId(`nav-${item}`).click();
  }
}

/**
 * Runs one spec alone (`node e2e/<name>.spec.mjs`): its own stack and a
 * fresh chromium profile, the same step and shot helpers as run.mjs, no
 * uncaught page error allowed. Exits non-zero on a failure, keeping the
 * data dir.
 */
export async function runAlone(spec) {
  const { chromium } = await import('playwright-core');
  const stack = await startStack();
  const profile = mkdtempSync(join(tmpdir(), 'baton-e2e-chromium-'));
  const shots = process.env.BATON_E2E_SCREENSHOTS;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.BATON_TEST_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    viewport: { width: 1440, height: 900 }, locale: 'en-US',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  let ok = false;
  let stepFailed = false;
  try {
    await spec({
      page, stack,
      async step(name, fn) {
        const t0 = Date.now();
        try {
          await fn();
          console.log(`ok   ${name} (${Date.now() - t0} ms)`);
        } catch (e) {
          stepFailed = true;
          console.log(`FAIL ${name}: ${e.stack ?? e}`);
          await page.screenshot({ path: join(stack.dataDir, 'failure.png'), fullPage: true }).catch(() => {});
          throw e;
        }
      },
      async shot(name) {
        if (!shots) return;
        mkdirSync(shots, { recursive: true });
        await page.waitForTimeout(300);
        await page.screenshot({ path: join(shots, `${name}.png`) });
      },
    });
    if (errors.length) throw new Error(`uncaught errors in the page: ${errors.join('; ')}`);
    ok = true;
  } catch (e) {
    if (!stepFailed) console.log(`FAIL ${e.stack ?? e}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    if (!ok) {
      process.env.BATON_E2E_KEEP = '1';
      console.log(`data dir kept: ${stack.dataDir}`);
    }
    await stack.stop();
  }
  process.exit(ok ? 0 : 1);
}
