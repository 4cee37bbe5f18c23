import { App, Checkbox, DatePicker, Form, Input, Modal } from 'antd';
import type { Dayjs } from 'dayjs';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router';
import { api, call, errorMessage } from '../../api/client';

/** key=value lines into params; blank lines and lines without = are ignored. */
export function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export interface RunTarget { kind: 'flows' | 'tasks'; id: string; name: string; test: boolean }

/** Run once or test run of a flow or a task: bizdate and params, then the run's page. */
export function RunDialog({ target, onClose }: { target: RunTarget | null; onClose: () => void }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [form] = Form.useForm();

  async function start(v: { bizdate?: Dayjs; params?: string; test?: boolean }) {
    if (!target) return;
    const body = { bizdate: v.bizdate?.format('YYYY-MM-DD'), params: parseParams(v.params ?? ''), test: !!v.test };
    try {
      const r = target.kind === 'flows'
        ? await call(api.POST('/api/v1/flows/{id}/runs', { params: { path: { id: target.id } }, body }))
        : await call(api.POST('/api/v1/tasks/{id}/runs', { params: { path: { id: target.id } }, body }));
      message.success(t('flows.started', { id: r.id.slice(0, 8) }));
      onClose();
      navigate(`/runs/${r.id}`);
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  return (
    <Modal open={!!target} title={target ? t('flows.runDialog', { name: target.name }) : ''} onCancel={onClose} destroyOnHidden
      onOk={() => form.submit()} okButtonProps={{ id: 'run-dialog-ok' }}>
      <Form form={form} layout="vertical" onFinish={start} initialValues={{ test: target?.test }} key={target ? `${target.id}:${target.test}` : 'none'}>
        <Form.Item name="bizdate" label={t('flows.bizdate')}><DatePicker data-testid="run-dialog-bizdate" /></Form.Item>
        <Form.Item name="params" label={t('flows.params')}><Input.TextArea rows={3} placeholder="region=cn" data-testid="run-dialog-params" /></Form.Item>
        <Form.Item name="test" valuePropName="checked"><Checkbox data-testid="run-dialog-test">{t('flows.test')}</Checkbox></Form.Item>
      </Form>
    </Modal>
  );
}
