import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Descriptions, Space, Table, Tabs, Tree, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call, errorMessage, getToken, runOp, type Instance, type RunDetail, type RunOpName } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { runOpsFor } from '../../status';
import { LogView } from './LogView';
import { useOperate } from './operate';
import { Topology } from './Topology';

const openStatuses = new Set(['waiting', 'running', 'paused', 'stopping', 'rolling_back']);

export function RunDetailScreen() {
  return <RunDetailView />;
}

function RunDetailView() {
  const { id = '' } = useParams();
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [tab, setTab] = useState('topology');
  const [logInstance, setLogInstance] = useState<Instance | null>(null);

  const runQ = useQuery({
    queryKey: ['run', id],
    // Without ?view the answer is the full RunDetail, never the topology view.
    queryFn: async () => (await call(api.GET('/api/v1/runs/{id}', { params: { path: { id } } }))) as RunDetail,
    // Live while open; a finished run still refreshes slowly, since an
    // operation (retry, skip) can reopen it.
    // A 10,000-node detail is megabytes: the topology has its own live
    // stream, so a big run's full detail refreshes slowly.
    refetchInterval: (q) => (q.state.data && (!openStatuses.has(q.state.data.status) || q.state.data.nodes.length > 300) ? 10000 : 1500),
  });
  const run = runQ.data;
  const refresh = () => void qc.invalidateQueries({ queryKey: ['run', id] });
  const { start, dialog } = useOperate(refresh);

  if (runQ.error) return <Alert type="error" message={errorMessage(runQ.error)} />;
  if (!run) return <Typography.Text>{t('common.loading')}</Typography.Text>;

  const runOps = canMutate ? runOpsFor(run.status) : [];

  function runAction(op: string) {
    if (op === 'rerun') {
      start({ op, target: run!.id, run: async () => {
        const r = await call(api.POST('/api/v1/runs/{id}/rerun', { params: { path: { id } }, body: {} }));
        navigate(`/runs/${r.id}`);
      } });
      return;
    }
    start({ op: op === 'retry' ? 'retry-failed' : op, target: run!.id, run: (reason) =>
      runOp(id, op as RunOpName, reason) });
  }

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card size="small">
        <Space style={{ width: '100%', justifyContent: 'space-between' }} wrap>
          <Space>
            <Typography.Title level={4} style={{ margin: 0 }} data-testid="run-title">{t('run.title', { id: run.id.slice(0, 8) })}</Typography.Title>
            <span data-testid="run-status"><StatusTag status={run.status} /></span>
            <Link to={`/flows/${run.definition_id}/edit`}>{run.definition_name || run.definition_id} v{run.version}</Link>
          </Space>
          <Space data-testid="run-actions">
            {runOps.map((op) => (
              <Button key={op} danger={op === 'stop' || op === 'abandon' || op === 'rollback'} onClick={() => runAction(op)} data-testid={`run-op-${op}`}>
                {t(op === 'retry' ? 'op.retry-failed' : `op.${op}`)}
              </Button>
            ))}
            <Button onClick={() => downloadArchive(run.id)}>{t('run.archive')}</Button>
          </Space>
        </Space>
        <Descriptions size="small" column={4} style={{ marginTop: 12 }} items={[
          { label: t('runs.batch'), children: <Typography.Text copyable>{run.id}</Typography.Text> },
          { label: t('runs.trigger'), children: t(`trigger.${run.trigger}`, { defaultValue: run.trigger }) },
          { label: t('runs.bizdate'), children: run.bizdate },
          { label: t('runs.initiator'), children: run.initiator },
          { label: t('runs.created'), children: fmtTime(run.created_at) },
          { label: t('runs.started'), children: fmtTime(run.started_at) },
          { label: t('runs.finished'), children: fmtTime(run.finished_at) },
          { label: t('run.message'), children: run.message || '—' },
        ]} />
      </Card>

      <Tabs activeKey={tab} onChange={setTab} items={[
        {
          key: 'topology', label: <span data-testid="tab-topology">{t('run.topology')}</span>,
          children: <Topology run={run} onChanged={refresh} onOpenLog={(iid) => {
            const inst = run.nodes.flatMap((n) => n.instances).find((x) => x.id === iid);
            if (inst) setLogInstance(inst);
            setTab('logs');
          }} />,
        },
        {
          key: 'logs', label: <span data-testid="tab-logs">{t('run.logs')}</span>,
          children: (
            <div style={{ display: 'flex', gap: 16 }}>
              <Card size="small" style={{ width: 280, flex: 'none' }}>
                <Tree data-testid="log-tree" defaultExpandAll selectedKeys={logInstance ? [logInstance.id] : []}
                  onSelect={(keys) => {
                    const k = keys[0] as string | undefined;
                    const inst = run.nodes.flatMap((n) => n.instances).find((i) => i.id === k);
                    if (inst) setLogInstance(inst);
                  }}
                  treeData={run.nodes.map((n) => ({
                    key: `node:${n.id}`, selectable: false,
                    title: <Space size={4}>{n.id}<StatusTag status={n.status} forced={n.forced} /></Space>,
                    children: n.instances.map((i) => ({
                      key: i.id,
                      title: <span data-testid={`log-instance-${n.id}-${i.attempt}`}>#{i.shard_index} {t('run.attempt')} {i.attempt} <StatusTag status={i.status} /></span>,
                    })),
                  }))} />
              </Card>
              <div style={{ flex: 1, minWidth: 0 }}><LogView instance={logInstance} /></div>
            </div>
          ),
        },
        {
          key: 'transitions', label: t('run.transitions'),
          children: (
            <Table size="small" rowKey={(r, i) => `${r.request_id}-${i}`} pagination={{ pageSize: 20 }} dataSource={run.transitions}
              columns={[
                { title: t('run.at'), dataIndex: 'at', render: fmtTime },
                { title: t('run.node'), render: (_, r) => `${r.entity} ${r.entity_id}` },
                { title: t('run.from'), dataIndex: 'from', render: (s: string) => (s ? <StatusTag status={s} /> : '—') },
                { title: t('run.to'), dataIndex: 'to', render: (s: string) => <StatusTag status={s} /> },
                { title: t('run.actor'), dataIndex: 'actor' },
                { title: t('run.reason'), dataIndex: 'reason' },
              ]} />
          ),
        },
      ]} />
      {dialog}
    </Space>
  );
}

async function downloadArchive(id: string) {
  const res = await fetch(`/api/v1/runs/${encodeURIComponent(id)}/logs`, { headers: { Authorization: `Bearer ${getToken()}` } });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await res.blob());
  a.download = `run-${id}-logs.zip`;
  a.click();
  URL.revokeObjectURL(a.href);
}
