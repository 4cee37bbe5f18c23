// Layered layout of a flow (dagre, left to right). Positions depend only on
// the nodes and edges, so a run's topology is laid out once per version.
import dagre from '@dagrejs/dagre';
import { MarkerType, type Edge, type Node } from '@xyflow/react';
import type { FlowEdge, FlowNode } from '../api/client';
import { size } from './layered';

export function nodeSize(type: string | undefined): { width: number; height: number } {
  return size(isLogic(type));
}

export function layout(nodes: { id: string; type?: string }[], edges: { from: string; to: string }[]): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, nodeSize(n.type));
  const ids = new Set(nodes.map((n) => n.id));
  for (const e of edges) if (ids.has(e.from) && ids.has(e.to)) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const out = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    const p = g.node(n.id);
    const s = nodeSize(n.type);
    out.set(n.id, { x: (p?.x ?? 0) - s.width / 2, y: (p?.y ?? 0) - s.height / 2 });
  }
  return out;
}

/** and / or nodes; a node without a type is a task node. */
export function isLogic(type: string | undefined): boolean {
  return type === 'and' || type === 'or';
}

export const edgeColors: Record<string, string> = { success: '#52c41a', failure: '#ff4d4f', always: '#8c8c8c' };

/** An edge of a flow as drawn: colour and dash say its kind. */
export function edgeStyle(on: string | undefined) {
  const kind = on || 'success';
  const color = edgeColors[kind] ?? '#8c8c8c';
  return {
    style: { stroke: color, strokeWidth: 2, strokeDasharray: kind === 'always' ? '6 4' : kind === 'failure' ? '2 3' : undefined },
    markerEnd: { type: MarkerType.ArrowClosed, color },
  };
}

export function edgeId(e: FlowEdge): string {
  return `${e.from}->${e.to}`;
}

export type GraphNodeData = {
  node: FlowNode;
  status?: string;
  forced?: boolean;
  problem?: string;
  label: string;
};

export function toGraph(nodes: FlowNode[], edges: FlowEdge[], pos: Map<string, { x: number; y: number }>): { nodes: Node<GraphNodeData>[]; edges: Edge[] } {
  return {
    nodes: nodes.map((n) => ({
      id: n.id,
      type: isLogic(n.type) ? 'logic' : 'task',
      position: pos.get(n.id) ?? { x: 0, y: 0 },
      data: { node: n, label: n.name || n.id },
    })),
    edges: edges.map((e) => ({ id: edgeId(e), source: e.from, target: e.to, data: { on: e.on ?? 'success' }, ...edgeStyle(e.on) })),
  };
}
