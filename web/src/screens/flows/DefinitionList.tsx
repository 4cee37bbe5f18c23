// The list of flows or of tasks (the two differ only in their routes):
// search by name, enable/disable, run once or test run, delete with
// confirmation, and a link to each one's runs and editor.
import { useState, type ReactNode } from 'react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Input, Popconfirm, Space, Switch, Table } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime } from '../../shell/StatusTag';
import { RunDialog, type RunTarget } from './RunDialog';

export type Summary = Schemas['DefinitionSummary'];
type Kind = 'flows' | 'tasks';
const PAGE = 20;

function list(kind: Kind, name: string, page: number) {
  const query = { name: name || undefined, limit: PAGE, offset: (page - 1) * PAGE };
  return kind === 'flows' ? call(api.GET('/api/v1/flows', { params: { query } })) : call(api.GET('/api/v1/tasks', { params: { query } }));
}

function setEnabled(kind: Kind, id: string, on: boolean) {
  const params = { path: { id } };
  if (kind === 'flows') return on ? call(api.POST('/api/v1/flows/{id}/enable', { params })) : call(api.POST('/api/v1/flows/{id}/disable', { params }));
  return on ? call(api.POST('/api/v1/tasks/{id}/enable', { params })) : call(api.POST('/api/v1/tasks/{id}/disable', { params }));
}

function remove(kind: Kind, id: string) {
  const params = { path: { id } };
  return kind === 'flows' ? call(api.DELETE('/api/v1/flows/{id}', { params })) : call(api.DELETE('/api/v1/tasks/{id}', { params }));
}

/** kind's i18n prefix is its name (flows., tasks.); test ids start with flow- or task-. */
export function DefinitionList({ kind, extra }: { kind: Kind; extra?: (r: Summary) => ReactNode }) {
  const { t } = useTranslation();
  const { canMutate } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [page, setPage] = useState(1);
  const [runOf, setRunOf] = useState<RunTarget | null>(null);
  const one = kind === 'flows' ? 'flow' : 'task';

  const rows = useQuery({ queryKey: [kind, name, page], queryFn: () => list(kind, name, page), placeholderData: keepPreviousData });
  const reload = () => void qc.invalidateQueries({ queryKey: [kind] });

  async function act(p: Promise<unknown>) {
    try {
      await p;
      reload();
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Space>
        <Input.Search placeholder={t(`${kind}.search`)} allowClear onSearch={(v) => { setName(v); setPage(1); }} style={{ width: 280 }} data-testid={`${kind}-search`} />
        {canMutate && <Button type="primary" onClick={() => navigate(`/${kind}/new`)} data-testid={`${one}-new`}>{t(`${kind}.new`)}</Button>}
      </Space>
      <Table<Summary> rowKey="id" size="small" loading={rows.isLoading} dataSource={rows.data?.items ?? []} data-testid={`${kind}-table`}
        pagination={{ current: page, pageSize: PAGE, total: rows.data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        columns={[
          { title: t(`${kind}.name`), dataIndex: 'name', render: (n: string, r) => <Link to={`/${kind}/${r.id}/edit`} data-testid={`${one}-${n}`}>{n}</Link> },
          { title: t(`${kind}.group`), dataIndex: 'group' },
          { title: t(`${kind}.version`), dataIndex: 'version', width: 70 },
          { title: t(`${kind}.trigger`), dataIndex: 'trigger_type', render: (s: string) => t(`trigger.${s}`, { defaultValue: s }) },
          {
            title: t(`${kind}.enabled`), dataIndex: 'enabled',
            render: (on: boolean, r) => (
              <Switch size="small" checked={on} disabled={!canMutate} data-testid={`${one}-enabled-${r.name}`} onChange={(v) => act(setEnabled(kind, r.id, v))} />
            ),
          },
          { title: t(`${kind}.updated`), dataIndex: 'updated_at', render: fmtTime },
          {
            title: t(`${kind}.actions`),
            render: (_, r) => (
              <Space size="small">
                <Link to={`/runs?definition=${encodeURIComponent(r.id)}`}>{t(`${kind}.runs`)}</Link>
                {canMutate && (
                  <>
                    <a onClick={() => setRunOf({ kind, id: r.id, name: r.name, test: false })} data-testid={`${one}-run-${r.name}`}>{t(`${kind}.runOnce`)}</a>
                    <a onClick={() => setRunOf({ kind, id: r.id, name: r.name, test: true })} data-testid={`${one}-test-${r.name}`}>{t(`${kind}.testRun`)}</a>
                    {extra?.(r)}
                    <Popconfirm title={t(`${kind}.deleteConfirm`, { name: r.name })} okButtonProps={{ danger: true, id: `${one}-delete-ok` }}
                      onConfirm={() => act(remove(kind, r.id))}>
                      <a style={{ color: '#ff4d4f' }} data-testid={`${one}-delete-${r.name}`}>{t(`${kind}.delete`)}</a>
                    </Popconfirm>
                  </>
                )}
              </Space>
            ),
          },
        ]} />
      <RunDialog target={runOf} onClose={() => setRunOf(null)} />
    </Space>
  );
}
