import { useQuery } from '@tanstack/react-query';
import { Card, Space, Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';

type Worker = Schemas['Worker'];

/** Workers by group, live (seen within the engine's liveness window), last seen and running instances, every 5 s. */
export function WorkersScreen() {
  const { t } = useTranslation();
  const workers = useQuery({
    queryKey: ['workers'],
    queryFn: () => call(api.GET('/api/v1/workers', { params: { query: { limit: 500 } } })),
    refetchInterval: 5000,
  });
  const groups = new Map<string, Worker[]>();
  for (const w of workers.data?.items ?? []) groups.set(w.group, [...(groups.get(w.group) ?? []), w]);
  const sorted = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="workers-table">
      {workers.isLoading && <Typography.Text type="secondary">{t('common.loading')}</Typography.Text>}
      {sorted.map(([group, ws]) => (
        <Card key={group} size="small" data-testid={`workers-group-${group}`}
          title={<Space>{t('ops.group')}: <b>{group}</b>
            <Tag color="success">{t('workers.live', { count: ws.filter((w) => w.live).length })}</Tag>
            <Tag color="processing">{t('workers.runningTotal', { count: ws.reduce((s, w) => s + w.running, 0) })}</Tag></Space>}>
          <Table<Worker> rowKey="id" size="small" dataSource={ws} pagination={false}
            columns={[
              { title: t('ops.worker'), dataIndex: 'id' },
              { title: t('workers.state'), dataIndex: 'live', render: (live: boolean) => <Tag color={live ? 'success' : 'default'} data-testid="worker-live">{live ? t('workers.isLive') : t('workers.stale')}</Tag> },
              { title: t('ops.host'), render: (_, w) => `${w.host} (pid ${w.pid})` },
              { title: t('ops.running'), dataIndex: 'running', render: (n: number) => <Tag color={n ? 'processing' : 'default'}>{n}</Tag> },
              { title: t('ops.started'), dataIndex: 'started_at', render: fmtTime },
              { title: t('ops.lastSeen'), dataIndex: 'last_seen', render: fmtTime },
            ]} />
        </Card>
      ))}
    </Space>
  );
}
