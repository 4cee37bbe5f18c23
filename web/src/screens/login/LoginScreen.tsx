import { useState } from 'react';
import { Alert, Button, Card, Form, Input, Segmented, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError, errorMessage } from '../../api/client';
import { useAuth } from '../../auth';
import { setLang } from '../../i18n';

export function LoginScreen() {
  const { t, i18n } = useTranslation();
  const { login } = useAuth();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(v: { token: string }) {
    setBusy(true);
    setError('');
    try {
      await login(v.token);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? t('login.invalid', { message: e.message }) : t('login.failed', { message: errorMessage(e) }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div style={{ minHeight: '100%', display: 'flex', alignItems: 'center', justifyContent: 'center', background: '#f0f2f5' }}>
      <Card style={{ width: 420 }}>
        <div style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'center' }}>
          <Typography.Title level={3} style={{ margin: 0 }}>{t('login.title')}</Typography.Title>
          <Segmented size="small" value={i18n.language} onChange={(v) => setLang(v as 'zh' | 'en')}
            options={[{ label: '中文', value: 'zh' }, { label: 'EN', value: 'en' }]} data-testid="login-lang" />
        </div>
        <Typography.Paragraph type="secondary" style={{ marginTop: 12 }}>{t('login.hint')}</Typography.Paragraph>
        <Form layout="vertical" onFinish={submit}>
          <Form.Item name="token" label={t('login.token')} rules={[{ required: true }]}>
            <Input.Password autoFocus data-testid="login-token" />
          </Form.Item>
          {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="login-error" />}
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="login-submit">{t('login.submit')}</Button>
        </Form>
      </Card>
    </div>
  );
}
