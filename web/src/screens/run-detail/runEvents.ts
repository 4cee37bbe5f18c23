// The run's live transitions (GET /runs/{id}/events, Server-Sent Events)
// read with fetch, since EventSource cannot send the bearer token.
import { getToken } from '../../api/client';

export interface RunEvent {
  id: number;
  entity: string;
  entity_id: string;
  from?: string;
  to: string;
}

/**
 * Calls onEvent for each transition (name: run, node, instance, request)
 * logged after the event id after (the view's last_event_id), and resumes after the last id when the stream drops, until signal aborts
 * or the run ends (the "end" event).
 */
export async function followRunEvents(runId: string, after: number, onEvent: (name: string, e: RunEvent) => void, signal: AbortSignal): Promise<void> {
  let last = after ? String(after) : '';
  while (!signal.aborted) {
    try {
      const res = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/events?until=closed${last ? `&after=${last}` : ''}`, {
        headers: { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' },
        signal,
      });
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let name = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) name = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
            else if (line.startsWith('id: ')) last = line.slice(4);
          }
          if (name === 'end') return;
          if (data) onEvent(name, JSON.parse(data) as RunEvent);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      console.warn('run events', e);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
