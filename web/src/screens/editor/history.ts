// Undo and redo of the editor: snapshots of the graph and the flow's
// settings taken before each edit. Typing into one field is one step: a
// snapshot with the same key within a second of the last is skipped.
import { useCallback, useRef, useState } from 'react';

const LIMIT = 100;
const COALESCE_MS = 1000;

export function useUndo<S>(get: () => S, set: (s: S) => void) {
  const past = useRef<S[]>([]);
  const future = useRef<S[]>([]);
  const last = useRef<{ key?: string; at: number }>({ at: 0 });
  const [counts, setCounts] = useState({ past: 0, future: 0 });
  const bump = useCallback(() => setCounts({ past: past.current.length, future: future.current.length }), []);

  /** Call before an edit; key groups keystrokes into the same field. */
  const record = useCallback((key?: string) => {
    const now = Date.now();
    if (key && last.current.key === key && now - last.current.at < COALESCE_MS) {
      last.current.at = now;
      return;
    }
    past.current.push(get());
    if (past.current.length > LIMIT) past.current.shift();
    future.current = [];
    last.current = { key, at: now };
    bump();
  }, [get, bump]);

  const undo = useCallback(() => {
    const s = past.current.pop();
    if (s === undefined) return false;
    future.current.push(get());
    last.current = { at: 0 };
    set(s);
    bump();
    return true;
  }, [get, set, bump]);

  const redo = useCallback(() => {
    const s = future.current.pop();
    if (s === undefined) return false;
    past.current.push(get());
    last.current = { at: 0 };
    set(s);
    bump();
    return true;
  }, [get, set, bump]);

  return { record, undo, redo, canUndo: counts.past > 0, canRedo: counts.future > 0 };
}
