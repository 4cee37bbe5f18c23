// Layouts of a run's topology, computed in a Web Worker (layout.worker.ts)
// and cached per definition version (layoutCache.ts). Small graphs use
// dagre, whose edge routes go round the nodes. dagre's ranking and
// crossing reduction grow much faster than linearly (minutes at a few
// thousand nodes on a loaded machine), so larger graphs get a linear
// layered layout: longest-path ranks, barycentre ordering sweeps, nodes on
// a grid, and the edges that skip ranks or point back routed through the
// free channels between grid rows and columns, never through a node.
import dagre from '@dagrejs/dagre';

export type Pt = [number, number];

export interface LayoutInput {
  nodes: { id: string; logic: boolean }[];
  /** [from, to] pairs; unknown ends are ignored. */
  edges: [string, string][];
}

export interface LayoutResult {
  /** Top-left corner of each node, indexed like the input nodes. */
  pos: Pt[];
  /** Bend points of an edge (index in the input edges) drawn round nodes. */
  routes: Record<number, Pt[]>;
  engine: 'dagre' | 'layered';
}

export const TASK_W = 170;
export const TASK_H = 48;
export const LOGIC_W = 64;
export const LOGIC_H = 40;
const GAP_X = 80;
const GAP_Y = 30;
const ROW_H = TASK_H + GAP_Y;
const COL_W = TASK_W + GAP_X;

/** Graphs up to this many nodes are laid out by dagre. */
export const DAGRE_MAX = 300;

export function size(logic: boolean): { width: number; height: number } {
  return logic ? { width: LOGIC_W, height: LOGIC_H } : { width: TASK_W, height: TASK_H };
}

export function computeLayout(input: LayoutInput): LayoutResult {
  return input.nodes.length <= DAGRE_MAX ? dagreLayout(input) : layered(input);
}

function dagreLayout({ nodes, edges }: LayoutInput): LayoutResult {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: GAP_Y, ranksep: GAP_X });
  g.setDefaultEdgeLabel(() => ({}));
  nodes.forEach((n) => g.setNode(n.id, size(n.logic)));
  const ids = new Set(nodes.map((n) => n.id));
  edges.forEach(([a, b], i) => {
    if (ids.has(a) && ids.has(b)) g.setEdge(a, b, {}, String(i));
  });
  dagre.layout(g);
  const pos = nodes.map((n): Pt => {
    const p = g.node(n.id);
    const s = size(n.logic);
    return [p.x - s.width / 2, p.y - s.height / 2];
  });
  const routes: Record<number, Pt[]> = {};
  edges.forEach(([a, b], i) => {
    const e = ids.has(a) && ids.has(b) ? g.edge(a, b, String(i)) : undefined;
    // dagre's first and last points are on the node borders; the handles
    // are drawn on the sides, so only the bends in between are kept.
    const pts = e?.points?.slice(1, -1) ?? [];
    if (pts.length > 1) routes[i] = pts.map((p: { x: number; y: number }): Pt => [p.x, p.y]);
  });
  return { pos, routes, engine: 'dagre' };
}

function layered({ nodes, edges }: LayoutInput): LayoutResult {
  const n = nodes.length;
  const index = new Map(nodes.map((x, i) => [x.id, i]));
  const out: number[][] = Array.from({ length: n }, () => []);
  const pairs: [number, number][] = [];
  for (const [a, b] of edges) {
    const i = index.get(a);
    const j = index.get(b);
    pairs.push([i ?? -1, j ?? -1]);
    if (i !== undefined && j !== undefined && i !== j) out[i].push(j);
  }
  // Back edges (closing a cycle) are found by an iterative DFS and left out
  // of the ranking, so every other edge points to a later rank.
  const back = new Set<string>();
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const order: number[] = []; // reverse postorder = a topological order
  for (let s = 0; s < n; s++) {
    if (state[s]) continue;
    const stack: [number, number][] = [[s, 0]];
    state[s] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, k] = top;
      if (k < out[v].length) {
        top[1]++;
        const w = out[v][k];
        if (state[w] === 1) back.add(`${v},${w}`);
        else if (state[w] === 0) {
          state[w] = 1;
          stack.push([w, 0]);
        }
      } else {
        state[v] = 2;
        order.push(v);
        stack.pop();
      }
    }
  }
  order.reverse();
  const preds: number[][] = Array.from({ length: n }, () => []);
  const succs: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    for (const w of out[v]) {
      if (back.has(`${v},${w}`)) continue;
      succs[v].push(w);
      preds[w].push(v);
    }
  }
  const rank = new Int32Array(n);
  for (const v of order) for (const w of succs[v]) rank[w] = Math.max(rank[w], rank[v] + 1);
  let maxRank = 0;
  for (let v = 0; v < n; v++) maxRank = Math.max(maxRank, rank[v]);
  const layers: number[][] = Array.from({ length: maxRank + 1 }, () => []);
  for (let v = 0; v < n; v++) layers[rank[v]].push(v); // declaration order first
  const slot = new Float64Array(n);
  const place = () => layers.forEach((l) => l.forEach((v, i) => { slot[v] = i; }));
  place();
  const bary = (v: number, nb: number[][]) => {
    const list = nb[v];
    if (!list.length) return slot[v];
    let s = 0;
    for (const w of list) s += slot[w];
    return s / list.length;
  };
  // Barycentre sweeps, down then up: fewer crossings, stable ties.
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const nb = down ? preds : succs;
    const seq = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const l of seq) {
      const key = new Map(l.map((v) => [v, bary(v, nb)]));
      l.sort((a, b) => key.get(a)! - key.get(b)! || a - b);
      l.forEach((v, i) => { slot[v] = i; });
    }
  }
  // Grid rows: each node as near its predecessors' mean row as the nodes
  // above it in its rank allow.
  const row = new Int32Array(n);
  for (const l of layers) {
    let next = 0;
    for (const v of l) {
      let want = next;
      if (preds[v].length) {
        let s = 0;
        for (const w of preds[v]) s += row[w];
        want = Math.max(next, Math.round(s / preds[v].length));
      }
      row[v] = want;
      next = want + 1;
    }
  }
  const pos = nodes.map((x, v): Pt => {
    const s = size(x.logic);
    return [rank[v] * COL_W + (TASK_W - s.width) / 2, row[v] * ROW_H + (TASK_H - s.height) / 2];
  });
  const routes: Record<number, Pt[]> = {};
  pairs.forEach(([i, j], e) => {
    if (i < 0 || j < 0) return;
    const span = rank[j] - rank[i];
    if (span === 1) return; // next column: a plain curve through the gap
    // Leave right of the source into its column gap, run along the channel
    // between two grid rows, come down in the gap left of the target.
    const exitX = rank[i] * COL_W + TASK_W + GAP_X / 2;
    const entryX = rank[j] * COL_W - GAP_X / 2;
    const channel = (row[j] > row[i] ? row[i] + 1 : row[i]) * ROW_H - GAP_Y / 2;
    const sy = row[i] * ROW_H + TASK_H / 2;
    const ty = row[j] * ROW_H + TASK_H / 2;
    routes[e] = [[exitX, sy], [exitX, channel], [entryX, channel], [entryX, ty]];
  });
  return { pos, routes, engine: 'layered' };
}
