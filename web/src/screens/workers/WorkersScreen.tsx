import { useQuery } from '@tanstack/react-query';
import { Table, Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';

/** Workers by group, live: last seen and running instances, every 5 s. */
export function WorkersScreen() {
  const { t } = useTranslation();
  const workers = useQuery({
    queryKey: ['workers'],
    queryFn: () => call(api.GET('/api/v1/workers', { params: { query: { limit: 500 } } })),
    refetchInterval: 5000,
  });
  return (
    <Table<Schemas['Worker']> rowKey="id" size="small" loading={workers.isLoading} dataSource={workers.data?.items ?? []} data-testid="workers-table"
      pagination={false}
      columns={[
        { title: t('ops.group'), dataIndex: 'group', sorter: (a, b) => a.group.localeCompare(b.group), defaultSortOrder: 'ascend' },
        { title: t('ops.worker'), dataIndex: 'id' },
        { title: t('ops.host'), render: (_, w) => `${w.host} (pid ${w.pid})` },
        { title: t('ops.running'), dataIndex: 'running', render: (n: number) => <Tag color={n ? 'processing' : 'default'}>{n}</Tag> },
        { title: t('ops.started'), dataIndex: 'started_at', render: fmtTime },
        { title: t('ops.lastSeen'), dataIndex: 'last_seen', render: fmtTime },
      ]} />
  );
}
