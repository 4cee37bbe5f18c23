import { useEffect, useRef, useState } from 'react';
import { Alert, Button, Empty, Space, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { followLog, errorMessage, getToken, type Instance } from '../../api/client';

/** How much of a log stays on screen: the tail, so a 10 MiB log stays responsive. */
const KEEP = 2 << 20;

/** The selected instance's log; keyed by instance id, so each one starts fresh. */
export function LogView({ instance }: { instance: Instance | null }) {
  return instance ? <InstanceLog key={instance.id} instance={instance} /> : <EmptyLog />;
}

function EmptyLog() {
  const { t } = useTranslation();
  return <Empty description={t('run.noLog')} />;
}

function InstanceLog({ instance }: { instance: Instance }) {
  const { t } = useTranslation();
  const [text, setText] = useState('');
  const [state, setState] = useState<'following' | 'ended'>('following');
  const [error, setError] = useState('');
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  const id = instance.id;

  useEffect(() => {
    const ctl = new AbortController();
    let buf = '';
    followLog(id, 0, (chunk) => {
      buf += chunk;
      if (buf.length > KEEP) buf = buf.slice(buf.length - KEEP);
      setText(buf);
    }, ctl.signal)
      .then(() => setState('ended'))
      .catch((e) => {
        if (ctl.signal.aborted) return;
        setError(errorMessage(e));
        setState('ended');
      });
    return () => ctl.abort();
  }, [id]);

  useEffect(() => {
    const el = pre.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [text]);

  async function download() {
    const res = await fetch(`/api/v1/instances/${encodeURIComponent(instance.id)}/log?max=${64 << 20}`, { headers: { Authorization: `Bearer ${getToken()}` } });
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${instance.node_id}-${instance.shard_index}-attempt${instance.attempt}.log`;
    a.click();
    URL.revokeObjectURL(a.href);
  }

  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space>
        <Typography.Text strong>{instance.node_id}</Typography.Text>
        <Typography.Text type="secondary">#{instance.shard_index} · {t('run.attempt')} {instance.attempt} · {instance.worker_id}</Typography.Text>
        <Tag color={state === 'following' ? 'processing' : 'default'} data-testid="log-state">{state === 'following' ? t('run.following') : t('run.ended')}</Tag>
        <Button size="small" onClick={download}>{t('run.download')}</Button>
      </Space>
      {error && <Alert type="error" message={error} />}
      <pre ref={pre} className="log-view" style={{ height: 480 }} data-testid="log-text"
        onScroll={(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24; }}>
        {text}
      </pre>
    </Space>
  );
}
