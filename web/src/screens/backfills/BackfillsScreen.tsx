// 补数据 list: every backfill with its progress (done, failed, running,
// waiting of the total dates), the operations its state allows (pause,
// resume, stop, retry failed dates; stop asks for confirmation), and per
// backfill its dates with their runs. Refreshed every 3 s while any is open.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Input, Popconfirm, Progress, Space, Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, call, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { refusal } from '../run-detail/refusal';

type Backfill = Schemas['Backfill'];
type Op = 'pause' | 'resume' | 'stop' | 'retry';
const PAGE = 20;

/** Which operation applies in which state (internal/status/backfill.go BackfillOpRefusal). */
export function backfillOps(b: Pick<Backfill, 'status' | 'failed'>): Op[] {
  if (b.status === 'success' || b.status === 'stopped') return [];
  const ops: Op[] = [];
  if (b.status === 'running') ops.push('pause');
  if (b.status === 'paused') ops.push('resume');
  if (b.failed > 0) ops.push('retry');
  ops.push('stop');
  return ops;
}

const statusColor: Record<string, string> = { running: 'processing', paused: 'warning', stopped: 'default', success: 'success', failed: 'error' };

export function BackfillsScreen() {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { notification, message } = App.useApp();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const definition = params.get('definition') ?? '';
  const page = Number(params.get('page') ?? '1');
  const list = useQuery({
    queryKey: ['backfills', definition, page],
    queryFn: () => call(api.GET('/api/v1/backfills', { params: { query: { limit: PAGE, offset: (page - 1) * PAGE, ...(definition ? { definition } : {}) } } })),
    refetchInterval: (q) => (q.state.data?.items.some((b) => b.status === 'running' || b.status === 'paused') ? 3000 : 15000),
  });
  const op = useMutation({
    mutationFn: ({ id, op }: { id: string; op: Op }) =>
      call(api.POST(`/api/v1/backfills/{id}/${op}` as '/api/v1/backfills/{id}/pause', { params: { path: { id } }, body: {} })),
    onSuccess: (_, v) => {
      message.success(t('op.done', { op: t(`backfills.op.${v.op}`) }));
      void qc.invalidateQueries({ queryKey: ['backfills'] });
      void qc.invalidateQueries({ queryKey: ['backfill', v.id] });
    },
    onError: (e) => {
      const r = refusal(e);
      notification.error({ message: t('op.refused', { message: '' }), description: <span data-testid="op-error">{r.text}</span>, duration: 10 });
    },
  });

  function button(b: Backfill, o: Op) {
    const btn = (
      <Button size="small" danger={o === 'stop'} loading={op.isPending && op.variables?.id === b.id && op.variables.op === o}
        onClick={o === 'stop' ? undefined : () => op.mutate({ id: b.id, op: o })} data-testid={`backfill-op-${o}`}>
        {t(`backfills.op.${o}`)}
      </Button>
    );
    return o === 'stop'
      ? <Popconfirm key={o} title={t('backfills.stopConfirm', { waiting: b.waiting, running: b.running })} onConfirm={() => op.mutate({ id: b.id, op: o })}
        okButtonProps={{ danger: true, id: 'backfill-stop-confirm' }}>{btn}</Popconfirm>
      : <span key={o}>{btn}</span>;
  }

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card size="small">
        <Space>
          <Typography.Title level={5} style={{ margin: 0 }}>{t('backfills.title')}</Typography.Title>
          <Input.Search allowClear placeholder={t('backfills.filterDefinition')} defaultValue={definition} style={{ width: 260 }}
            onSearch={(v) => { const p = new URLSearchParams(); if (v.trim()) p.set('definition', v.trim()); setParams(p); }} data-testid="backfills-filter" />
        </Space>
      </Card>
      {list.error && <Alert type="error" message={refusal(list.error).text} />}
      <Table<Backfill> rowKey="id" size="small" data-testid="backfills-table" loading={list.isLoading} dataSource={list.data?.items ?? []}
        pagination={{ current: page, pageSize: PAGE, total: list.data?.total ?? 0, showSizeChanger: false,
          onChange: (p) => { const n = new URLSearchParams(params); n.set('page', String(p)); setParams(n); } }}
        expandable={{ expandedRowRender: (b) => <Dates id={b.id} />, rowExpandable: () => true }}
        columns={[
          { title: t('backfills.id'), dataIndex: 'id', render: (id: string) => <Typography.Text code>{id.slice(0, 8)}</Typography.Text> },
          { title: t('runs.definition'), dataIndex: 'definition_name', render: (n: string, b) => (
            <span>{n || b.definition_id} <Typography.Text type="secondary">v{b.version} · {t(`runList.${b.kind}`)}</Typography.Text></span>) },
          { title: t('backfill.range'), render: (_, b) => b.spec ? `${b.spec.from} → ${b.spec.to}${b.spec.step && b.spec.step !== '1d' ? ` / ${b.spec.step}` : ''}` : '—' },
          { title: t('runs.status'), dataIndex: 'status', render: (s: string) => <Tag color={statusColor[s]} data-testid="backfill-status" data-status={s}>{t(`backfills.status.${s}`)}</Tag> },
          { title: t('backfills.progress'), width: 260, render: (_, b) => (
            <div data-testid="backfill-progress">
              <Progress size="small" percent={b.total ? Math.round(((b.done + b.failed) / b.total) * 100) : 0}
                success={{ percent: b.total ? (b.done / b.total) * 100 : 0 }} status={b.failed ? 'exception' : b.status === 'running' ? 'active' : undefined} />
              <Typography.Text type="secondary" style={{ fontSize: 12 }} data-testid="backfill-counts">
                {t('backfills.counts', { done: b.done, failed: b.failed, running: b.running, waiting: b.waiting, total: b.total })}
              </Typography.Text>
            </div>) },
          { title: t('backfill.parallel'), render: (_, b) => (b.spec ? `${b.spec.parallel ?? 1} · ${t(b.spec.order === 'desc' ? 'backfill.desc' : 'backfill.asc')}` : '—') },
          { title: t('runs.initiator'), dataIndex: 'initiator' },
          { title: t('runs.created'), dataIndex: 'created_at', render: fmtTime },
          { title: t('flows.actions'), render: (_, b) => (
            <Space size={4} data-testid={`backfill-actions-${b.id}`}>
              {canMutate && backfillOps(b).map((o) => button(b, o))}
              <Link to={`/runs?backfill_id=${encodeURIComponent(b.id)}`} data-testid="backfill-runs">{t('backfills.runs')}</Link>
            </Space>) },
        ]} />
    </Space>
  );
}

/** A backfill's dates with their runs (GET /backfills/{id}). */
function Dates({ id }: { id: string }) {
  const { t } = useTranslation();
  const q = useQuery({
    queryKey: ['backfill', id],
    queryFn: () => call(api.GET('/api/v1/backfills/{id}', { params: { path: { id } } })),
    refetchInterval: (q) => (q.state.data && (q.state.data.status === 'running' || q.state.data.status === 'paused') ? 3000 : false),
  });
  return (
    <Table size="small" rowKey="bizdate" loading={q.isLoading} dataSource={q.data?.dates ?? []} pagination={{ pageSize: 31, hideOnSinglePage: true }}
      data-testid="backfill-dates"
      columns={[
        { title: t('runs.bizdate'), dataIndex: 'bizdate' },
        { title: t('backfills.dateStatus'), dataIndex: 'status', render: (s: string) => <Tag color={statusColor[s] ?? 'default'}>{t(`backfills.date.${s}`)}</Tag> },
        { title: t('runs.batch'), dataIndex: 'run_id', render: (r?: string) => (r ? <Link to={`/runs/${r}`}>{r.slice(0, 8)}</Link> : '—') },
        { title: t('runs.status'), dataIndex: 'run_status', render: (s?: string) => (s ? <StatusTag status={s} /> : '—') },
        { title: t('run.attempt'), dataIndex: 'attempt' },
      ]} />
  );
}
