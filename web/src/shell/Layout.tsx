import { Badge, ConfigProvider, Layout as AntLayout, Menu, Segmented, Space, Tag, Tooltip, Button, Typography } from 'antd';
import { useQuery } from '@tanstack/react-query';
import { DownOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { Link, Outlet, useLocation } from 'react-router';
import { api, call } from '../api/client';
import { useAuth } from '../auth';
import { setLang } from '../i18n';

/** Running and failed counts: OCP's task-center badge, refreshed every 5 s. */
function TaskCenter() {
  const { t } = useTranslation();
  const stats = useQuery({
    queryKey: ['runs', 'stats'],
    queryFn: () => call(api.GET('/api/v1/runs/stats')),
    refetchInterval: 5000,
  });
  const c: Partial<Record<string, number>> = stats.data?.counts ?? {};
  const running = (c.running ?? 0) + (c.waiting ?? 0) + (c.paused ?? 0) + (c.stopping ?? 0);
  const failed = (c.failed ?? 0) + (c.timeout ?? 0) + (c.rollback_failed ?? 0);
  return (
    <Space size="middle" data-testid="task-center">
      <Typography.Text style={{ color: '#fff' }}>{t('app.taskCenter')}</Typography.Text>
      <Link to="/runs?status=waiting,running,paused,stopping" data-testid="badge-running">
        <Badge count={running} showZero color="#1677ff" overflowCount={9999}>
          <Tag color="blue" style={{ marginRight: 8 }}>{t('app.running')}</Tag>
        </Badge>
      </Link>
      <Link to="/runs?status=failed,timeout,rollback_failed" data-testid="badge-failed">
        <Badge count={failed} showZero overflowCount={9999}>
          <Tag color="red" style={{ marginRight: 8 }}>{t('app.failed')}</Tag>
        </Badge>
      </Link>
    </Space>
  );
}

export function Layout() {
  const { t, i18n } = useTranslation();
  const { me, logout } = useAuth();
  const loc = useLocation();
  const section = loc.pathname.split('/')[1] || 'runs';
  return (
    <AntLayout style={{ minHeight: '100%' }}>
      <AntLayout.Header style={{ display: 'flex', alignItems: 'center', gap: 16, paddingInline: 16 }}>
        <Link to="/runs" style={{ color: '#fff', fontWeight: 700, fontSize: 18 }}>Baton</Link>
        <ConfigProvider theme={{ components: { Menu: { itemPaddingInline: 14 } } }}>
        <Menu theme="dark" mode="horizontal" selectedKeys={[section]} style={{ flex: 1, minWidth: 0 }} triggerSubMenuAction="click"
          items={[
            { key: 'runs', label: <Link to="/runs" data-testid="nav-runs">{t('nav.runs')}</Link> },
            { key: 'flows', label: <Link to="/flows" data-testid="nav-flows">{t('nav.flows')}</Link> },
            { key: 'tasks', label: <Link to="/tasks" data-testid="nav-tasks">{t('nav.tasks')}</Link> },
            { key: 'backfills', label: <Link to="/backfills" data-testid="nav-backfills">{t('backfills.nav')}</Link> },
            { key: 'alerts', label: <Link to="/alerts" data-testid="nav-alerts">{t('alerts.nav')}</Link> },
            // The operations pages share one submenu, so the header keeps
            // every item visible at 1440 px in both languages.
            {
              key: 'ops', label: <span data-testid="nav-ops">{t('alerts.navOps')} <DownOutlined style={{ fontSize: 10 }} /></span>, popupClassName: 'nav-ops-popup',
              children: [
                { key: 'workers', label: <Link to="/workers" data-testid="nav-workers">{t('nav.workers')}</Link> },
                { key: 'audit', label: <Link to="/audit" data-testid="nav-audit">{t('nav.audit')}</Link> },
                { key: 'alert-channels', label: <Link to="/alert-channels" data-testid="nav-alert-channels">{t('alerts.navChannels')}</Link> },
                // Token management is admin-only on the server too.
                ...(me?.role === 'admin' ? [{ key: 'tokens', label: <Link to="/tokens" data-testid="nav-tokens">{t('nav.tokens')}</Link> }] : []),
              ],
            },
          ]} />
        </ConfigProvider>
        <TaskCenter />
        {me?.temporal_ui_url && (
          <a href={me.temporal_ui_url} target="_blank" rel="noreferrer" style={{ color: '#fff' }} data-testid="temporal-ui">{t('app.temporalUI')}</a>
        )}
        <Segmented size="small" value={i18n.language} onChange={(v) => setLang(v as 'zh' | 'en')}
          options={[{ label: '中文', value: 'zh' }, { label: 'EN', value: 'en' }]} data-testid="lang-switch" />
        <Space>
          {/* A long token name is cut, not allowed to push the menu into its overflow. */}
          <Typography.Text style={{ color: '#fff', maxWidth: 120, display: 'inline-block', verticalAlign: 'middle' }} ellipsis={{ tooltip: me?.name }} data-testid="user">{me?.name}</Typography.Text>
          <Tooltip title={t(`role.${me?.role ?? 'viewer'}`)}>
            <Tag data-testid="role">{t(`alerts.roleShort.${me?.role ?? 'viewer'}`)}</Tag>
          </Tooltip>
          <Button size="small" onClick={logout} data-testid="logout">{t('app.logout')}</Button>
        </Space>
      </AntLayout.Header>
      <AntLayout.Content style={{ padding: 16 }}>
        <Outlet />
      </AntLayout.Content>
    </AntLayout>
  );
}
