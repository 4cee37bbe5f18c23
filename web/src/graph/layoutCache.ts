// A topology's layout depends only on its definition version, which never
// changes: it is computed once in a worker and kept in memory and in
// IndexedDB under the version's key, so reopening a run of the same
// version (or reloading the page) skips the layout.
import type { LayoutInput, LayoutResult } from './layered';

/** Bumped when the layout algorithm changes, so old entries are not used. */
const LAYOUT_VERSION = 1;
const DB = 'baton-console';
const STORE = 'layouts';

const memory = new Map<string, LayoutResult>();
let worker: Worker | null = null;
let seq = 0;
const waiting = new Map<number, { ok(r: LayoutResult): void; fail(e: Error): void }>();

function getWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<{ id: number; result?: LayoutResult; error?: string }>) => {
      const w = waiting.get(e.data.id);
      waiting.delete(e.data.id);
      if (e.data.result) w?.ok(e.data.result);
      else w?.fail(new Error(e.data.error ?? 'layout failed'));
    };
  }
  return worker;
}

function inWorker(input: LayoutInput): Promise<LayoutResult> {
  return new Promise((ok, fail) => {
    const id = ++seq;
    waiting.set(id, { ok, fail });
    getWorker().postMessage({ id, input });
  });
}

function openDB(): Promise<IDBDatabase | null> {
  return new Promise((ok) => {
    if (typeof indexedDB === 'undefined') return ok(null);
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => ok(null); // private mode: memory only
  });
}

async function dbGet(key: string): Promise<LayoutResult | undefined> {
  const db = await openDB();
  if (!db) return undefined;
  return new Promise((ok) => {
    const req = db.transaction(STORE).objectStore(STORE).get(key);
    req.onsuccess = () => ok(req.result as LayoutResult | undefined);
    req.onerror = () => ok(undefined);
  });
}

async function dbPut(key: string, v: LayoutResult): Promise<void> {
  const db = await openDB();
  if (!db) return;
  db.transaction(STORE, 'readwrite').objectStore(STORE).put(v, key);
}

export type LayoutSource = 'memory' | 'indexeddb' | 'worker';

/**
 * The layout of a definition version. key names the version (kind,
 * definition id and version); the input's node count guards against a key
 * reused for another graph.
 */
export async function cachedLayout(key: string, input: LayoutInput): Promise<{ layout: LayoutResult; source: LayoutSource }> {
  const k = `${LAYOUT_VERSION}:${key}:${input.nodes.length}:${input.edges.length}`;
  const m = memory.get(k);
  if (m) return { layout: m, source: 'memory' };
  const stored = await dbGet(k).catch(() => undefined);
  if (stored && stored.pos.length === input.nodes.length) {
    memory.set(k, stored);
    return { layout: stored, source: 'indexeddb' };
  }
  const layout = await inWorker(input);
  memory.set(k, layout);
  void dbPut(k, layout).catch(() => {});
  return { layout, source: 'worker' };
}
