// 重跑下游: rerun the chosen nodes and everything downstream of them, in
// this run. One picker for the run-level button and the node menu (which
// opens it with its node chosen). It offers the nodes whose live state
// allows rerun-downstream (their allowed_ops); the dry run
// (POST /runs/{id}/rerun-downstream?dry_run=true) has the server check the
// choice before anything changes, and the preview lists every node that
// runs again (the chosen ones and their downstream in the pinned graph);
// a 409 names the nodes in the way.
import { useMemo, useState } from 'react';
import { Alert, App, Button, Input, List, Modal, Select, Space, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../api/client';
import { refusal } from './refusal';
import type { Topo } from './runView';

/** The chosen nodes and their downstream closure, in the view's (topological) order. */
export function downstreamOf(topo: Pick<Topo, 'nodes' | 'edges'>, chosen: string[]): string[] {
  const next = new Map<string, string[]>();
  for (const [from, to] of topo.edges) next.set(from, [...(next.get(from) ?? []), to]);
  const out = new Set(chosen);
  const stack = [...chosen];
  while (stack.length) for (const n of next.get(stack.pop()!) ?? []) if (!out.has(n)) { out.add(n); stack.push(n); }
  return topo.nodes.filter((n) => out.has(n.id)).map((n) => n.id);
}

export function RerunDownstream({ topo, initial, onClose, onDone }: {
  /** The live view: the nodes' states and allowed_ops, the edges. */
  topo: Topo;
  /** The nodes chosen when it opens (the node menu's node). */
  initial: string[];
  onClose: () => void;
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [nodes, setNodes] = useState<string[]>(initial);
  const [reason, setReason] = useState('');
  const [plan, setPlan] = useState<string[] | null>(null);
  const [error, setError] = useState<{ text: string; offending: { id: string; status: string }[] } | null>(null);
  const [busy, setBusy] = useState(false);

  const options = useMemo(() => topo.nodes
    .filter((n) => n.allowed_ops?.includes('rerun-downstream') || nodes.includes(n.id))
    .map((n) => ({ value: n.id, label: `${n.id} (${t(`status.${n.status}`)})` })), [topo.nodes, nodes, t]);

  async function send(dryRun: boolean) {
    setBusy(true);
    setError(null);
    try {
      const r = await call(api.POST('/api/v1/runs/{id}/rerun-downstream', {
        params: { path: { id: topo.id }, query: dryRun ? { dry_run: true } : {} }, body: { nodes, reason },
      }));
      if (dryRun) setPlan(downstreamOf(topo, r.plan.nodes));
      else {
        message.success(t('op.done', { op: t('rerunDown.title') }));
        onDone();
        onClose();
      }
    } catch (e) {
      setPlan(null);
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
          onChange={(v) => { setNodes(v); setPlan(null); setError(null); }} data-testid="rerun-down-nodes" />
        {plan && (
          <List size="small" bordered header={t('rerunDown.willRun', { count: plan.length })} data-testid="rerun-down-plan"
            style={{ maxHeight: 240, overflow: 'auto' }} dataSource={plan} renderItem={(n) => <List.Item>{n}</List.Item>} />
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
