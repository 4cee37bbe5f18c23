import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Divider, Input, Radio, Space, Tag, Tooltip, Typography } from 'antd';
import {
  ApartmentOutlined, CopyOutlined, DeleteOutlined, ExpandOutlined, HistoryOutlined, RedoOutlined, SettingOutlined, SnippetsOutlined, UndoOutlined,
} from '@ant-design/icons';
import {
  addEdge, Background, Controls, ReactFlow, ReactFlowProvider, useEdgesState, useNodesState, useReactFlow,
  type Connection,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, ApiError, call, errorMessage, type FlowNode, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { isLogic, layout } from '../../graph/layout';
import { nodeTypes } from '../../graph/nodes';
import { edgeTypes } from './BackEdge';
import { FlowSettings } from './FlowSettings';
import { useUndo } from './history';
import {
  CLIP_KEY, copyOf, makeEdge, markProblems, newNode, pasteOf, routeBackEdges, settingsOf, toBody, uniqueId,
  type Clip, type EditorEdge, type EditorNode, type Marks, type NewKind, type Settings,
} from './model';
import { NodeForm } from './NodeForm';
import { VersionHistory } from './VersionHistory';

type Flow = Schemas['FlowView'];
type FlowSpec = Schemas['Flow'];
type On = 'success' | 'failure' | 'always';
type Snap = { nodes: EditorNode[]; edges: EditorEdge[]; settings: Settings };
const deleteKeys = ['Backspace', 'Delete'];
const multiKeys = ['Meta', 'Control', 'Shift'];
const noMarks: Marks = { nodes: new Map(), edges: new Map(), flow: [], flowProblems: [], list: [] };

/** Keys typed into a field or the script editor are that field's, not the canvas's. */
function typing(e: KeyboardEvent): boolean {
  const el = e.target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.isContentEditable || !!el.closest('.cm-editor'));
}

function Tool({ title, icon, onClick, testid, disabled }: { title: string; icon: React.ReactNode; onClick: () => void; testid: string; disabled?: boolean }) {
  return <Tooltip title={title}><Button size="small" icon={icon} onClick={onClick} disabled={disabled} data-testid={testid} aria-label={title} /></Tooltip>;
}

function graphOf(f: FlowSpec): { nodes: EditorNode[]; edges: EditorEdge[] } {
  const pos = layout(f.nodes, f.edges ?? []);
  return {
    nodes: f.nodes.map((n) => ({ id: n.id, type: isLogic(n.type) ? 'logic' : 'task', position: pos.get(n.id)!, data: { node: n, label: n.name || n.id } })),
    edges: (f.edges ?? []).map(makeEdge),
  };
}

function Editor({ id, initial }: { id?: string; initial?: Flow }) {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const rf = useReactFlow();
  const start = useMemo(() => (initial ? graphOf(initial) : { nodes: [], edges: [] }), [initial]);
  const [nodes, setNodes, onNodesChange] = useNodesState<EditorNode>(start.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<EditorEdge>(start.edges);
  const [settings, setSettings] = useState<Settings>(() => settingsOf(initial));
  const [version, setVersion] = useState(initial?.version);
  const [edgeKind, setEdgeKind] = useState<On>('success');
  const [marks, setMarks] = useState<Marks>(noMarks);
  const [status, setStatus] = useState<{ type: 'success' | 'error' | 'info'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [versionsOpen, setVersionsOpen] = useState(false);
  // Bumped by undo, redo and restore: forms keyed by it start from the restored values.
  const [rev, setRev] = useState(0);

  const current = useRef<Snap>({ nodes, edges, settings });
  useEffect(() => { current.current = { nodes, edges, settings }; }, [nodes, edges, settings]);
  const getSnap = useCallback(() => current.current, []);
  const setSnap = useCallback((s: Snap) => {
    setNodes(s.nodes);
    setEdges(s.edges);
    setSettings(s.settings);
    setMarks(noMarks);
    setRev((r) => r + 1);
  }, [setNodes, setEdges]);
  const history = useUndo<Snap>(getSnap, setSnap);
  const { record } = history;
  /** Every edit: a snapshot for undo, and the validation marks are stale. */
  const edit = useCallback((key?: string) => {
    record(key);
    setMarks(noMarks);
  }, [record]);

  const onDragStart = useCallback(() => edit(), [edit]);
  const onBeforeDelete = useCallback(async () => {
    edit();
    return true;
  }, [edit]);

  // Problems are drawn on the graph; any edit makes them stale.
  const shownNodes = useMemo(() => nodes.map((n) => {
    const problem = marks.nodes.get(n.id);
    return problem === n.data.problem ? n : { ...n, data: { ...n.data, problem } };
  }), [nodes, marks]);
  const shownEdges = useMemo(() => routeBackEdges(nodes, edges).map((e) => {
    const problem = marks.edges.get(e.id);
    const on = e.data?.on ?? 'success';
    if (!problem) return on === 'success' ? e : { ...e, label: t(`editor.${on}`) };
    return { ...e, label: `⚠ ${problem}`, style: { ...e.style, stroke: '#ff4d4f', strokeWidth: 3 }, labelStyle: { fill: '#ff4d4f', fontWeight: 600 },
      className: 'edge-problem', ariaLabel: problem };
  }), [nodes, edges, marks, t]);

  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedNode = selectedNodes.length === 1 ? selectedNodes[0] : undefined;
  const selectedEdge = selectedNodes.length ? undefined : edges.find((e) => e.selected);

  const onConnect = useCallback((c: Connection) => {
    edit();
    setEdges((es) => addEdge(makeEdge({ from: c.source, to: c.target, on: edgeKind }), es));
  }, [edgeKind, setEdges, edit]);

  function add(kind: NewKind) {
    edit();
    const taken = new Set(nodes.map((n) => n.id));
    const nid = uniqueId(kind, taken);
    const node = newNode(kind, nid);
    const vp = rf.screenToFlowPosition({ x: 300 + (nodes.length % 5) * 30, y: 200 + (nodes.length % 5) * 30 });
    setNodes((ns) => [...ns.map((n) => ({ ...n, selected: false })),
      { id: nid, type: isLogic(node.type) ? 'logic' : 'task', position: vp, selected: true, data: { node, label: nid } }]);
  }

  function updateNode(n: FlowNode) {
    edit(`node:${n.id}`);
    setNodes((ns) => ns.map((x) => (x.id === n.id ? { ...x, data: { ...x.data, node: n, label: n.name || n.id } } : x)));
  }

  function setEdgeOn(on: On) {
    if (!selectedEdge) return;
    edit();
    setEdges((es) => es.map((e) => (e.id === selectedEdge.id ? { ...makeEdge({ from: e.source, to: e.target, on }), selected: true } : e)));
  }

  function autoLayout() {
    edit('layout');
    const pos = layout(nodes.map((n) => ({ id: n.id, type: n.data.node.type })), edges.map((e) => ({ from: e.source, to: e.target })));
    setNodes((ns) => ns.map((n) => ({ ...n, position: pos.get(n.id)! })));
    setTimeout(() => void rf.fitView({ padding: 0.2 }), 0);
  }

  const copy = useCallback(() => {
    const clip = copyOf(current.current.nodes, current.current.edges);
    if (!clip) return false;
    // localStorage, so nodes copied in one flow paste into another.
    localStorage.setItem(CLIP_KEY, JSON.stringify(clip));
    message.info(t('editor.copied', { count: clip.nodes.length }));
    return true;
  }, [message, t]);

  const paste = useCallback(() => {
    let clip: Clip;
    try {
      clip = JSON.parse(localStorage.getItem(CLIP_KEY) ?? '') as Clip;
    } catch {
      return false;
    }
    if (!clip?.nodes?.length) return false;
    edit();
    const { nodes: ns, edges: es } = pasteOf(clip, new Set(current.current.nodes.map((n) => n.id)));
    setNodes((old) => [...old.map((n) => ({ ...n, selected: false })), ...ns]);
    setEdges((old) => [...old.map((e) => ({ ...e, selected: false })), ...es]);
    return true;
  }, [edit, setNodes, setEdges]);

  const { undo, redo } = history;
  useEffect(() => {
    if (!canMutate) return;
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || typing(e)) return;
      const k = e.key.toLowerCase();
      let done = false;
      if (k === 'z' && !e.shiftKey) done = undo();
      else if ((k === 'z' && e.shiftKey) || k === 'y') done = redo();
      else if (k === 'c') done = copy();
      else if (k === 'v') done = paste();
      if (done) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [canMutate, undo, redo, copy, paste]);

  /** Selects the node or edge a problem is about and brings it into view. */
  function focusProblem(p: { node?: string; edge?: string }) {
    setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === p.node })));
    setEdges((es) => es.map((e) => ({ ...e, selected: e.id === p.edge })));
    const ids = p.node ? [p.node] : edges.filter((e) => e.id === p.edge).flatMap((e) => [e.source, e.target]);
    void rf.fitView({ nodes: ids.map((id) => ({ id })), padding: 0.5, duration: 200 });
  }

  function restore(f: FlowSpec, v: number) {
    edit();
    const g = graphOf(f);
    setSnap({ ...g, settings: settingsOf(f) });
    setVersionsOpen(false);
    setStatus({ type: 'info', text: t('editor.restored', { version: v }) });
    setTimeout(() => void rf.fitView({ padding: 0.2 }), 0);
  }

  async function run(save: boolean) {
    setBusy(true);
    setStatus(null);
    const b = toBody(settings, nodes, edges);
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
        void qc.invalidateQueries({ queryKey: ['flow-versions', id] });
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

  function clearSelection() {
    setNodes((ns) => ns.map((n) => ({ ...n, selected: false })));
    setEdges((es) => es.map((e) => ({ ...e, selected: false })));
  }

  function deleteSelected() {
    const ns = nodes.filter((n) => n.selected);
    const es = edges.filter((e) => e.selected);
    void rf.deleteElements({ nodes: ns, edges: es });
  }

  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: 12, height: 'calc(100vh - 96px)' }}>
      <Card size="small" styles={{ body: { padding: '8px 12px' } }}>
        <div style={{ display: 'flex', flexWrap: 'wrap', gap: 8, alignItems: 'center' }}>
        <Space wrap size={[8, 8]} style={{ flex: 1 }}>
          <Input placeholder={t('editor.name')} value={settings.name} style={{ width: 200 }} data-testid="flow-name" disabled={!canMutate}
            onChange={(e) => { edit('name'); setSettings({ ...settings, name: e.target.value }); }} />
          {version !== undefined && <Tag data-testid="flow-version">v{version}</Tag>}
          {canMutate && (
            <>
              <Divider type="vertical" />
              <Typography.Text type="secondary">{t('editor.add')}:</Typography.Text>
              {(['shell', 'http', 'noop', 'sleep', 'and', 'or'] as NewKind[]).map((k) => (
                <Button key={k} size="small" onClick={() => add(k)} data-testid={`add-${k}`}>{t(`editor.${k}`)}</Button>
              ))}
              <Divider type="vertical" />
              <Typography.Text type="secondary">{t('editor.edgeKind')}:</Typography.Text>
              <Radio.Group size="small" value={edgeKind} onChange={(e) => setEdgeKind(e.target.value)} data-testid="edge-kind" optionType="button"
                options={(['success', 'failure', 'always'] as On[]).map((o) => ({ value: o, label: <span data-testid={`edge-kind-${o}`} className={`edge-kind-${o}`}>{t(`editor.${o}`)}</span> }))} />
              <Divider type="vertical" />
              <Space.Compact>
                <Tool title={`${t('editor.undo')} (Ctrl+Z)`} icon={<UndoOutlined />} onClick={undo} testid="undo" disabled={!history.canUndo} />
                <Tool title={`${t('editor.redo')} (Ctrl+Shift+Z)`} icon={<RedoOutlined />} onClick={redo} testid="redo" disabled={!history.canRedo} />
                <Tool title={`${t('editor.copy')} (Ctrl+C)`} icon={<CopyOutlined />} onClick={copy} testid="copy" disabled={!selectedNodes.length} />
                <Tool title={`${t('editor.paste')} (Ctrl+V)`} icon={<SnippetsOutlined />} onClick={paste} testid="paste" />
                <Tool title={`${t('editor.deleteSel')} (Delete)`} icon={<DeleteOutlined />} onClick={deleteSelected} testid="delete-toolbar" disabled={!selectedNodes.length && !selectedEdge} />
              </Space.Compact>
            </>
          )}
        </Space>
        <Space wrap size={[8, 8]}>
          <Space.Compact>
            <Tool title={t('editor.layout')} icon={<ApartmentOutlined />} onClick={autoLayout} testid="auto-layout" disabled={!canMutate} />
            <Tool title={t('editor.fit')} icon={<ExpandOutlined />} onClick={() => void rf.fitView({ padding: 0.2, duration: 200 })} testid="zoom-fit" />
            <Tool title={t('editor.settings')} icon={<SettingOutlined />} onClick={clearSelection} testid="open-settings" />
            {id && <Tool title={t('editor.versions')} icon={<HistoryOutlined />} onClick={() => setVersionsOpen(true)} testid="open-versions" />}
          </Space.Compact>
          {canMutate && (
            <>
              <Button size="small" onClick={() => run(false)} loading={busy} data-testid="validate">{t('editor.validate')}</Button>
              <Button size="small" type="primary" onClick={() => run(true)} loading={busy} data-testid="save">{t('editor.save')}</Button>
              {id && <Button size="small" onClick={runOnce} data-testid="editor-run">{t('editor.run')}</Button>}
            </>
          )}
          {id && <Link to={`/runs?definition=${encodeURIComponent(id)}`}>{t('editor.openRuns')}</Link>}
        </Space>
        </div>
        {status && (
          <Alert style={{ marginTop: 8 }} type={status.type} showIcon data-testid="editor-status" message={status.text} closable onClose={() => setStatus(null)}
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
          <ReactFlow nodes={shownNodes} edges={shownEdges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
            onNodesChange={canMutate ? onNodesChange : undefined} onEdgesChange={canMutate ? onEdgesChange : undefined}
            onConnect={canMutate ? onConnect : undefined} nodesConnectable={canMutate} nodesDraggable={canMutate}
            onNodeDragStart={onDragStart} onBeforeDelete={onBeforeDelete}
            deleteKeyCode={canMutate ? deleteKeys : null} multiSelectionKeyCode={multiKeys}
            fitView proOptions={{ hideAttribution: true }}>
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        <Card size="small" style={{ width: 400, overflow: 'auto' }} data-testid="side-panel">
          {selectedNode ? (
            <>
              {marks.nodes.get(selectedNode.id) && <Alert type="error" style={{ marginBottom: 8 }} message={marks.nodes.get(selectedNode.id)} data-testid="node-problem" />}
              <NodeForm node={selectedNode.data.node} onChange={updateNode} readOnly={!canMutate} formKey={`${selectedNode.id}:${rev}`} />
            </>
          ) : selectedEdge ? (
            <Space direction="vertical" data-testid="edge-form">
              <Typography.Text code>{selectedEdge.source} → {selectedEdge.target}</Typography.Text>
              <Radio.Group value={selectedEdge.data?.on ?? 'success'} onChange={(e) => setEdgeOn(e.target.value)} disabled={!canMutate}
                options={(['success', 'failure', 'always'] as On[]).map((o) => ({ value: o, label: <span data-testid={`edge-on-${o}`}>{t(`editor.${o}`)}</span> }))} />
              <Typography.Text type="secondary">{t(`editor.${selectedEdge.data?.on ?? 'success'}Hint`)}</Typography.Text>
              {marks.edges.get(selectedEdge.id) && <Alert type="error" message={marks.edges.get(selectedEdge.id)} />}
            </Space>
          ) : selectedNodes.length > 1 ? (
            <Typography.Text type="secondary" data-testid="multi-selection">{t('editor.multiSelected', { count: selectedNodes.length })}</Typography.Text>
          ) : (
            <FlowSettings value={settings} readOnly={!canMutate} problems={marks.flow} alertProblems={marks.flowProblems} formKey={String(rev)}
              onChange={(s, field) => { edit(`settings:${field}`); setSettings(s); }} />
          )}
          {canMutate && (selectedNodes.length > 0 || selectedEdge) && (
            <Button danger size="small" style={{ marginTop: 12 }} data-testid="delete-selected" onClick={deleteSelected}>
              {t('editor.deleteSel')}
            </Button>
          )}
        </Card>
      </div>
      {id && <VersionHistory id={id} open={versionsOpen} onClose={() => setVersionsOpen(false)} onRestore={restore} canMutate={canMutate} />}
    </div>
  );
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
