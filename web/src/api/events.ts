// Server-Sent Events of the API (GET /runs/events, GET /runs/{id}/events).
// EventSource cannot send the bearer token, so the stream is read with
// fetch and parsed by eventsource-parser; a dropped connection resumes
// after the last event id (?after=), as EventSource would with
// Last-Event-ID.
import { useEffect, useRef } from 'react';
import { createParser } from 'eventsource-parser';
import { getToken } from './client';
import type { Schemas } from './client';

/** One event's data: a transition with its id in the transition log. */
export type RunEvent = Schemas['Transition'] & { id: number; run_id: string };

export interface StreamHandlers {
  /** A batch of transitions, in log order (batched per animation frame). */
  onEvents(events: RunEvent[]): void;
  /** The stream's final `end` event (GET /runs/{id}/events). */
  onEnd?(status: string): void;
}

/**
 * Reads the stream at path (a URL under /api/v1) until it ends, the
 * signal aborts or the server answers an error; resumes after the last id
 * when the connection drops. Returns when the stream is over.
 */
export async function readStream(path: string, h: StreamHandlers, signal: AbortSignal): Promise<void> {
  let after = 0;
  let ended = false;
  let pending: RunEvent[] = [];
  let frame = 0;
  const flush = () => {
    frame = 0;
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    h.onEvents(batch);
  };
  const parser = createParser({
    onEvent(ev) {
      if (ev.event === 'end') {
        flush();
        ended = true;
        h.onEnd?.((JSON.parse(ev.data) as { status: string }).status);
        return;
      }
      const data = JSON.parse(ev.data) as RunEvent;
      after = Math.max(after, data.id);
      pending.push(data);
      // Thousands of events arrive at once when a big run is caught up:
      // hand them over once per frame, not one render per event.
      if (!frame) frame = requestAnimationFrame(flush);
    },
  });
  let delay = 500;
  while (!ended && !signal.aborted) {
    try {
      const sep = path.includes('?') ? '&' : '?';
      const res = await fetch(after ? `${path}${sep}after=${after}` : path, {
        headers: { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' },
        signal,
      });
      // A refusal (404, 401, 400) will not change by asking again.
      if (res.status >= 400 && res.status < 500) return;
      if (!res.ok || !res.body) throw new Error(`event stream: ${res.status}`);
      delay = 500;
      parser.reset();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch {
      if (signal.aborted) break;
    }
    if (frame) cancelAnimationFrame(frame);
    flush();
    if (ended || signal.aborted) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
  if (frame) cancelAnimationFrame(frame);
  flush();
}

/**
 * Keeps a stream open while the component is mounted (and enabled);
 * epoch reopens it (after an operation reopens a run whose stream ended).
 * Handlers are read through a ref, so a new closure does not reconnect.
 */
export function useEventStream(path: string | null, handlers: StreamHandlers, epoch = 0) {
  const ref = useRef(handlers);
  useEffect(() => {
    ref.current = handlers;
  });
  useEffect(() => {
    if (!path) return;
    const ctl = new AbortController();
    void readStream(path, {
      onEvents: (e) => ref.current.onEvents(e),
      onEnd: (s) => ref.current.onEnd?.(s),
    }, ctl.signal);
    return () => ctl.abort();
  }, [path, epoch]);
}
