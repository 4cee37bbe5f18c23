// The transitions timeline: who did what, when and why. It merges the
// run's transition log (run, node, instance, refused requests; live from
// the event stream) with the audit log's calls on this run (the operation
// asked, its result and code, refusals included). "Key events" keeps the
// run's own changes, operators' changes, failures and the calls; "All"
// lists every transition, paged.
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Segmented, Space, Table, Tag, Timeline as AntTimeline, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, call, type Schemas } from '../../api/client';
import { fmtTime, StatusTag } from '../../shell/StatusTag';

type Transition = Schemas['Transition'];
type Audit = Schemas['AuditEntry'];

interface Entry {
  key: string;
  at: string;
  who: string;
  what: React.ReactNode;
  why: string;
  color: string;
  kind: 'transition' | 'call';
}

const failing = new Set(['failed', 'timeout', 'rollback_failed', 'stop_failed']);
const system = new Set(['engine', 'schedule', 'system', '']);

function reasonOf(a: Audit): string {
  const body = (a.params as { body?: { reason?: unknown } } | undefined)?.body;
  return typeof body?.reason === 'string' ? body.reason : '';
}

export function Timeline({ runId, transitions, tick }: { runId: string; transitions: Transition[]; tick: number }) {
  const { t } = useTranslation();
  const [mode, setMode] = useState<'key' | 'all'>('key');
  // Calls on this run, by any actor; an operation's refusal is logged here
  // even when it changed no state. Reading the audit log may be refused
  // (403): the timeline then shows the transitions alone.
  const audit = useQuery({
    queryKey: ['run-audit', runId, tick],
    queryFn: () => call(api.GET('/api/v1/audit', { params: { query: { target_id: runId, limit: 200 } } })),
    staleTime: Infinity,
    placeholderData: (prev) => prev,
    retry: false,
  });

  const entries = useMemo(() => {
    const out: Entry[] = [];
    transitions.forEach((tr, k) => {
      const byOperator = !system.has(tr.actor);
      if (mode === 'key' && !(tr.entity === 'run' || tr.entity === 'request' || byOperator || failing.has(tr.to))) return;
      out.push({
        key: `t${k}`, at: tr.at ?? '', who: tr.actor, why: tr.reason, kind: 'transition',
        color: failing.has(tr.to) ? 'red' : tr.entity === 'run' ? 'blue' : byOperator ? 'orange' : 'gray',
        what: tr.entity === 'request'
          ? <span>{t('timeline.refusedRequest', { id: tr.entity_id })} <Tag color="error">{tr.to}</Tag></span>
          : <span>{t(`timeline.entity.${tr.entity}`)} <Typography.Text code>{tr.entity === 'run' ? tr.entity_id.slice(0, 8) : tr.entity_id}</Typography.Text>{' '}
            {tr.from ? <StatusTag status={tr.from} /> : null}→ <StatusTag status={tr.to} /></span>,
      });
    });
    for (const a of audit.data?.items ?? []) {
      out.push({
        key: `a${a.id}`, at: a.at ?? '', who: a.actor, why: reasonOf(a), kind: 'call',
        color: a.result === 'applied' ? 'green' : a.result === 'dry_run' ? 'gray' : 'red',
        what: <span>{t('timeline.call')} <Typography.Text code>{a.action}</Typography.Text>{a.target.node ? <> {t('timeline.onNode')} <Typography.Text code>{a.target.node}</Typography.Text></> : null}{' '}
          <Tag color={a.result === 'applied' ? 'success' : a.result === 'dry_run' ? 'default' : 'error'}>{t(`timeline.result.${a.result}`, { defaultValue: a.result })}{a.code ? ` · ${a.code}` : ''}</Tag>
          {a.message && <Typography.Text type="secondary"> {a.message}</Typography.Text>}</span>,
      });
    }
    // Newest first; ties keep log order.
    return out.map((e, i) => ({ e, i })).sort((x, y) => (y.e.at.localeCompare(x.e.at)) || y.i - x.i).map((x) => x.e);
  }, [transitions, audit.data, mode, t]);

  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="timeline">
      <Space>
        <Segmented value={mode} onChange={(v) => setMode(v as 'key' | 'all')} data-testid="timeline-mode"
          options={[{ value: 'key', label: t('timeline.key') }, { value: 'all', label: t('timeline.all') }]} />
        <Typography.Text type="secondary">{t('timeline.count', { count: entries.length })}</Typography.Text>
      </Space>
      {mode === 'key' ? (
        <AntTimeline style={{ marginTop: 12 }} items={entries.slice(0, 300).map((e) => ({
          key: e.key, color: e.color,
          children: (
            <div data-testid="timeline-entry" data-kind={e.kind}>
              <Typography.Text type="secondary">{fmtTime(e.at)}</Typography.Text>{' '}
              <Typography.Text strong>{e.who || '—'}</Typography.Text>{' '}{e.what}
              {e.why && <div><Typography.Text italic>{t('timeline.why', { reason: e.why })}</Typography.Text></div>}
            </div>
          ),
        }))} />
      ) : (
        <Table size="small" rowKey="key" dataSource={entries} pagination={{ pageSize: 50, showSizeChanger: false }}
          columns={[
            { title: t('run.at'), dataIndex: 'at', width: 170, render: fmtTime },
            { title: t('run.actor'), dataIndex: 'who', width: 120 },
            { title: t('timeline.what'), dataIndex: 'what' },
            { title: t('run.reason'), dataIndex: 'why' },
          ]} />
      )}
    </Space>
  );
}
