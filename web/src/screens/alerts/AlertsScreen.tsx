// The alert history (GET /alerts): one row per (run, event, key, channel)
// with its delivery status, newest first. The filters are the route's (run,
// event, channel, status, raised since / until) and
// live in the URL, so the run detail links here filtered on its run; pages
// follow next_cursor.
import { useInfiniteQuery } from '@tanstack/react-query';
import { Alert, Button, DatePicker, Input, Select, Space, Table, Tag, Tooltip, Typography } from 'antd';
import dayjs, { type Dayjs } from 'dayjs';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';
import { alertEvents } from './AlertRules';

type AlertRow = Schemas['Alert'];
type Status = Schemas['AlertStatus'];
const PAGE = 50;
const statuses: Status[] = ['pending', 'sent', 'failed'];
const nodeEvents = new Set(['node_failed', 'stop_failed']);
const alertStatusColor: Record<string, string> = { pending: 'processing', sent: 'success', failed: 'error' };

export function AlertsScreen() {
  const { t } = useTranslation();
  const [sp, setSp] = useSearchParams();
  const f = {
    run_id: sp.get('run_id') || undefined, event: sp.get('event') || undefined,
    channel: sp.get('channel') || undefined, status: (sp.get('status') || undefined) as Status | undefined,
    since: sp.get('since') || undefined, until: sp.get('until') || undefined,
  };
  const set = (patch: Record<string, string | undefined>) => {
    const n = new URLSearchParams(sp);
    for (const [k, v] of Object.entries(patch)) {
      if (v) n.set(k, v);
      else n.delete(k);
    }
    setSp(n, { replace: true });
  };
  const q = useInfiniteQuery({
    queryKey: ['alerts', f],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => call(api.GET('/api/v1/alerts', { params: { query: { ...f, limit: PAGE, cursor: pageParam } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // Delivery is retried with backoff: pending rows turn sent or failed.
    refetchInterval: 5000,
  });
  const rows = q.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Typography.Title level={4} style={{ margin: 0 }}>{t('alerts.history')}</Typography.Title>
      <Space wrap>
        <Input.Search key={`run:${f.run_id ?? ''}`} defaultValue={f.run_id} placeholder={t('alerts.filterRun')} allowClear style={{ width: 240 }}
          onSearch={(v) => set({ run_id: v.trim() })} data-testid="alerts-filter-run" />
        <Select allowClear placeholder={t('alerts.filterEvent')} style={{ width: 190 }} value={f.event} data-testid="alerts-filter-event"
          options={alertEvents.map((e) => ({ value: e, label: t(`alerts.event.${e}`) }))} onChange={(v?: string) => set({ event: v })} />
        <Input.Search key={`ch:${f.channel ?? ''}`} defaultValue={f.channel} placeholder={t('alerts.filterChannel')} allowClear style={{ width: 170 }}
          onSearch={(v) => set({ channel: v.trim() })} data-testid="alerts-filter-channel" />
        <Select allowClear placeholder={t('alerts.filterStatus')} style={{ width: 150 }} value={f.status} data-testid="alerts-filter-status"
          options={statuses.map((s) => ({ value: s, label: t(`alerts.statuses.${s}`) }))} onChange={(v?: string) => set({ status: v })} />
        <DatePicker.RangePicker showTime data-testid="alerts-filter-range" value={[f.since ? dayjs(f.since) : null, f.until ? dayjs(f.until) : null]}
          onChange={(r) => set({ since: (r?.[0] as Dayjs | null)?.toISOString(), until: (r?.[1] as Dayjs | null)?.toISOString() })} />
        <Button onClick={() => setSp(new URLSearchParams(), { replace: true })}>{t('alerts.reset')}</Button>
      </Space>
      {q.error && <Alert type="error" message={errorMessage(q.error)} />}
      <Table<AlertRow> rowKey="id" size="small" loading={q.isLoading} dataSource={rows} pagination={false} data-testid="alerts-table"
        columns={[
          { title: t('alerts.at'), dataIndex: 'created_at', render: fmtTime, width: 170 },
          { title: t('alerts.events'), dataIndex: 'event', width: 170, render: (e: string) => <Tag color="orange">{t(`alerts.event.${e}`, { defaultValue: e })}</Tag> },
          {
            title: t('alerts.run'), dataIndex: 'run_id', width: 100,
            render: (id: string) => (id ? <Link to={`/runs/${id}`} data-testid="alert-run-link"><code>{id.slice(0, 8)}</code></Link> : '—'),
          },
          {
            // The key is the node for node events; for run events it only tells occurrences apart.
            title: t('alerts.node'), dataIndex: 'key', width: 120, ellipsis: true,
            render: (k: string, a) => (!k ? '—' : nodeEvents.has(a.event) ? <code>{k}</code> : <Typography.Text type="secondary" style={{ fontSize: 12 }}>{k}</Typography.Text>),
          },
          {
            title: t('alerts.channel'), dataIndex: 'channel', width: 200,
            render: (c: string, a) => <Space size={4} style={{ whiteSpace: 'nowrap' }}>{c}{a.channel_kind && <Tag>{t(`alerts.${a.channel_kind}`, { defaultValue: a.channel_kind })}</Tag>}</Space>,
          },
          { title: t('alerts.title'), dataIndex: 'title', ellipsis: true },
          {
            title: t('alerts.status'), dataIndex: 'status', width: 190,
            render: (s: string, a) => (
              <Space size={4} data-testid="alert-status" data-status={s} style={{ whiteSpace: 'nowrap' }}
                title={a.sent_at ? `${t('alerts.sentAt')}: ${fmtTime(a.sent_at)}` : undefined}>
                <Tag color={alertStatusColor[s]}>{t(`alerts.statuses.${s}`, { defaultValue: s })}</Tag>
                <Typography.Text type="secondary">{t('alerts.attempts', { count: a.attempts })}</Typography.Text>
              </Space>
            ),
          },
          {
            title: t('alerts.lastError'), dataIndex: 'last_error', width: 220, ellipsis: { showTitle: false },
            render: (e: string) => (e ? <Tooltip title={e}><Typography.Text type="danger">{e}</Typography.Text></Tooltip> : '—'),
          },
        ]} />
      {q.hasNextPage ? (
        <Button onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage} data-testid="alerts-more">{t('alerts.more')}</Button>
      ) : rows.length > 0 && <Typography.Text type="secondary">{t('alerts.end')}</Typography.Text>}
    </Space>
  );
}
