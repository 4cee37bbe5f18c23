// The fields of a task (TaskSpec): the inline task of a flow node, a
// node's rollback, and a stand-alone task all use this form. Checks here
// only mirror what the API enforces (internal/dag/validate.go); the API's
// answer stays the authority.
import { useCallback, useEffect, useRef } from 'react';
import { Checkbox, Divider, Form, Input, InputNumber, Radio, Select, Typography } from 'antd';
import CodeMirror from '@uiw/react-codemirror';
import { StreamLanguage } from '@codemirror/language';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { useTranslation } from 'react-i18next';
import type { Schemas } from '../../api/client';
import { KeyValues } from './KeyValues';

export type TaskSpec = Schemas['Task'];
export type Retry = Schemas['Retry'];
type Kind = TaskSpec['kind'];

// Stable across renders: CodeMirror reconfigures the whole editor whenever
// its extensions, setup or onChange change identity, which made each
// keystroke cost a reconfiguration.
const shellExtensions = [StreamLanguage.define(shell)];
const setup = { foldGutter: false };

/** A shell script editor (CodeMirror) whose props keep their identity between renders. */
function ScriptEditor({ value, onChange, height, readOnly }: { value: string; onChange: (v: string) => void; height: string; readOnly: boolean }) {
  const latest = useRef(onChange);
  useEffect(() => { latest.current = onChange; }, [onChange]);
  const change = useCallback((v: string) => latest.current(v), []);
  return <CodeMirror value={value} height={height} extensions={shellExtensions} editable={!readOnly} onChange={change} basicSetup={setup} />;
}
const durationRe = /^(\d+d|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/;

/** Whether s is a duration the API accepts ("90s", "1h30m", "2d"); empty is unset. */
export function durationOK(s: string | undefined): boolean {
  return !s || durationRe.test(s.trim());
}

/** The spec a task of this kind starts with. */
export function defaultSpec(kind: Kind): Partial<TaskSpec> {
  switch (kind) {
    case 'shell': return { shell: { script: 'echo "bizdate $BATON_BIZDATE"\n' } };
    case 'http': return { http: { method: 'GET', url: 'http://127.0.0.1:8080/healthz' } };
    case 'sleep': return { sleep: { duration: '5s' } };
    default: return {};
  }
}

/** Drops undefined and empty-string fields so the body carries only what was set. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;
}

export function DurationInput({ value, onChange, placeholder, testid, disabled }: {
  value?: string; onChange: (v: string | undefined) => void; placeholder?: string; testid?: string; disabled?: boolean;
}) {
  const { t } = useTranslation();
  const ok = durationOK(value);
  return (
    <>
      <Input value={value ?? ''} placeholder={placeholder} status={ok ? undefined : 'error'} disabled={disabled}
        onChange={(e) => onChange(e.target.value.trim() || undefined)} data-testid={testid} />
      {!ok && <Typography.Text type="danger" style={{ fontSize: 12 }}>{t('editor.badDuration')}</Typography.Text>}
    </>
  );
}

/** Attempts (counting the first; 0 and unset mean one), initial interval, backoff, maximum interval. */
export function RetryFields({ retry, onChange, testid, disabled }: {
  retry?: Retry; onChange: (r: Retry | undefined) => void; testid: string; disabled?: boolean;
}) {
  const { t } = useTranslation();
  const set = (patch: Partial<Retry>) => {
    const r = clean({ ...retry, ...patch });
    onChange(Object.keys(r).length ? r : undefined);
  };
  return (
    <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
      <Form.Item label={t('editor.retries')} style={{ marginBottom: 4 }}>
        <InputNumber min={1} max={100} precision={0} value={retry?.max_attempts || 1} style={{ width: '100%' }} disabled={disabled}
          onChange={(v) => set({ max_attempts: v && v > 1 ? v : undefined })} data-testid={`${testid}-attempts`} />
      </Form.Item>
      <Form.Item label={t('editor.backoff')} style={{ marginBottom: 4 }}>
        <InputNumber min={1} step={0.5} value={retry?.backoff || null} placeholder="2" style={{ width: '100%' }} disabled={disabled}
          onChange={(v) => set({ backoff: v || undefined })} data-testid={`${testid}-backoff`} />
      </Form.Item>
      <Form.Item label={t('editor.initialInterval')} style={{ marginBottom: 4 }}>
        <DurationInput value={retry?.initial_interval} placeholder="1s" onChange={(v) => set({ initial_interval: v })} testid={`${testid}-initial`} disabled={disabled} />
      </Form.Item>
      <Form.Item label={t('editor.maxInterval')} style={{ marginBottom: 4 }}>
        <DurationInput value={retry?.max_interval} placeholder="1m" onChange={(v) => set({ max_interval: v })} testid={`${testid}-max`} disabled={disabled} />
      </Form.Item>
    </div>
  );
}

/**
 * A task's fields. nested is a rollback: it may be shell or http only and has
 * no rollback of its own (the API refuses both). formKey resets the tables
 * when another task is shown.
 */
export function TaskSpecForm({ task, onChange, readOnly, nested, testid = 'task', formKey }: {
  task: TaskSpec; onChange: (t: TaskSpec) => void; readOnly: boolean; nested?: boolean; testid?: string; formKey: string;
}) {
  const { t } = useTranslation();
  const set = (patch: Partial<TaskSpec>) => onChange(clean({ ...task, ...patch }));
  const kinds: Kind[] = nested ? ['shell', 'http'] : ['shell', 'http', 'noop', 'sleep'];
  const mode = task.mode ?? 'single';
  return (
    <>
      <Form.Item label={t('editor.kind')}>
        <Select value={task.kind} data-testid={`${testid}-kind`} options={kinds.map((k) => ({ value: k, label: t(`editor.${k}`) }))}
          onChange={(k: Kind) => onChange(clean({ ...defaultSpec(k), ...task, kind: k }))} />
      </Form.Item>
      {task.kind === 'shell' && (
        <>
          <Form.Item label={t('editor.script')}>
            <div data-testid={nested ? `${testid}-script` : 'node-script'} style={{ border: '1px solid #d9d9d9' }}>
              <ScriptEditor value={task.shell?.script ?? ''} height={nested ? '90px' : '180px'} readOnly={readOnly}
                onChange={(v) => set({ shell: { ...task.shell, script: v } })} />
            </div>
            {!task.shell?.script?.trim() && <Typography.Text type="danger" style={{ fontSize: 12 }}>{t('editor.required')}</Typography.Text>}
          </Form.Item>
          <Form.Item label={t('editor.interpreter')}>
            <Input value={task.shell?.shell ?? ''} placeholder="/bin/sh"
              onChange={(e) => set({ shell: clean({ script: task.shell?.script ?? '', shell: e.target.value || undefined }) })} />
          </Form.Item>
        </>
      )}
      {task.kind === 'http' && (
        <>
          <Form.Item label={t('editor.request')}>
            <Input.Group compact style={{ display: 'flex' }}>
              <Select value={task.http?.method || 'GET'} style={{ width: 100 }} data-testid={`${testid}-method`}
                options={['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'].map((m) => ({ value: m, label: m }))}
                onChange={(m) => set({ http: { ...task.http!, method: m } })} />
              <Input value={task.http?.url ?? ''} style={{ flex: 1 }} placeholder="https://…" data-testid={nested ? `${testid}-url` : 'node-url'}
                status={task.http?.url && !/^https?:\/\/[^/]/i.test(task.http.url) ? 'error' : undefined}
                onChange={(e) => set({ http: { ...task.http!, url: e.target.value } })} />
            </Input.Group>
          </Form.Item>
          <Form.Item label={t('editor.headers')}>
            <KeyValues key={`${formKey}:headers`} value={task.http?.headers} keyPlaceholder="Header" disabled={readOnly} testid={`${testid}-headers`}
              onChange={(h) => set({ http: clean({ ...task.http!, headers: h }) })} />
          </Form.Item>
          <Form.Item label={t('editor.body')}>
            <Input.TextArea rows={3} value={task.http?.body ?? ''} data-testid={`${testid}-body`}
              onChange={(e) => set({ http: clean({ ...task.http!, body: e.target.value || undefined }) })} />
          </Form.Item>
          <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
            <Form.Item label={t('editor.expectStatus')}>
              <Select mode="tags" value={(task.http?.expect_status ?? []).map(String)} placeholder="2xx" tokenSeparators={[',', ' ']} data-testid={`${testid}-expect`}
                onChange={(v: string[]) => {
                  const codes = v.map(Number).filter((n) => Number.isInteger(n) && n >= 100 && n <= 599);
                  set({ http: clean({ ...task.http!, expect_status: codes.length ? codes : undefined }) });
                }} />
            </Form.Item>
            <Form.Item label={t('editor.requestTimeout')}>
              <DurationInput value={task.http?.timeout} placeholder="30s" onChange={(v) => set({ http: clean({ ...task.http!, timeout: v }) })} />
            </Form.Item>
          </div>
        </>
      )}
      {task.kind === 'sleep' && (
        <Form.Item label={t('editor.duration')}>
          <DurationInput value={task.sleep?.duration} placeholder="5s" onChange={(v) => set({ sleep: { duration: v ?? '' } })} testid={`${testid}-sleep`} />
        </Form.Item>
      )}
      <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
        <Form.Item label={t('editor.timeout')} tooltip={t('editor.timeoutHint')}>
          <DurationInput value={task.timeout} placeholder="10m" onChange={(v) => set({ timeout: v })} testid={`${testid}-timeout`} />
        </Form.Item>
        <Form.Item label={t('editor.grace')} tooltip={t('editor.graceHint')}>
          <DurationInput value={task.grace} placeholder="10s" onChange={(v) => set({ grace: v })} testid={`${testid}-grace`} />
        </Form.Item>
      </div>
      {!nested && (
        <>
          <Form.Item label={t('editor.workerGroup')}>
            <Input value={task.group ?? ''} placeholder="default" onChange={(e) => set({ group: e.target.value || undefined })} />
          </Form.Item>
          <Form.Item label={t('editor.mode')}>
            <Radio.Group value={mode} optionType="button" size="small" data-testid={`${testid}-mode`}
              options={(['single', 'broadcast', 'sharding'] as const).map((m) => ({ value: m, label: <span data-testid={`${testid}-mode-${m}`}>{t(`editor.mode_${m}`)}</span> }))}
              // Only a sharding task may carry shards and shard params.
              onChange={(e) => set(e.target.value === 'sharding'
                ? { mode: 'sharding', shards: task.shards || 2 }
                : { mode: e.target.value === 'single' ? undefined : e.target.value, shards: undefined, shard_params: undefined, success_rate: e.target.value === 'single' ? undefined : task.success_rate })} />
          </Form.Item>
          {mode === 'sharding' && (
            <>
              <Form.Item label={t('editor.shards')}>
                <InputNumber min={1} max={1000} precision={0} value={task.shards} onChange={(v) => set({ shards: v ?? undefined })} data-testid={`${testid}-shards`} />
              </Form.Item>
              <Form.Item label={t('editor.shardParams')} extra={t('editor.shardParamsHint')}
                validateStatus={task.shard_params?.length && task.shard_params.length !== task.shards ? 'error' : undefined}>
                <Input.TextArea rows={3} value={(task.shard_params ?? []).join('\n')} data-testid={`${testid}-shard-params`}
                  onChange={(e) => {
                    const lines = e.target.value.split('\n');
                    set({ shard_params: lines.length === 1 && lines[0] === '' ? undefined : lines });
                  }} />
              </Form.Item>
            </>
          )}
          {mode !== 'single' && (
            <Form.Item label={t('editor.successRate')} extra={t('editor.successRateHint')}>
              <InputNumber min={0} max={100} precision={0} addonAfter="%" value={task.success_rate} onChange={(v) => set({ success_rate: v || undefined })} data-testid={`${testid}-success-rate`} />
            </Form.Item>
          )}
          <Divider plain style={{ margin: '8px 0' }}>{t('editor.retry')}</Divider>
          <RetryFields retry={task.retry} onChange={(r) => set({ retry: r })} testid={`${testid}-retry`} disabled={readOnly} />
          <Divider plain style={{ margin: '8px 0' }}>{t('editor.params')}</Divider>
          <KeyValues key={`${formKey}:params`} value={task.params} disabled={readOnly} testid={`${testid}-params`} onChange={(p) => set({ params: p })} />
          <Divider plain style={{ margin: '8px 0' }}>{t('editor.rollback')}</Divider>
          <Checkbox checked={!!task.rollback} data-testid={`${testid}-has-rollback`}
            onChange={(e) => set({ rollback: e.target.checked ? { kind: 'shell', ...defaultSpec('shell') } : undefined })}>
            {t('editor.hasRollback')}
          </Checkbox>
          {task.rollback && (
            <div style={{ borderLeft: '3px solid #faad14', paddingLeft: 8, marginTop: 8 }}>
              <TaskSpecForm task={task.rollback} nested readOnly={readOnly} testid={`${testid}-rollback`} formKey={`${formKey}:rollback`}
                onChange={(r) => set({ rollback: r })} />
            </div>
          )}
        </>
      )}
    </>
  );
}
