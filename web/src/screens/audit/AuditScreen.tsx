import { useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { DatePicker, Input, Select, Space, Table, Tag, Typography } from 'antd';
import type { Dayjs } from 'dayjs';
import { useTranslation } from 'react-i18next';
import { api, call, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';

const PAGE = 50;
const results: Schemas['AuditResult'][] = ['applied', 'dry_run', 'refused', 'failed', 'replayed'];
const targetKinds = ['flow', 'task', 'run', 'node', 'instance', 'backfill', 'token', 'schedule'];

interface Filters {
  actor?: string;
  action?: string;
  target_kind?: string;
  target_id?: string;
  result?: Schemas['AuditResult'];
  since?: string;
  until?: string;
}

/** The audit log: every mutating call and control operation, newest first, filtered by the server. */
export function AuditScreen() {
  const { t } = useTranslation();
  const [f, setF] = useState<Filters>({});
  const [page, setPage] = useState(1);
  const set = (patch: Filters) => {
    setF((old) => ({ ...old, ...patch }));
    setPage(1);
  };
  const audit = useQuery({
    queryKey: ['audit', f, page],
    queryFn: () => call(api.GET('/api/v1/audit', { params: { query: { ...f, limit: PAGE, offset: (page - 1) * PAGE } } })),
    placeholderData: keepPreviousData,
    refetchInterval: 10000,
  });
  const text = (key: keyof Filters, placeholder: string, width = 180) => (
    <Input.Search placeholder={placeholder} allowClear style={{ width }} data-testid={`audit-${key.replace('_', '-')}`}
      onSearch={(v) => set({ [key]: v || undefined })} />
  );
  const resultColor = (r: string) => (r === 'applied' ? 'success' : r === 'refused' ? 'warning' : r === 'failed' ? 'error' : 'default');
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space wrap>
        {text('actor', t('ops.actor'))}
        {text('action', t('audit.action'))}
        <Select allowClear placeholder={t('audit.targetKind')} style={{ width: 150 }} data-testid="audit-target-kind"
          options={targetKinds.map((k) => ({ value: k, label: k }))} onChange={(v?: string) => set({ target_kind: v })} />
        {text('target_id', t('audit.targetId'), 240)}
        <Select allowClear placeholder={t('audit.result')} style={{ width: 140 }} data-testid="audit-result"
          options={results.map((r) => ({ value: r, label: t(`audit.results.${r}`) }))} onChange={(v?: Schemas['AuditResult']) => set({ result: v })} />
        <DatePicker.RangePicker showTime data-testid="audit-range"
          onChange={(r) => set({ since: (r?.[0] as Dayjs | null)?.toISOString(), until: (r?.[1] as Dayjs | null)?.toISOString() })} />
      </Space>
      <Table<Schemas['AuditEntry']> rowKey="id" size="small" loading={audit.isLoading} dataSource={audit.data?.items ?? []} data-testid="audit-table"
        pagination={{ current: page, pageSize: PAGE, total: audit.data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        columns={[
          { title: t('run.at'), dataIndex: 'at', render: fmtTime, width: 170 },
          { title: t('ops.actor'), dataIndex: 'actor' },
          { title: t('audit.action'), dataIndex: 'action', render: (a: string) => <code>{a}</code> },
          { title: t('audit.target'), render: (_, a) => (a.target.kind ? `${a.target.kind} ${a.target.id}${a.target.node ? ` / ${a.target.node}` : ''}` : '—') },
          { title: t('ops.request'), render: (_, a) => <code>{a.method} {a.path}</code> },
          { title: t('audit.result'), dataIndex: 'result', render: (r: string, a) => <Tag color={resultColor(r)}>{t(`audit.results.${r}`, { defaultValue: r })} {a.status}</Tag> },
          { title: t('run.message'), render: (_, a) => <Typography.Text type="secondary" ellipsis>{a.code ? `${a.code}: ${a.message}` : ''}</Typography.Text> },
        ]} />
    </Space>
  );
}
