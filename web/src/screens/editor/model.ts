// The editor's graph <-> the flow body the API takes, and validation
// problems (paths such as nodes[3].task.shell.script or edges[2]) mapped to
// the node or edge they name.
import type { Edge, Node } from '@xyflow/react';
import type { FlowBody, FlowEdge, FlowNode, Problem } from '../../api/client';
import { edgeStyle, type GraphNodeData } from '../../graph/layout';

export type EditorNode = Node<GraphNodeData>;
export type EditorEdge = Edge<{ on: 'success' | 'failure' | 'always' }>;

export type NewKind = 'shell' | 'http' | 'noop' | 'sleep' | 'and' | 'or';

export function newNode(kind: NewKind, id: string): FlowNode {
  switch (kind) {
    case 'and':
    case 'or':
      return { id, type: kind };
    case 'shell':
      return { id, type: 'task', task: { kind: 'shell', shell: { script: 'echo "bizdate $BATON_BIZDATE"\n' } } };
    case 'http':
      return { id, type: 'task', task: { kind: 'http', http: { method: 'GET', url: 'http://127.0.0.1:8080/healthz' } } };
    case 'sleep':
      return { id, type: 'task', task: { kind: 'sleep', sleep: { duration: '5s' } } };
    default:
      return { id, type: 'task', task: { kind: 'noop' } };
  }
}

export function uniqueId(base: string, taken: Set<string>): string {
  for (let i = 1; ; i++) {
    const id = `${base}_${i}`;
    if (!taken.has(id)) return id;
  }
}

export function makeEdge(e: FlowEdge): EditorEdge {
  const on = e.on ?? 'success';
  return { id: `${e.from}->${e.to}`, source: e.from, target: e.to, data: { on }, label: on === 'success' ? undefined : on, ...edgeStyle(on) };
}

export function toBody(meta: { name: string; group?: string; rest: Partial<FlowBody> }, nodes: EditorNode[], edges: EditorEdge[]): FlowBody {
  return {
    ...meta.rest,
    name: meta.name,
    group: meta.group || undefined,
    nodes: nodes.map((n) => n.data.node),
    edges: edges.map((e) => ({ from: e.source, to: e.target, on: e.data?.on ?? 'success' })),
  };
}

export interface Marks {
  nodes: Map<string, string>;
  edges: Map<string, string>;
  flow: string[];
  /** Every problem with what it is about, for the list above the canvas. */
  list: { text: string; node?: string; edge?: string }[];
}

/** Problems by the node or edge they are about; the rest concern the flow. */
export function markProblems(problems: Problem[], body: FlowBody): Marks {
  const m: Marks = { nodes: new Map(), edges: new Map(), flow: [], list: [] };
  for (const p of problems) {
    const node = /^nodes\[(\d+)\](.*)$/.exec(p.path);
    const edge = /^edges\[(\d+)\](.*)$/.exec(p.path);
    const add = (map: Map<string, string>, key: string, rest: string) => {
      const text = `${rest.replace(/^\./, '') || ''}${rest ? ': ' : ''}${p.message}`;
      map.set(key, map.has(key) ? `${map.get(key)}; ${text}` : text);
    };
    if (node && body.nodes[Number(node[1])]) {
      const id = body.nodes[Number(node[1])].id;
      add(m.nodes, id, node[2]);
      m.list.push({ text: `${id}${node[2]}: ${p.message}`, node: id });
    } else if (edge && body.edges?.[Number(edge[1])]) {
      const e = body.edges?.[Number(edge[1])];
      add(m.edges, `${e.from}->${e.to}`, edge[2]);
      m.list.push({ text: `${e.from} → ${e.to}${edge[2]}: ${p.message}`, edge: `${e.from}->${e.to}` });
    } else {
      const text = p.path ? `${p.path}: ${p.message}` : p.message;
      m.flow.push(text);
      m.list.push({ text });
    }
  }
  return m;
}
