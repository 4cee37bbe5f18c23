import { ApiError, errorMessage } from '../../api/client';

/**
 * A refusal as the console shows it: the server's message (which names
 * the nodes) with the status and code, and the offending nodes or
 * instances of a 409 (RefusalDetails) for tags.
 */
export function refusal(e: unknown): { text: string; offending: { id: string; status: string }[] } {
  if (!(e instanceof ApiError)) return { text: errorMessage(e), offending: [] };
  const d = e.details as { offending?: { id: string; status: string }[] } | undefined;
  return { text: `${e.status} ${e.code}: ${e.message}`, offending: Array.isArray(d?.offending) ? d.offending : [] };
}
