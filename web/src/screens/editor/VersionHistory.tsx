// Version history of a flow: every saved version, and the diff of two of
// them drawn on one graph (added green, removed red, changed orange) with
// the list of what changed next to it.
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Drawer, Empty, List, Select, Space, Table, Tag, Typography } from 'antd';
import { Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, type Edge, type Node } from '@xyflow/react';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { edgeId, isLogic, layout, type GraphNodeData } from '../../graph/layout';
import { nodeTypes } from '../../graph/nodes';
import { fmtTime } from '../../shell/StatusTag';
import { changeColors, diffFlows, valueAt, type Change, type FlowDiff } from './diff';

type Version = Schemas['DefinitionVersion'];
type FlowSpec = Schemas['Flow'];

function DiffGraph({ a, b, diff }: { a: FlowSpec; b: FlowSpec; diff: FlowDiff }) {
  const { nodes, edges } = useMemo(() => {
    const byId = new Map([...a.nodes, ...b.nodes].map((n) => [n.id, n]));
    for (const n of b.nodes) byId.set(n.id, n);
    const all = [...byId.values()];
    const allEdges = diff.edges.map((e) => (e.b ?? e.a)!);
    const pos = layout(all, allEdges);
    const change = new Map(diff.nodes.map((d) => [d.id, d.change]));
    const nodes: Node<GraphNodeData>[] = all.map((n) => {
      const c = change.get(n.id) ?? 'same';
      return {
        id: n.id, type: isLogic(n.type) ? 'logic' : 'task', position: pos.get(n.id)!, draggable: false, className: `diff-${c}`,
        style: c === 'same' ? undefined : { boxShadow: `0 0 0 3px ${changeColors[c]}`, borderRadius: 8, opacity: c === 'removed' ? 0.55 : 1 },
        data: { node: n, label: `${c === 'added' ? '+ ' : c === 'removed' ? '− ' : c === 'changed' ? '~ ' : ''}${n.name || n.id}` },
      };
    });
    const edges: Edge[] = diff.edges.map((d) => {
      const e = (d.b ?? d.a)!;
      const color = d.change === 'same' ? '#bfbfbf' : changeColors[d.change];
      return {
        id: edgeId(e), source: e.from, target: e.to, className: `diff-${d.change}`,
        label: d.change === 'changed' ? `${d.a?.on ?? 'success'} → ${d.b?.on ?? 'success'}` : (e.on && e.on !== 'success' ? e.on : undefined),
        style: { stroke: color, strokeWidth: d.change === 'same' ? 1.5 : 3, strokeDasharray: d.change === 'removed' ? '6 4' : undefined },
        markerEnd: { type: MarkerType.ArrowClosed, color },
      };
    });
    return { nodes, edges };
  }, [a, b, diff]);
  return (
    <div style={{ height: 360, border: '1px solid #f0f0f0' }} data-testid="diff-graph">
      <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} fitView nodesConnectable={false} nodesDraggable={false}
        elementsSelectable={false} proOptions={{ hideAttribution: true }}>
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

function ChangeTag({ c }: { c: Change }) {
  const { t } = useTranslation();
  return <Tag color={c === 'added' ? 'green' : c === 'removed' ? 'red' : c === 'changed' ? 'orange' : 'default'}>{t(`editor.diff_${c}`)}</Tag>;
}

function DiffView({ a, b }: { a: Version; b: Version }) {
  const { t } = useTranslation();
  const diff = useMemo(() => diffFlows(a.flow!, b.flow!), [a, b]);
  const nodes = diff.nodes.filter((d) => d.change !== 'same');
  const edges = diff.edges.filter((d) => d.change !== 'same');
  const rows = [
    ...diff.fields.map((f) => ({ key: `flow:${f}`, what: t('editor.flowField'), field: f, change: 'changed' as Change, a: valueAt(a.flow, f), b: valueAt(b.flow, f) })),
    ...nodes.flatMap((d) => (d.change === 'changed'
      ? d.fields.map((f) => ({ key: `n:${d.id}:${f}`, what: d.id, field: f, change: d.change, a: valueAt(d.a, f), b: valueAt(d.b, f) }))
      : [{ key: `n:${d.id}`, what: d.id, field: t('editor.node'), change: d.change, a: d.a ? '✓' : '—', b: d.b ? '✓' : '—' }])),
    ...edges.map((d) => ({ key: `e:${d.id}`, what: d.id.replace('->', ' → '), field: t('editor.edge'), change: d.change, a: d.a ? (d.a.on ?? 'success') : '—', b: d.b ? (d.b.on ?? 'success') : '—' })),
  ];
  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="version-diff">
      <Typography.Text data-testid="diff-summary">
        {t('editor.diffSummary', {
          added: nodes.filter((d) => d.change === 'added').length, removed: nodes.filter((d) => d.change === 'removed').length,
          changed: nodes.filter((d) => d.change === 'changed').length, edges: edges.length,
        })}
      </Typography.Text>
      <DiffGraph a={a.flow!} b={b.flow!} diff={diff} />
      {rows.length === 0 ? <Empty description={t('editor.noDiff')} /> : (
        <Table size="small" pagination={false} rowKey="key" dataSource={rows} data-testid="diff-table"
          columns={[
            { title: t('editor.diffWhat'), dataIndex: 'what', render: (s: string) => <Typography.Text code>{s}</Typography.Text> },
            { title: t('editor.diffField'), dataIndex: 'field' },
            { title: t('editor.diffChange'), dataIndex: 'change', render: (c: Change) => <ChangeTag c={c} /> },
            { title: `v${a.version}`, dataIndex: 'a', render: (s: string) => <Typography.Text delete={s !== '—'} type="secondary" style={{ fontFamily: 'monospace' }}>{s}</Typography.Text> },
            { title: `v${b.version}`, dataIndex: 'b', render: (s: string) => <Typography.Text style={{ fontFamily: 'monospace' }}>{s}</Typography.Text> },
          ]} />
      )}
    </Space>
  );
}

/** The versions drawer. onRestore loads a version into the editor (saving it then makes a new version). */
export function VersionHistory({ id, open, onClose, onRestore, canMutate }: {
  id: string; open: boolean; onClose: () => void; onRestore: (f: FlowSpec, version: number) => void; canMutate: boolean;
}) {
  const { t } = useTranslation();
  const versions = useQuery({
    queryKey: ['flow-versions', id],
    enabled: open,
    queryFn: () => call(api.GET('/api/v1/flows/{id}/versions', { params: { path: { id }, query: { limit: 100 } } })),
  });
  const items = versions.data?.items ?? [];
  const [pickA, setA] = useState<number>();
  const [pickB, setB] = useState<number>();
  // Default: the newest version against the one before it.
  const vb = pickB ?? items[0]?.version;
  const va = pickA ?? items[1]?.version ?? items[0]?.version;
  const a = items.find((v) => v.version === va);
  const b = items.find((v) => v.version === vb);
  const opts = items.map((v) => ({ value: v.version, label: `v${v.version} · ${v.created_by} · ${fmtTime(v.created_at)}` }));
  return (
    <Drawer open={open} onClose={onClose} width={920} title={t('editor.versions')} destroyOnHidden data-testid="versions-drawer">
      {versions.error && <Alert type="error" message={errorMessage(versions.error)} />}
      <List size="small" bordered dataSource={items} style={{ marginBottom: 16 }} data-testid="versions-list"
        renderItem={(v) => (
          <List.Item data-testid={`version-${v.version}`}
            actions={canMutate ? [<a key="r" onClick={() => onRestore(v.flow!, v.version)} data-testid={`version-restore-${v.version}`}>{t('editor.restore')}</a>] : []}>
            <Space>
              <Tag color={v.version === items[0]?.version ? 'blue' : undefined}>v{v.version}</Tag>
              <span>{v.created_by}</span>
              <Typography.Text type="secondary">{fmtTime(v.created_at)}</Typography.Text>
              <Typography.Text type="secondary">{t('editor.nodeCount', { count: v.flow?.nodes.length ?? 0 })}</Typography.Text>
            </Space>
          </List.Item>
        )} />
      {items.length > 1 && (
        <>
          <Space style={{ marginBottom: 12 }}>
            <Typography.Text strong>{t('editor.compare')}</Typography.Text>
            <Select value={va} onChange={setA} options={opts} style={{ width: 300 }} data-testid="diff-a" />
            <span>→</span>
            <Select value={vb} onChange={setB} options={opts} style={{ width: 300 }} data-testid="diff-b" />
            <Button size="small" onClick={() => { setA(vb); setB(va); }}>⇄</Button>
          </Space>
          {a && b && (
            <ReactFlowProvider key={`${a.version}-${b.version}`}>
              <DiffView a={a} b={b} />
            </ReactFlowProvider>
          )}
        </>
      )}
    </Drawer>
  );
}
