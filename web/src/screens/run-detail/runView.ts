// The run detail's one source: GET /runs/{id}?view=topology (the run's
// fields, its nodes with their state, instances and allowed_ops, the
// edges, the run-level allowed_ops and last_event_id), kept live by the
// run's event stream from that last_event_id. The header, the run-level
// buttons, the graph and the node menu all read it; the other tabs load
// their own data when they open.
//
// The shown view is the last answer with the events after its
// last_event_id applied, so an answer and an event can land in either
// order. A node or run an event touched gets its operations from the
// same rules the server applies (status.ts), until the next answer
// brings the server's own.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, type Schemas } from '../../api/client';
import { useEventStream, type RunEvent } from '../../api/events';
import { DAGRE_MAX } from '../../graph/layered';
import { nodeAllowedOps, runOpsFor } from '../../status';

export type Topo = Schemas['RunTopology'];
export type TopoNode = Schemas['TopologyNode'];
type TopoInstance = Schemas['TopologyInstance'];

/** A run event; an instance's names its node, shard and attempt. */
export type ViewEvent = RunEvent & { node?: string; shard?: number; attempt?: number };

const closed = new Set(['success', 'rolled_back', 'abandoned', 'skipped']);
const terminalRun = new Set([...closed, 'failed', 'stopped', 'timeout', 'rollback_failed']);

const indexes = new WeakMap<Topo, Map<string, number>>();
function indexOf(t: Topo): Map<string, number> {
  let m = indexes.get(t);
  if (!m) {
    m = new Map(t.nodes.map((n, i) => [n.id, i]));
    indexes.set(t, m);
  }
  return m;
}

/**
 * The view with the events after its last_event_id applied (a view
 * patched before is patched further by the next batch). Untouched
 * nodes keep their identity (the graph skips them); touched ones get the
 * rules' allowed_ops for their new state, and all of them when the run's
 * status changed (node operations depend on it).
 */
export function applyToView(base: Topo, events: ViewEvent[]): Topo {
  let last = base.last_event_id;
  let status = base.status;
  let at: string | null = null;
  const changed = new Map<number, TopoNode>();
  const index = indexOf(base);
  for (const e of events) {
    if (e.id <= base.last_event_id) continue;
    last = Math.max(last, e.id);
    if (e.entity === 'run') {
      status = e.to as Topo['status'];
      at = e.at;
    } else if (e.entity === 'node') {
      const i = index.get(e.entity_id);
      if (i === undefined) continue;
      changed.set(i, { ...(changed.get(i) ?? base.nodes[i]), status: e.to as TopoNode['status'] });
    } else if (e.entity === 'instance' && e.node !== undefined) {
      const i = index.get(e.node);
      if (i === undefined) continue;
      const n = changed.get(i) ?? base.nodes[i];
      const list = n.instances ?? [];
      const k = list.findIndex((x) => x.id === e.entity_id);
      const st = e.to as TopoInstance['status'];
      const instances = k >= 0 ? list.map((x, j) => (j === k ? { ...x, status: st } : x))
        : [...list, { id: e.entity_id, shard: e.shard ?? 0, attempt: e.attempt ?? 0, status: st }];
      changed.set(i, { ...n, instances });
    }
  }
  const runChanged = status !== base.status;
  if (!changed.size && !runChanged) return base;
  const withOps = (n: TopoNode): TopoNode => {
    const ops = nodeAllowedOps(status, n);
    return { ...n, allowed_ops: ops.length ? ops : undefined };
  };
  let nodes: TopoNode[];
  if (runChanged) nodes = base.nodes.map((n, i) => withOps(changed.get(i) ?? n));
  else {
    nodes = base.nodes.slice();
    for (const [i, n] of changed) nodes[i] = withOps(n);
  }
  const out: Topo = { ...base, status, nodes, last_event_id: last };
  if (runChanged) {
    out.allowed_ops = runOpsFor(status);
    if (status === 'running' && !out.started_at) out.started_at = at;
    out.finished_at = terminalRun.has(status) ? at : null;
  }
  return out;
}

function measure(name: string, from: string): number {
  performance.mark(name);
  return performance.measure(`${name}:ms`, from, name).duration;
}

export function useRunView(id: string) {
  const qc = useQueryClient();
  const first = useRef(true);
  const q = useQuery({
    queryKey: ['topology', id],
    queryFn: async () => {
      if (first.current) {
        performance.clearMarks();
        performance.clearMeasures();
        performance.mark('topology:start');
      }
      // Read as text, so that the answer's transfer and its parse are timed apart.
      const text = await call(api.GET('/api/v1/runs/{id}', { params: { path: { id }, query: { view: 'topology' } }, parseAs: 'text' }));
      if (first.current) measure('topology:fetch', 'topology:start');
      const d = JSON.parse(text) as Topo;
      if (first.current) measure('topology:parse', 'topology:start');
      first.current = false;
      return d;
    },
    staleTime: Infinity,
    // Live through the event stream; this is the fallback should it drop.
    refetchInterval: (x) => (x.state.data && !closed.has(x.state.data.status) ? 15000 : false),
  });
  const base = q.data;
  const big = (base?.nodes.length ?? 0) > DAGRE_MAX;

  // Where the stream starts: the first answer's last_event_id, or the
  // latest answer's when an operation reopens a stream that had ended.
  const [from, setFrom] = useState<number | null>(null);
  const [ended, setEnded] = useState(false);
  if (base && from === null) setFrom(base.last_event_id);
  // The shown view, patched batch by batch (a batch costs its own events,
  // not every event since the answer: a 10,000-node run logs tens of
  // thousands); the events after the answer are kept to patch the next one.
  const [live, setLive] = useState<{ base: Topo; view: Topo; events: ViewEvent[] } | null>(null);
  if (base && live?.base !== base) {
    const events = (live?.events ?? []).filter((e) => e.id > base.last_event_id);
    setLive({ base, view: applyToView(base, events), events });
  }

  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  /** Reads the view again within ms (the earliest asked for wins). */
  const refetchIn = useCallback((ms: number) => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void qc.invalidateQueries({ queryKey: ['topology', id] });
    }, ms);
  }, [qc, id]);

  useEventStream(from === null || ended ? null : `/api/v1/runs/${encodeURIComponent(id)}/events?until=closed&after=${from}`, {
    onEvents(batch) {
      const b = batch as ViewEvent[];
      setLive((l) => l && { ...l, view: applyToView(l.view, b), events: l.events.concat(b) });
      // The server's allowed_ops and the fields events do not carry
      // (messages, workers, times): soon after a run-level change; for a
      // small graph also a while after node changes (a 10,000-node view is
      // 5 MB). Menus do not wait for it: the events carry what they need.
      if (batch.some((e) => e.entity === 'run')) refetchIn(300);
      else if (!big) refetchIn(5000);
    },
    onEnd() {
      setEnded(true);
      refetchIn(0);
    },
  });

  const view = live?.base === base ? live?.view : undefined;

  /** After an operation: read the view now, and listen again if the stream had ended. */
  const refresh = useCallback(() => {
    void qc.invalidateQueries({ queryKey: ['topology', id] });
    const b = qc.getQueryData<Topo>(['topology', id]);
    if (ended && b) {
      setFrom(b.last_event_id);
      setEnded(false);
    }
  }, [qc, id, ended]);

  return { view, error: q.error, refresh };
}
