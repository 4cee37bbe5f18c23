import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Descriptions, Space, Tabs, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call, errorMessage, getToken, runOp, type FlowNode, type Instance, type RunDetail, type RunOpName } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { runOpsFor } from '../../status';
import { LogsTab } from './LogView';
import { useOperate } from './operate';
import { useLiveRun } from './live';
import { Gantt } from './Gantt';
import { Timeline } from './Timeline';
import { RerunDownstream, nodeOpsOpen } from './RerunDownstream';
import { BackfillDialog } from '../flows/BackfillDialog';
import { Topology } from './Topology';

/** The nodes of the run's pinned version; a task run is one node. */
function useDefinition(run: RunDetail | undefined) {
  return useQuery({
    queryKey: ['definition', run?.kind, run?.definition_id, run?.version],
    enabled: !!run,
    staleTime: Infinity, // a version never changes
    queryFn: async (): Promise<{ nodes: FlowNode[]; edges: { from: string; to: string; on?: 'success' | 'failure' | 'always' }[] }> => {
      if (run!.kind === 'flow') {
        const v = await call(api.GET('/api/v1/flows/{id}/versions/{version}', { params: { path: { id: run!.definition_id, version: run!.version } } }));
        return { nodes: v.flow?.nodes ?? [], edges: v.flow?.edges ?? [] };
      }
      return { nodes: run!.nodes.map((n) => ({ id: n.id, type: 'task' as const })), edges: [] };
    },
  });
}

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

  // Live from the run's event stream (live.ts), not polled.
  const liveRun = useLiveRun(id);
  const run = liveRun.run;
  const def = useDefinition(run);
  const [panel, setPanel] = useState<'rerun-downstream' | 'backfill' | null>(null);
  const refresh = () => {
    liveRun.refresh();
    void qc.invalidateQueries({ queryKey: ['gantt', id] });
    void qc.invalidateQueries({ queryKey: ['run-audit', id] });
  };
  const { start, dialog } = useOperate(refresh);

  if (liveRun.error) return <Alert type="error" message={errorMessage(liveRun.error)} />;
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
            <Link to={`/alerts?run_id=${run.id}`} data-testid="run-alerts-link">{t('alerts.ofRun')}</Link>
          </Space>
          <Space data-testid="run-actions">
            {runOps.map((op) => (
              <Button key={op} danger={op === 'stop' || op === 'abandon' || op === 'rollback'} onClick={() => runAction(op)} data-testid={`run-op-${op}`}>
                {t(op === 'retry' ? 'op.retry-failed' : `op.${op}`)}
              </Button>
            ))}
            {canMutate && nodeOpsOpen.has(run.status) && run.kind === 'flow' && (
              <Button onClick={() => setPanel('rerun-downstream')} data-testid="run-op-rerun-downstream">{t('rerunDown.title')}</Button>
            )}
            {canMutate && <Button onClick={() => setPanel('backfill')} data-testid="run-op-backfill">{t('runDetail.backfillFromHere')}</Button>}
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
          children: <LogsTab run={run} instance={logInstance} onSelect={setLogInstance} />,
        },
        {
          key: 'gantt', label: <span data-testid="tab-gantt">{t('runDetail.gantt')}</span>,
          children: tab === 'gantt' && <Gantt runId={run.id} tick={liveRun.events.length} onPick={(it) => {
            const inst = run.nodes.flatMap((n) => n.instances).find((i) => i.id === it.instance);
            if (inst) {
              setLogInstance(inst);
              setTab('logs');
            }
          }} />,
        },
        {
          key: 'transitions', label: <span data-testid="tab-transitions">{t('run.transitions')}</span>,
          children: tab === 'transitions' && <Timeline runId={run.id} transitions={liveRun.transitions} tick={liveRun.events.length} />,
        },
      ]} />
      {dialog}
      {panel === 'rerun-downstream' && (
        <RerunDownstream run={run} edges={def.data?.edges ?? []} onClose={() => setPanel(null)} onDone={refresh}
          logic={new Set((def.data?.nodes ?? []).filter((n) => n.type === 'and' || n.type === 'or').map((n) => n.id))} />
      )}
      {panel === 'backfill' && (
        <BackfillDialog flow={{ id: run.definition_id, name: run.definition_name || run.definition_id }} kind={run.kind}
          initial={{ from: run.bizdate, to: run.bizdate }} onClose={() => setPanel(null)} />
      )}
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
