// The typed REST client. Types come from the server's OpenAPI document
// (schema.d.ts, `npm run gen:api`); nothing here restates them.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Run = Schemas['Run'];
export type RunDetail = Schemas['RunDetail'];
export type NodeRun = Schemas['RunNode'];
export type Instance = Schemas['Instance'];
export type FlowBody = Schemas['FlowBody'];
export type Flow = Schemas['FlowView'];
export type FlowNode = Schemas['Node'];
export type FlowEdge = Schemas['Edge'];
export type Task = Schemas['Task'];
export type Me = Schemas['Me'];
export type Problem = Schemas['Problem'];
export type ErrorBody = Schemas['ErrorResponse'];

export const TOKEN_KEY = 'baton.token';

export function getToken(): string {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

/** An error answer of the API, in its {"error":{code,message,details}} shape. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** Validation problems (400 invalid_definition) with their paths. */
  get problems(): Problem[] {
    // invalid_definition carries the list itself (ProblemList).
    return Array.isArray(this.details) ? (this.details as Problem[]) : [];
  }
}

/** Called when the API answers 401, so the shell can return to the login. */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}

function randomKey(): string {
  // crypto.randomUUID needs a secure context; the console may be served
  // over plain HTTP on a LAN address.
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    // Every mutating call carries an Idempotency-Key: a retried click
    // (double submit, flaky network) has no second effect.
    if (request.method !== 'GET' && !request.headers.has('Idempotency-Key')) {
      request.headers.set('Idempotency-Key', randomKey());
    }
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && getToken()) onUnauthorized();
    return response;
  },
};

// The document's paths carry the /api/v1 prefix.
export const api = createClient<paths>({ baseUrl: '' });
api.use(auth);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** Resolves to the answer's data or throws its ApiError. */
export async function call<T>(p: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await p;
  if (response.ok) return data as T;
  const e = (error as ErrorBody | undefined)?.error;
  throw new ApiError(response.status, e?.code ?? 'http_' + response.status, e?.message ?? response.statusText, e?.details);
}

/**
 * Streams an instance's log from offset, following it while the instance
 * runs (GET /instances/{id}/log?follow=true). onChunk gets each piece as it
 * arrives; the promise ends when the server closes the stream.
 */
export async function followLog(id: string, offset: number, onChunk: (s: string) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`/api/v1/instances/${encodeURIComponent(id)}/log?follow=true&offset=${offset}`, {
    headers: { Authorization: `Bearer ${getToken()}` },
    signal,
  });
  if (!res.ok || !res.body) {
    let msg = res.statusText;
    try {
      msg = ((await res.json()) as ErrorBody).error.message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, 'http_' + res.status, msg);
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onChunk(dec.decode(value, { stream: true }));
  }
  const tail = dec.decode();
  if (tail) onChunk(tail);
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

// The document has one path per control operation; these share their
// parameters, body (ReasonBody) and answer (ControlResult), so one typed
// call serves each family.
export type RunOpName = 'stop' | 'pause' | 'resume' | 'retry' | 'rollback' | 'abandon';
export type NodeOpName = 'stop' | 'pause' | 'resume' | 'retry' | 'skip';

export function runOp(id: string, op: RunOpName, reason: string) {
  return call(api.POST(`/api/v1/runs/{id}/${op}` as '/api/v1/runs/{id}/stop', { params: { path: { id } }, body: { reason } }));
}

export function nodeOp(id: string, node: string, op: NodeOpName, reason: string) {
  return call(api.POST(`/api/v1/runs/{id}/nodes/{node}/${op}` as '/api/v1/runs/{id}/nodes/{node}/stop', { params: { path: { id, node } }, body: { reason } }));
}

export function instanceOp(id: string, op: 'stop' | 'rerun', reason: string) {
  return call(api.POST(`/api/v1/instances/{id}/${op}` as '/api/v1/instances/{id}/stop', { params: { path: { id } }, body: { reason } }));
}

export function batchOp(op: 'stop' | 'retry', ids: string[], reason = '') {
  return call(api.POST(`/api/v1/runs/batch/${op}` as '/api/v1/runs/batch/stop', { body: { ids, reason } }));
}
