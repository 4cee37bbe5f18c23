import { useMemo, useState } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Card, DatePicker, Form, Input, Modal, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import type { Dayjs } from 'dayjs';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, batchOp, call, errorMessage, type Run, type Schemas } from '../../api/client';
import type { paths } from '../../api/schema';

/** The URL holds strings; the server refuses a value outside its enums with a 400 naming it. */
type RunQuery = NonNullable<paths['/api/v1/runs']['get']['parameters']['query']>;
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { runStatuses, tagColor, triggers } from '../../status';

/** The filters of design §7; they live in the URL so a filtered list is a link. */
const filterKeys = ['group', 'definition', 'kind', 'batch_id', 'status', 'trigger', 'initiator', 'bizdate_from', 'bizdate_to', 'created_from', 'created_to'] as const;
type Filters = Partial<Record<(typeof filterKeys)[number], string>>;

const PAGE = 20;

export function RunsScreen() {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [live, setLive] = useState(true);
  const [selected, setSelected] = useState<string[]>([]);
  const [results, setResults] = useState<Schemas['BatchResult'] | null>(null);
  const page = Number(params.get('page') ?? '1');

  const filters = useMemo(() => {
    const f: Filters = {};
    for (const k of filterKeys) {
      const v = params.get(k);
      if (v) f[k] = v;
    }
    return f;
  }, [params]);

  const runs = useQuery({
    queryKey: ['runs', 'list', filters, page],
    queryFn: () => call(api.GET('/api/v1/runs', { params: { query: { ...(filters as RunQuery), limit: PAGE, offset: (page - 1) * PAGE } } })),
    // Live refresh replaces the rows in place: the table stays mounted, so
    // the scroll position and the selection survive.
    refetchInterval: live ? 3000 : false,
    placeholderData: keepPreviousData,
  });
  const { status: _status, kind: _kind, batch_id: _batch, created_from: _cf, created_to: _ct, ...statFilters } = filters;
  void _status; void _kind; void _batch; void _cf; void _ct;
  const stats = useQuery({
    queryKey: ['runs', 'stats', statFilters],
    queryFn: () => call(api.GET('/api/v1/runs/stats', { params: { query: statFilters as RunQuery } })),
    refetchInterval: live ? 3000 : false,
  });

  function setFilters(next: Filters) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v) p.set(k, v);
    setParams(p);
    setSelected([]);
  }

  const batch = useMutation({
    mutationFn: (op: 'stop' | 'retry') => batchOp(op, selected),
    onSuccess: (r) => {
      setResults(r);
      setSelected([]);
      void qc.invalidateQueries({ queryKey: ['runs'] });
    },
    onError: (e) => message.error(errorMessage(e)),
  });

  const range = (a?: string, b?: string): [Dayjs, Dayjs] | undefined => (a && b ? [dayjs(a), dayjs(b)] : undefined);
  const initial = {
    ...filters,
    status: filters.status?.split(',').filter(Boolean),
    bizdate: range(filters.bizdate_from, filters.bizdate_to),
    created: range(filters.created_from, filters.created_to),
  };

  function onSearch(v: Record<string, unknown>) {
    const bd = v.bizdate as [Dayjs, Dayjs] | undefined;
    const cr = v.created as [Dayjs, Dayjs] | undefined;
    setFilters({
      group: v.group as string, definition: v.definition as string, kind: v.kind as string, batch_id: v.batch_id as string,
      trigger: v.trigger as string, initiator: v.initiator as string,
      status: ((v.status as string[] | undefined) ?? []).join(','),
      bizdate_from: bd?.[0].format('YYYY-MM-DD'), bizdate_to: bd?.[1].format('YYYY-MM-DD'),
      created_from: cr?.[0].toISOString(), created_to: cr?.[1].toISOString(),
    });
  }

  const counts: Partial<Record<string, number>> = stats.data?.counts ?? {};
  const activeStatuses = filters.status?.split(',') ?? [];

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card size="small">
        <Form layout="inline" initialValues={initial} onFinish={onSearch} key={params.toString()} data-testid="runs-filters">
          <Form.Item name="definition"><Input placeholder={t('runs.filterDefinition')} allowClear style={{ width: 200 }} data-testid="filter-definition" /></Form.Item>
          <Form.Item name="batch_id"><Input placeholder={t('runs.filterBatch')} allowClear style={{ width: 200 }} /></Form.Item>
          <Form.Item name="status">
            <Select mode="multiple" allowClear placeholder={t('runs.status')} style={{ minWidth: 160 }} maxTagCount={2}
              options={runStatuses.map((s) => ({ value: s, label: t(`status.${s}`) }))} data-testid="filter-status" />
          </Form.Item>
          <Form.Item name="trigger">
            <Select allowClear placeholder={t('runs.trigger')} style={{ width: 130 }} options={triggers.map((s) => ({ value: s, label: t(`trigger.${s}`) }))} />
          </Form.Item>
          <Form.Item name="kind">
            <Select allowClear placeholder={t('runs.kind')} style={{ width: 100 }} options={[{ value: 'flow', label: 'flow' }, { value: 'task', label: 'task' }]} />
          </Form.Item>
          <Form.Item name="group"><Input placeholder={t('runs.group')} allowClear style={{ width: 120 }} /></Form.Item>
          <Form.Item name="initiator"><Input placeholder={t('runs.filterInitiator')} allowClear style={{ width: 120 }} /></Form.Item>
          <Form.Item name="bizdate" label={t('runs.bizdate')}><DatePicker.RangePicker /></Form.Item>
          <Form.Item name="created" label={t('runs.createdRange')}><DatePicker.RangePicker showTime /></Form.Item>
          <Form.Item>
            <Space>
              <Button type="primary" htmlType="submit" data-testid="filter-submit">{t('common.refresh')}</Button>
              <Button onClick={() => setFilters({})}>{t('runs.reset')}</Button>
            </Space>
          </Form.Item>
        </Form>
      </Card>

      <Space wrap data-testid="status-counters">
        {runStatuses.filter((s) => (counts[s] ?? 0) > 0 || activeStatuses.includes(s)).map((s) => (
          <Tag.CheckableTag key={s} checked={activeStatuses.includes(s)} data-testid={`count-${s}`}
            onChange={(on) => setFilters({ ...filters, status: on ? s : '' })}>
            <Tag color={tagColor(s)} style={{ margin: 0 }}>{t(`status.${s}`)} {counts[s] ?? 0}</Tag>
          </Tag.CheckableTag>
        ))}
        <Typography.Text type="secondary">{t('runs.total', { total: runs.data?.total ?? 0 })}</Typography.Text>
        <span style={{ marginLeft: 16 }}>{t('runs.live')} <Switch size="small" checked={live} onChange={setLive} /></span>
      </Space>

      {canMutate && (
        <Space>
          <Button danger disabled={!selected.length} loading={batch.isPending && batch.variables === 'stop'}
            onClick={() => batch.mutate('stop')} data-testid="batch-stop">{t('runs.batchStop')}</Button>
          <Button disabled={!selected.length} loading={batch.isPending && batch.variables === 'retry'}
            onClick={() => batch.mutate('retry')} data-testid="batch-retry">{t('runs.batchRetry')}</Button>
          {selected.length > 0 && <Typography.Text>{t('runs.selected', { count: selected.length })}</Typography.Text>}
        </Space>
      )}

      <Table<Run>
        rowKey="id"
        size="small"
        data-testid="runs-table"
        loading={runs.isLoading}
        dataSource={runs.data?.items ?? []}
        rowSelection={canMutate ? { selectedRowKeys: selected, onChange: (k) => setSelected(k as string[]) } : undefined}
        pagination={{
          current: page, pageSize: PAGE, total: runs.data?.total ?? 0, showSizeChanger: false,
          onChange: (p) => { const n = new URLSearchParams(params); n.set('page', String(p)); setParams(n); },
        }}
        columns={[
          { title: t('runs.batch'), dataIndex: 'id', render: (id: string) => <Link to={`/runs/${id}`} data-testid="run-link">{id.slice(0, 8)}</Link> },
          { title: t('runs.definition'), dataIndex: 'definition_name', render: (n: string, r) => <span title={r.definition_id}>{n || r.definition_id}</span> },
          { title: t('runs.version'), dataIndex: 'version', width: 70 },
          { title: t('runs.status'), dataIndex: 'status', render: (s: string) => <StatusTag status={s} /> },
          { title: t('runs.trigger'), dataIndex: 'trigger', render: (s: string) => t(`trigger.${s}`, { defaultValue: s }) },
          { title: t('runs.bizdate'), dataIndex: 'bizdate' },
          { title: t('runs.group'), dataIndex: 'group' },
          { title: t('runs.initiator'), dataIndex: 'initiator' },
          { title: t('runs.created'), dataIndex: 'created_at', render: fmtTime },
          { title: t('runs.finished'), dataIndex: 'finished_at', render: fmtTime },
        ]}
      />
      {runs.error && <Typography.Text type="danger">{errorMessage(runs.error)}</Typography.Text>}

      <Modal open={!!results} title={t('runs.results')} onCancel={() => setResults(null)} footer={null} width={720}>
        <Table size="small" rowKey="id" pagination={false} dataSource={results?.results ?? []} data-testid="batch-results"
          columns={[
            { title: t('runs.batch'), dataIndex: 'id', render: (id: string) => <Link to={`/runs/${id}`}>{id.slice(0, 8)}</Link> },
            { title: t('runs.ok'), dataIndex: 'ok', render: (ok: boolean) => (ok ? <Tag color="success">{t('common.yes')}</Tag> : <Tag color="error">{t('common.no')}</Tag>) },
            { title: t('runs.status'), dataIndex: 'status', render: (s?: string) => (s ? <StatusTag status={s} /> : '—') },
            { title: t('run.message'), render: (_, r) => r.error?.message ?? '' },
          ]} />
      </Modal>
    </Space>
  );
}
