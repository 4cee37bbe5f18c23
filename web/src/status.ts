// Which operation the console offers in which state. This mirrors the
// server's tables (internal/status/machine.go: runOps, NodeOpAllowed,
// InstanceOpAllowed) so that a menu shows only what the server would
// accept; the server still decides, and its 409 is shown when the state
// moved on between the menu opening and the click.

export type RunOp = 'stop' | 'pause' | 'resume' | 'retry' | 'rollback' | 'abandon' | 'rerun';
export type NodeOp = 'stop' | 'pause' | 'resume' | 'retry' | 'skip';
export type InstanceOp = 'stop' | 'rerun';

const runOps: Record<RunOp, string[]> = {
  stop: ['waiting', 'running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
  retry: ['failed', 'stopped'],
  rollback: ['failed', 'stopped'],
  abandon: ['failed', 'stopped', 'rollback_failed'],
  rerun: ['success', 'failed', 'stopped', 'timeout', 'skipped', 'rolled_back', 'rollback_failed', 'abandoned'],
};

export function runOpsFor(status: string): RunOp[] {
  return (Object.keys(runOps) as RunOp[]).filter((op) => runOps[op].includes(status));
}

/** ran: the node has been dispatched at least once (it has instances). */
export function nodeOpsFor(status: string, ran: boolean): NodeOp[] {
  const ops: NodeOp[] = [];
  if (['waiting', 'paused', 'dispatched', 'running'].includes(status)) ops.push('stop');
  if (status === 'waiting') ops.push('pause');
  if (status === 'paused') ops.push('resume');
  if (['failed', 'stopped', 'timeout', 'success'].includes(status) || ((status === 'waiting' || status === 'skipped') && !ran)) {
    ops.push('retry');
  }
  if (['failed', 'stopped', 'timeout'].includes(status)) ops.push('skip');
  return ops;
}

const instanceTerminal = ['success', 'failed', 'stopped', 'timeout', 'stop_failed'];

export function instanceOpsFor(status: string): InstanceOp[] {
  if (status === 'waiting' || status === 'running') return ['stop'];
  if (instanceTerminal.includes(status)) return ['rerun'];
  return [];
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
