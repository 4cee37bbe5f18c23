import { Checkbox, Collapse, Form, Input, Radio, Select, Typography } from 'antd';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { api, call, type FlowNode } from '../../api/client';
import { KeyValues } from './KeyValues';
import { DurationInput, RetryFields, TaskSpecForm, defaultSpec } from './TaskSpecForm';

/** Saved tasks a node may reference (task_id), for the picker. */
function useTaskOptions() {
  return useQuery({
    queryKey: ['tasks', 'picker'],
    queryFn: () => call(api.GET('/api/v1/tasks', { params: { query: { limit: 500 } } })),
    staleTime: 10_000,
  });
}

/** The form of one node; every change produces a new node value. formKey resets its tables (selection change, undo). */
export function NodeForm({ node, onChange, readOnly, formKey }: { node: FlowNode; onChange: (n: FlowNode) => void; readOnly: boolean; formKey: string }) {
  const { t } = useTranslation();
  const isTask = node.type !== 'and' && node.type !== 'or';
  const ref = node.task_id !== undefined && !node.task;
  const tasks = useTaskOptions();
  const set = (patch: Partial<FlowNode>) => {
    const n = { ...node, ...patch };
    for (const k of Object.keys(patch) as (keyof FlowNode)[]) if (n[k] === undefined) delete n[k];
    onChange(n);
  };
  const overrides = [node.timeout, node.retry, node.params].filter(Boolean).length;
  return (
    <Form layout="vertical" size="small" disabled={readOnly} data-testid="node-form">
      <Form.Item label={t('editor.nodeId')} style={{ marginBottom: 8 }}>
        <Typography.Text code>{node.id}</Typography.Text>{' '}
        <Typography.Text type="secondary">{isTask ? (ref ? t('editor.ref') : node.task?.kind) : (node.type ?? '').toUpperCase()}</Typography.Text>
      </Form.Item>
      <Form.Item label={t('editor.nodeName')}>
        <Input value={node.name ?? ''} onChange={(e) => set({ name: e.target.value || undefined })} data-testid="node-name" />
      </Form.Item>
      {!isTask && <Typography.Paragraph type="secondary">{t(`editor.${node.type}Hint`)}</Typography.Paragraph>}
      {isTask && (
        <>
          <Form.Item label={t('editor.source')}>
            <Radio.Group value={ref ? 'ref' : 'inline'} optionType="button" size="small" data-testid="node-source"
              options={[{ value: 'inline', label: <span data-testid="node-source-inline">{t('editor.inline')}</span> },
                { value: 'ref', label: <span data-testid="node-source-ref">{t('editor.ref')}</span> }]}
              onChange={(e) => set(e.target.value === 'ref'
                ? { task: undefined, task_id: '' }
                : { task_id: undefined, task: { kind: 'shell', ...defaultSpec('shell') } })} />
          </Form.Item>
          {ref ? (
            <Form.Item label={t('editor.refTask')} validateStatus={node.task_id ? undefined : 'error'}
              extra={node.task_id ? <Link to={`/tasks/${node.task_id}/edit`}>{t('editor.openTask')}</Link> : t('editor.refHint')}>
              <Select showSearch value={node.task_id || undefined} loading={tasks.isLoading} data-testid="node-task-ref"
                placeholder={t('editor.pickTask')} optionFilterProp="label"
                options={(tasks.data?.items ?? []).map((x) => ({ value: x.id, label: `${x.name} (v${x.version})` }))}
                onChange={(v: string) => set({ task_id: v })} />
            </Form.Item>
          ) : node.task && (
            <TaskSpecForm task={node.task} readOnly={readOnly} formKey={formKey} onChange={(task) => set({ task })} />
          )}
          <Collapse size="small" style={{ marginBottom: 12 }} items={[{
            key: 'o', label: `${t('editor.overrides')}${overrides ? ` (${overrides})` : ''}`,
            children: (
              <>
                <Typography.Paragraph type="secondary" style={{ fontSize: 12 }}>{t('editor.overridesHint')}</Typography.Paragraph>
                <Form.Item label={t('editor.timeout')}>
                  <DurationInput value={node.timeout} placeholder="10m" onChange={(v) => set({ timeout: v })} testid="node-timeout" />
                </Form.Item>
                <RetryFields retry={node.retry} onChange={(r) => set({ retry: r })} testid="node-retry" disabled={readOnly} />
                <Form.Item label={t('editor.params')}>
                  <KeyValues key={`${formKey}:node-params`} value={node.params} disabled={readOnly} testid="node-params" onChange={(p) => set({ params: p })} />
                </Form.Item>
              </>
            ),
          }]} />
          <Form.Item>
            <Checkbox checked={!!node.core} onChange={(e) => set({ core: e.target.checked || undefined })} data-testid="node-core">{t('editor.core')}</Checkbox>
          </Form.Item>
        </>
      )}
    </Form>
  );
}
