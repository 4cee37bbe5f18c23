import { useState } from 'react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Checkbox, DatePicker, Form, Input, Modal, Popconfirm, Space, Switch, Table } from 'antd';
import type { Dayjs } from 'dayjs';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime } from '../../shell/StatusTag';
import { BackfillDialog } from './BackfillDialog';

type Summary = Schemas['DefinitionSummary'];
const PAGE = 20;

/** key=value lines into params; blank lines and lines without = are ignored. */
export function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export function FlowsScreen() {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [page, setPage] = useState(1);
  const [runOf, setRunOf] = useState<{ flow: Summary; test: boolean } | null>(null);
  const [backfillOf, setBackfillOf] = useState<Summary | null>(null);
  const [form] = Form.useForm();

  const flows = useQuery({
    queryKey: ['flows', name, page],
    queryFn: () => call(api.GET('/api/v1/flows', { params: { query: { name: name || undefined, limit: PAGE, offset: (page - 1) * PAGE } } })),
    placeholderData: keepPreviousData,
  });
  const reload = () => void qc.invalidateQueries({ queryKey: ['flows'] });

  async function act(p: Promise<unknown>) {
    try {
      await p;
      reload();
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  async function startRun(v: { bizdate?: Dayjs; params?: string; test?: boolean }) {
    if (!runOf) return;
    try {
      const r = await call(api.POST('/api/v1/flows/{id}/runs', {
        params: { path: { id: runOf.flow.id } },
        body: { bizdate: v.bizdate?.format('YYYY-MM-DD'), params: parseParams(v.params ?? ''), test: !!v.test },
      }));
      message.success(t('flows.started', { id: r.id.slice(0, 8) }));
      setRunOf(null);
      navigate(`/runs/${r.id}`);
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Space>
        <Input.Search placeholder={t('flows.search')} allowClear onSearch={(v) => { setName(v); setPage(1); }} style={{ width: 280 }} data-testid="flows-search" />
        {canMutate && <Button type="primary" onClick={() => navigate('/flows/new')} data-testid="flow-new">{t('flows.new')}</Button>}
      </Space>
      <Table<Summary> rowKey="id" size="small" loading={flows.isLoading} dataSource={flows.data?.items ?? []} data-testid="flows-table"
        pagination={{ current: page, pageSize: PAGE, total: flows.data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        columns={[
          { title: t('flows.name'), dataIndex: 'name', render: (n: string, r) => <Link to={`/flows/${r.id}/edit`} data-testid={`flow-${n}`}>{n}</Link> },
          { title: t('flows.group'), dataIndex: 'group' },
          { title: t('flows.version'), dataIndex: 'version', width: 70 },
          { title: t('flows.trigger'), dataIndex: 'trigger_type', render: (s: string) => t(`trigger.${s}`, { defaultValue: s }) },
          {
            title: t('flows.enabled'), dataIndex: 'enabled',
            render: (on: boolean, r) => (
              <Switch size="small" checked={on} disabled={!canMutate} data-testid={`flow-enabled-${r.name}`}
                onChange={(v) => act(v ? call(api.POST('/api/v1/flows/{id}/enable', { params: { path: { id: r.id } } }))
                  : call(api.POST('/api/v1/flows/{id}/disable', { params: { path: { id: r.id } } })))} />
            ),
          },
          { title: t('flows.updated'), dataIndex: 'updated_at', render: fmtTime },
          {
            title: t('flows.actions'),
            render: (_, r) => (
              <Space size="small">
                <Link to={`/runs?definition=${encodeURIComponent(r.id)}`}>{t('flows.runs')}</Link>
                {canMutate && (
                  <>
                    <a onClick={() => { form.resetFields(); setRunOf({ flow: r, test: false }); }} data-testid={`flow-run-${r.name}`}>{t('flows.runOnce')}</a>
                    <a onClick={() => { form.resetFields(); form.setFieldValue('test', true); setRunOf({ flow: r, test: true }); }}>{t('flows.testRun')}</a>
                    <a onClick={() => setBackfillOf(r)} data-testid={`flow-backfill-${r.name}`}>{t('backfill.open')}</a>
                    <Popconfirm title={t('flows.deleteConfirm', { name: r.name })} okButtonProps={{ danger: true }}
                      onConfirm={() => act(call(api.DELETE('/api/v1/flows/{id}', { params: { path: { id: r.id } } })))}>
                      <a style={{ color: '#ff4d4f' }} data-testid={`flow-delete-${r.name}`}>{t('flows.delete')}</a>
                    </Popconfirm>
                  </>
                )}
              </Space>
            ),
          },
        ]} />
      {backfillOf && <BackfillDialog flow={backfillOf} onClose={() => setBackfillOf(null)} />}
      <Modal open={!!runOf} title={runOf ? t('flows.runDialog', { name: runOf.flow.name }) : ''} onCancel={() => setRunOf(null)}
        onOk={() => form.submit()} okButtonProps={{ id: 'run-dialog-ok' }}>
        <Form form={form} layout="vertical" onFinish={startRun} initialValues={{ test: runOf?.test }}>
          <Form.Item name="bizdate" label={t('flows.bizdate')}><DatePicker /></Form.Item>
          <Form.Item name="params" label={t('flows.params')}><Input.TextArea rows={3} placeholder="region=cn" /></Form.Item>
          <Form.Item name="test" valuePropName="checked"><Checkbox>{t('flows.test')}</Checkbox></Form.Item>
        </Form>
      </Modal>
    </Space>
  );
}
