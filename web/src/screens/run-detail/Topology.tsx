// The run's topology: the pinned version's graph coloured by node state,
// live, with locate current progress, lineage highlighting and the node
// menu. Built for 10,000-node runs:
// - one request, GET /runs/{id}?view=topology (compact nodes and edges);
// - the layout runs in a Web Worker and is cached per definition version
//   (graph/layoutCache.ts), so live updates and reopening never lay out again;
// - xyflow renders only the visible nodes and edges, and below a zoom level
//   the nodes drop their text;
// - live transitions (SSE) patch the state of the nodes they name; the
//   view is refetched (throttled) for instances and allowed operations.
// Performance marks topology:fetch, topology:layout and topology:render
// (measures from topology:start) time each stage; the browser tests read them.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Dropdown, Space, Tag, Typography } from 'antd';
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow, type Edge, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { DAGRE_MAX, size, type LayoutResult } from '../../graph/layered';
import { cachedLayout, type LayoutSource } from '../../graph/layoutCache';
import { edgeColors } from '../../graph/layout';
import { runEdgeTypes, runNodeTypes, type RunEdgeData, type RunNodeData } from '../../graph/runGraph';
import { menuItems, runMenuAction, useOperate, type MenuAction } from './operate';
import { followRunEvents } from './runEvents';

export type Topo = Schemas['RunTopology'];
export type TopoNode = Schemas['TopologyNode'];

export interface TopologyProps {
  run: { id: string; status: string };
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

/** What the browser tests read: the stages of the first render, in ms. */
export interface TopologyTiming {
  nodes: number;
  edges: number;
  fetch: number;
  layout: number;
  render: number;
  total: number;
  /** From the page's navigation start (includes the run detail above the graph). */
  sinceNavigation: number;
  /** Layouts done by this view so far; live updates must not add any. */
  layouts: number;
  layoutSource: LayoutSource;
  engine: LayoutResult['engine'];
}
declare global {
  interface Window {
    __batonTopology?: TopologyTiming;
  }
}

const open = new Set(['waiting', 'running', 'paused', 'stopping', 'rolling_back']);

function measure(name: string, from: string): number {
  performance.mark(name);
  return performance.measure(`${name}:ms`, from, name).duration;
}

function useTopology(id: string) {
  const first = useRef(true);
  return useQuery({
    queryKey: ['topology', id],
    queryFn: async () => {
      if (first.current) {
        performance.clearMarks();
        performance.clearMeasures();
        performance.mark('topology:start');
      }
      const d = (await call(api.GET('/api/v1/runs/{id}', { params: { path: { id }, query: { view: 'topology' } } }))) as Topo;
      if (first.current) measure('topology:fetch', 'topology:start');
      first.current = false;
      return d;
    },
    // Live through the event stream; this is the fallback when it drops.
    refetchInterval: (q) => (q.state.data && open.has(q.state.data.status) ? 15000 : 60000),
  });
}

/** Subscribes to the run's transitions: node states are patched at once, the rest is refetched, at most every interval ms. */
function useLivePatches(id: string, live: boolean, big: boolean) {
  const qc = useQueryClient();
  const [patch, setPatch] = useState<Map<string, string>>(() => new Map());
  useEffect(() => {
    if (!live) return;
    // Carry on from the view first read: its states are the starting point.
    const after = qc.getQueryData<Topo>(['topology', id])?.last_event_id ?? 0;
    const ctl = new AbortController();
    let pending: Map<string, string> | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let refetch: ReturnType<typeof setTimeout> | null = null;
    void followRunEvents(id, after, (name, e) => {
      if (name === 'node') {
        pending ??= new Map();
        pending.set(e.entity_id, e.to);
        // Events come in bursts (a wave of nodes finishing): one render per frame-ish.
        timer ??= setTimeout(() => {
          const p = pending!;
          pending = null;
          timer = null;
          setPatch((old) => new Map([...old, ...p]));
        }, 100);
      }
      refetch ??= setTimeout(() => {
        refetch = null;
        void qc.invalidateQueries({ queryKey: ['topology', id] });
      }, big ? 3000 : 700);
    }, ctl.signal);
    return () => {
      ctl.abort();
      if (timer) clearTimeout(timer);
      if (refetch) clearTimeout(refetch);
    };
  }, [id, live, big, qc]);
  return { patch, clear: () => setPatch(new Map()) };
}

function TopologyView({ run, onOpenLog, onChanged }: TopologyProps) {
  const id = run.id;
  const rf = useReactFlow();
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const topoQ = useTopology(id);
  const topo = topoQ.data;
  const big = (topo?.nodes.length ?? 0) > DAGRE_MAX;
  const { patch, clear } = useLivePatches(id, !!topo && !['success', 'rolled_back', 'abandoned', 'skipped'].includes(topo.status), big);
  // A fresh answer is newer than the patches that came before it (each
  // event schedules a refetch after it, so a patch cleared early comes back).
  useEffect(() => clear(), [topoQ.dataUpdatedAt]); // eslint-disable-line react-hooks/exhaustive-deps
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['topology', id] });
    onChanged();
  };
  const { start, dialog, rerunDownstream } = useOperate(refresh);
  const [focus, setFocus] = useState<string | null>(null);
  // The menu keeps the node as it was when it opened: the server's answer
  // (409 when the state moved on) says what changed, not a menu that jumps.
  const [menu, setMenu] = useState<{ node: TopoNode; x: number; y: number } | null>(null);

  // The layout: per definition version, in the worker, cached.
  const shape = topo ? `${topo.kind}:${topo.definition_id}:${topo.version}` : '';
  const [layout, setLayout] = useState<{ shape: string; l: LayoutResult; source: LayoutSource } | null>(null);
  const layoutCount = useRef(0);
  const nodesForLayout = topo?.nodes;
  const edgesForLayout = topo?.edges;
  useEffect(() => {
    if (!nodesForLayout || !edgesForLayout || layout?.shape === shape) return;
    let live = true;
    cachedLayout(shape, { nodes: nodesForLayout.map((n) => ({ id: n.id, logic: n.type === 'and' || n.type === 'or' })), edges: edgesForLayout.map((e) => [e[0], e[1]]) })
      .then(({ layout: l, source }) => {
        if (!live) return;
        measure('topology:layout', 'topology:start');
        layoutCount.current++;
        if (window.__batonTopology) window.__batonTopology.layouts = layoutCount.current;
        setLayout({ shape, l, source });
      })
      .catch((e: unknown) => message.error(errorMessage(e)));
    return () => {
      live = false;
    };
  }, [shape, nodesForLayout, edgesForLayout, layout?.shape, message]);

  const lineageQ = useQuery({
    queryKey: ['lineage', id, focus],
    enabled: !!focus,
    staleTime: Infinity, // the graph of a run never changes
    queryFn: () => call(api.GET('/api/v1/runs/{id}/nodes/{node}/lineage', { params: { path: { id, node: focus! }, query: { depth: 0 } } })),
  });
  const lit = useMemo(() => {
    const l = lineageQ.data;
    if (!focus || !l || l.node.id !== focus) return null;
    return new Set([focus, ...l.upstream.map((n) => n.id), ...l.downstream.map((n) => n.id)]);
  }, [lineageQ.data, focus]);

  const byId = useMemo(() => new Map((topo?.nodes ?? []).map((n) => [n.id, n])), [topo]);
  // Node objects keep their identity while their data is unchanged, so
  // xyflow and the memoised components skip them on a live update.
  const cache = useRef(new Map<string, { key: string; node: Node<RunNodeData> }>());
  const nodes = useMemo(() => {
    if (!topo || !layout || layout.shape !== shape) return [];
    const out: Node<RunNodeData>[] = new Array(topo.nodes.length);
    topo.nodes.forEach((n, i) => {
      const status = patch.get(n.id) ?? n.status;
      const dim = !!lit && !lit.has(n.id);
      const key = `${status}|${n.forced ? 1 : 0}|${dim ? 1 : 0}|${layout.shape}`;
      const hit = cache.current.get(n.id);
      if (hit && hit.key === key) {
        out[i] = hit.node;
        return;
      }
      const logic = n.type === 'and' || n.type === 'or';
      const s = size(logic);
      const [x, y] = layout.l.pos[i];
      const node: Node<RunNodeData> = {
        id: n.id, type: 'run', position: { x, y }, width: s.width, height: s.height,
        // Handle positions given, so edges need no DOM measurement.
        handles: [
          { type: 'target', position: 'left' as Node['targetPosition'] & string, x: 0, y: s.height / 2 - 1, width: 1, height: 2 },
          { type: 'source', position: 'right' as Node['sourcePosition'] & string, x: s.width - 1, y: s.height / 2 - 1, width: 1, height: 2 },
        ] as Node['handles'],
        draggable: false, connectable: false,
        data: { label: n.name || n.id, kind: logic ? n.type : (n.kind ?? (n.task_id ? 'ref' : '')), logic, status, forced: n.forced, core: n.core, dim },
      };
      cache.current.set(n.id, { key, node });
      out[i] = node;
    });
    return out;
  }, [topo, layout, shape, patch, lit]);
  const edgeCache = useRef(new Map<string, { key: string; edge: Edge<RunEdgeData> }>());
  const edges = useMemo(() => {
    if (!topo || !layout || layout.shape !== shape) return [];
    return topo.edges.map(([from, to, on], i) => {
      const eid = `${from}->${to}`;
      const dim = !!lit && !(lit.has(from) && lit.has(to));
      const key = `${dim ? 1 : 0}|${layout.shape}`;
      const hit = edgeCache.current.get(eid);
      if (hit && hit.key === key) return hit.edge;
      const kind = on ?? 'success';
      const edge: Edge<RunEdgeData> = {
        id: eid, source: from, target: to, type: 'routed',
        data: { on: kind, route: layout.l.routes[i], dim },
        markerEnd: { type: MarkerType.ArrowClosed, color: edgeColors[kind] },
      };
      edgeCache.current.set(eid, { key, edge });
      return edge;
    });
  }, [topo, layout, shape, lit]);

  // The first render with the graph in place: the page is interactive.
  const rendered = useRef(false);
  useEffect(() => {
    if (rendered.current || !nodes.length || !topo || !layout) return;
    rendered.current = true;
    requestAnimationFrame(() => setTimeout(() => {
      const ms = (n: string) => performance.getEntriesByName(`${n}:ms`).at(-1)?.duration ?? 0;
      const total = measure('topology:render', 'topology:start');
      window.__batonTopology = {
        nodes: topo.nodes.length, edges: topo.edges.length, fetch: ms('topology:fetch'), layout: ms('topology:layout') - ms('topology:fetch'),
        render: total - ms('topology:layout'), total, sinceNavigation: performance.now(), layoutSource: layout.source, engine: layout.l.engine,
        layouts: layoutCount.current,
      };
    }, 0));
  }, [nodes, topo, layout]);

  const centre = (nid: string) => {
    const i = topo?.nodes.findIndex((n) => n.id === nid) ?? -1;
    if (!layout || i < 0) return;
    const [x, y] = layout.l.pos[i];
    void rf.setCenter(x + 85, y + 24, { zoom: 1.1, duration: 300 });
  };

  /** Centres on the running node, else the first failed one, and opens its log. */
  async function locate() {
    try {
      const l = await call(api.GET('/api/v1/runs/{id}/locate', { params: { path: { id }, query: { lines: 0 } } }));
      const target = l.running[0] ?? l.failed;
      if (!target) {
        message.info(t('run.nothingToLocate'));
        return;
      }
      centre(target.id);
      setFocus(target.id);
      setMenu(null);
      const inst = l.failed?.instance_id ?? target.instances?.at(-1)?.id;
      if (inst) onOpenLog(inst);
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  function onMenu(n: TopoNode, a: MenuAction) {
    setMenu(null);
    runMenuAction(a, { runId: id, node: n, start, rerunDownstream: (nd, ns) => rerunDownstream(nd, ns, id), onOpenLog, message, t, nodes: topo?.nodes ?? [] });
  }

  function openMenu(nid: string, e: { clientX: number; clientY: number }) {
    const n = byId.get(nid);
    if (!n) return;
    setFocus(nid);
    setMenu({ node: { ...n, status: (patch.get(nid) as TopoNode['status'] | undefined) ?? n.status }, x: e.clientX, y: e.clientY });
  }
  const menuNode = menu?.node;
  const items = menuNode ? menuItems(menuNode, canMutate, t) : [];

  if (topoQ.error) return <Typography.Text type="danger">{errorMessage(topoQ.error)}</Typography.Text>;
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space wrap>
        <Button onClick={() => void locate()} data-testid="locate">{t('run.locate')}</Button>
        {focus && <Button onClick={() => setFocus(null)} data-testid="topo-clear-focus">{t('topo.clearFocus')}</Button>}
        {topo && <Typography.Text type="secondary" data-testid="topo-count">{t('topo.count', { nodes: topo.nodes.length, edges: topo.edges.length })}</Typography.Text>}
        {topo?.topology_error && <Tag color="warning">{topo.topology_error}</Tag>}
        {lit && <Typography.Text type="secondary" data-testid="topo-lineage">{t('topo.lineage', { node: focus, count: lit.size - 1 })}</Typography.Text>}
      </Space>
      <div style={{ height: 560, background: '#fff', border: '1px solid #f0f0f0' }} data-testid="topology" data-nodes={nodes.length} data-ready={nodes.length ? 'true' : 'false'}>
        {!nodes.length ? (
          <Typography.Text type="secondary" style={{ display: 'block', padding: 16 }}>{t('common.loading')}</Typography.Text>
        ) : (
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={runNodeTypes} edgeTypes={runEdgeTypes}
            // A big graph opens at reading zoom on its start; fitting 10,000
            // nodes would show (and render) all of them as dots.
            fitView={!big} defaultViewport={{ x: 24, y: 24, zoom: 0.8 }} minZoom={big ? 0.2 : 0.05} maxZoom={2}
            nodesDraggable={false} nodesConnectable={false} elementsSelectable={false} onlyRenderVisibleElements
            proOptions={{ hideAttribution: true }}
            onNodeClick={(e, n) => openMenu(n.id, e)}
            onNodeContextMenu={(e, n) => { e.preventDefault(); openMenu(n.id, e); }}
            onPaneClick={() => { setMenu(null); setFocus(null); }}>
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        )}
      </div>
      {menu && menuNode && (
        <Dropdown open menu={{
          items: items.length ? items.map((a) => ({ key: a.key, label: <span data-testid={a.testid}>{a.label}</span> })) : [{ key: 'none', disabled: true, label: t('op.none') }],
          onClick: ({ key }) => {
            const a = items.find((x) => x.key === key);
            if (a) onMenu(menuNode, a);
          },
        }} onOpenChange={(o) => !o && setMenu(null)} trigger={['click']}>
          <div style={{ position: 'fixed', left: menu.x, top: menu.y, width: 1, height: 1 }} data-testid="node-menu-anchor" />
        </Dropdown>
      )}
      {dialog}
    </Space>
  );
}
