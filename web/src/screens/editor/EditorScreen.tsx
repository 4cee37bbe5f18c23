import { useCallback, useMemo, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Input, Radio, Space, Tag, Typography } from 'antd';
import {
  addEdge, Background, Controls, ReactFlow, ReactFlowProvider, useEdgesState, useNodesState, useReactFlow,
  type Connection,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, ApiError, call, errorMessage, type FlowBody, type FlowNode, type Schemas } from '../../api/client';

type Flow = Schemas['FlowView'];
import { useAuth } from '../../auth';
import { isLogic, layout } from '../../graph/layout';
import { nodeTypes } from '../../graph/nodes';
import { makeEdge, markProblems, newNode, toBody, uniqueId, type EditorEdge, type EditorNode, type Marks, type NewKind } from './model';
import { NodeForm } from './NodeForm';

type On = 'success' | 'failure' | 'always';
const noMarks: Marks = { nodes: new Map(), edges: new Map(), flow: [], list: [] };

function Editor({ id, initial }: { id?: string; initial?: Flow }) {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const rf = useReactFlow();
  const [nodes, setNodes, onNodesChange] = useNodesState<EditorNode>(initial ? initialNodes(initial) : []);
  const [edges, setEdges, onEdgesChange] = useEdgesState<EditorEdge>(initial ? (initial.edges ?? []).map(makeEdge) : []);
  const [name, setName] = useState(initial?.name ?? '');
  const [group, setGroup] = useState(initial?.group ?? '');
  const [version, setVersion] = useState(initial?.version);
  const rest: Partial<FlowBody> = initial ? { trigger: initial.trigger, timeout: initial.timeout, params: initial.params, fail_fast: initial.fail_fast } : {};
  const [edgeKind, setEdgeKind] = useState<On>('success');
  const [marks, setMarks] = useState<Marks>(noMarks);
  const [status, setStatus] = useState<{ type: 'success' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);


  // Problems are drawn on the graph; any edit makes them stale.
  const shownNodes = useMemo(() => nodes.map((n) => {
    const problem = marks.nodes.get(n.id);
    return problem === n.data.problem ? n : { ...n, data: { ...n.data, problem } };
  }), [nodes, marks]);
  const shownEdges = useMemo(() => edges.map((e) => {
    const problem = marks.edges.get(e.id);
    if (!problem) return e;
    return { ...e, label: `⚠ ${problem}`, style: { ...e.style, stroke: '#ff4d4f', strokeWidth: 3 }, labelStyle: { fill: '#ff4d4f', fontWeight: 600 },
      className: 'edge-problem', ariaLabel: problem };
  }), [edges, marks]);

  const selectedNode = nodes.find((n) => n.selected);
  const selectedEdge = edges.find((e) => e.selected);

  const onConnect = useCallback((c: Connection) => {
    setMarks(noMarks);
    setEdges((es) => addEdge(makeEdge({ from: c.source, to: c.target, on: edgeKind }), es));
  }, [edgeKind, setEdges]);

  function add(kind: NewKind) {
    const taken = new Set(nodes.map((n) => n.id));
    const nid = uniqueId(kind, taken);
    const node = newNode(kind, nid);
    const vp = rf.screenToFlowPosition({ x: 300 + (nodes.length % 5) * 30, y: 200 + (nodes.length % 5) * 30 });
    setNodes((ns) => [...ns.map((n) => ({ ...n, selected: false })),
      { id: nid, type: isLogic(node.type) ? 'logic' : 'task', position: vp, selected: true, data: { node, label: nid } }]);
  }

  function updateNode(n: FlowNode) {
    setNodes((ns) => ns.map((x) => (x.id === n.id ? { ...x, data: { ...x.data, node: n, label: n.name || n.id } } : x)));
  }

  function setEdgeOn(on: On) {
    if (!selectedEdge) return;
    setEdges((es) => es.map((e) => (e.id === selectedEdge.id ? { ...makeEdge({ from: e.source, to: e.target, on }), selected: true } : e)));
  }

  function autoLayout() {
    const pos = layout(nodes.map((n) => ({ id: n.id, type: n.data.node.type })), edges.map((e) => ({ from: e.source, to: e.target })));
    setNodes((ns) => ns.map((n) => ({ ...n, position: pos.get(n.id)! })));
    setTimeout(() => void rf.fitView({ padding: 0.2 }), 0);
  }

  /** Selects the node or edge a problem is about and brings it into view. */
  function focusProblem(p: { node?: string; edge?: string }) {
    setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === p.node })));
    setEdges((es) => es.map((e) => ({ ...e, selected: e.id === p.edge })));
    const ids = p.node ? [p.node] : edges.filter((e) => e.id === p.edge).flatMap((e) => [e.source, e.target]);
    void rf.fitView({ nodes: ids.map((id) => ({ id })), padding: 0.5, duration: 200 });
  }

  function body(): FlowBody {
    return toBody({ name, group, rest }, nodes, edges);
  }

  async function run(save: boolean) {
    setBusy(true);
    setStatus(null);
    const b = body();
    try {
      if (!save) {
        await call(api.POST('/api/v1/flows/validate', { body: b }));
        setMarks(noMarks);
        setStatus({ type: 'success', text: t('editor.valid') });
      } else if (id) {
        const f = await call(api.PUT('/api/v1/flows/{id}', { params: { path: { id } }, body: b }));
        setMarks(noMarks);
        setVersion(f.version);
        setStatus({ type: 'success', text: t('editor.saved', { version: f.version }) });
        void qc.invalidateQueries({ queryKey: ['flows'] });
      } else {
        const f = await call(api.POST('/api/v1/flows', { body: b }));
        message.success(t('editor.saved', { version: f.version }));
        void qc.invalidateQueries({ queryKey: ['flows'] });
        navigate(`/flows/${f.id}/edit`, { replace: true });
      }
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) {
        setMarks(markProblems(e.problems, b));
        setStatus({ type: 'error', text: t('editor.problems', { count: e.problems.length }) });
      } else {
        setStatus({ type: 'error', text: errorMessage(e) });
      }
    } finally {
      setBusy(false);
    }
  }

  async function runOnce() {
    try {
      const r = await call(api.POST('/api/v1/flows/{id}/runs', { params: { path: { id: id! } }, body: {} }));
      navigate(`/runs/${r.id}`);
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: 12, height: 'calc(100vh - 96px)' }}>
      <Card size="small">
        <Space wrap>
          <Input placeholder={t('editor.name')} value={name} onChange={(e) => { setName(e.target.value); setMarks(noMarks); }} style={{ width: 220 }} data-testid="flow-name" disabled={!canMutate} />
          <Input placeholder={`${t('editor.group')} (default)`} value={group} onChange={(e) => setGroup(e.target.value)} style={{ width: 140 }} disabled={!canMutate} />
          {canMutate && (
            <>
              <Typography.Text type="secondary">{t('editor.add')}:</Typography.Text>
              {(['shell', 'http', 'noop', 'sleep', 'and', 'or'] as NewKind[]).map((k) => (
                <Button key={k} size="small" onClick={() => add(k)} data-testid={`add-${k}`}>{t(`editor.${k}`)}</Button>
              ))}
              <Typography.Text type="secondary">{t('editor.edgeKind')}:</Typography.Text>
              <Radio.Group size="small" value={edgeKind} onChange={(e) => setEdgeKind(e.target.value)} data-testid="edge-kind"
                options={(['success', 'failure', 'always'] as On[]).map((o) => ({ value: o, label: <span data-testid={`edge-kind-${o}`}>{t(`editor.${o}`)}</span> }))} optionType="button" />
            </>
          )}
          <Button size="small" onClick={autoLayout} data-testid="auto-layout">{t('editor.layout')}</Button>
          {canMutate && (
            <>
              <Button onClick={() => run(false)} loading={busy} data-testid="validate">{t('editor.validate')}</Button>
              <Button type="primary" onClick={() => run(true)} loading={busy} data-testid="save">{t('editor.save')}</Button>
              {id && <Button onClick={runOnce} data-testid="editor-run">{t('editor.run')}</Button>}
            </>
          )}
          {id && <Link to={`/runs?definition=${encodeURIComponent(id)}`}>{t('editor.openRuns')}</Link>}
          {version !== undefined && <Tag data-testid="flow-version">v{version}</Tag>}
        </Space>
        {status && (
          <Alert style={{ marginTop: 8 }} type={status.type} showIcon data-testid="editor-status" message={status.text}
            description={marks.list.length > 0 && (
              <ul style={{ margin: 0, paddingLeft: 18 }}>
                {marks.list.map((p, i) => (
                  <li key={i}>
                    {p.node || p.edge ? <a onClick={() => focusProblem(p)} data-testid={`problem-${i}`}>{p.text}</a> : <span data-testid={`problem-${i}`}>{p.text}</span>}
                  </li>
                ))}
              </ul>
            )} />
        )}
      </Card>
      <div style={{ display: 'flex', gap: 12, flex: 1, minHeight: 0 }}>
        <div style={{ flex: 1, background: '#fff', border: '1px solid #f0f0f0' }} data-testid="editor-canvas">
          <ReactFlow nodes={shownNodes} edges={shownEdges} nodeTypes={nodeTypes}
            onNodesChange={canMutate ? onNodesChange : undefined} onEdgesChange={canMutate ? onEdgesChange : undefined}
            onConnect={canMutate ? onConnect : undefined} nodesConnectable={canMutate} nodesDraggable={canMutate}
            deleteKeyCode={canMutate ? ['Backspace', 'Delete'] : null} fitView proOptions={{ hideAttribution: true }}
            onNodesDelete={() => setMarks(noMarks)} onEdgesDelete={() => setMarks(noMarks)}>
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        <Card size="small" style={{ width: 360, overflow: 'auto' }}>
          {selectedNode ? (
            <NodeForm node={selectedNode.data.node} onChange={updateNode} readOnly={!canMutate} />
          ) : selectedEdge ? (
            <Space direction="vertical" data-testid="edge-form">
              <Typography.Text code>{selectedEdge.source} → {selectedEdge.target}</Typography.Text>
              <Radio.Group value={selectedEdge.data?.on ?? 'success'} onChange={(e) => setEdgeOn(e.target.value)} disabled={!canMutate}
                options={(['success', 'failure', 'always'] as On[]).map((o) => ({ value: o, label: t(`editor.${o}`) }))} />
              {marks.edges.get(selectedEdge.id) && <Alert type="error" message={marks.edges.get(selectedEdge.id)} />}
            </Space>
          ) : (
            <Typography.Text type="secondary">{t('editor.selectHint')}</Typography.Text>
          )}
          {selectedNode && marks.nodes.get(selectedNode.id) && <Alert type="error" message={marks.nodes.get(selectedNode.id)} />}
          {canMutate && (selectedNode || selectedEdge) && (
            <Button danger size="small" style={{ marginTop: 12 }} data-testid="delete-selected"
              onClick={() => {
                // Deletes what the panel shows: the node (with its edges) or the edge.
                void rf.deleteElements(selectedNode ? { nodes: [selectedNode] } : { edges: [selectedEdge!] });
              }}>
              {t('editor.deleteSel')}
            </Button>
          )}
        </Card>
      </div>
    </div>
  );
}

function initialNodes(f: Flow): EditorNode[] {
  const pos = layout(f.nodes, f.edges ?? []);
  return f.nodes.map((n) => ({ id: n.id, type: isLogic(n.type) ? 'logic' : 'task', position: pos.get(n.id)!, data: { node: n, label: n.name || n.id } }));
}

export function EditorScreen() {
  const { id } = useParams();
  const existing = useQuery({
    queryKey: ['flow', id],
    enabled: !!id,
    queryFn: () => call(api.GET('/api/v1/flows/{id}', { params: { path: { id: id! } } })),
  });
  if (existing.error) return <Alert type="error" message={errorMessage(existing.error)} />;
  if (id && !existing.data) return null;
  // A fresh editor per flow: switching from /flows/new to a saved flow's
  // page starts from what the server stored.
  return (
    <ReactFlowProvider key={id ?? 'new'}>
      <Editor id={id} initial={existing.data} />
    </ReactFlowProvider>
  );
}
