import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, Popconfirm, Select, Space, Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { fmtTime } from '../../shell/StatusTag';

/** Tokens (admin only): create, with the secret shown once; revoke. */
export function TokensScreen() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [secret, setSecret] = useState<Schemas['TokenCreated'] | null>(null);
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: () => call(api.GET('/api/v1/tokens')) });
  const reload = () => void qc.invalidateQueries({ queryKey: ['tokens'] });

  async function create(v: Schemas['TokenBody']) {
    try {
      setSecret((await call(api.POST('/api/v1/tokens', { body: v }))) as Schemas['TokenCreated']);
      reload();
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  async function revoke(id: number) {
    try {
      await call(api.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } }));
      reload();
    } catch (e) {
      message.error(errorMessage(e));
    }
  }

  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Form layout="inline" onFinish={create} initialValues={{ role: 'viewer' }}>
        <Form.Item name="name" rules={[{ required: true }]}><Input placeholder={t('ops.tokenName')} data-testid="token-name" /></Form.Item>
        <Form.Item name="role">
          <Select style={{ width: 140 }} options={(['viewer', 'operator', 'admin'] as const).map((r) => ({ value: r, label: t(`role.${r}`) }))} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="token-create">{t('ops.createToken')}</Button>
      </Form>
      {secret && (
        <Alert type="success" showIcon closable onClose={() => setSecret(null)} message={t('ops.secretOnce', { name: secret.name })}
          description={<Typography.Text code copyable data-testid="token-secret">{secret.token}</Typography.Text>} />
      )}
      <Table<Schemas['Token']> rowKey="id" size="small" loading={tokens.isLoading} dataSource={tokens.data?.items ?? []} pagination={false} data-testid="tokens-table"
        columns={[
          { title: t('flows.name'), dataIndex: 'name' },
          { title: t('ops.role'), dataIndex: 'role', render: (r: string) => t(`role.${r}`) },
          { title: t('runs.created'), dataIndex: 'created_at', render: fmtTime },
          { title: t('ops.lastUsed'), dataIndex: 'last_used', render: fmtTime },
          {
            title: t('flows.actions'),
            render: (_, tok) => (tok.revoked ? <Tag>{t('ops.revoked')}</Tag> : (
              <Popconfirm title={t('ops.revokeConfirm', { name: tok.name })} okButtonProps={{ danger: true }} onConfirm={() => revoke(tok.id)}>
                <a style={{ color: '#ff4d4f' }} data-testid={`token-revoke-${tok.name}`}>{t('ops.revoke')}</a>
              </Popconfirm>
            )),
          },
        ]} />
    </Space>
  );
}
