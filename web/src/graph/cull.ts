// What a large topology hands xyflow: only the nodes and edges near the
// viewport. xyflow's onlyRenderVisibleElements keeps the DOM small, but
// xyflow still walks every node and edge it is given on each update
// (10,000 nodes and 14,000 edges cost it seconds on the first render and
// again on every live patch). A grid of cells, built once per layout,
// finds what lies in a window of cells round the viewport in time
// proportional to what is there; the window moves by whole cells, so
// panning within a cell changes nothing.
import type { LayoutResult, Pt } from './layered';

const CELL = 800;

export interface CullIndex {
  cells: Map<string, { nodes: number[]; edges: number[] }>;
}

type Rect = [number, number, number, number];

function cellsOf(r: Rect, visit: (key: string) => void) {
  for (let cx = Math.floor(r[0] / CELL); cx <= Math.floor(r[2] / CELL); cx++) {
    for (let cy = Math.floor(r[1] / CELL); cy <= Math.floor(r[3] / CELL); cy++) visit(`${cx},${cy}`);
  }
}

/** sizes[i]: node i's width and height; edges: [source index, target index] per edge. */
export function buildCullIndex(l: LayoutResult, sizes: { width: number; height: number }[], edges: [number, number][]): CullIndex {
  const cells: CullIndex['cells'] = new Map();
  const cell = (k: string) => {
    let c = cells.get(k);
    if (!c) cells.set(k, (c = { nodes: [], edges: [] }));
    return c;
  };
  l.pos.forEach(([x, y], i) => cellsOf([x, y, x + sizes[i].width, y + sizes[i].height], (k) => cell(k).nodes.push(i)));
  edges.forEach(([s, t], i) => {
    if (s < 0 || t < 0) return;
    const pts: Pt[] = [[l.pos[s][0] + sizes[s].width, l.pos[s][1]], [l.pos[t][0], l.pos[t][1] + sizes[t].height], ...(l.routes[i] ?? [])];
    const r: Rect = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of pts) {
      r[0] = Math.min(r[0], x);
      r[1] = Math.min(r[1], y);
      r[2] = Math.max(r[2], x);
      r[3] = Math.max(r[3], y);
    }
    cellsOf(r, (k) => cell(k).edges.push(i));
  });
  return { cells };
}

/** The window of cells (as a key) round a viewport of w x h pixels, with half a screen to spare on each side. */
export function cullWindow(v: { x: number; y: number; zoom: number }, w: number, h: number): string {
  const x0 = (-v.x - w / 2) / v.zoom;
  const y0 = (-v.y - h / 2) / v.zoom;
  const x1 = (-v.x + 1.5 * w) / v.zoom;
  const y1 = (-v.y + 1.5 * h) / v.zoom;
  return [Math.floor(x0 / CELL), Math.floor(y0 / CELL), Math.floor(x1 / CELL), Math.floor(y1 / CELL)].join(',');
}

/**
 * The node and edge indices in a window: the nodes in its cells, the
 * edges crossing them, and the far ends of those edges (xyflow draws an
 * edge only between nodes it has).
 */
export function cull(ix: CullIndex, win: string, edges: [number, number][]): { nodes: number[]; edges: number[] } {
  const [cx0, cy0, cx1, cy1] = win.split(',').map(Number);
  const ns = new Set<number>();
  const es = new Set<number>();
  for (let cx = cx0; cx <= cx1; cx++) {
    for (let cy = cy0; cy <= cy1; cy++) {
      const c = ix.cells.get(`${cx},${cy}`);
      if (!c) continue;
      for (const n of c.nodes) ns.add(n);
      for (const e of c.edges) es.add(e);
    }
  }
  for (const e of es) {
    ns.add(edges[e][0]);
    ns.add(edges[e][1]);
  }
  return { nodes: [...ns].sort((a, b) => a - b), edges: [...es].sort((a, b) => a - b) };
}
