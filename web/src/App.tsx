import { ConfigProvider, App as AntApp } from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import { useTranslation } from 'react-i18next';
import { Navigate, Route, Routes } from 'react-router';
import { AuthProvider, useAuth } from './auth';
import { Layout } from './shell/Layout';
import { LoginScreen } from './screens/login/LoginScreen';
import { RunsScreen } from './screens/runs/RunsScreen';
import { RunDetailScreen } from './screens/run-detail/RunDetailScreen';
import { FlowsScreen } from './screens/flows/FlowsScreen';
import { EditorScreen } from './screens/editor/EditorScreen';
import { TasksScreen } from './screens/tasks/TasksScreen';
import { TaskEditorScreen } from './screens/tasks/TaskEditorScreen';
import { WorkersScreen } from './screens/workers/WorkersScreen';
import { AuditScreen } from './screens/audit/AuditScreen';
import { TokensScreen } from './screens/tokens/TokensScreen';
import { BackfillsScreen } from './screens/backfills/BackfillsScreen';
import { AlertsScreen } from './screens/alerts/AlertsScreen';
import { ChannelsScreen } from './screens/alerts/ChannelsScreen';

function Routed() {
  const { me } = useAuth();
  if (!me) return <LoginScreen />;
  const admin = me.role === 'admin';
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/runs" replace />} />
        <Route path="runs" element={<RunsScreen />} />
        <Route path="runs/:id" element={<RunDetailScreen />} />
        <Route path="flows" element={<FlowsScreen />} />
        <Route path="flows/new" element={<EditorScreen />} />
        <Route path="flows/:id/edit" element={<EditorScreen />} />
        <Route path="tasks" element={<TasksScreen />} />
        <Route path="tasks/new" element={<TaskEditorScreen />} />
        <Route path="tasks/:id/edit" element={<TaskEditorScreen />} />
        <Route path="backfills" element={<BackfillsScreen />} />
        <Route path="workers" element={<WorkersScreen />} />
        <Route path="audit" element={<AuditScreen />} />
        <Route path="alerts" element={<AlertsScreen />} />
        <Route path="alert-channels" element={<ChannelsScreen />} />
        {admin && <Route path="tokens" element={<TokensScreen />} />}
        <Route path="*" element={<Navigate to="/runs" replace />} />
      </Route>
    </Routes>
  );
}

export function App() {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider locale={i18n.language === 'zh' ? zhCN : enUS} theme={{ token: { borderRadius: 4 } }}>
      <AntApp>
        <AuthProvider>
          <Routed />
        </AuthProvider>
      </AntApp>
    </ConfigProvider>
  );
}
