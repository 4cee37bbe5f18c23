// Lays a topology out off the main thread: a 10,000-node layout would
// otherwise freeze the page while it runs.
import { computeLayout, pack, type LayoutInput } from './layered';

self.onmessage = (e: MessageEvent<{ id: number; input: LayoutInput }>) => {
  const { id, input } = e.data;
  try {
    const result = pack(computeLayout(input));
    // Transferred, not copied.
    self.postMessage({ id, result }, { transfer: [result.pos.buffer, result.edge.buffer, result.off.buffer, result.pts.buffer] });
  } catch (err) {
    self.postMessage({ id, error: String(err) });
  }
};
