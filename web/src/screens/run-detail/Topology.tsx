// The run's topology: the pinned version's graph coloured by node state,
// live, with locate current progress, lineage highlighting and the node
// menu.
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { App, Button, Dropdown, Space } from 'antd';
import { Background, Controls, ReactFlow, ReactFlowProvider, useReactFlow, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, instanceOp, nodeOp, type FlowNode, type RunDetail } from '../../api/client';
import { useAuth } from '../../auth';
import { layout, toGraph, type GraphNodeData } from '../../graph/layout';
import { nodeTypes } from '../../graph/nodes';
import { instanceOpsFor, nodeOpsFor, type NodeOp } from '../../status';
import { useOperate } from './operate';

export interface TopologyProps {
  run: RunDetail;
  /** Opens the log view on an instance. */
  onOpenLog(instanceId: string): void;
  /** Called after an operation was applied. */
  onChanged(): void;
}

export function Topology(props: TopologyProps) {
  return (
    <ReactFlowProvider>
      <TopologyView {...props} />
    </ReactFlowProvider>
  );
}

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

function TopologyView({ run, onOpenLog, onChanged }: TopologyProps) {
  const id = run.id;
  const rf = useReactFlow();
  const [hover, setHover] = useState<string | null>(null);
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const [menu, setMenu] = useState<{ node: Node<GraphNodeData>; x: number; y: number } | null>(null);
  const def = useDefinition(run);
  const { start, dialog } = useOperate(onChanged);

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
    if (inst) onOpenLog(inst.id);
    setMenu(null);
  }

  function nodeMenu(n: Node<GraphNodeData>) {
    const nr = nodeRuns.get(n.id);
    // A closed run's workflow takes no signal: only rerun (a new run) and
    // rerun-from-node apply, at run level.
    const operable = canMutate && openOrOperable(run.status);
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
          onOpenLog(last.id);
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
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space>
        <Button onClick={locate} data-testid="locate">{t('run.locate')}</Button>
      </Space>
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
      {menu && (
        <Dropdown open menu={nodeMenu(menu.node)} onOpenChange={(o) => !o && setMenu(null)} trigger={['click']}>
          <div style={{ position: 'fixed', left: menu.x, top: menu.y, width: 1, height: 1 }} data-testid="node-menu-anchor" />
        </Dropdown>
      )}
      {dialog}
    </Space>
  );
}

/** A run whose workflow is still open takes node operations. */
function openOrOperable(status: string): boolean {
  return !['success', 'rolled_back', 'abandoned', 'skipped'].includes(status);
}
