// The difference between two versions of a flow: nodes and edges added,
// removed or changed (with the changed fields), and the flow's own fields.
import type { FlowEdge, FlowNode, Schemas } from '../../api/client';
import { edgeId } from '../../graph/layout';

type FlowSpec = Schemas['Flow'];
export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface NodeDiff { id: string; change: Change; fields: string[]; a?: FlowNode; b?: FlowNode }
export interface EdgeDiff { id: string; change: Change; a?: FlowEdge; b?: FlowEdge }
export interface FlowDiff { nodes: NodeDiff[]; edges: EdgeDiff[]; fields: string[] }

/** JSON with sorted keys, so objects that differ only in key order compare equal. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => p.localeCompare(q)))
    : x));
}

/** The dotted paths of the leaves that differ between a and b (task.shell.script, retry.max_attempts). */
export function changedPaths(a: unknown, b: unknown, at = ''): string[] {
  const obj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (obj(a) && obj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], at ? `${at}.${k}` : k));
  }
  return canon(a) === canon(b) ? [] : [at || '.'];
}

const onOf = (e: FlowEdge) => e.on ?? 'success';

export function diffFlows(a: FlowSpec, b: FlowSpec): FlowDiff {
  const an = new Map(a.nodes.map((n) => [n.id, n]));
  const bn = new Map(b.nodes.map((n) => [n.id, n]));
  const nodes: NodeDiff[] = [];
  for (const n of b.nodes) {
    const old = an.get(n.id);
    if (!old) nodes.push({ id: n.id, change: 'added', fields: [], b: n });
    else {
      const fields = changedPaths(old, n);
      nodes.push({ id: n.id, change: fields.length ? 'changed' : 'same', fields, a: old, b: n });
    }
  }
  for (const n of a.nodes) if (!bn.has(n.id)) nodes.push({ id: n.id, change: 'removed', fields: [], a: n });

  const ae = new Map((a.edges ?? []).map((e) => [edgeId(e), e]));
  const be = new Map((b.edges ?? []).map((e) => [edgeId(e), e]));
  const edges: EdgeDiff[] = [];
  for (const [id, e] of be) {
    const old = ae.get(id);
    edges.push({ id, change: !old ? 'added' : onOf(old) !== onOf(e) ? 'changed' : 'same', a: old, b: e });
  }
  for (const [id, e] of ae) if (!be.has(id)) edges.push({ id, change: 'removed', a: e });

  const rest = (f: FlowSpec) => ({ ...f, nodes: undefined, edges: undefined });
  return { nodes, edges, fields: changedPaths(rest(a), rest(b)) };
}

export const changeColors: Record<Change, string> = { added: '#52c41a', removed: '#ff4d4f', changed: '#fa8c16', same: '#d9d9d9' };

/** The value at a dotted path (task.shell.script) as short text, "—" when absent. */
export function valueAt(o: unknown, path: string): string {
  let v: unknown = o;
  for (const k of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  if (v === undefined) return '—';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}
