// Lays a topology out off the main thread: a 10,000-node layout would
// otherwise freeze the page while it runs.
import { computeLayout, type LayoutInput } from './layered';

self.onmessage = (e: MessageEvent<{ id: number; input: LayoutInput }>) => {
  const { id, input } = e.data;
  try {
    self.postMessage({ id, result: computeLayout(input) });
  } catch (err) {
    self.postMessage({ id, error: String(err) });
  }
};
