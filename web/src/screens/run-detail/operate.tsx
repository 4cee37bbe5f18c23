// One way to perform a control operation: confirmation with a reason for
// the destructive ones, the server's refusal (409, naming the nodes) shown
// as it is. The node menu lists what the server's allowed_ops say the
// node's state allows (control.Allowed), never a guess of its own.
import { useState } from 'react';
import { App, Input, List, Modal, Select, Space, Typography } from 'antd';
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call, errorMessage, instanceOp, nodeOp, type NodeOpName, type Schemas } from '../../api/client';
import { destructive } from '../../status';

type TopoNode = Schemas['TopologyNode'];
type AllowedOp = Schemas['NodeOp'];

export interface PendingOp {
  op: string;
  /** What the operation acts on, for the dialog title. */
  target: string;
  run(reason: string): Promise<unknown>;
}

/** An operation's label: the shared op.* keys, else the topology's own. */
export function opLabel(t: TFunction, op: string): string {
  return t(`op.${op}`, { defaultValue: t(`topo.op.${op}`, { defaultValue: op }) });
}

export interface MenuAction {
  key: string;
  testid: string;
  label: string;
  /** The allowed_ops entry, or log. */
  op: AllowedOp | 'log';
}

// allowed_ops entry -> the console's operation name and test id.
const menuOps: Record<AllowedOp, { op: string; testid: string }> = {
  'node-stop': { op: 'stop', testid: 'node-op-stop' },
  'node-pause': { op: 'pause', testid: 'node-op-pause' },
  'node-resume': { op: 'resume', testid: 'node-op-resume' },
  'node-retry': { op: 'retry', testid: 'node-op-retry' },
  'node-skip': { op: 'skip', testid: 'node-op-skip' },
  'rerun-downstream': { op: 'rerun-downstream', testid: 'node-op-rerun-downstream' },
  'rerun-from': { op: 'rerun-from', testid: 'node-op-rerun-from' },
  'instance-stop': { op: 'stop-instance', testid: 'instance-op-stop' },
  'instance-rerun': { op: 'rerun-instance', testid: 'instance-op-rerun' },
};

/** The node menu: the operations the server allows in the node's state (none for a viewer), then its log. */
export function menuItems(n: TopoNode, canMutate: boolean, t: TFunction): MenuAction[] {
  const out: MenuAction[] = canMutate
    ? (n.allowed_ops ?? []).map((a) => ({ key: a, op: a, testid: menuOps[a].testid, label: opLabel(t, menuOps[a].op) }))
    : [];
  if (n.instances?.length) out.push({ key: 'log', op: 'log', testid: 'node-op-log', label: t('op.log') });
  return out;
}

export interface MenuContext {
  runId: string;
  node: TopoNode;
  nodes: TopoNode[];
  start(p: PendingOp): void;
  rerunDownstream(node: string, nodes: TopoNode[]): void;
  onOpenLog(instanceId: string): void;
  message: { error(s: string): void };
  t: TFunction;
}

export function runMenuAction(a: MenuAction, c: MenuContext) {
  const { runId, node, start, t } = c;
  const last = node.instances?.at(-1);
  switch (a.op) {
    case 'log':
      if (last) c.onOpenLog(last.id);
      return;
    case 'rerun-downstream':
      c.rerunDownstream(node.id, c.nodes);
      return;
    case 'rerun-from':
      void (async () => {
        try {
          const plan = await call(api.POST('/api/v1/runs/{id}/nodes/{node}/rerun-from', { params: { path: { id: runId, node: node.id }, query: { dry_run: true } }, body: {} }));
          start({ op: 'rerun-from', target: `${node.id} — ${t('run.rerunFromPlan', { nodes: plan.nodes.join(', ') })}`, run: (reason) =>
            call(api.POST('/api/v1/runs/{id}/nodes/{node}/rerun-from', { params: { path: { id: runId, node: node.id } }, body: { reason } })) });
        } catch (e) {
          c.message.error(errorMessage(e));
        }
      })();
      return;
    case 'instance-stop':
    case 'instance-rerun':
      if (last) {
        const op = a.op === 'instance-stop' ? 'stop' : 'rerun';
        start({ op: `${op}-instance`, target: last.id, run: (reason) => instanceOp(last.id, op, reason) });
      }
      return;
    default: {
      const op = menuOps[a.op].op as NodeOpName;
      start({ op, target: node.id, run: (reason) => nodeOp(runId, node.id, op, reason) });
    }
  }
}

export function useOperate(onDone: () => void) {
  const { t } = useTranslation();
  const { message, notification } = App.useApp();
  const [pending, setPending] = useState<PendingOp | null>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [down, setDown] = useState<{ run: string; nodes: TopoNode[]; chosen: string[]; preview?: string[]; previewError?: string } | null>(null);

  async function exec(p: PendingOp, why: string) {
    setBusy(true);
    try {
      await p.run(why);
      message.success(t('op.done', { op: opLabel(t, p.op) }));
      onDone();
    } catch (e) {
      notification.error({
        message: t('op.refused', { message: '' }),
        description: <span data-testid="op-error">{e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : errorMessage(e)}</span>,
        duration: 10,
      });
    } finally {
      setBusy(false);
      setPending(null);
      setDown(null);
      setReason('');
    }
  }

  function start(p: PendingOp) {
    if (destructive.has(p.op)) setPending(p);
    else void exec(p, '');
  }

  /** Opens the rerun-downstream dialog with node chosen; its runId comes from the node menu's run. */
  function rerunDownstream(node: string, nodes: TopoNode[], runId = '') {
    setDown({ run: runId, nodes, chosen: [node] });
  }

  /** The dry run: the server checks the choice, the lineage names every node that runs again. */
  async function preview(runId: string, chosen: string[]) {
    try {
      const plan = await call(api.POST('/api/v1/runs/{id}/rerun-downstream', { params: { path: { id: runId }, query: { dry_run: true } }, body: { nodes: chosen } }));
      const lines = await Promise.all(plan.plan.nodes.map((n) =>
        call(api.GET('/api/v1/runs/{id}/nodes/{node}/lineage', { params: { path: { id: runId, node: n }, query: { depth: 0, direction: 'down' } } }))));
      const all = [...new Set(lines.flatMap((l) => [l.node.id, ...l.downstream.map((d) => d.id)]))];
      setDown((d) => d && { ...d, preview: all, previewError: undefined });
    } catch (e) {
      setDown((d) => d && { ...d, preview: undefined, previewError: e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : errorMessage(e) });
    }
  }

  const dialog = (
    <>
      <Modal open={!!pending} confirmLoading={busy} okText={t('op.confirm')} cancelText={t('op.cancel')} okButtonProps={{ danger: true, id: 'op-confirm' }}
        title={pending ? t('op.confirmTitle', { op: opLabel(t, pending.op), target: pending.target }) : ''}
        onOk={() => pending && exec(pending, reason)} onCancel={() => setPending(null)}>
        <Input.TextArea rows={2} placeholder={t('op.reason')} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="op-reason" />
      </Modal>
      <Modal open={!!down} width={640} confirmLoading={busy} okText={t('op.confirm')} cancelText={t('op.cancel')}
        okButtonProps={{ danger: true, id: 'downstream-confirm', disabled: !down?.preview }}
        title={opLabel(t, 'rerun-downstream')} onCancel={() => setDown(null)}
        onOk={() => down && exec({ op: 'rerun-downstream', target: down.chosen.join(', '), run: (why) =>
          call(api.POST('/api/v1/runs/{id}/rerun-downstream', { params: { path: { id: down.run } }, body: { nodes: down.chosen, reason: why } })) }, reason)}>
        {down && (
          <Space direction="vertical" style={{ width: '100%' }}>
            <Typography.Text>{t('topo.downstreamPick')}</Typography.Text>
            <Select mode="multiple" style={{ width: '100%' }} value={down.chosen} data-testid="downstream-nodes"
              options={down.nodes.filter((n) => n.type === 'task').map((n) => ({ value: n.id, label: n.name || n.id }))}
              onChange={(v: string[]) => setDown({ ...down, chosen: v, preview: undefined, previewError: undefined })} />
            <a onClick={() => void preview(down.run, down.chosen)} data-testid="downstream-preview">{t('topo.preview')}</a>
            {down.previewError && <Typography.Text type="danger" data-testid="downstream-error">{down.previewError}</Typography.Text>}
            {down.preview && (
              <List size="small" bordered header={t('topo.willRun', { count: down.preview.length })} data-testid="downstream-plan"
                style={{ maxHeight: 200, overflow: 'auto' }} dataSource={down.preview} renderItem={(n) => <List.Item>{n}</List.Item>} />
            )}
            <Input.TextArea rows={2} placeholder={t('op.reason')} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="downstream-reason" />
          </Space>
        )}
      </Modal>
    </>
  );
  return { start, dialog, rerunDownstream };
}
