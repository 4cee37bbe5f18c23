// 执行记录: the runs list. Filters live in the URL (a filtered list is a
// link); pages follow the server's keyset cursor (next_cursor), so rows
// never shift or repeat while new runs arrive; the run-level event stream
// (GET /runs/events) patches loaded rows in place and counts new runs
// without moving what is on screen.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, DatePicker, Form, Input, Modal, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import type { Dayjs } from 'dayjs';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, batchOp, call, errorMessage, type Run, type Schemas } from '../../api/client';
import { useEventStream, type RunEvent } from '../../api/events';
import type { paths } from '../../api/schema';
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { runStatuses, tagColor, triggers } from '../../status';

/** The URL holds strings; the server refuses a value outside its enums with a 400 naming it. */
type RunQuery = NonNullable<paths['/api/v1/runs']['get']['parameters']['query']>;
type RunList = Schemas['RunList'];

/** Every filter of the runs API (design §7); they live in the URL so a filtered list is a link. */
const filterKeys = ['group', 'definition', 'definition_id', 'kind', 'batch_id', 'backfill_id', 'status', 'trigger', 'initiator',
  'bizdate_from', 'bizdate_to', 'created_from', 'created_to'] as const;
type Filters = Partial<Record<(typeof filterKeys)[number], string>>;

const pageSizes = [20, 50, 100, 200];
const terminal = new Set(['success', 'failed', 'stopped', 'timeout', 'skipped', 'rolled_back', 'rollback_failed', 'abandoned']);

/** A run row after a run-level transition: the status and the times it implies. */
function patchRun(r: Run, e: RunEvent): Run {
  const next = { ...r, status: e.to as Run['status'] };
  if (e.to === 'running' && !r.started_at) next.started_at = e.at;
  if (terminal.has(e.to)) next.finished_at = e.at;
  else if (r.finished_at) next.finished_at = null; // reopened (retry, rerun-from)
  return next;
}

export function RunsScreen() {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [live, setLive] = useState(true);
  const [selected, setSelected] = useState<string[]>([]);
  const [results, setResults] = useState<Schemas['BatchResult'] | null>(null);
  const [confirm, setConfirm] = useState<'stop' | 'retry' | null>(null);
  const [reason, setReason] = useState('');
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const limit = Number(params.get('limit') ?? '50') || 50;

  const filters = useMemo(() => {
    const f: Filters = {};
    for (const k of filterKeys) {
      const v = params.get(k);
      if (v) f[k] = v;
    }
    return f;
  }, [params]);
  const listKey = useMemo(() => ['runs', 'list', filters, limit], [filters, limit]);

  const runs = useInfiniteQuery({
    queryKey: listKey,
    initialPageParam: '',
    queryFn: ({ pageParam }) => call(api.GET('/api/v1/runs', {
      params: { query: { ...(filters as RunQuery), limit, ...(pageParam ? { cursor: pageParam } : {}) } },
    })),
    getNextPageParam: (last: RunList) => last.next_cursor ?? undefined,
    // Live rows come from the event stream, not from refetching every page.
    staleTime: Infinity,
  });
  // The latest run-level event of each loaded run, applied over the
  // fetched rows: a refetch that lands after an event cannot undo it, and
  // the rows are patched without touching the cache.
  const [overlay, setOverlay] = useState<Map<string, RunEvent>>(() => new Map());
  const fetched = useMemo(() => runs.data?.pages.flatMap((p) => p.items) ?? [], [runs.data]);
  const rows = useMemo(() => fetched.map((r) => {
    const e = overlay.get(r.id);
    return e ? patchRun(r, e) : r;
  }), [fetched, overlay]);
  const loaded = useRef(new Set<string>());
  useEffect(() => {
    loaded.current = new Set(fetched.map((r) => r.id));
  }, [fetched]);
  const first = runs.data?.pages[0];

  // The counters ignore status (they are the status filter) and paging.
  const { status: _status, ...statFilters } = filters;
  void _status;
  const stats = useQuery({
    queryKey: ['runs', 'stats', statFilters],
    queryFn: () => call(api.GET('/api/v1/runs/stats', { params: { query: statFilters as RunQuery } })),
    staleTime: Infinity,
  });

  // Live: patch loaded rows in place (the table stays mounted, so scroll
  // and selection survive), count runs not on screen, refresh the counters
  // at most once a second.
  const statsTimer = useRef(0);
  const listTimer = useRef(0);
  useEffect(() => () => {
    window.clearTimeout(statsTimer.current);
    window.clearTimeout(listTimer.current);
  }, []);
  const pages = useRef(0);
  useEffect(() => {
    pages.current = runs.data?.pages.length ?? 0;
  }, [runs.data]);
  useEventStream(live ? '/api/v1/runs/events' : null, {
    onEvents(events) {
      const byRun = new Map<string, RunEvent>();
      for (const e of events) if (e.entity === 'run') byRun.set(e.run_id, e);
      if (!byRun.size) return;
      const mine = [...byRun.values()].filter((e) => loaded.current.has(e.run_id));
      if (mine.length) {
        setOverlay((old) => {
          const next = new Map(old);
          for (const e of mine) if ((next.get(e.run_id)?.id ?? 0) < e.id) next.set(e.run_id, e);
          return next;
        });
      }
      const unseen = [...byRun.keys()].filter((id) => !loaded.current.has(id));
      if (unseen.length) {
        // At the top of a first page nothing on screen moves when new rows
        // come in above: read the page again. Further down, or with more
        // pages loaded, say so and let the operator choose.
        if (window.scrollY < 40 && pages.current <= 1) {
          if (!listTimer.current) {
            listTimer.current = window.setTimeout(() => {
              listTimer.current = 0;
              void qc.invalidateQueries({ queryKey: listKey });
            }, 1000);
          }
        } else setFresh((s) => new Set([...s, ...unseen]));
      }
      if (!statsTimer.current) {
        statsTimer.current = window.setTimeout(() => {
          statsTimer.current = 0;
          void qc.invalidateQueries({ queryKey: ['runs', 'stats'] });
        }, 1000);
      }
    },
  });

  function showNew() {
    setFresh(new Set());
    // Back to the first page: the new runs sort before everything loaded.
    void qc.resetQueries({ queryKey: listKey });
    void qc.invalidateQueries({ queryKey: ['runs', 'stats'] });
  }

  function setFilters(next: Filters) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v) p.set(k, v);
    if (params.get('limit')) p.set('limit', params.get('limit')!);
    setParams(p);
    setSelected([]);
    setFresh(new Set());
    // Searching again with the same filters reads them afresh (the live
    // stream may be off).
    void qc.invalidateQueries({ queryKey: ['runs'] });
  }

  const batch = useMutation({
    mutationFn: ({ op, why }: { op: 'stop' | 'retry'; why: string }) => batchOp(op, selected, why),
    onSuccess: (r) => {
      setResults(r);
      setSelected([]);
      setConfirm(null);
      setReason('');
      void qc.invalidateQueries({ queryKey: ['runs'] });
    },
    onError: (e) => message.error(errorMessage(e)),
  });

  // Infinite scroll: the sentinel under the table loads the next page when
  // it comes into view; the button does the same by hand.
  const sentinel = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = runs;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNextPage) return;
    const io = new IntersectionObserver((entries) => {
      if (entries[0]?.isIntersecting && !isFetchingNextPage) void fetchNextPage();
    }, { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

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
    const s = (k: string) => (v[k] as string | undefined)?.trim();
    setFilters({
      group: s('group'), definition: s('definition'), definition_id: filters.definition_id, kind: s('kind'), batch_id: s('batch_id'),
      backfill_id: s('backfill_id'), trigger: s('trigger'), initiator: s('initiator'),
      status: ((v.status as string[] | undefined) ?? []).join(','),
      bizdate_from: bd?.[0].format('YYYY-MM-DD'), bizdate_to: bd?.[1].format('YYYY-MM-DD'),
      created_from: cr?.[0].toISOString(), created_to: cr?.[1].toISOString(),
    });
  }

  const counts: Partial<Record<string, number>> = stats.data?.counts ?? {};
  const activeStatuses = filters.status?.split(',') ?? [];
  const total = first ? (first.total_capped ? `${first.total.toLocaleString()}+` : first.total.toLocaleString()) : '…';

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card size="small">
        <Form layout="inline" initialValues={initial} onFinish={onSearch} key={params.toString()} data-testid="runs-filters" style={{ rowGap: 8 }}>
          <Form.Item name="definition"><Input placeholder={t('runs.filterDefinition')} allowClear style={{ width: 200 }} data-testid="filter-definition" /></Form.Item>
          <Form.Item name="batch_id"><Input placeholder={t('runs.filterBatch')} allowClear style={{ width: 180 }} /></Form.Item>
          <Form.Item name="status">
            <Select mode="multiple" allowClear placeholder={t('runs.status')} style={{ minWidth: 160 }} maxTagCount={2}
              options={runStatuses.map((s) => ({ value: s, label: t(`status.${s}`) }))} data-testid="filter-status" />
          </Form.Item>
          <Form.Item name="trigger">
            <Select allowClear placeholder={t('runs.trigger')} style={{ width: 130 }} options={triggers.map((s) => ({ value: s, label: t(`trigger.${s}`) }))} />
          </Form.Item>
          <Form.Item name="kind">
            <Select allowClear placeholder={t('runs.kind')} style={{ width: 100 }} options={[{ value: 'flow', label: t('runList.flow') }, { value: 'task', label: t('runList.task') }]} />
          </Form.Item>
          <Form.Item name="group"><Input placeholder={t('runs.group')} allowClear style={{ width: 120 }} /></Form.Item>
          <Form.Item name="initiator"><Input placeholder={t('runs.filterInitiator')} allowClear style={{ width: 120 }} data-testid="filter-initiator" /></Form.Item>
          <Form.Item name="backfill_id"><Input placeholder={t('runList.filterBackfill')} allowClear style={{ width: 180 }} data-testid="filter-backfill" /></Form.Item>
          <Form.Item name="bizdate" label={t('runs.bizdate')}><DatePicker.RangePicker /></Form.Item>
          <Form.Item name="created" label={t('runs.createdRange')}><DatePicker.RangePicker showTime /></Form.Item>
          <Form.Item>
            <Space>
              <Button type="primary" htmlType="submit" data-testid="filter-submit">{t('runList.search')}</Button>
              <Button onClick={() => setFilters({})}>{t('runs.reset')}</Button>
            </Space>
          </Form.Item>
        </Form>
        {filters.definition_id && (
          <Tag closable style={{ marginTop: 8 }} onClose={() => setFilters({ ...filters, definition_id: '' })}>
            {t('runList.definitionId', { id: filters.definition_id })}
          </Tag>
        )}
      </Card>

      <Space wrap data-testid="status-counters">
        {runStatuses.filter((s) => (counts[s] ?? 0) > 0 || activeStatuses.includes(s)).map((s) => (
          <Tag.CheckableTag key={s} checked={activeStatuses.includes(s)} data-testid={`count-${s}`}
            onChange={(on) => setFilters({ ...filters, status: on ? s : '' })}>
            <Tag color={tagColor(s)} style={{ margin: 0 }}>{t(`status.${s}`)} {counts[s] ?? 0}</Tag>
          </Tag.CheckableTag>
        ))}
        <Typography.Text type="secondary" data-testid="runs-total">{t('runList.total', { total, shown: rows.length })}</Typography.Text>
        <span style={{ marginLeft: 16 }}>{t('runs.live')} <Switch size="small" checked={live} onChange={setLive} data-testid="runs-live" /></span>
        <span>
          {t('runList.pageSize')}{' '}
          <Select size="small" value={limit} style={{ width: 80 }} data-testid="page-size"
            onChange={(n) => { const p = new URLSearchParams(params); p.set('limit', String(n)); setParams(p); }}
            options={pageSizes.map((n) => ({ value: n, label: n }))} />
        </span>
      </Space>

      {fresh.size > 0 && (
        <Alert type="info" showIcon data-testid="runs-fresh"
          message={t('runList.fresh', { count: fresh.size })}
          action={<Button size="small" onClick={showNew} data-testid="runs-show-new">{t('runList.showNew')}</Button>} />
      )}

      {canMutate && (
        <Space>
          <Button danger disabled={!selected.length} onClick={() => setConfirm('stop')} data-testid="batch-stop">{t('runs.batchStop')}</Button>
          <Button disabled={!selected.length} onClick={() => setConfirm('retry')} data-testid="batch-retry">{t('runs.batchRetry')}</Button>
          {selected.length > 0 && <Typography.Text>{t('runs.selected', { count: selected.length })}</Typography.Text>}
        </Space>
      )}

      <Table<Run>
        rowKey="id"
        size="small"
        data-testid="runs-table"
        loading={runs.isLoading}
        dataSource={rows}
        pagination={false}
        rowSelection={canMutate ? { selectedRowKeys: selected, onChange: (k) => setSelected(k as string[]) } : undefined}
        columns={[
          { title: t('runs.batch'), dataIndex: 'id', render: (id: string) => <Link to={`/runs/${id}`} data-testid="run-link">{id.slice(0, 8)}</Link> },
          { title: t('runs.definition'), dataIndex: 'definition_name', render: (n: string, r) => <span title={r.definition_id}>{n || r.definition_id}</span> },
          { title: t('runs.kind'), dataIndex: 'kind', width: 70, render: (k: string) => t(`runList.${k}`) },
          { title: t('runs.version'), dataIndex: 'version', width: 60 },
          { title: t('runs.status'), dataIndex: 'status', render: (s: string) => <span data-testid="run-row-status"><StatusTag status={s} /></span> },
          { title: t('runs.trigger'), dataIndex: 'trigger', render: (s: string) => t(`trigger.${s}`, { defaultValue: s }) },
          { title: t('runs.bizdate'), dataIndex: 'bizdate' },
          { title: t('runs.group'), dataIndex: 'group' },
          { title: t('runs.initiator'), dataIndex: 'initiator' },
          { title: t('runs.created'), dataIndex: 'created_at', render: fmtTime },
          { title: t('runs.finished'), dataIndex: 'finished_at', render: fmtTime },
        ]}
      />
      <div ref={sentinel} style={{ textAlign: 'center' }}>
        {runs.hasNextPage ? (
          <Button loading={runs.isFetchingNextPage} onClick={() => void runs.fetchNextPage()} data-testid="runs-more">{t('runList.more')}</Button>
        ) : rows.length > 0 && <Typography.Text type="secondary" data-testid="runs-end">{t('runList.end')}</Typography.Text>}
      </div>
      {runs.error && <Typography.Text type="danger">{errorMessage(runs.error)}</Typography.Text>}

      <Modal open={!!confirm} title={confirm && t('runList.confirm', { op: t(confirm === 'stop' ? 'runs.batchStop' : 'runs.batchRetry'), count: selected.length })}
        okText={t('op.confirm')} cancelText={t('op.cancel')} confirmLoading={batch.isPending}
        okButtonProps={{ danger: true, id: 'batch-confirm' }} onCancel={() => setConfirm(null)}
        onOk={() => confirm && batch.mutate({ op: confirm, why: reason })}>
        <Input.TextArea rows={2} placeholder={t('op.reason')} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="batch-reason" />
      </Modal>

      <Modal open={!!results} title={t('runs.results')} onCancel={() => setResults(null)} footer={null} width={760}>
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
