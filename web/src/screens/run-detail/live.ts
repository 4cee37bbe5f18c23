// A run kept live by its event stream (GET /runs/{id}/events) instead of
// polling. The stream starts at the run's first transition; the full
// detail lists every transition too, so the first transitions.length
// events are already in it and only the ones after are applied on top:
// the shown run is derived as detail + newer events, which stays right
// whichever of a refetch and an event lands first.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, type Instance, type NodeRun, type RunDetail } from '../../api/client';
import { useEventStream, type RunEvent } from '../../api/events';

const terminalRun = new Set(['success', 'failed', 'stopped', 'timeout', 'skipped', 'rolled_back', 'rollback_failed', 'abandoned']);
const terminalNode = new Set(['success', 'failed', 'stopped', 'timeout', 'skipped']);
const terminalInstance = new Set(['success', 'failed', 'stopped', 'timeout', 'stop_failed']);

/**
 * The detail with the events applied. Returns the patched run and whether
 * an event named a node or instance the detail does not have yet (then the
 * detail is fetched again for its fields: attempt, shard, worker).
 */
export function applyEvents(run: RunDetail, events: RunEvent[]): { run: RunDetail; unknown: boolean } {
  if (!events.length) return { run, unknown: false };
  const nodes = new Map<string, NodeRun>(run.nodes.map((n) => [n.id, n]));
  const instNode = new Map<string, string>();
  for (const n of run.nodes) for (const i of n.instances) instNode.set(i.id, n.id);
  const out: RunDetail = { ...run };
  let unknown = false;
  const changed = new Map<string, NodeRun>();
  const node = (id: string) => changed.get(id) ?? nodes.get(id);
  for (const e of events) {
    if (e.entity === 'run') {
      out.status = e.to as RunDetail['status'];
      if (e.to === 'running' && !out.started_at) out.started_at = e.at;
      out.finished_at = terminalRun.has(e.to) ? e.at : null;
    } else if (e.entity === 'node') {
      const n = node(e.entity_id);
      if (!n) {
        unknown = true;
        continue;
      }
      const next: NodeRun = { ...n, status: e.to as NodeRun['status'] };
      if ((e.to === 'dispatched' || e.to === 'running') && !n.started_at) next.started_at = e.at;
      next.finished_at = terminalNode.has(e.to) ? e.at : null;
      changed.set(n.id, next);
    } else if (e.entity === 'instance') {
      const nid = instNode.get(e.entity_id);
      const n = nid ? node(nid) : undefined;
      if (!n) {
        unknown = true;
        continue;
      }
      const instances = n.instances.map((i): Instance => {
        if (i.id !== e.entity_id) return i;
        const next: Instance = { ...i, status: e.to as Instance['status'] };
        if (e.to === 'running' && !i.started_at) next.started_at = e.at;
        if (terminalInstance.has(e.to)) next.finished_at = e.at;
        return next;
      });
      changed.set(n.id, { ...n, instances });
    }
  }
  if (changed.size) out.nodes = run.nodes.map((n) => changed.get(n.id) ?? n);
  return { run: out, unknown };
}

export function useLiveRun(id: string) {
  const qc = useQueryClient();
  const detail = useQuery({
    queryKey: ['run', id],
    // Without ?view the answer is the full RunDetail, never the topology view.
    queryFn: async () => (await call(api.GET('/api/v1/runs/{id}', { params: { path: { id } } }))) as RunDetail,
    staleTime: Infinity,
  });
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [ended, setEnded] = useState(false);
  const [epoch, setEpoch] = useState(0);
  const seen = useRef(new Set<number>());
  const timer = useRef(0);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  /** Fetches the detail again, at most once per second. */
  const refetchSoon = useCallback(() => {
    if (timer.current) return;
    timer.current = window.setTimeout(() => {
      timer.current = 0;
      void qc.invalidateQueries({ queryKey: ['run', id] });
    }, 1000);
  }, [qc, id]);

  // until=closed: a failed run stays open to operations (retry, skip), so
  // its stream goes on; it ends when the workflow is gone.
  useEventStream(detail.data ? `/api/v1/runs/${encodeURIComponent(id)}/events?until=closed` : null, {
    onEvents(batch) {
      const fresh = batch.filter((e) => !seen.current.has(e.id));
      if (!fresh.length) return;
      for (const e of fresh) seen.current.add(e.id);
      setEvents((old) => [...old, ...fresh]);
      if (fresh.some((e) => e.entity === 'run')) refetchSoon();
    },
    onEnd() {
      setEnded(true);
      refetchSoon();
    },
  }, epoch);

  const base = detail.data;
  const live = useMemo(() => (base ? applyEvents(base, events.slice(base.transitions.length)) : null), [base, events]);
  // Once per new batch of events, not in a loop while the mirror lags.
  const askedAt = useRef(-1);
  useEffect(() => {
    if (live?.unknown && askedAt.current !== events.length) {
      askedAt.current = events.length;
      refetchSoon();
    }
  }, [live, events.length, refetchSoon]);

  /** After an operation: fetch now, and reopen the stream if it had ended. */
  const refresh = useCallback(() => {
    void qc.invalidateQueries({ queryKey: ['run', id] });
    if (ended) {
      setEnded(false);
      setEpoch((n) => n + 1);
    }
  }, [qc, id, ended]);

  // The transition log with ids once the stream has caught up with the
  // detail, else the detail's own list.
  const transitions = base && events.length >= base.transitions.length ? events : (base?.transitions ?? []);
  return { run: live?.run, error: detail.error, events, transitions, streaming: !ended, refresh };
}
