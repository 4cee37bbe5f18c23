// The typed REST client. Types come from the server's OpenAPI document
// (schema.d.ts, `npm run gen:api`); nothing here restates them.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Run = Schemas['Run'];
export type RunDetail = Schemas['RunDetail'];
export type NodeRun = Schemas['NodeRun'];
export type Instance = Schemas['Instance'];
export type FlowBody = Schemas['FlowBody'];
export type FlowNode = Schemas['Node'];
export type FlowEdge = Schemas['Edge'];
export type Task = Schemas['Task'];
export type Me = Schemas['Me'];
export type Problem = Schemas['Problem'];

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
    const d = this.details as { problems?: Problem[] } | Problem[] | undefined;
    if (Array.isArray(d)) return d;
    return d?.problems ?? [];
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

export const api = createClient<paths>({ baseUrl: '/api/v1' });
api.use(auth);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** Resolves to the answer's data or throws its ApiError. */
export async function call<T>(p: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await p;
  if (response.ok) return data as T;
  const e = (error as Schemas['ErrorBody'] | undefined)?.error;
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
      msg = ((await res.json()) as Schemas['ErrorBody']).error.message;
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
