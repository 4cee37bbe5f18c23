// The Gantt view of a run's instances (GET /runs/{id}/gantt): one row per
// instance in dispatch order, the queue time (dispatched → started) light,
// the execution (started → finished, or now while running) in the
// instance's status colour. Rows are virtualised, so a 10,000-instance run
// draws only the rows on screen.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Alert, Empty, Space, Tooltip, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';
import { statusColor } from '../../status';

type Item = Schemas['GanttItem'];
const ROW = 24;
const LABEL = 220;

const ms = (s?: string | null) => (s ? new Date(s).getTime() : NaN);

export function fmtDuration(d: number): string {
  if (!Number.isFinite(d) || d < 0) return '—';
  if (d < 1000) return `${d} ms`;
  const s = d / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Refetches while the run moves: tick changes with every batch of events. */
export function Gantt({ runId, tick, onPick }: { runId: string; tick: number; onPick?: (item: Item) => void }) {
  const { t } = useTranslation();
  const qc = useQueryClient();
  const q = useQuery({
    queryKey: ['gantt', runId],
    queryFn: () => call(api.GET('/api/v1/runs/{id}/gantt', { params: { path: { id: runId } } })),
    staleTime: Infinity,
  });
  const timer = useRef(0);
  useEffect(() => {
    if (!tick || timer.current) return;
    timer.current = window.setTimeout(() => {
      timer.current = 0;
      void qc.invalidateQueries({ queryKey: ['gantt', runId] });
    }, 1500);
  }, [tick, qc, runId]);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const open = q.data && !q.data.finished_at;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!open) return;
    const h = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(h);
  }, [open]);

  const span = useMemo(() => {
    const items = q.data?.items ?? [];
    let lo = ms(q.data?.started_at);
    let hi = ms(q.data?.finished_at);
    for (const i of items) {
      const a = ms(i.dispatched_at ?? i.started_at);
      if (Number.isFinite(a) && !(lo <= a)) lo = a;
      const b = ms(i.finished_at);
      if (Number.isFinite(b) && !(hi >= b)) hi = b;
    }
    if (!Number.isFinite(hi) || open) hi = Math.max(Number.isFinite(hi) ? hi : 0, now);
    if (!Number.isFinite(lo)) lo = hi;
    return { lo, hi: Math.max(hi, lo + 1) };
  }, [q.data, open, now]);

  const scroller = useRef<HTMLDivElement>(null);
  const items = q.data?.items ?? [];
  // The console is not built with the React Compiler; the virtualizer's
  // unmemoisable functions are what it is for.
  // eslint-disable-next-line react-hooks/incompatible-library
  const rows = useVirtualizer({ count: items.length, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 10 });

  if (q.error) return <Alert type="error" message={errorMessage(q.error)} />;
  if (!q.data) return <Typography.Text>{t('common.loading')}</Typography.Text>;
  if (!items.length) return <Empty description={t('gantt.empty')} />;

  const pct = (v: number) => `${(((v - span.lo) / (span.hi - span.lo)) * 100).toFixed(3)}%`;
  const width = (a: number, b: number) => `${Math.max(((b - a) / (span.hi - span.lo)) * 100, 0.15).toFixed(3)}%`;
  const ticks = Array.from({ length: 5 }, (_, k) => span.lo + ((span.hi - span.lo) * k) / 4);

  return (
    <div data-testid="gantt">
      <Space style={{ marginBottom: 8 }} wrap>
        <Typography.Text type="secondary">{t('gantt.summary', { count: items.length, span: fmtDuration(span.hi - span.lo) })}</Typography.Text>
        <span><span className="gantt-key queue" /> {t('gantt.queued')}</span>
        <span><span className="gantt-key run" /> {t('gantt.running')}</span>
      </Space>
      <div style={{ display: 'flex', fontSize: 11, color: '#8c8c8c', paddingLeft: LABEL, position: 'relative', height: 16 }}>
        {ticks.map((v, k) => (
          <span key={k} style={{ position: 'absolute', whiteSpace: 'nowrap', left: `calc(${LABEL}px + (100% - ${LABEL}px) * ${k / 4})`, transform: k === 4 ? 'translateX(-100%)' : k ? 'translateX(-50%)' : undefined }}>
            +{fmtDuration(v - span.lo)}
          </span>
        ))}
      </div>
      <div ref={scroller} style={{ height: Math.min(items.length * ROW + 2, 480), overflow: 'auto', border: '1px solid #f0f0f0' }}>
        <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
          {rows.getVirtualItems().map((v) => {
            const it = items[v.index];
            const d = ms(it.dispatched_at);
            const s = ms(it.started_at);
            const f = Number.isFinite(ms(it.finished_at)) ? ms(it.finished_at) : (Number.isFinite(s) ? now : NaN);
            const qStart = Number.isFinite(d) ? d : s;
            const qEnd = Number.isFinite(s) ? s : (Number.isFinite(f) ? f : now);
            return (
              <div key={it.instance} data-testid={`gantt-row-${it.node}`} onClick={() => onPick?.(it)}
                style={{ position: 'absolute', top: v.start, height: ROW, left: 0, right: 0, display: 'flex', alignItems: 'center', cursor: onPick ? 'pointer' : undefined, borderBottom: '1px solid #fafafa' }}>
                <div style={{ width: LABEL, flex: 'none', paddingLeft: 8, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', fontSize: 12 }} title={it.instance}>
                  {it.node} <Typography.Text type="secondary">#{it.shard ?? 0} · {t('run.attempt')} {it.attempt}</Typography.Text>
                </div>
                <Tooltip title={<div>
                  <div>{it.node} #{it.shard ?? 0} · {t('run.attempt')} {it.attempt} · {t(`status.${it.status}`)}</div>
                  <div>{t('gantt.dispatched')}: {fmtTime(it.dispatched_at)}</div>
                  <div>{t('runs.started')}: {fmtTime(it.started_at)}</div>
                  <div>{t('runs.finished')}: {fmtTime(it.finished_at)}</div>
                  <div>{t('gantt.queueTime')}: {fmtDuration(qEnd - qStart)} · {t('gantt.runTime')}: {fmtDuration(f - s)}</div>
                  {it.worker_id && <div>{t('run.worker')}: {it.worker_id}</div>}
                </div>}>
                  <div style={{ position: 'relative', flex: 1, height: 14 }}>
                    {Number.isFinite(qStart) && (
                      <div className="gantt-bar queue" style={{ left: pct(qStart), width: width(qStart, qEnd) }} />
                    )}
                    {Number.isFinite(s) && (
                      <div className="gantt-bar" data-status={it.status} style={{ left: pct(s), width: width(s, f), background: statusColor(it.status) }} />
                    )}
                  </div>
                </Tooltip>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
