import { Alert, Checkbox, Divider, Form, Input, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { Problem } from '../../api/client';
import { AlertRulesForm } from '../alerts/AlertRules';
import { KeyValues } from './KeyValues';
import type { Settings } from './model';
import { DurationInput } from './TaskSpecForm';
import { TriggerForm } from './TriggerForm';

/** The flow's own fields: shown in the side panel when nothing is selected. */
export function FlowSettings({ value, onChange, readOnly, problems, alertProblems, formKey }: {
  value: Settings; onChange: (s: Settings, field: string) => void; readOnly: boolean; problems: string[]; alertProblems: Problem[]; formKey: string;
}) {
  const { t } = useTranslation();
  const set = (patch: Partial<Settings>, field: string) => onChange({ ...value, ...patch }, field);
  return (
    <div data-testid="flow-settings">
      <Typography.Title level={5} style={{ marginTop: 0 }}>{t('editor.settings')}</Typography.Title>
      {problems.length > 0 && <Alert type="error" style={{ marginBottom: 8 }} message={<ul style={{ margin: 0, paddingLeft: 16 }}>{problems.map((p, i) => <li key={i}>{p}</li>)}</ul>} />}
      <Form layout="vertical" size="small" disabled={readOnly}>
        <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
          <Form.Item label={t('editor.group')} tooltip={t('editor.groupHint')}>
            <Input value={value.group ?? ''} placeholder="default" onChange={(e) => set({ group: e.target.value || undefined }, 'group')} data-testid="flow-group" />
          </Form.Item>
          <Form.Item label={t('editor.flowTimeout')}>
            <DurationInput value={value.timeout} placeholder="2h" onChange={(v) => set({ timeout: v }, 'timeout')} testid="flow-timeout" />
          </Form.Item>
        </div>
        <Form.Item tooltip={t('editor.failFastHint')}>
          <Checkbox checked={!!value.fail_fast} onChange={(e) => set({ fail_fast: e.target.checked || undefined }, 'fail_fast')} data-testid="flow-fail-fast">
            {t('editor.failFast')}
          </Checkbox>
        </Form.Item>
        <Form.Item label={t('editor.flowParams')}>
          <KeyValues key={`${formKey}:flow-params`} value={value.params} disabled={readOnly} testid="flow-params" onChange={(p) => set({ params: p }, 'params')} />
        </Form.Item>
      </Form>
      <Divider plain style={{ margin: '8px 0' }}>{t('editor.schedule')}</Divider>
      <TriggerForm value={value.trigger} readOnly={readOnly} onChange={(tr) => set({ trigger: tr }, 'trigger')} />
      <Divider plain style={{ margin: '8px 0' }}>{t('alerts.rules')}</Divider>
      <AlertRulesForm value={value.alerts} readOnly={readOnly} problems={alertProblems} onChange={(r) => set({ alerts: r }, 'alerts')} />
    </div>
  );
}
