// 重跑下游: rerun the chosen nodes and everything downstream of them, in
// this run. The picker offers the nodes the server would accept (task
// nodes that failed, stopped, timed out, succeeded, or never ran); the
// dry run (POST /runs/{id}/rerun-downstream?dry_run=true) shows what the
// server plans before anything changes; a 409 names the nodes in the way.
import { useMemo, useState } from 'react';
import { Alert, App, Button, Input, Modal, Select, Space, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type RunDetail } from '../../api/client';
import { refusal } from './refusal';

const eligible = (status: string, ran: boolean) =>
  ['failed', 'stopped', 'timeout', 'success'].includes(status) || ((status === 'waiting' || status === 'skipped') && !ran);

/** Run statuses whose workflow takes node operations (internal/control runOpenFor). */
export const nodeOpsOpen = new Set(['running', 'paused', 'failed', 'stopped', 'timeout', 'waiting']);

export function RerunDownstream({ run, edges, logic, onClose, onDone }: {
  run: RunDetail;
  edges: { from: string; to: string }[];
  /** Logic (and/or) nodes: the server refuses them as a choice. */
  logic: Set<string>;
  onClose: () => void;
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [nodes, setNodes] = useState<string[]>([]);
  const [reason, setReason] = useState('');
  const [plan, setPlan] = useState<string[] | null>(null);
  const [error, setError] = useState<{ text: string; offending: { id: string; status: string }[] } | null>(null);
  const [busy, setBusy] = useState(false);

  const options = useMemo(() => run.nodes
    .filter((n) => !logic.has(n.id) && eligible(n.status, n.instances.length > 0))
    .map((n) => ({ value: n.id, label: `${n.id} (${t(`status.${n.status}`)})` })), [run.nodes, logic, t]);
  // What runs again: the chosen nodes and their downstream closure.
  const downstream = useMemo(() => {
    const next = new Map<string, string[]>();
    for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const out = new Set(nodes);
    const stack = [...nodes];
    while (stack.length) for (const n of next.get(stack.pop()!) ?? []) if (!out.has(n)) { out.add(n); stack.push(n); }
    return [...out];
  }, [nodes, edges]);

  async function send(dryRun: boolean) {
    setBusy(true);
    setError(null);
    try {
      const r = await call(api.POST('/api/v1/runs/{id}/rerun-downstream', {
        params: { path: { id: run.id }, query: dryRun ? { dry_run: true } : {} }, body: { nodes, reason },
      }));
      if (dryRun) setPlan(r.plan.nodes);
      else {
        message.success(t('op.done', { op: t('rerunDown.title') }));
        onDone();
        onClose();
      }
    } catch (e) {
      setError(refusal(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open title={t('rerunDown.title')} onCancel={onClose} width={640}
      footer={<Space>
        <Button onClick={onClose}>{t('op.cancel')}</Button>
        <Button disabled={!nodes.length} loading={busy} onClick={() => send(true)} data-testid="rerun-down-preview">{t('rerunDown.preview')}</Button>
        <Button danger type="primary" disabled={!nodes.length || !plan} loading={busy} onClick={() => send(false)} data-testid="rerun-down-confirm">{t('op.confirm')}</Button>
      </Space>}>
      <Space direction="vertical" style={{ width: '100%' }}>
        <Typography.Text type="secondary">{t('rerunDown.hint')}</Typography.Text>
        <Select mode="multiple" style={{ width: '100%' }} placeholder={t('rerunDown.pick')} value={nodes} options={options}
          onChange={(v) => { setNodes(v); setPlan(null); }} data-testid="rerun-down-nodes" />
        {nodes.length > 0 && (
          <div><Typography.Text>{t('rerunDown.closure')}</Typography.Text> <Space wrap size={4}>{downstream.map((n) => <Tag key={n}>{n}</Tag>)}</Space></div>
        )}
        {plan && (
          <Alert type="info" data-testid="rerun-down-plan" message={<span>{t('rerunDown.plan')} <Space wrap size={4}>{plan.map((n) => <Tag color="blue" key={n}>{n}</Tag>)}</Space></span>} />
        )}
        <Input.TextArea rows={2} placeholder={t('op.reason')} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="rerun-down-reason" />
        {error && (
          <Alert type="error" data-testid="rerun-down-error" message={error.text}
            description={error.offending.length > 0 && <Space wrap size={4}>{error.offending.map((o) => <Tag color="error" key={o.id}>{o.id}: {o.status}</Tag>)}</Space>} />
        )}
      </Space>
    </Modal>
  );
}
