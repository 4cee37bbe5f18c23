// Alert channels (admin) and the groups' default rules. A stored secret is
// never shown: the API answers "[sealed]" (or its env:NAME reference), the
// form says one is set, and sends "[sealed]" back, which keeps it, unless
// a new value is typed or it is removed.
import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Empty, Form, Input, InputNumber, Modal, Popconfirm, Radio, Select, Space, Table, Tabs, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call, errorMessage, type Problem, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { fmtTime } from '../../shell/StatusTag';
import { KeyValues } from '../editor/KeyValues';
import { AlertRulesForm, type AlertRule } from './AlertRules';

type Channel = Schemas['AlertChannel'];
type Body = Schemas['AlertChannelBody'];
type Webhook = Schemas['AlertWebhook'];
type Email = Schemas['AlertEmail'];
const SEALED = '[sealed]';
const templates = ['generic', 'dingtalk', 'wecom', 'feishu', 'slack'] as const;

/**
 * A secret field's edit: undefined keeps what is stored, null removes it,
 * a string replaces it. stored is what the API showed ("[sealed]",
 * env:NAME, or nothing).
 */
type SecretEdit = string | null | undefined;

function secretOut(edit: SecretEdit, stored?: string): string | undefined {
  if (edit === null) return undefined;
  if (edit === undefined || edit === '') return stored || undefined;
  return edit;
}

function SecretInput({ stored, edit, onChange, placeholder, testid }: {
  stored?: string; edit: SecretEdit; onChange: (e: SecretEdit) => void; placeholder?: string; testid: string;
}) {
  const { t } = useTranslation();
  const sealed = stored === SEALED;
  if (edit === null) {
    return (
      <Space>
        <Typography.Text type="warning" data-testid={`${testid}-cleared`}>{t('alerts.secretCleared')}</Typography.Text>
        <Button size="small" onClick={() => onChange(undefined)}>{t('alerts.cancel')}</Button>
      </Space>
    );
  }
  // An env:NAME reference names a variable, it is no secret: shown as is.
  const shown = edit ?? (sealed ? '' : stored ?? '');
  return (
    <Space.Compact style={{ width: '100%' }}>
      <Input.Password value={shown} visibilityToggle={!sealed || edit !== undefined} autoComplete="new-password" data-testid={testid}
        placeholder={sealed ? placeholder ?? t('alerts.secretSet') : t('alerts.secretNone')} onChange={(e) => onChange(e.target.value)} />
      {stored && <Button onClick={() => onChange(null)} data-testid={`${testid}-clear`}>{t('alerts.secretClear')}</Button>}
    </Space.Compact>
  );
}

interface Draft {
  id?: string;
  name: string;
  kind: 'webhook' | 'email';
  webhook: Omit<Webhook, 'url' | 'secret'>;
  url: SecretEdit;
  secret: SecretEdit;
  custom: boolean;
  email: Omit<Email, 'password' | 'to'>;
  password: SecretEdit;
  to: string;
}

function draftOf(c?: Channel): Draft {
  const w = c?.webhook;
  return {
    id: c?.id, name: c?.name ?? '', kind: c?.kind ?? 'webhook',
    webhook: { template: w?.template, body: w?.body, headers: w?.headers, sign: w?.sign, signature_header: w?.signature_header },
    custom: !!w?.body, url: undefined, secret: undefined,
    email: { host: c?.email?.host ?? '', port: c?.email?.port, tls: c?.email?.tls, username: c?.email?.username, from: c?.email?.from ?? '' },
    password: undefined, to: (c?.email?.to ?? []).join('\n'),
  };
}

function bodyOf(d: Draft, stored?: Channel): Body {
  if (d.kind === 'webhook') {
    const w: Webhook = {
      url: secretOut(d.url, stored?.webhook?.url) ?? '',
      template: d.custom ? undefined : d.webhook.template,
      body: d.custom ? d.webhook.body : undefined,
      headers: d.webhook.headers,
      secret: secretOut(d.secret, stored?.webhook?.secret),
    };
    if (w.secret) {
      w.sign = d.webhook.sign;
      if (w.sign === 'header' || !w.sign) w.signature_header = d.webhook.signature_header || undefined;
    }
    return { name: d.name, kind: 'webhook', webhook: clean(w) };
  }
  const e: Email = {
    ...d.email, password: secretOut(d.password, stored?.email?.password),
    to: d.to.split(/[\n,;]/).map((s) => s.trim()).filter(Boolean),
  };
  return { name: d.name, kind: 'email', email: clean(e) };
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;
}

/** The create / edit dialog; problems from the API are shown on the fields they name. */
function ChannelDialog({ stored, onClose }: { stored: Channel | null | 'new'; onClose: () => void }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const existing = stored && stored !== 'new' ? stored : undefined;
  const [d, setD] = useState<Draft>(() => draftOf(existing));
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (p: Partial<Draft>) => { setD({ ...d, ...p }); setProblems([]); setError(undefined); };
  const setW = (p: Partial<Draft['webhook']>) => set({ webhook: { ...d.webhook, ...p } });
  const setE = (p: Partial<Draft['email']>) => set({ email: { ...d.email, ...p } });
  const at = (path: string) => {
    const ps = problems.filter((p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`));
    return ps.length ? { validateStatus: 'error' as const, help: <span data-testid="channel-field-problem">{ps.map((p) => p.message).join('; ')}</span> } : {};
  };

  async function save() {
    setBusy(true);
    try {
      const body = bodyOf(d, existing);
      const c = existing
        ? await call(api.PUT('/api/v1/alert-channels/{id}', { params: { path: { id: existing.id } }, body }))
        : await call(api.POST('/api/v1/alert-channels', { body }));
      message.success(t('alerts.saved', { name: c.name }));
      void qc.invalidateQueries({ queryKey: ['alert-channels'] });
      onClose();
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) setProblems(e.problems);
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const hasSecret = secretOut(d.secret, existing?.webhook?.secret) !== undefined;
  const urlHost = existing?.webhook?.url_host;
  return (
    <Modal open title={existing ? t('alerts.editChannel', { name: existing.name }) : t('alerts.newChannel')} width={640} onCancel={onClose}
      footer={[
        <Button key="c" onClick={onClose}>{t('alerts.cancel')}</Button>,
        <Button key="s" type="primary" loading={busy} onClick={save} id="channel-save" data-testid="channel-save">{t('alerts.save')}</Button>,
      ]}>
      {error && <Alert type="error" showIcon style={{ marginBottom: 12 }} message={error} data-testid="channel-error" />}
      <Form layout="vertical" size="small" data-testid="channel-form">
        <div style={{ display: 'grid', gridTemplateColumns: '2fr 1fr', gap: 12 }}>
          <Form.Item label={t('alerts.name')} required {...at('name')}>
            <Input value={d.name} onChange={(e) => set({ name: e.target.value })} data-testid="channel-name" />
          </Form.Item>
          <Form.Item label={t('alerts.kind')} {...at('kind')}>
            <Radio.Group optionType="button" value={d.kind} onChange={(e) => set({ kind: e.target.value })} data-testid="channel-kind"
              options={(['webhook', 'email'] as const).map((k) => ({ value: k, label: <span data-testid={`channel-kind-${k}`}>{t(`alerts.${k}`)}</span> }))} />
          </Form.Item>
        </div>
        {d.kind === 'webhook' ? (
          <>
            <Form.Item label={t('alerts.url')} required extra={t('alerts.envHint')} {...at('webhook.url')}>
              <SecretInput stored={existing?.webhook?.url} edit={d.url} onChange={(url) => set({ url })} testid="channel-url"
                placeholder={urlHost ? t('alerts.urlStored', { host: urlHost }) : undefined} />
            </Form.Item>
            <Form.Item label={t('alerts.template')} {...at('webhook.template')}>
              <Select value={d.custom ? 'custom' : d.webhook.template ?? 'generic'} data-testid="channel-template"
                options={[...templates.map((x) => ({ value: x as string, label: x === 'generic' ? 'Generic JSON' : x === 'dingtalk' ? 'DingTalk 钉钉' : x === 'wecom' ? 'WeCom 企业微信' : x === 'feishu' ? 'Feishu 飞书' : 'Slack' })),
                  { value: 'custom', label: t('alerts.customTemplate') }]}
                onChange={(v: string) => (v === 'custom' ? set({ custom: true }) : set({ custom: false, webhook: { ...d.webhook, template: v === 'generic' ? undefined : v as Webhook['template'] } }))} />
            </Form.Item>
            {d.custom && (
              <Form.Item label={t('alerts.body')} {...at('webhook.body')}>
                <Input.TextArea rows={5} style={{ fontFamily: 'monospace' }} value={d.webhook.body ?? ''} data-testid="channel-body"
                  placeholder={'{"msgtype":"text","text":{"content":{{printf "%q" .Text}}}}'} onChange={(e) => setW({ body: e.target.value })} />
              </Form.Item>
            )}
            <Form.Item label={t('alerts.secret')} extra={t('alerts.envHint')} {...at('webhook.secret')}>
              <SecretInput stored={existing?.webhook?.secret} edit={d.secret} onChange={(secret) => set({ secret })} testid="channel-secret" />
            </Form.Item>
            {hasSecret && (
              <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 12 }}>
                <Form.Item label={t('alerts.sign')} {...at('webhook.sign')}>
                  <Select value={d.webhook.sign ?? 'header'} onChange={(sign: Webhook['sign']) => setW({ sign })} data-testid="channel-sign"
                    options={[{ value: 'header', label: t('alerts.signHeader') }, { value: 'dingtalk', label: t('alerts.signDingtalk') }, { value: 'feishu', label: t('alerts.signFeishu') }]} />
                </Form.Item>
                {(d.webhook.sign ?? 'header') === 'header' && (
                  <Form.Item label={t('alerts.signatureHeader')} {...at('webhook.signature_header')}>
                    <Input value={d.webhook.signature_header ?? ''} placeholder="X-Baton-Signature" onChange={(e) => setW({ signature_header: e.target.value })} />
                  </Form.Item>
                )}
              </div>
            )}
            <Form.Item label={t('alerts.headers')} {...at('webhook.headers')}>
              <KeyValues value={d.webhook.headers} onChange={(headers) => setW({ headers })} testid="channel-headers" keyPlaceholder="Header" />
            </Form.Item>
          </>
        ) : (
          <>
            <div style={{ display: 'grid', gridTemplateColumns: '2fr 1fr 1fr', gap: 12 }}>
              <Form.Item label={t('alerts.host')} required {...at('email.host')}>
                <Input value={d.email.host} placeholder="smtp.example.com" onChange={(e) => setE({ host: e.target.value })} data-testid="channel-smtp-host" />
              </Form.Item>
              <Form.Item label={t('alerts.port')} {...at('email.port')}>
                <InputNumber min={0} max={65535} value={d.email.port} placeholder="587" style={{ width: '100%' }} onChange={(v) => setE({ port: v ?? undefined })} data-testid="channel-smtp-port" />
              </Form.Item>
              <Form.Item label={t('alerts.tls')} {...at('email.tls')}>
                <Select value={d.email.tls ?? 'starttls'} onChange={(tls: Email['tls']) => setE({ tls })} data-testid="channel-smtp-tls"
                  options={[{ value: 'starttls', label: 'STARTTLS' }, { value: 'tls', label: 'TLS' }, { value: 'none', label: 'none' }]} />
              </Form.Item>
            </div>
            <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 12 }}>
              <Form.Item label={t('alerts.username')} {...at('email.username')}>
                <Input value={d.email.username ?? ''} autoComplete="off" onChange={(e) => setE({ username: e.target.value })} data-testid="channel-smtp-user" />
              </Form.Item>
              <Form.Item label={t('alerts.password')} {...at('email.password')}>
                <SecretInput stored={existing?.email?.password} edit={d.password} onChange={(password) => set({ password })} testid="channel-smtp-password" />
              </Form.Item>
            </div>
            <Form.Item label={t('alerts.from')} required {...at('email.from')}>
              <Input value={d.email.from} placeholder="baton@example.com" onChange={(e) => setE({ from: e.target.value })} data-testid="channel-smtp-from" />
            </Form.Item>
            <Form.Item label={t('alerts.to')} required {...at('email.to')}>
              <Input.TextArea rows={2} value={d.to} placeholder="oncall@example.com" onChange={(e) => set({ to: e.target.value })} data-testid="channel-smtp-to" />
            </Form.Item>
          </>
        )}
      </Form>
    </Modal>
  );
}

function ChannelList() {
  const { t } = useTranslation();
  const { me } = useAuth();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const admin = me?.role === 'admin';
  const [editing, setEditing] = useState<Channel | 'new' | null>(null);
  const [tests, setTests] = useState<Record<string, Schemas['AlertTestResult'] | 'busy'>>({});
  const channels = useQuery({
    queryKey: ['alert-channels'],
    enabled: admin,
    queryFn: () => call(api.GET('/api/v1/alert-channels')),
  });
  if (!admin) return <Alert type="info" showIcon message={t('alerts.adminOnly')} data-testid="channels-admin-only" />;

  async function test(c: Channel) {
    setTests((x) => ({ ...x, [c.id]: 'busy' }));
    try {
      const r = await call(api.POST('/api/v1/alert-channels/{id}/test', { params: { path: { id: c.id } } }));
      setTests((x) => ({ ...x, [c.id]: r }));
    } catch (e) {
      setTests((x) => ({ ...x, [c.id]: { channel: c.name, delivered: false, error: errorMessage(e), title: '' } }));
    }
  }
  async function remove(c: Channel) {
    try {
      await call(api.DELETE('/api/v1/alert-channels/{id}', { params: { path: { id: c.id } } }));
      message.success(t('alerts.deleted', { name: c.name }));
      void qc.invalidateQueries({ queryKey: ['alert-channels'] });
    } catch (e) {
      message.error(errorMessage(e));
    }
  }
  const target = (c: Channel) => (c.kind === 'webhook'
    ? <Space size={4}><code>{c.webhook?.url_host || c.webhook?.url}</code>{c.webhook?.body ? <Tag>{t('alerts.customTemplate')}</Tag> : <Tag>{c.webhook?.template ?? 'generic'}</Tag>}{c.webhook?.secret && <Tag color="purple">{c.webhook.sign ?? 'header'}</Tag>}</Space>
    : <Space size={4}><code>{c.email?.host}:{c.email?.port ?? ''}</code><span>→ {(c.email?.to ?? []).join(', ')}</span></Space>);
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Button type="primary" onClick={() => setEditing('new')} data-testid="channel-new">{t('alerts.newChannel')}</Button>
      {channels.error && <Alert type="error" message={errorMessage(channels.error)} />}
      <Table<Channel> rowKey="id" size="small" loading={channels.isLoading} dataSource={channels.data?.items ?? []} pagination={false} data-testid="channels-table"
        columns={[
          { title: t('alerts.name'), dataIndex: 'name', render: (n: string) => <Typography.Text strong>{n}</Typography.Text> },
          { title: t('alerts.kind'), dataIndex: 'kind', render: (k: string) => <Tag color={k === 'email' ? 'geekblue' : 'cyan'}>{t(`alerts.${k}`)}</Tag> },
          { title: t('alerts.target'), render: (_, c) => target(c) },
          { title: t('alerts.updated'), render: (_, c) => <Typography.Text type="secondary">{t('alerts.updatedBy', { who: c.updated_by, at: fmtTime(c.updated_at) })}</Typography.Text> },
          {
            title: t('alerts.actions'),
            render: (_, c) => {
              const r = tests[c.id];
              return (
                <Space direction="vertical" size={2}>
                  <Space>
                    <a onClick={() => setEditing(c)} data-testid={`channel-edit-${c.name}`}>{t('alerts.edit')}</a>
                    <Button size="small" loading={r === 'busy'} onClick={() => test(c)} data-testid={`channel-test-${c.name}`}>{t('alerts.test')}</Button>
                    <Popconfirm title={t('alerts.deleteConfirm', { name: c.name })} okButtonProps={{ danger: true }} onConfirm={() => remove(c)}>
                      <a style={{ color: '#ff4d4f' }} data-testid={`channel-delete-${c.name}`}>{t('alerts.delete')}</a>
                    </Popconfirm>
                  </Space>
                  {r && r !== 'busy' && (
                    <Typography.Text type={r.delivered ? 'success' : 'danger'} data-testid={`channel-test-result-${c.name}`} data-delivered={String(r.delivered)}>
                      {r.delivered ? t('alerts.testOK', { channel: r.channel }) : t('alerts.testFailed', { error: r.error ?? '' })}
                    </Typography.Text>
                  )}
                </Space>
              );
            },
          },
        ]} />
      {editing && <ChannelDialog stored={editing} onClose={() => setEditing(null)} />}
    </Space>
  );
}

function GroupRulesCard({ g, admin }: { g: Schemas['GroupAlertRules']; admin: boolean }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [rules, setRules] = useState<AlertRule[] | undefined>(g.rules);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  async function save() {
    setBusy(true);
    setError(undefined);
    try {
      await call(api.PUT('/api/v1/alert-rules/groups/{group}', { params: { path: { group: g.group } }, body: { rules: rules ?? [] } }));
      message.success(t('alerts.groupSaved', { group: g.group }));
      setProblems([]);
      void qc.invalidateQueries({ queryKey: ['alert-group-rules'] });
    } catch (e) {
      if (e instanceof ApiError) setProblems(e.problems);
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card size="small" data-testid={`group-rules-${g.group}`}
      title={<Space><span>{t('alerts.group')}</span><Tag color="blue">{g.group}</Tag>
        {g.updated_by && <Typography.Text type="secondary" style={{ fontWeight: 'normal' }}>{t('alerts.updatedBy', { who: g.updated_by, at: fmtTime(g.updated_at) })}</Typography.Text>}</Space>}
      extra={admin && <Button size="small" type="primary" loading={busy} onClick={save} data-testid={`group-rules-save-${g.group}`}>{t('alerts.save')}</Button>}>
      {error && <Alert type="error" style={{ marginBottom: 8 }} message={error} />}
      <AlertRulesForm value={rules} readOnly={!admin} prefix="rules" problems={problems} testid={`group-${g.group}-rules`}
        onChange={(r) => { setRules(r); setProblems([]); }} />
    </Card>
  );
}

function GroupRules() {
  const { t } = useTranslation();
  const { me } = useAuth();
  const admin = me?.role === 'admin';
  const [added, setAdded] = useState<string[]>([]);
  const [name, setName] = useState('');
  const groups = useQuery({ queryKey: ['alert-group-rules'], queryFn: () => call(api.GET('/api/v1/alert-rules/groups')) });
  const items = groups.data?.items ?? [];
  const shown = [...items, ...added.filter((a) => !items.some((g) => g.group === a)).map((group) => ({ group, rules: [], updated_at: null, updated_by: '' }))];
  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Typography.Text type="secondary">{t('alerts.groupHint')}</Typography.Text>
      {admin && (
        <Space.Compact>
          <Input placeholder={t('alerts.groupPick')} value={name} onChange={(e) => setName(e.target.value)} style={{ width: 220 }} data-testid="group-rules-name" />
          <Button disabled={!name.trim()} onClick={() => { setAdded([...added, name.trim()]); setName(''); }} data-testid="group-rules-open">{t('alerts.groupOpen')}</Button>
        </Space.Compact>
      )}
      {groups.error && <Alert type="error" message={errorMessage(groups.error)} />}
      {shown.length === 0 && !groups.isLoading && <Empty description={t('alerts.groupNone')} />}
      {shown.map((g) => <GroupRulesCard key={`${g.group}:${g.updated_at ?? ''}`} g={g} admin={admin} />)}
    </Space>
  );
}

/** The alert channels page (admin) with the groups' default rules in a second tab (read by anyone). */
export function ChannelsScreen() {
  const { t } = useTranslation();
  const [tab, setTab] = useState('channels');
  return (
    <Tabs activeKey={tab} onChange={setTab} items={[
      { key: 'channels', label: <span data-testid="tab-channels">{t('alerts.channelList')}</span>, children: <ChannelList /> },
      { key: 'groups', label: <span data-testid="tab-group-rules">{t('alerts.groupRules')}</span>, children: <GroupRules /> },
    ]} />
  );
}
