// 补数据: run a flow for a range of business dates, a node and its
// downstream or a chosen set, serial or parallel, with a dry-run preview of
// the dates and nodes before anything starts.
import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, App, Button, DatePicker, Descriptions, Form, Input, InputNumber, Modal, Radio, Select, Space, Tag } from 'antd';
import type { Dayjs } from 'dayjs';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, call, errorMessage, type Schemas } from '../../api/client';

interface Values {
  range: [Dayjs, Dayjs];
  step?: string;
  order: 'asc' | 'desc';
  parallel: number;
  /** all nodes, one node and everything downstream of it, or a chosen set. */
  scope: 'all' | 'downstream' | 'set';
  node?: string;
  nodes?: string[];
}

/**
 * flow: the definition (a flow, or a task with kind task); initial: the
 * values to start from (backfill from a run: its bizdate and node).
 */
export function BackfillDialog({ flow, kind = 'flow', initial, onClose }: {
  flow: { id: string; name: string };
  kind?: 'flow' | 'task';
  initial?: { from?: string; to?: string; node?: string };
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [form] = Form.useForm<Values>();
  const [preview, setPreview] = useState<Schemas['BackfillDryRun'] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const def = useQuery({
    queryKey: ['flow', flow.id],
    enabled: kind === 'flow',
    queryFn: () => call(api.GET('/api/v1/flows/{id}', { params: { path: { id: flow.id } } })),
  });
  const scope = Form.useWatch('scope', form);
  const nodeOptions = (def.data?.nodes ?? []).map((n) => ({ value: n.id, label: n.name && n.name !== n.id ? `${n.name} (${n.id})` : n.id }));

  function body(v: Values): Schemas['BackfillBody'] {
    const nodes = v.scope === 'downstream' && v.node ? [v.node] : v.scope === 'set' && v.nodes?.length ? v.nodes : undefined;
    return {
      kind, definition_id: flow.id,
      from: v.range[0].format('YYYY-MM-DD'), to: v.range[1].format('YYYY-MM-DD'),
      step: v.step || undefined, order: v.order, parallel: v.parallel,
      nodes, downstream: nodes ? v.scope === 'downstream' : undefined,
    };
  }

  async function send(dryRun: boolean) {
    setError('');
    let v: Values;
    try {
      v = await form.validateFields();
    } catch {
      return;
    }
    setBusy(true);
    try {
      if (dryRun) {
        const r = await call(api.POST('/api/v1/backfills', { params: { query: { dry_run: true } }, body: body(v) }));
        setPreview(r as Schemas['BackfillDryRun']);
      } else {
        const r = (await call(api.POST('/api/v1/backfills', { body: body(v) }))) as Schemas['Backfill'];
        message.success(t('backfill.started', { id: r.id.slice(0, 8) }));
        onClose();
        navigate(`/runs?trigger=backfill&backfill_id=${encodeURIComponent(r.id)}`);
      }
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open title={t('backfill.title', { name: flow.name })} onCancel={onClose} width={640} confirmLoading={busy}
      okText={t('backfill.start')} onOk={() => send(false)} okButtonProps={{ id: 'backfill-start' }}
      footer={(_, { OkBtn, CancelBtn }) => (
        <Space>
          <CancelBtn />
          <Button onClick={() => send(true)} data-testid="backfill-preview">{t('backfill.preview')}</Button>
          <OkBtn />
        </Space>
      )}>
      <Form form={form} layout="vertical" onValuesChange={() => setPreview(null)}
        initialValues={{
          order: 'asc', parallel: 1, scope: initial?.node ? 'downstream' : 'all', node: initial?.node,
          range: initial?.from ? [dayjs(initial.from), dayjs(initial.to ?? initial.from)] : undefined,
        }}>
        <Form.Item name="range" label={t('backfill.range')} rules={[{ required: true }]}>
          <DatePicker.RangePicker />
        </Form.Item>
        <Space size="large" wrap>
          <Form.Item name="step" label={t('backfill.step')}><Input placeholder="1d" style={{ width: 100 }} /></Form.Item>
          <Form.Item name="order" label={t('backfill.order')}>
            <Radio.Group options={[{ value: 'asc', label: t('backfill.asc') }, { value: 'desc', label: t('backfill.desc') }]} optionType="button" />
          </Form.Item>
          <Form.Item name="parallel" label={t('backfill.parallel')} tooltip={t('backfill.parallelHint')}>
            <InputNumber min={1} max={50} />
          </Form.Item>
        </Space>
        {kind === 'flow' && (
          <>
            <Form.Item name="scope" label={t('backfill.nodes')}>
              <Radio.Group data-testid="backfill-scope" options={[
                { value: 'all', label: t('backfill.allNodes') },
                { value: 'downstream', label: t('backfill.nodeDownstream') },
                { value: 'set', label: t('backfill.chosenSet') },
              ]} />
            </Form.Item>
            {scope === 'downstream' && (
              <Form.Item name="node" rules={[{ required: true }]}>
                <Select showSearch placeholder={t('backfill.pickNode')} loading={def.isLoading} options={nodeOptions} data-testid="backfill-node" />
              </Form.Item>
            )}
            {scope === 'set' && (
              <Form.Item name="nodes" rules={[{ required: true }]}>
                <Select mode="multiple" allowClear placeholder={t('backfill.pickNodes')} loading={def.isLoading} options={nodeOptions} data-testid="backfill-nodes" />
              </Form.Item>
            )}
          </>
        )}
      </Form>
      {error && <Alert type="error" message={error} data-testid="backfill-error" />}
      {preview && (
        <Descriptions size="small" column={1} bordered data-testid="backfill-plan" items={[
          { label: t('backfill.dates', { count: preview.dates.length }), children: <Space wrap>{preview.dates.map((d) => <Tag key={d}>{d}</Tag>)}</Space> },
          { label: t('backfill.nodes'), children: <Space wrap>{preview.nodes.map((n) => <Tag key={n}>{n}</Tag>)}</Space> },
          { label: t('backfill.parallel'), children: `${preview.parallel} · ${t(preview.order === 'asc' ? 'backfill.asc' : 'backfill.desc')} · v${preview.version}` },
          { label: t('backfill.totals'), children: t('backfill.totalsValue', { runs: preview.runs, nodeRuns: preview.node_runs }) },
          { label: t('backfill.sequence'), children: <Space wrap size={4}>{preview.preview.slice(0, 12).map((p, k) => <Tag key={p.bizdate} color="blue">{k + 1}. {p.bizdate}</Tag>)}{preview.preview.length > 12 ? '…' : ''}</Space> },
        ]} />
      )}
    </Modal>
  );
}
