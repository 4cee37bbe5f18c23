// The editor's graph <-> the flow body the API takes, and validation
// problems (paths such as nodes[3].task.shell.script or edges[2]) mapped to
// the node or edge they name.
import type { Edge, Node } from '@xyflow/react';
import type { FlowBody, FlowEdge, FlowNode, Problem } from '../../api/client';
import { edgeStyle, nodeSize, type GraphNodeData } from '../../graph/layout';

export type EditorNode = Node<GraphNodeData>;
/** lane: the y of the lane a back edge runs in (BackEdge). */
export type EditorEdge = Edge<{ on: 'success' | 'failure' | 'always'; lane?: number }>;

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

/** The flow's own fields, edited in the panel shown when nothing is selected. */
export type Settings = Pick<FlowBody, 'name' | 'group' | 'trigger' | 'timeout' | 'params' | 'fail_fast' | 'alerts'>;

export function settingsOf(f?: Partial<FlowBody>): Settings {
  return { name: f?.name ?? '', group: f?.group, trigger: f?.trigger, timeout: f?.timeout, params: f?.params, fail_fast: f?.fail_fast, alerts: f?.alerts ?? undefined };
}

export function toBody(s: Settings, nodes: EditorNode[], edges: EditorEdge[]): FlowBody {
  return {
    name: s.name,
    group: s.group || undefined,
    trigger: s.trigger,
    timeout: s.timeout || undefined,
    params: s.params,
    fail_fast: s.fail_fast || undefined,
    alerts: s.alerts?.length ? s.alerts : undefined,
    nodes: nodes.map((n) => n.data.node),
    edges: edges.map((e) => ({ from: e.source, to: e.target, on: e.data?.on ?? 'success' })),
  };
}

export interface Marks {
  nodes: Map<string, string>;
  edges: Map<string, string>;
  flow: string[];
  /** The flow-level problems as the API gave them (path and message), for the fields they name (alerts[0].channels[0]). */
  flowProblems: Problem[];
  /** Every problem with what it is about, for the list above the canvas. */
  list: { text: string; node?: string; edge?: string }[];
}

/** Problems by the node or edge they are about; the rest concern the flow. */
export function markProblems(problems: Problem[], body: FlowBody): Marks {
  const m: Marks = { nodes: new Map(), edges: new Map(), flow: [], flowProblems: [], list: [] };
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
      m.flowProblems.push(p);
      // The alert rules show their own problems on the rule.
      if (!p.path.startsWith('alerts')) m.flow.push(text);
      m.list.push({ text });
    }
  }
  return m;
}

/**
 * Edges whose target is not right of their source (a cycle's closing edge)
 * are drawn as back edges, in a lane below the nodes they pass.
 */
export function routeBackEdges(nodes: EditorNode[], edges: EditorEdge[]): EditorEdge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.map((e) => {
    const s = byId.get(e.source);
    const t = byId.get(e.target);
    if (!s || !t || t.position.x + nodeSize(t.data.node.type).width > s.position.x) return e.type === 'back' ? { ...e, type: undefined } : e;
    const left = t.position.x;
    const right = s.position.x + nodeSize(s.data.node.type).width;
    let bottom = -Infinity;
    for (const n of nodes) {
      const w = nodeSize(n.data.node.type);
      if (n.position.x + w.width >= left && n.position.x <= right) bottom = Math.max(bottom, n.position.y + w.height);
    }
    const lane = bottom + 36;
    return e.type === 'back' && e.data?.lane === lane ? e : { ...e, type: 'back', data: { on: e.data?.on ?? 'success', lane } };
  });
}

/** What Ctrl+C keeps: the selected nodes and the edges between them. */
export interface Clip { nodes: { node: FlowNode; x: number; y: number }[]; edges: FlowEdge[] }

export const CLIP_KEY = 'baton.editor.clipboard';

export function copyOf(nodes: EditorNode[], edges: EditorEdge[]): Clip | null {
  const sel = nodes.filter((n) => n.selected);
  if (!sel.length) return null;
  const ids = new Set(sel.map((n) => n.id));
  return {
    nodes: sel.map((n) => ({ node: n.data.node, x: n.position.x, y: n.position.y })),
    edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({ from: e.source, to: e.target, on: e.data?.on ?? 'success' })),
  };
}

/** The clip's nodes with new ids (shell_1 pastes as the next free shell_N), offset, and their edges renamed. */
export function pasteOf(clip: Clip, taken: Set<string>): { nodes: EditorNode[]; edges: EditorEdge[] } {
  const rename = new Map<string, string>();
  const used = new Set(taken);
  for (const c of clip.nodes) {
    const id = uniqueId(c.node.id.replace(/_\d+$/, ''), used);
    used.add(id);
    rename.set(c.node.id, id);
  }
  const nodes: EditorNode[] = clip.nodes.map((c) => {
    const id = rename.get(c.node.id)!;
    const node = { ...c.node, id };
    return { id, type: node.type === 'and' || node.type === 'or' ? 'logic' : 'task', position: { x: c.x + 40, y: c.y + 60 }, selected: true, data: { node, label: node.name || id } };
  });
  const edges = clip.edges.map((e) => makeEdge({ ...e, from: rename.get(e.from)!, to: rename.get(e.to)! }));
  return { nodes, edges };
}
