// The form editor of a stand-alone task: the fields a flow node's inline
// task has (TaskSpecForm), its schedule, and its saved versions. Saving
// makes a new version; the API's problems are listed by field.
import { useMemo, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Form, Input, Row, Select, Space, Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { api, ApiError, call, errorMessage, type Problem, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime } from '../../shell/StatusTag';
import { changedPaths, valueAt } from '../editor/diff';
import { defaultSpec, TaskSpecForm, type TaskSpec } from '../editor/TaskSpecForm';
import { TriggerForm } from '../editor/TriggerForm';
import { RunDialog, type RunTarget } from '../flows/RunDialog';
import { AlertRulesForm } from '../alerts/AlertRules';

type TaskView = Schemas['TaskView'];
type TaskBody = Schemas['TaskBody'];

function bodyOf(v?: TaskView): TaskBody {
  if (!v) return { name: '', kind: 'shell', ...defaultSpec('shell') };
  // The stored state (id, version, enabled, times) is not part of the body.
  const meta = new Set(['id', 'version', 'enabled', 'created_at', 'updated_at', 'created_by', 'updated_by', 'deleted_at']);
  return Object.fromEntries(Object.entries(v).filter(([k]) => !meta.has(k))) as TaskBody;
}

/** The task's versions; two picked ones are compared field by field. */
function TaskVersions({ id }: { id: string }) {
  const { t } = useTranslation();
  const versions = useQuery({
    queryKey: ['task-versions', id],
    queryFn: () => call(api.GET('/api/v1/tasks/{id}/versions', { params: { path: { id }, query: { limit: 100 } } })),
  });
  const items = versions.data?.items ?? [];
  const [pa, setA] = useState<number>();
  const [pb, setB] = useState<number>();
  const vb = pb ?? items[0]?.version;
  const va = pa ?? items[1]?.version ?? vb;
  const a = items.find((v) => v.version === va);
  const b = items.find((v) => v.version === vb);
  const rows = useMemo(() => (a && b ? changedPaths(a.task, b.task).map((f) => ({ f, a: valueAt(a.task, f), b: valueAt(b.task, f) })) : []), [a, b]);
  const opts = items.map((v) => ({ value: v.version, label: `v${v.version} · ${v.created_by} · ${fmtTime(v.created_at)}` }));
  return (
    <Card size="small" title={t('tasks.versions')} data-testid="task-versions">
      {versions.error && <Alert type="error" message={errorMessage(versions.error)} />}
      <Space wrap style={{ marginBottom: 8 }}>
        <Select value={va} onChange={setA} options={opts} style={{ width: 260 }} data-testid="task-diff-a" />
        <span>→</span>
        <Select value={vb} onChange={setB} options={opts} style={{ width: 260 }} data-testid="task-diff-b" />
      </Space>
      <Table size="small" pagination={false} rowKey="f" dataSource={rows} data-testid="task-diff" locale={{ emptyText: t('editor.noDiff') }}
        columns={[
          { title: t('editor.diffField'), dataIndex: 'f', render: (s: string) => <Typography.Text code>{s}</Typography.Text> },
          { title: `v${va ?? ''}`, dataIndex: 'a', render: (s: string) => <Typography.Text type="secondary" delete={s !== '—'} style={{ fontFamily: 'monospace' }}>{s}</Typography.Text> },
          { title: `v${vb ?? ''}`, dataIndex: 'b', render: (s: string) => <Typography.Text style={{ fontFamily: 'monospace' }}>{s}</Typography.Text> },
        ]} />
    </Card>
  );
}

function TaskEditor({ id, initial }: { id?: string; initial?: TaskView }) {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [body, setBody] = useState<TaskBody>(() => bodyOf(initial));
  const [version, setVersion] = useState(initial?.version);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [status, setStatus] = useState<{ type: 'success' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [runOf, setRunOf] = useState<RunTarget | null>(null);
  const set = (patch: Partial<TaskBody>) => {
    setProblems([]);
    const n = { ...body, ...patch };
    for (const k of Object.keys(patch) as (keyof TaskBody)[]) if (n[k] === undefined || n[k] === '') delete n[k];
    setBody({ ...n, name: n.name ?? '' });
  };

  async function save() {
    setBusy(true);
    setStatus(null);
    try {
      if (id) {
        const v = await call(api.PUT('/api/v1/tasks/{id}', { params: { path: { id } }, body }));
        setVersion(v.version);
        setStatus({ type: 'success', text: t('tasks.saved', { version: v.version }) });
        void qc.invalidateQueries({ queryKey: ['task-versions', id] });
      } else {
        const v = await call(api.POST('/api/v1/tasks', { body }));
        message.success(t('tasks.saved', { version: v.version }));
        navigate(`/tasks/${v.id}/edit`, { replace: true });
      }
      setProblems([]);
      void qc.invalidateQueries({ queryKey: ['tasks'] });
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) {
        setProblems(e.problems);
        setStatus({ type: 'error', text: t('editor.problems', { count: e.problems.length }) });
      } else setStatus({ type: 'error', text: errorMessage(e) });
    } finally {
      setBusy(false);
    }
  }

  const spec: TaskSpec = body;
  return (
    <Space direction="vertical" style={{ width: '100%' }} size="middle">
      <Card size="small">
        <Space wrap>
          <Link to="/tasks">← {t('tasks.back')}</Link>
          <Typography.Text strong>{t('tasks.editTitle')}</Typography.Text>
          {version !== undefined && <Tag data-testid="task-version">v{version}</Tag>}
          {canMutate && <Button type="primary" size="small" onClick={save} loading={busy} data-testid="task-save">{t('tasks.save')}</Button>}
          {canMutate && id && <Button size="small" onClick={() => setRunOf({ kind: 'tasks', id, name: body.name, test: false })} data-testid="task-run">{t('tasks.runOnce')}</Button>}
          {canMutate && id && <Button size="small" onClick={() => setRunOf({ kind: 'tasks', id, name: body.name, test: true })} data-testid="task-test">{t('tasks.testRun')}</Button>}
          {id && <Link to={`/runs?definition=${encodeURIComponent(id)}`}>{t('tasks.runs')}</Link>}
        </Space>
        {status && (
          <Alert style={{ marginTop: 8 }} type={status.type} showIcon message={status.text} data-testid="task-status"
            description={problems.length > 0 && (
              <ul style={{ margin: 0, paddingLeft: 18 }}>
                {problems.map((p, i) => <li key={i} data-testid={`task-problem-${i}`}>{p.path ? `${p.path}: ` : ''}{p.message}</li>)}
              </ul>
            )} />
        )}
      </Card>
      <Row gutter={16}>
        <Col xs={24} lg={12}>
          <Card size="small" title={t('tasks.spec')}>
            <Form layout="vertical" size="small" disabled={!canMutate} data-testid="task-form">
              <Form.Item label={t('tasks.name')} required>
                <Input value={body.name} onChange={(e) => set({ name: e.target.value })} data-testid="task-name" />
              </Form.Item>
              <Form.Item label={t('tasks.description')}>
                <Input.TextArea rows={2} value={body.description ?? ''} onChange={(e) => set({ description: e.target.value })} data-testid="task-description" />
              </Form.Item>
              <TaskSpecForm task={spec} readOnly={!canMutate} formKey={`task:${id ?? 'new'}`} onChange={(s) => setBody({ ...s, name: body.name, description: body.description, trigger: body.trigger, alerts: body.alerts } as TaskBody)} />
            </Form>
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Space direction="vertical" style={{ width: '100%' }} size="middle">
            <Card size="small" title={t('tasks.schedule')}>
              <TriggerForm value={body.trigger} readOnly={!canMutate} onChange={(tr) => set({ trigger: tr })} />
            </Card>
            <Card size="small" title={t('alerts.rules')} data-testid="task-alerts">
              <AlertRulesForm value={body.alerts} readOnly={!canMutate} problems={problems}
                onChange={(r) => set({ alerts: r })} />
            </Card>
            {id && <TaskVersions key={version} id={id} />}
          </Space>
        </Col>
      </Row>
      <RunDialog target={runOf} onClose={() => setRunOf(null)} />
    </Space>
  );
}

export function TaskEditorScreen() {
  const { id } = useParams();
  const existing = useQuery({
    queryKey: ['task', id],
    enabled: !!id,
    queryFn: () => call(api.GET('/api/v1/tasks/{id}', { params: { path: { id: id! } } })),
  });
  if (existing.error) return <Alert type="error" message={errorMessage(existing.error)} />;
  if (id && !existing.data) return null;
  return <TaskEditor key={id ?? 'new'} id={id} initial={existing.data} />;
}
