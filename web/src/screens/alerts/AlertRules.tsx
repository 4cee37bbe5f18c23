// Alert rules as a definition (flow, task) or a group's defaults carry
// them: events, channels by name, and the SLA deadline of sla_miss. The
// checks here only keep the rule consistent while it is edited (an SLA
// exactly with sla_miss); the API's answer stays the authority and its
// problems are shown on the rule they name.
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, Radio, Select, Space, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type Problem, type Schemas } from '../../api/client';
import { useAuth } from '../../auth';
import { DurationInput } from '../editor/TaskSpecForm';
import { zones } from '../editor/TriggerForm';

export type AlertRule = Schemas['AlertRule'];
export type AlertEvent = Schemas['AlertEvent'];

/** Every event the API accepts, in the README's order. */
export const alertEvents = [
  'run_failed', 'run_timeout', 'run_stopped', 'rollback_failed', 'stop_failed', 'node_failed',
  'sla_miss', 'recovered', 'backfill_finished', 'schedule_paused',
] as const satisfies readonly AlertEvent[];
// A compile error when the OpenAPI document gains an event this list lacks.
const allEvents: Record<Exclude<AlertEvent, (typeof alertEvents)[number]>, never> = {};
void allEvents;

/** The alert channels' names, for the pickers; only admins may list them (the API's rule). */
export function useChannelNames(): string[] | undefined {
  const { me } = useAuth();
  const q = useQuery({
    queryKey: ['alert-channels'],
    enabled: me?.role === 'admin',
    retry: false,
    queryFn: () => call(api.GET('/api/v1/alert-channels')),
  });
  return q.data?.items.map((c) => c.name);
}

function slaText(t: (k: string, o?: Record<string, string>) => string, sla: Schemas['SLA']): string {
  return sla.at ? t('alerts.slaAtText', { at: sla.at, tz: sla.tz || 'UTC' }) : t('alerts.slaAfterText', { after: sla.after ?? '' });
}

/** A rule shown, not edited: what a viewer and a version's reader see. */
function RuleView({ rule, n }: { rule: AlertRule; n: number }) {
  const { t } = useTranslation();
  return (
    <div data-testid={`alert-rule-${n}`} style={{ marginBottom: 6 }}>
      <Space size={[4, 4]} wrap>
        {rule.events.map((e) => <Tag key={e} color="orange">{t(`alerts.event.${e}`, { defaultValue: e })}</Tag>)}
        <span>→</span>
        {rule.channels.map((c) => <Tag key={c} color="blue" data-testid="alert-rule-channel">{c}</Tag>)}
        {rule.sla && <Tag>{t('alerts.sla')}: {slaText(t, rule.sla)}</Tag>}
      </Space>
    </div>
  );
}

function RuleForm({ rule, n, onChange, onRemove, channels, problems, testid }: {
  rule: AlertRule; n: number; onChange: (r: AlertRule) => void; onRemove: () => void;
  channels?: string[]; problems: string[]; testid: string;
}) {
  const { t } = useTranslation();
  const setEvents = (events: AlertEvent[]) => {
    const r: AlertRule = { ...rule, events };
    // sla is required with sla_miss and refused without it.
    if (events.includes('sla_miss') && !r.sla) r.sla = { after: '2h' };
    if (!events.includes('sla_miss')) delete r.sla;
    onChange(r);
  };
  const slaMode = rule.sla?.at !== undefined ? 'at' : 'after';
  return (
    <Card size="small" style={{ marginBottom: 8 }} data-testid={`${testid}-${n}`}
      title={<Typography.Text type="secondary">{t('alerts.rule', { n: n + 1 })}</Typography.Text>}
      extra={<Button size="small" type="link" danger onClick={onRemove} data-testid={`${testid}-${n}-remove`}>{t('alerts.removeRule')}</Button>}>
      {problems.length > 0 && (
        <Alert type="error" style={{ marginBottom: 8 }} data-testid={`${testid}-${n}-problem`}
          message={<ul style={{ margin: 0, paddingLeft: 16 }}>{problems.map((p, i) => <li key={i}>{p}</li>)}</ul>} />
      )}
      <Form.Item label={t('alerts.events')} style={{ marginBottom: 8 }}>
        <Select<AlertEvent[]> mode="multiple" value={rule.events} onChange={setEvents} data-testid={`${testid}-${n}-events`}
          options={alertEvents.map((e) => ({ value: e, label: t(`alerts.event.${e}`) }))} optionFilterProp="label" />
      </Form.Item>
      <Form.Item label={channels ? t('alerts.channels') : t('alerts.channelsTyped')} style={{ marginBottom: 8 }}>
        <Select<string[]> mode={channels ? 'multiple' : 'tags'} value={rule.channels} data-testid={`${testid}-${n}-channels`}
          options={(channels ?? []).map((c) => ({ value: c, label: c }))} onChange={(cs) => onChange({ ...rule, channels: cs })} />
      </Form.Item>
      {rule.sla && (
        <Form.Item label={t('alerts.sla')} style={{ marginBottom: 0 }}>
          <Radio.Group size="small" optionType="button" value={slaMode} style={{ marginBottom: 6 }} data-testid={`${testid}-${n}-sla-mode`}
            options={[{ value: 'at', label: t('alerts.slaAt') }, { value: 'after', label: t('alerts.slaAfter') }]}
            onChange={(e) => onChange({ ...rule, sla: e.target.value === 'at' ? { at: '06:00', tz: 'Asia/Shanghai' } : { after: '2h' } })} />
          {slaMode === 'at' ? (
            <Space.Compact style={{ width: '100%' }}>
              <Input style={{ width: 90 }} value={rule.sla.at ?? ''} placeholder="06:00" title={t('alerts.slaAtHint')}
                status={rule.sla.at && !/^([01]\d|2[0-3]):[0-5]\d$/.test(rule.sla.at) ? 'error' : undefined}
                onChange={(e) => onChange({ ...rule, sla: { ...rule.sla, at: e.target.value } })} data-testid={`${testid}-${n}-sla-at`} />
              <Select showSearch style={{ flex: 1 }} value={rule.sla.tz || 'UTC'} options={zones.map((z) => ({ value: z, label: z }))}
                onChange={(z: string) => onChange({ ...rule, sla: { ...rule.sla, tz: z === 'UTC' ? undefined : z } })} data-testid={`${testid}-${n}-sla-tz`} />
            </Space.Compact>
          ) : (
            <DurationInput value={rule.sla.after} placeholder="2h" testid={`${testid}-${n}-sla-after`}
              onChange={(v) => onChange({ ...rule, sla: { after: v } })} />
          )}
        </Form.Item>
      )}
    </Card>
  );
}

/**
 * Edits a list of alert rules. prefix is where the API's problem paths
 * put them ("alerts" on a definition, "rules" for a group); problems at
 * prefix[i]... are shown on rule i. undefined is "no rules".
 */
export function AlertRulesForm({ value, onChange, readOnly, problems = [], prefix = 'alerts', testid = 'alert-rules' }: {
  value?: AlertRule[] | null; onChange: (r: AlertRule[] | undefined) => void; readOnly: boolean;
  problems?: Problem[]; prefix?: string; testid?: string;
}) {
  const { t } = useTranslation();
  const channels = useChannelNames();
  const rules = value ?? [];
  const at = (i: number) => `${prefix}[${i}]`;
  const ruleProblems = (i: number) => problems.filter((p) => p.path === at(i) || p.path.startsWith(`${at(i)}.`) || p.path.startsWith(`${at(i)}[`))
    .map((p) => `${p.path.slice(at(i).length).replace(/^\./, '') || t('alerts.rule', { n: i + 1 })}: ${p.message}`);
  const listProblems = problems.filter((p) => p.path === prefix).map((p) => p.message);
  const set = (next: AlertRule[]) => onChange(next.length ? next : undefined);
  if (readOnly) {
    return (
      <div data-testid={testid}>
        {rules.length === 0 ? <Typography.Text type="secondary">{t('alerts.noRules')}</Typography.Text>
          : rules.map((r, i) => <RuleView key={i} rule={r} n={i} />)}
      </div>
    );
  }
  return (
    <Form layout="vertical" size="small" data-testid={testid}>
      {listProblems.length > 0 && <Alert type="error" style={{ marginBottom: 8 }} message={listProblems.join('; ')} />}
      {rules.map((r, i) => (
        <RuleForm key={i} rule={r} n={i} channels={channels} problems={ruleProblems(i)} testid={testid}
          onChange={(nr) => set(rules.map((x, j) => (j === i ? nr : x)))} onRemove={() => set(rules.filter((_, j) => j !== i))} />
      ))}
      <Button size="small" type="dashed" data-testid={`${testid}-add`}
        onClick={() => set([...rules, { events: ['run_failed'], channels: [] }])}>
        + {t('alerts.addRule')}
      </Button>
      <Typography.Paragraph type="secondary" style={{ marginTop: 6, marginBottom: 0, fontSize: 12 }}>{t('alerts.rulesHint')}</Typography.Paragraph>
    </Form>
  );
}
