// The run detail: the header, the run-level buttons and the topology read
// from the topology view alone (runView.ts: one request, live from the
// event stream), so a 10,000-node run opens without its full detail. The
// log view and the transitions timeline read the full detail (live.ts),
// and the Gantt view its own route, only once their tab is opened.
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Descriptions, Space, Tabs, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call, errorMessage, getToken, runOp, type RunOpName } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { runOpOrder, type RunOp } from '../../status';
import { LogsTab } from './LogView';
import { useOperate } from './operate';
import { useLiveRun } from './live';
import { useRunView, type Topo } from './runView';
import { Gantt } from './Gantt';
import { Timeline } from './Timeline';
import { RerunDownstream } from './RerunDownstream';
import { BackfillDialog } from '../flows/BackfillDialog';
import { Topology } from './Topology';

export function RunDetailScreen() {
  return <RunDetailView />;
}

/** The console's operation name of a run-level op (its label and whether it is confirmed). */
const runOpName = (op: RunOp) => (op === 'retry' ? 'retry-failed' : op);

function RunDetailView() {
  const { id = '' } = useParams();
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [tab, setTab] = useState('topology');
  const [logInstance, setLogInstance] = useState<string | null>(null);
  const [panel, setPanel] = useState<{ kind: 'rerun-downstream'; nodes: string[] } | { kind: 'backfill' } | null>(null);

  const { view, error, refresh: refreshView } = useRunView(id);
  const refresh = () => {
    refreshView();
    void qc.invalidateQueries({ queryKey: ['run', id] });
    void qc.invalidateQueries({ queryKey: ['gantt', id] });
    void qc.invalidateQueries({ queryKey: ['run-audit', id] });
  };
  const { start, dialog } = useOperate(refresh);

  if (error) return <Alert type="error" message={errorMessage(error)} />;
  if (!view) return <Typography.Text>{t('common.loading')}</Typography.Text>;
  const run = view;

  function runAction(op: RunOp) {
    if (op === 'rerun') {
      start({ op, target: run.id, run: async () => {
        const r = await call(api.POST('/api/v1/runs/{id}/rerun', { params: { path: { id } }, body: {} }));
        navigate(`/runs/${r.id}`);
      } });
      return;
    }
    start({ op: runOpName(op), target: run.id, run: (reason) => runOp(id, op as RunOpName, reason) });
  }
  const openLog = (iid: string) => {
    setLogInstance(iid);
    setTab('logs');
  };

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Card size="small">
        <Space style={{ width: '100%', justifyContent: 'space-between' }} wrap>
          <Space>
            <Typography.Title level={4} style={{ margin: 0 }} data-testid="run-title">{t('run.title', { id: run.id.slice(0, 8) })}</Typography.Title>
            <span data-testid="run-status"><StatusTag status={run.status} /></span>
            <Link to={run.kind === 'flow' ? `/flows/${run.definition_id}/edit` : `/tasks/${run.definition_id}/edit`}>{run.definition_name || run.definition_id} v{run.version}</Link>
            <Link to={`/alerts?run_id=${run.id}`} data-testid="run-alerts-link">{t('alerts.ofRun')}</Link>
          </Space>
          <RunActions run={run} canMutate={canMutate} onOp={runAction}
            onRerunDownstream={() => setPanel({ kind: 'rerun-downstream', nodes: [] })} onBackfill={() => setPanel({ kind: 'backfill' })} />
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
          children: <Topology topo={view} start={start} onOpenLog={openLog}
            onRerunDownstream={(node) => setPanel({ kind: 'rerun-downstream', nodes: [node] })} />,
        },
        {
          key: 'logs', label: <span data-testid="tab-logs">{t('run.logs')}</span>,
          children: tab === 'logs' && <DetailTab id={id}>{(d) => <LogsTab run={d.run} instance={logInstance} onSelect={setLogInstance} />}</DetailTab>,
        },
        {
          key: 'gantt', label: <span data-testid="tab-gantt">{t('runDetail.gantt')}</span>,
          children: tab === 'gantt' && <Gantt runId={run.id} tick={view.last_event_id} onPick={(it) => openLog(it.instance)} />,
        },
        {
          key: 'transitions', label: <span data-testid="tab-transitions">{t('run.transitions')}</span>,
          children: tab === 'transitions' && <DetailTab id={id}>{(d) => <Timeline runId={id} transitions={d.transitions} tick={d.events.length} />}</DetailTab>,
        },
      ]} />
      {dialog}
      {panel?.kind === 'rerun-downstream' && (
        <RerunDownstream topo={view} initial={panel.nodes} onClose={() => setPanel(null)} onDone={refresh} />
      )}
      {panel?.kind === 'backfill' && (
        <BackfillDialog flow={{ id: run.definition_id, name: run.definition_name || run.definition_id }} kind={run.kind}
          initial={{ from: run.bizdate, to: run.bizdate }} onClose={() => setPanel(null)} />
      )}
    </Space>
  );
}

/**
 * The run-level buttons: each of stop, pause, resume, retry failed,
 * rollback, abandon and rerun is enabled when the view's allowed_ops (live)
 * has it; rerun downstream when a node allows it; backfill from here
 * always. A viewer sees none.
 */
function RunActions({ run, canMutate, onOp, onRerunDownstream, onBackfill }: {
  run: Topo;
  canMutate: boolean;
  onOp(op: RunOp): void;
  onRerunDownstream(): void;
  onBackfill(): void;
}) {
  const { t } = useTranslation();
  const allowed = new Set(run.allowed_ops);
  const downstream = run.kind === 'flow' && run.nodes.some((n) => n.allowed_ops?.includes('rerun-downstream'));
  return (
    <Space data-testid="run-actions" wrap>
      {canMutate && runOpOrder.map((op) => (
        <Button key={op} danger={op === 'stop' || op === 'abandon' || op === 'rollback'} disabled={!allowed.has(op)} onClick={() => onOp(op)}
          data-testid={`run-op-${op}`}>
          {t(`op.${runOpName(op)}`)}
        </Button>
      ))}
      {canMutate && run.kind === 'flow' && (
        <Button disabled={!downstream} onClick={onRerunDownstream} data-testid="run-op-rerun-downstream">{t('rerunDown.title')}</Button>
      )}
      {canMutate && <Button onClick={onBackfill} data-testid="run-op-backfill">{t('runDetail.backfillFromHere')}</Button>}
      <Button onClick={() => void downloadArchive(run.id)}>{t('run.archive')}</Button>
    </Space>
  );
}

/** The full detail (every node, instance and transition), live: read only while a tab that needs it is open. */
function DetailTab({ id, children }: { id: string; children: (d: ReturnType<typeof useLiveRun> & { run: NonNullable<ReturnType<typeof useLiveRun>['run']> }) => React.ReactNode }) {
  const { t } = useTranslation();
  const d = useLiveRun(id);
  if (d.error) return <Alert type="error" message={errorMessage(d.error)} />;
  if (!d.run) return <Typography.Text>{t('common.loading')}</Typography.Text>;
  return <>{children({ ...d, run: d.run })}</>;
}

async function downloadArchive(id: string) {
  const res = await fetch(`/api/v1/runs/${encodeURIComponent(id)}/logs`, { headers: { Authorization: `Bearer ${getToken()}` } });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await res.blob());
  a.download = `run-${id}-logs.zip`;
  a.click();
  URL.revokeObjectURL(a.href);
}
