// The run's topology: the pinned version's graph coloured by node state,
// live, with locate current progress, lineage highlighting and the node
// menu. Built for 10,000-node runs:
// - the screen's one request, GET /runs/{id}?view=topology (runView.ts:
//   compact nodes and edges, kept live by the event stream);
// - the layout runs in a Web Worker and is cached per definition version
//   (graph/layoutCache.ts), so live updates and reopening never lay out again;
// - xyflow renders only the visible nodes and edges, and below a zoom level
//   the nodes drop their text;
// - a live patch replaces only the nodes it touched: the others keep their
//   xyflow node object, so neither xyflow nor React redraws them.
// Performance marks topology:fetch (runView.ts), topology:layout and
// topology:render (measures from topology:start) time each stage; the
// browser tests read them.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { App, Button, Dropdown, Space, Tag, Typography } from 'antd';
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow, type Edge, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage } from '../../api/client';
import { useAuth } from '../../auth';
import { DAGRE_MAX, size, type LayoutResult } from '../../graph/layered';
import { cachedLayout, type LayoutSource } from '../../graph/layoutCache';
import { buildCullIndex, cull, cullWindow } from '../../graph/cull';
import { edgeColors } from '../../graph/layout';
import { runEdgeTypes, runNodeTypes, type RunEdgeData, type RunNodeData } from '../../graph/runGraph';
import { menuItems, runMenuAction, type MenuAction, type PendingOp } from './operate';
import type { Topo, TopoNode } from './runView';

export interface TopologyProps {
  /** The live view (runView.ts). */
  topo: Topo;
  /** Opens the log view on an instance. */
  onOpenLog(instanceId: string): void;
  /** Asks for an operation (operate.tsx: confirmation, refusal). */
  start(p: PendingOp): void;
  /** Opens the rerun-downstream picker with node chosen. */
  onRerunDownstream(node: string): void;
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
  /** topology:start (the view's request sent) until its answer is read. */
  fetch: number;
  /** JSON.parse of the answer. */
  parse: number;
  /** Until the layout is back (worker, IndexedDB or memory). */
  layout: number;
  /** Until the first animation frame after React committed the graph. */
  render: number;
  /** Until the first task after that frame: the page takes input. */
  interactive: number;
  /** topology:start until interactive. */
  total: number;
  /** From the page's navigation start until interactive (includes loading the bundle). */
  sinceNavigation: number;
  /** Nodes and edges handed to xyflow (culled to the viewport for big graphs). */
  given: { nodes: number; edges: number };
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

/** A big graph opens at reading zoom on its start; fitting 10,000 nodes would show (and render) all of them as dots. */
const BIG_VIEWPORT = { x: 24, y: 24, zoom: 0.8 };
const HEIGHT = 560;

function measure(name: string, from: string): number {
  performance.mark(name);
  return performance.measure(`${name}:ms`, from, name).duration;
}

function TopologyView({ topo, onOpenLog, start, onRerunDownstream }: TopologyProps) {
  const id = topo.id;
  const rf = useReactFlow();
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const big = topo.nodes.length > DAGRE_MAX;
  const [focus, setFocus] = useState<string | null>(null);
  // The menu keeps the node as it was when it opened: the server's answer
  // (409 when the state moved on) says what changed, not a menu that jumps.
  const [menu, setMenu] = useState<{ node: TopoNode; x: number; y: number } | null>(null);

  // The layout: per definition version, in the worker, cached.
  // The graph's shape never changes within a version; the live view
  // replaces node objects on every patch, so the layout reads them
  // through a ref and runs once per shape.
  const shape = `${topo.kind}:${topo.definition_id}:${topo.version}`;
  const [layout, setLayout] = useState<{ shape: string; l: LayoutResult; source: LayoutSource } | null>(null);
  const layoutCount = useRef(0);
  const graph = useRef(topo);
  useEffect(() => {
    graph.current = topo;
  });
  useEffect(() => {
    if (layout?.shape === shape) return;
    let live = true;
    const g = graph.current;
    cachedLayout(shape, { nodes: g.nodes.map((n) => ({ id: n.id, logic: n.type === 'and' || n.type === 'or' })), edges: g.edges.map((e) => [e[0], e[1]]) })
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
  }, [shape, layout?.shape, message]);

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

  // Positions by node id, once per layout (not per live patch).
  const at = useMemo(() => {
    const m = new Map<string, number>();
    topo.nodes.forEach((n, i) => m.set(n.id, i));
    return m;
  }, [layout]); // eslint-disable-line react-hooks/exhaustive-deps
  // A big graph gives xyflow only what is near the viewport (graph/cull.ts).
  const ends = useMemo(() => topo.edges.map(([f, to]): [number, number] => [at.get(f) ?? -1, at.get(to) ?? -1]), [at]); // eslint-disable-line react-hooks/exhaustive-deps
  const cullIx = useMemo(() => (layout && big
    ? buildCullIndex(layout.l, graph.current.nodes.map((n) => size(n.type === 'and' || n.type === 'or')), ends) : null), [layout, big, ends]);
  const box = useRef<HTMLDivElement>(null);
  const [win, setWin] = useState(() => cullWindow(BIG_VIEWPORT, window.innerWidth, HEIGHT));
  const shown = useMemo(() => (cullIx ? cull(cullIx, win, ends) : null), [cullIx, win, ends]);
  // Node objects keep their identity while their data is unchanged, so
  // xyflow and the memoised components skip them on a live update.
  const cache = useRef(new Map<string, { key: string; node: Node<RunNodeData> }>());
  const nodes = useMemo(() => {
    if (!layout || layout.shape !== shape) return [];
    const idx = shown?.nodes ?? topo.nodes.map((_, i) => i);
    const out: Node<RunNodeData>[] = new Array(idx.length);
    idx.forEach((i, k) => {
      const n = topo.nodes[i];
      const status = n.status;
      const dim = !!lit && !lit.has(n.id);
      const key = `${status}|${n.forced ? 1 : 0}|${dim ? 1 : 0}|${layout.shape}`;
      const hit = cache.current.get(n.id);
      if (hit && hit.key === key) {
        out[k] = hit.node;
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
      out[k] = node;
    });
    return out;
  }, [topo.nodes, layout, shape, lit, shown]);
  const edgeCache = useRef(new Map<string, { key: string; edge: Edge<RunEdgeData> }>());
  const edges = useMemo(() => {
    if (!layout || layout.shape !== shape) return [];
    const idx = shown?.edges ?? topo.edges.map((_, i) => i);
    return idx.map((i) => {
      const [from, to, on] = topo.edges[i];
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
  }, [topo.edges, layout, shape, lit, shown]);

  // The first render with the graph in place: the page is interactive.
  const rendered = useRef(false);
  useEffect(() => {
    if (rendered.current || !nodes.length || !layout) return;
    rendered.current = true;
    const given = { nodes: nodes.length, edges: edges.length };
    requestAnimationFrame(() => {
      measure('topology:render', 'topology:start');
      setTimeout(() => {
        const ms = (n: string) => performance.getEntriesByName(`${n}:ms`).at(-1)?.duration ?? 0;
        const total = measure('topology:interactive', 'topology:start');
        window.__batonTopology = {
          nodes: topo.nodes.length, edges: topo.edges.length, fetch: ms('topology:fetch'), parse: ms('topology:parse') - ms('topology:fetch'),
          layout: ms('topology:layout') - ms('topology:parse'), render: ms('topology:render') - ms('topology:layout'),
          interactive: total - ms('topology:render'), total, sinceNavigation: performance.now(), given,
          layoutSource: layout.source, engine: layout.l.engine, layouts: layoutCount.current,
        };
      }, 0);
    });
  }, [nodes, edges, topo, layout]);

  const centre = (nid: string) => {
    const i = at.get(nid) ?? -1;
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
    runMenuAction(a, { runId: id, node: n, start, rerunDownstream: onRerunDownstream, onOpenLog, message, t });
  }

  function openMenu(nid: string, e: { clientX: number; clientY: number }) {
    const i = at.get(nid);
    if (i === undefined) return;
    setFocus(nid);
    // The node's live state and the operations it allows now.
    setMenu({ node: topo.nodes[i], x: e.clientX, y: e.clientY });
  }
  const menuNode = menu?.node;
  // The open menu is built once per opening: live patches and view reads
  // re-render the graph while it is open, and must not rebuild it under
  // the pointer (the click goes to the latest handlers through a ref).
  const onMenuRef = useRef(onMenu);
  useEffect(() => {
    onMenuRef.current = onMenu;
  });
  const dropdown = useMemo(() => {
    if (!menuNode) return null;
    const items = menuItems(menuNode, canMutate, t);
    return {
      items: items.length ? items.map((a) => ({ key: a.key, label: <span data-testid={a.testid}>{a.label}</span> })) : [{ key: 'none', disabled: true, label: t('op.none') }],
      onClick: ({ key }: { key: string }) => {
        const a = items.find((x) => x.key === key);
        if (a) onMenuRef.current(menuNode, a);
      },
    };
  }, [menuNode, canMutate, t]);

  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space wrap>
        <Button onClick={() => void locate()} data-testid="locate">{t('run.locate')}</Button>
        {focus && <Button onClick={() => setFocus(null)} data-testid="topo-clear-focus">{t('topo.clearFocus')}</Button>}
        <Typography.Text type="secondary" data-testid="topo-count">{t('topo.count', { nodes: topo.nodes.length, edges: topo.edges.length })}</Typography.Text>
        {topo.topology_error && <Tag color="warning">{topo.topology_error}</Tag>}
        {lit && <Typography.Text type="secondary" data-testid="topo-lineage">{t('topo.lineage', { node: focus, count: lit.size - 1 })}</Typography.Text>}
      </Space>
      <div ref={box} style={{ height: HEIGHT, background: '#fff', border: '1px solid #f0f0f0' }} data-testid="topology" data-nodes={nodes.length} data-ready={nodes.length ? 'true' : 'false'}>
        {!nodes.length ? (
          <Typography.Text type="secondary" style={{ display: 'block', padding: 16 }}>{t('common.loading')}</Typography.Text>
        ) : (
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={runNodeTypes} edgeTypes={runEdgeTypes}
            fitView={!big} defaultViewport={BIG_VIEWPORT} minZoom={big ? 0.2 : 0.05} maxZoom={2}
            onMove={big ? (_, v) => {
              const w = cullWindow(v, box.current?.clientWidth ?? window.innerWidth, HEIGHT);
              setWin((old) => (old === w ? old : w));
            } : undefined}
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
      {menu && dropdown && (
        <Dropdown open menu={dropdown} onOpenChange={(o) => !o && setMenu(null)} trigger={['click']}>
          <div style={{ position: 'fixed', left: menu.x, top: menu.y, width: 1, height: 1 }} data-testid="node-menu-anchor" />
        </Dropdown>
      )}
    </Space>
  );
}
