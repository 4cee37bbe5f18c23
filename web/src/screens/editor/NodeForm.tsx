import { Checkbox, Form, Input, InputNumber, Select, Typography } from 'antd';
import CodeMirror from '@uiw/react-codemirror';
import { StreamLanguage } from '@codemirror/language';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { useTranslation } from 'react-i18next';
import type { FlowNode } from '../../api/client';

const shellLang = StreamLanguage.define(shell);

/** The form of one node; every change produces a new node value. */
export function NodeForm({ node, onChange, readOnly }: { node: FlowNode; onChange: (n: FlowNode) => void; readOnly: boolean }) {
  const { t } = useTranslation();
  const task = node.task;
  const setTask = (patch: Partial<NonNullable<FlowNode['task']>>) => onChange({ ...node, task: { ...task!, ...patch } });
  return (
    <Form layout="vertical" size="small" disabled={readOnly} data-testid="node-form">
      <Form.Item label={t('editor.nodeId')}><Typography.Text code>{node.id}</Typography.Text> <Typography.Text type="secondary">{node.type}{task ? ` · ${task.kind}` : ''}</Typography.Text></Form.Item>
      <Form.Item label={t('editor.nodeName')}>
        <Input value={node.name ?? ''} onChange={(e) => onChange({ ...node, name: e.target.value || undefined })} data-testid="node-name" />
      </Form.Item>
      {node.type === 'task' && (
        <>
          {task?.kind === 'shell' && (
            <Form.Item label={t('editor.script')}>
              <div data-testid="node-script" style={{ border: '1px solid #d9d9d9' }}>
                <CodeMirror value={task.shell?.script ?? ''} height="180px" extensions={[shellLang]} editable={!readOnly}
                  onChange={(v) => setTask({ shell: { ...task.shell, script: v } })} basicSetup={{ foldGutter: false }} />
              </div>
            </Form.Item>
          )}
          {task?.kind === 'http' && (
            <>
              <Form.Item label={t('editor.method')}>
                <Select value={task.http?.method ?? 'GET'} options={['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'].map((m) => ({ value: m, label: m }))}
                  onChange={(m) => setTask({ http: { ...task.http!, method: m } })} />
              </Form.Item>
              <Form.Item label={t('editor.url')}>
                <Input value={task.http?.url ?? ''} onChange={(e) => setTask({ http: { ...task.http!, url: e.target.value } })} data-testid="node-url" />
              </Form.Item>
            </>
          )}
          {task?.kind === 'sleep' && (
            <Form.Item label={t('editor.duration')}>
              <Input value={task.sleep?.duration ?? ''} onChange={(e) => setTask({ sleep: { duration: e.target.value } })} />
            </Form.Item>
          )}
          <Form.Item label={t('editor.timeout')}>
            <Input placeholder="10m" value={node.timeout ?? ''} onChange={(e) => onChange({ ...node, timeout: e.target.value || undefined })} />
          </Form.Item>
          <Form.Item label={t('editor.retries')}>
            <InputNumber min={0} max={100} value={node.retry?.max_attempts ?? 0}
              onChange={(v) => onChange({ ...node, retry: v ? { ...node.retry, max_attempts: v } : undefined })} />
          </Form.Item>
          <Form.Item>
            <Checkbox checked={!!node.core} onChange={(e) => onChange({ ...node, core: e.target.checked || undefined })}>{t('editor.core')}</Checkbox>
          </Form.Item>
        </>
      )}
    </Form>
  );
}
