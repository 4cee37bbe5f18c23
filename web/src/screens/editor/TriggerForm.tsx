// A definition's trigger: none (run by hand, by API or inside a flow),
// cron (Quartz, seconds first, in a zone) or a fixed rate, with the
// schedule's overlap, catch-up window and pause-on-failure; the next fire
// times come from GET /cron/preview, so what is shown is what the server
// will compile.
import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Checkbox, Form, Input, List, Radio, Select, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, errorMessage, type Schemas } from '../../api/client';
import { DurationInput } from './TaskSpecForm';

export type Trigger = Schemas['Trigger'];
type Kind = 'none' | 'cron' | 'fixed_rate';

export const zones: string[] = (() => {
  try {
    return ['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')];
  } catch {
    return ['UTC', 'Asia/Shanghai'];
  }
})();

function useDebounced<T>(v: T, ms: number): T {
  const [d, setD] = useState(v);
  useEffect(() => {
    const id = setTimeout(() => setD(v), ms);
    return () => clearTimeout(id);
  }, [v, ms]);
  return d;
}

function CronPreview({ trigger }: { trigger: Trigger }) {
  const { t } = useTranslation();
  const q = useDebounced({
    type: trigger.type as 'cron' | 'fixed_rate', expr: trigger.cron || undefined, tz: trigger.timezone || undefined,
    interval: trigger.interval || undefined, phase: trigger.phase || undefined, n: 5,
  }, 300);
  const ready = q.type === 'cron' ? !!q.expr : !!q.interval;
  const preview = useQuery({
    queryKey: ['cron-preview', q],
    enabled: ready,
    retry: false,
    queryFn: () => call(api.GET('/api/v1/cron/preview', { params: { query: q } })),
  });
  if (!ready) return null;
  if (preview.error) return <Alert type="error" showIcon message={errorMessage(preview.error)} data-testid="cron-preview-error" />;
  return (
    <List size="small" bordered header={<Typography.Text strong>{t('editor.nextFires', { zone: preview.data?.timezone ?? q.tz ?? 'UTC' })}</Typography.Text>}
      loading={preview.isFetching && !preview.data} dataSource={preview.data?.next ?? []} data-testid="cron-preview"
      renderItem={(s) => <List.Item style={{ fontFamily: 'monospace' }}>{s}</List.Item>} />
  );
}

/** Edits a trigger; undefined is "no trigger". */
export function TriggerForm({ value, onChange, readOnly }: { value?: Trigger; onChange: (t: Trigger | undefined) => void; readOnly: boolean }) {
  const { t } = useTranslation();
  const kind: Kind = value?.type === 'cron' || value?.type === 'fixed_rate' ? value.type : 'none';
  const set = (patch: Partial<Trigger>) => {
    const n: Trigger = { ...value!, ...patch };
    for (const k of Object.keys(n) as (keyof Trigger)[]) if (n[k] === undefined || n[k] === '' || n[k] === false) delete n[k];
    onChange(n);
  };
  return (
    <Form layout="vertical" size="small" disabled={readOnly} data-testid="trigger-form">
      <Form.Item label={t('editor.triggerType')}>
        <Radio.Group value={kind} optionType="button" data-testid="trigger-type"
          options={(['none', 'cron', 'fixed_rate'] as Kind[]).map((k) => ({ value: k, label: <span data-testid={`trigger-type-${k}`}>{t(`editor.trigger_${k}`)}</span> }))}
          onChange={(e) => {
            const k = e.target.value as Kind;
            if (k === 'none') onChange(undefined);
            // Keep the schedule options; drop the other kind's fields (a cron
            // expression on a fixed rate trigger is refused).
            else if (k === 'cron') onChange({ type: 'cron', cron: '0 0 2 * * ?', timezone: value?.timezone || 'Asia/Shanghai', overlap: value?.overlap, catchup_window: value?.catchup_window, pause_on_failure: value?.pause_on_failure });
            else onChange({ type: 'fixed_rate', interval: '1h', timezone: value?.timezone, overlap: value?.overlap, catchup_window: value?.catchup_window, pause_on_failure: value?.pause_on_failure });
          }} />
      </Form.Item>
      {kind === 'cron' && (
        <Form.Item label={t('editor.cron')} extra={t('editor.cronHint')}
          validateStatus={value?.cron && ![6, 7].includes(value.cron.trim().split(/\s+/).length) ? 'error' : undefined}>
          <Input value={value?.cron ?? ''} style={{ fontFamily: 'monospace' }} onChange={(e) => set({ cron: e.target.value })} data-testid="trigger-cron" />
        </Form.Item>
      )}
      {kind === 'fixed_rate' && (
        <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
          <Form.Item label={t('editor.interval')}>
            <DurationInput value={value?.interval} placeholder="90m" onChange={(v) => set({ interval: v })} testid="trigger-interval" />
          </Form.Item>
          <Form.Item label={t('editor.phase')}>
            <DurationInput value={value?.phase} placeholder="0s" onChange={(v) => set({ phase: v })} testid="trigger-phase" />
          </Form.Item>
        </div>
      )}
      {kind !== 'none' && (
        <>
          <Form.Item label={t('editor.timezone')}>
            <Select showSearch value={value?.timezone || 'UTC'} options={zones.map((z) => ({ value: z, label: z }))} data-testid="trigger-tz"
              onChange={(z: string) => set({ timezone: z === 'UTC' ? undefined : z })} />
          </Form.Item>
          <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 8 }}>
            <Form.Item label={t('editor.overlap')}>
              <Select allowClear value={value?.overlap} placeholder="skip"
                options={(['skip', 'buffer_one', 'buffer_all', 'allow_all', 'cancel_other', 'terminate_other'] as const).map((o) => ({ value: o, label: t(`editor.overlap_${o}`) }))}
                onChange={(o) => set({ overlap: o })} />
            </Form.Item>
            <Form.Item label={t('editor.catchup')} tooltip={t('editor.catchupHint')}>
              <DurationInput value={value?.catchup_window} placeholder="1d" onChange={(v) => set({ catchup_window: v })} testid="trigger-catchup" />
            </Form.Item>
          </div>
          <Form.Item>
            <Checkbox checked={!!value?.pause_on_failure} onChange={(e) => set({ pause_on_failure: e.target.checked })} data-testid="trigger-pause">{t('editor.pauseOnFailure')}</Checkbox>
          </Form.Item>
          <CronPreview trigger={value!} />
        </>
      )}
    </Form>
  );
}
