// A node's duration history (GET /runs/{id}/nodes/{node}/history) as a
// small bar chart: one bar per past run, oldest left, coloured by status,
// this run outlined, the p50/p95 of the successful runs as dashed lines.
// An SVG drawn here rather than a charting library: thirty bars and two
// lines need no scales, axes or interactions that would justify the
// bundle weight (uPlot ~50 KB, Recharts ~400 KB); <title> gives tooltips.
import { useQuery } from '@tanstack/react-query';
import { Alert, Space, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, call, errorMessage } from '../../api/client';
import { statusColor } from '../../status';
import { fmtDuration } from './Gantt';

const W = 600;
const H = 90;
const PAD = 4;

export function DurationChart({ runId, node, tick }: { runId: string; node: string; tick?: string }) {
  const { t } = useTranslation();
  const q = useQuery({
    // tick: the node's status, so the chart takes this run's duration when it finishes.
    queryKey: ['node-history', runId, node, tick],
    queryFn: () => call(api.GET('/api/v1/runs/{id}/nodes/{node}/history', { params: { path: { id: runId, node }, query: { limit: 30 } } })),
    staleTime: Infinity,
    placeholderData: (prev) => prev,
  });
  if (q.error) return <Alert type="error" message={errorMessage(q.error)} />;
  if (!q.data) return null;
  const items = [...q.data.items].reverse(); // oldest first
  const max = Math.max(1, ...items.map((i) => i.duration_ms ?? 0), q.data.p95_ms ?? 0);
  const slot = (W - PAD * 2) / Math.max(items.length, 1);
  const y = (v: number) => H - PAD - ((H - PAD * 2) * v) / max;
  return (
    <div data-testid="duration-chart">
      <Space size="middle" style={{ fontSize: 12 }}>
        <Typography.Text strong>{t('history.title', { node })}</Typography.Text>
        <Typography.Text type="secondary">
          {t('history.summary', { count: items.length, samples: q.data.samples })}
          {q.data.p50_ms != null && ` · p50 ${fmtDuration(q.data.p50_ms)}`}
          {q.data.p95_ms != null && ` · p95 ${fmtDuration(q.data.p95_ms)}`}
        </Typography.Text>
      </Space>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" height={H} preserveAspectRatio="none" role="img" aria-label={t('history.title', { node })}
        style={{ display: 'block', background: '#fafafa', border: '1px solid #f0f0f0' }}>
        {items.map((it, k) => {
          const d = it.duration_ms;
          const x = PAD + k * slot + slot * 0.15;
          const w = Math.max(slot * 0.7, 1);
          const top = d == null ? PAD : y(d);
          const current = it.run_id === runId;
          return (
            <rect key={it.run_id} x={x} y={top} width={w} height={H - PAD - top} data-testid="history-bar" data-status={it.status}
              fill={d == null ? 'none' : statusColor(it.status)} stroke={current ? '#000' : d == null ? statusColor(it.status) : 'none'}
              strokeWidth={current ? 2 : 1} strokeDasharray={d == null ? '3 2' : undefined} vectorEffect="non-scaling-stroke">
              <title>{`${it.bizdate} · ${t(`status.${it.status}`, { defaultValue: it.status })} · ${d == null ? t('history.unfinished') : fmtDuration(d)} · ${it.run_id.slice(0, 8)}${current ? ` (${t('history.thisRun')})` : ''}`}</title>
            </rect>
          );
        })}
        {[q.data.p50_ms, q.data.p95_ms].map((p, k) => p != null && (
          <line key={k} x1={0} x2={W} y1={y(p)} y2={y(p)} stroke={k ? '#fa8c16' : '#1677ff'} strokeDasharray="4 3" vectorEffect="non-scaling-stroke">
            <title>{`${k ? 'p95' : 'p50'} ${fmtDuration(p)}`}</title>
          </line>
        ))}
      </svg>
      {items.length > 1 && (
        <Typography.Text type="secondary" style={{ fontSize: 11 }}>
          {t('history.range', { from: items[0].bizdate, to: items[items.length - 1].bizdate })}{' '}
          <Link to={`/runs?definition_id=${encodeURIComponent(q.data.definition_id)}`}>{t('history.runs')}</Link>
        </Typography.Text>
      )}
    </div>
  );
}
