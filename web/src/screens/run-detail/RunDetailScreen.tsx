import { useMemo, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Descriptions, Dropdown, Space, Tabs, Typography } from 'antd';
import { Background, Controls, ReactFlow, ReactFlowProvider, useReactFlow, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call, errorMessage, getToken, instanceOp, nodeOp, runOp, type FlowNode, type Instance, type RunDetail, type RunOpName } from '../../api/client';
import { useAuth } from '../../auth';
import { layout, toGraph, type GraphNodeData } from '../../graph/layout';
import { nodeTypes } from '../../graph/nodes';
import { fmtTime, StatusTag } from '../../shell/StatusTag';
import { instanceOpsFor, nodeOpsFor, runOpsFor, type NodeOp } from '../../status';
import { LogsTab } from './LogView';
import { useOperate } from './operate';
import { useLiveRun } from './live';
import { Gantt } from './Gantt';
import { Timeline } from './Timeline';
import { RerunDownstream, nodeOpsOpen } from './RerunDownstream';
import { BackfillDialog } from '../flows/BackfillDialog';

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
  return (
    <ReactFlowProvider>
      <RunDetailView />
    </ReactFlowProvider>
  );
}

/** Every node upstream and downstream of id, for highlighting its lineage. */
function lineage(id: string, edges: { from: string; to: string }[]): Set<string> {
  const out = new Set([id]);
  for (const dir of ['up', 'down'] as const) {
    const next = new Map<string, string[]>();
    for (const e of edges) {
      const [a, b] = dir === 'down' ? [e.from, e.to] : [e.to, e.from];
      next.set(a, [...(next.get(a) ?? []), b]);
    }
    const stack = [id];
    while (stack.length) {
      for (const n of next.get(stack.pop()!) ?? []) {
        if (!out.has(n)) {
          out.add(n);
          stack.push(n);
        }
      }
    }
  }
  return out;
}

function RunDetailView() {
  const { id = '' } = useParams();
  const rf = useReactFlow();
  const [hover, setHover] = useState<string | null>(null);
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [tab, setTab] = useState('topology');
  const [logInstance, setLogInstance] = useState<Instance | null>(null);
  const [menu, setMenu] = useState<{ node: Node<GraphNodeData>; x: number; y: number } | null>(null);

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

  // Layout once per version; live updates only patch node data.
  const positions = useMemo(() => (def.data ? layout(def.data.nodes, def.data.edges) : null), [def.data]);
  const base = useMemo(() => (def.data && positions ? toGraph(def.data.nodes, def.data.edges, positions) : null), [def.data, positions]);
  const nodeRuns = useMemo(() => new Map((run?.nodes ?? []).map((n) => [n.id, n])), [run]);
  // The lineage of the node whose menu is open (or that was located) is
  // highlighted; the rest fades.
  const focus = menu?.node.id ?? hover;
  const lit = useMemo(() => (focus && def.data ? lineage(focus, def.data.edges) : null), [focus, def.data]);
  const nodes = useMemo(() => base?.nodes.map((n) => {
    const nr = nodeRuns.get(n.id);
    return { ...n, style: lit && !lit.has(n.id) ? { opacity: 0.25 } : undefined, data: { ...n.data, status: nr?.status ?? 'waiting', forced: nr?.forced } };
  }) ?? [], [base, nodeRuns, lit]);
  const edges = useMemo(() => base?.edges.map((e) => (lit && !(lit.has(e.source) && lit.has(e.target)) ? { ...e, style: { ...e.style, opacity: 0.15 } } : e)) ?? [], [base, lit]);

  if (liveRun.error) return <Alert type="error" message={errorMessage(liveRun.error)} />;
  if (!run) return <Typography.Text>{t('common.loading')}</Typography.Text>;

  const runOps = canMutate ? runOpsFor(run.status) : [];

  /** Centres on the running node, else the first failed one, and opens its log. */
  function locate() {
    const order = def.data?.nodes.map((n) => n.id) ?? [];
    const pick = (st: string[]) => order.find((nid) => st.includes(nodeRuns.get(nid)?.status ?? ''));
    const target = pick(['running', 'dispatched', 'stopping']) ?? pick(['failed', 'timeout', 'stopped']);
    const n = target && nodes.find((x) => x.id === target);
    if (!n) {
      message.info(t('run.nothingToLocate'));
      return;
    }
    void rf.setCenter(n.position.x + 85, n.position.y + 24, { zoom: 1.2, duration: 300 });
    setHover(n.id);
    const inst = nodeRuns.get(n.id)?.instances.at(-1);
    if (inst) setLogInstance(inst);
    setMenu(null);
  }
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

  function nodeMenu(n: Node<GraphNodeData>) {
    const nr = nodeRuns.get(n.id);
    // A closed run's workflow takes no signal: only rerun (a new run) and
    // rerun-from-node apply, at run level.
    const operable = canMutate && openOrOperable(run!.status);
    const ops: NodeOp[] = operable ? nodeOpsFor(nr?.status ?? 'waiting', (nr?.instances.length ?? 0) > 0) : [];
    const last = nr?.instances[nr.instances.length - 1];
    const items = [
      ...ops.map((op) => ({ key: op, label: <span data-testid={`node-op-${op}`}>{t(`op.${op}`)}</span> })),
      // A reset works on closed runs too, once the node has been dispatched.
      ...(canMutate && last ? [{ key: 'rerun-from', label: <span data-testid="node-op-rerun-from">{t('op.rerun-from')}</span> }] : []),
      ...(operable && last ? instanceOpsFor(last.status).map((op) => ({ key: `instance-${op}`, label: <span data-testid={`instance-op-${op}`}>{t(`op.${op}-instance`)}</span> })) : []),
      ...(last ? [{ key: 'log', label: <span data-testid="node-op-log">{t('op.log')}</span> }] : []),
    ];
    return {
      items: items.length ? items : [{ key: 'none', disabled: true, label: t('op.none') }],
      onClick: ({ key }: { key: string }) => {
        setMenu(null);
        if (key === 'rerun-from') {
          void (async () => {
            try {
              const plan = await call(api.POST('/api/v1/runs/{id}/nodes/{node}/rerun-from', { params: { path: { id, node: n.id }, query: { dry_run: true } }, body: {} }));
              start({ op: 'rerun-from', target: `${n.id} — ${t('run.rerunFromPlan', { nodes: plan.nodes.join(', ') })}`, run: (reason) =>
                call(api.POST('/api/v1/runs/{id}/nodes/{node}/rerun-from', { params: { path: { id, node: n.id } }, body: { reason } })) });
            } catch (e) {
              message.error(errorMessage(e));
            }
          })();
        } else if (key === 'log' && last) {
          setLogInstance(last);
          setTab('logs');
        } else if (key.startsWith('instance-') && last) {
          const op = key.slice('instance-'.length) as 'stop' | 'rerun';
          start({ op: `${op}-instance`, target: last.id, run: (reason) =>
            instanceOp(last.id, op, reason) });
        } else if (key !== 'none') {
          start({ op: key, target: n.id, run: (reason) =>
            nodeOp(id, n.id, key as NodeOp, reason) });
        }
      },
    };
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
            {canMutate && nodeOpsOpen.has(run.status) && run.kind === 'flow' && (
              <Button onClick={() => setPanel('rerun-downstream')} data-testid="run-op-rerun-downstream">{t('rerunDown.title')}</Button>
            )}
            {canMutate && <Button onClick={() => setPanel('backfill')} data-testid="run-op-backfill">{t('runDetail.backfillFromHere')}</Button>}
            <Button onClick={locate} data-testid="locate">{t('run.locate')}</Button>
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
          children: (
            <div style={{ height: 520, background: '#fff', border: '1px solid #f0f0f0' }} data-testid="topology">
                <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} fitView minZoom={0.05}
                  nodesDraggable={false} nodesConnectable={false} onlyRenderVisibleElements proOptions={{ hideAttribution: true }}
                  onNodeClick={(e, n) => { setHover(null); setMenu({ node: n, x: e.clientX, y: e.clientY }); }}
                  onNodeContextMenu={(e, n) => { e.preventDefault(); setMenu({ node: n, x: e.clientX, y: e.clientY }); }}
                  onPaneClick={() => { setMenu(null); setHover(null); }}>
                  <Background />
                  <Controls showInteractive={false} />
                </ReactFlow>
            </div>
          ),
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
      {menu && (
        <Dropdown open menu={nodeMenu(menu.node)} onOpenChange={(o) => !o && setMenu(null)} trigger={['click']}>
          <div style={{ position: 'fixed', left: menu.x, top: menu.y, width: 1, height: 1 }} data-testid="node-menu-anchor" />
        </Dropdown>
      )}
      {dialog}
      {panel === 'rerun-downstream' && (
        <RerunDownstream run={run} edges={def.data?.edges ?? []} onClose={() => setPanel(null)} onDone={refresh}
          logic={new Set((def.data?.nodes ?? []).filter((n) => n.type === 'and' || n.type === 'or').map((n) => n.id))} />
      )}
      {panel === 'backfill' && (
        <BackfillDialog flow={{ id: run.definition_id, name: run.definition_name || run.definition_id }} kind={run.kind}
          initial={{ from: run.bizdate, to: run.bizdate, node: menu?.node.id }} onClose={() => setPanel(null)} />
      )}
    </Space>
  );
}

/** A run whose workflow is still open takes node operations. */
function openOrOperable(status: string): boolean {
  return !['success', 'rolled_back', 'abandoned', 'skipped'].includes(status);
}

async function downloadArchive(id: string) {
  const res = await fetch(`/api/v1/runs/${encodeURIComponent(id)}/logs`, { headers: { Authorization: `Bearer ${getToken()}` } });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await res.blob());
  a.download = `run-${id}-logs.zip`;
  a.click();
  URL.revokeObjectURL(a.href);
}
