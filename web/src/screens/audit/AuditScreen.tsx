import { useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Input, Space, Table, Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';

const PAGE = 50;

/** The audit log: every mutating call and control operation, newest first. */
export function AuditScreen() {
  const { t } = useTranslation();
  const [actor, setActor] = useState('');
  const [page, setPage] = useState(1);
  const audit = useQuery({
    queryKey: ['audit', actor, page],
    queryFn: () => call(api.GET('/api/v1/audit', { params: { query: { actor: actor || undefined, limit: PAGE, offset: (page - 1) * PAGE } } })),
    placeholderData: keepPreviousData,
    refetchInterval: 10000,
  });
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Input.Search placeholder={t('ops.actor')} allowClear style={{ width: 240 }} onSearch={(v) => { setActor(v); setPage(1); }} data-testid="audit-actor" />
      <Table<Schemas['AuditEntry']> rowKey="id" size="small" loading={audit.isLoading} dataSource={audit.data?.items ?? []} data-testid="audit-table"
        pagination={{ current: page, pageSize: PAGE, total: audit.data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        columns={[
          { title: t('run.at'), dataIndex: 'at', render: fmtTime },
          { title: t('ops.actor'), dataIndex: 'actor' },
          { title: t('ops.request'), render: (_, a) => <code>{a.method} {a.path}</code> },
          { title: t('ops.status'), dataIndex: 'status', render: (s: number) => <Tag color={s < 400 ? 'success' : s < 500 ? 'warning' : 'error'}>{s}</Tag> },
          { title: t('run.message'), dataIndex: 'detail', ellipsis: true },
        ]} />
    </Space>
  );
}
