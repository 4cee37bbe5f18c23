// Which operation the console offers in which state. The server sends
// them with the topology view (allowed_ops, from internal/control.Allowed
// and internal/status/machine.go); between two reads of the view the
// console applies the same rules to the live state from the event stream,
// so a menu follows a state change at once. The server still decides:
// an operation the state has overtaken gets its 409, shown as it is. The
// browser tests compare these rules with the server's allowed_ops for a
// node in every status.
import type { components } from './api/schema';

export type RunOp = components['schemas']['RunOp'];
export type NodeOp = components['schemas']['NodeOp'];

const runOps: Record<RunOp, string[]> = {
  stop: ['waiting', 'running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
  retry: ['failed', 'stopped'],
  rollback: ['failed', 'stopped'],
  abandon: ['failed', 'stopped', 'rollback_failed'],
  rerun: ['success', 'failed', 'stopped', 'timeout', 'skipped', 'rolled_back', 'rollback_failed', 'abandoned'],
};

/** The run-level operations in the console's order (api/console.go runMenuOps). */
export const runOpOrder: RunOp[] = ['stop', 'pause', 'resume', 'retry', 'rollback', 'abandon', 'rerun'];

/** status.RunOpAllowed for each run-level operation. */
export function runOpsFor(status: string): RunOp[] {
  return runOpOrder.filter((op) => runOps[op].includes(status));
}

/** Run statuses whose workflow takes node and instance operations (control.runOpenFor). */
export const runOpenFor = new Set(['running', 'paused', 'failed', 'stopped', 'timeout', 'waiting']);

const nodeTerminal = new Set(['success', 'failed', 'stopped', 'timeout', 'skipped', 'rolled_back']);
const instanceTerminal = new Set(['success', 'failed', 'stopped', 'timeout', 'stop_failed']);

/** What control.Allowed looks at. */
export interface NodeState {
  type: string;
  status: string;
  attempts?: number;
  instances?: { status: string }[];
}

/** control.Allowed: the operations on node n while its run is runStatus, in the menu's order. */
export function nodeAllowedOps(runStatus: string, n: NodeState): NodeOp[] {
  if (n.type !== 'task') return []; // logic nodes, and nodes the pinned version no longer has
  const open = runOpenFor.has(runStatus);
  const st = n.status;
  const ran = (n.attempts ?? 0) > 0 || (n.instances?.length ?? 0) > 0;
  const retryable = ['failed', 'stopped', 'timeout', 'success'].includes(st) || ((st === 'waiting' || st === 'skipped') && !ran);
  const out: NodeOp[] = [];
  if (open) {
    if (['waiting', 'dispatched', 'running', 'paused'].includes(st)) out.push('node-stop');
    if (st === 'waiting') out.push('node-pause');
    if (st === 'paused') out.push('node-resume');
    if (retryable) out.push('node-retry');
    if (['failed', 'stopped', 'timeout'].includes(st)) out.push('node-skip');
    if (retryable) out.push('rerun-downstream');
  }
  if (ran) out.push('rerun-from');
  const last = n.instances?.at(-1)?.status;
  if (!open || !last) return out;
  if (last === 'waiting' || last === 'running') out.push('instance-stop');
  if (instanceTerminal.has(last) && nodeTerminal.has(st)) out.push('instance-rerun');
  return out;
}

/** Operations that lose work or cannot be undone ask for confirmation and a reason. */
export const destructive = new Set<string>(['stop', 'skip', 'rollback', 'abandon', 'retry', 'rerun', 'rerun-from', 'retry-failed', 'stop-instance', 'rerun-instance']);

export const runStatuses = [
  'waiting', 'running', 'paused', 'stopping', 'success', 'failed', 'stopped', 'timeout', 'skipped',
  'rolling_back', 'rolled_back', 'rollback_failed', 'abandoned',
] as const;

export const triggers = ['cron', 'fixed_rate', 'manual', 'api', 'flow', 'rerun', 'backfill', 'test'] as const;

/** Colours per state, shared by tags and the topology. */
export function statusColor(status: string): string {
  switch (status) {
    case 'success':
    case 'rolled_back':
      return '#52c41a';
    case 'failed':
    case 'timeout':
    case 'rollback_failed':
    case 'stop_failed':
      return '#ff4d4f';
    case 'running':
    case 'dispatched':
    case 'rolling_back':
      return '#1677ff';
    case 'paused':
    case 'stopping':
      return '#faad14';
    case 'stopped':
    case 'abandoned':
      return '#8c8c8c';
    case 'skipped':
      return '#bfbfbf';
    default:
      return '#d9d9d9';
  }
}

export function tagColor(status: string): string {
  switch (status) {
    case 'success':
    case 'rolled_back':
      return 'success';
    case 'failed':
    case 'timeout':
    case 'rollback_failed':
    case 'stop_failed':
      return 'error';
    case 'running':
    case 'dispatched':
    case 'rolling_back':
      return 'processing';
    case 'paused':
    case 'stopping':
      return 'warning';
    default:
      return 'default';
  }
}
