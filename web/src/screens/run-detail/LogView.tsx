// The log view: the run's nodes and instances on the left (a shard filter
// for sharded and broadcast nodes), the selected instance's log on the
// right, followed live while it runs (GET /instances/{id}/log?follow=true).
// The log is kept as an array of lines and only the lines on screen are in
// the DOM (virtualised), so a 10 MiB log scrolls as easily as a short one.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Alert, Button, Card, Empty, Input, Select, Space, Tag, Tree, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError, errorMessage, followLog, getToken, type Instance, type RunDetail } from '../../api/client';
import { StatusTag } from '../../shell/StatusTag';
import { DurationChart } from './DurationChart';

/** Lines kept on screen; beyond it the oldest are dropped (the download has them all). */
const KEEP_LINES = 1_000_000;
const LINE = 18;
/** The log route answers at most 8 MiB per request; downloads page through it. */
const PAGE = 8 << 20;

export function LogsTab({ run, instance, onSelect }: { run: RunDetail; instance: Instance | null; onSelect: (i: Instance) => void }) {
  const { t } = useTranslation();
  const [shard, setShard] = useState<number | 'all'>('all');
  const [search, setSearch] = useState('');
  const shards = useMemo(() => [...new Set(run.nodes.flatMap((n) => n.instances.map((i) => i.shard_index)))].sort((a, b) => a - b), [run.nodes]);
  const tree = useMemo(() => run.nodes
    .filter((n) => !search || n.id.toLowerCase().includes(search.toLowerCase()))
    .map((n) => ({
      key: `node:${n.id}`, selectable: false,
      title: <Space size={4}>{n.id}<StatusTag status={n.status} forced={n.forced} /></Space>,
      children: n.instances.filter((i) => shard === 'all' || i.shard_index === shard).map((i) => ({
        key: i.id,
        title: <span data-testid={`log-instance-${n.id}-${i.shard_index}-${i.attempt}`}>#{i.shard_index} {t('run.attempt')} {i.attempt} <StatusTag status={i.status} /></span>,
      })),
    })), [run.nodes, shard, search, t]);
  const current = instance && run.nodes.flatMap((n) => n.instances).find((i) => i.id === instance.id);
  const node = instance ? run.nodes.find((n) => n.id === instance.node_id) : undefined;
  return (
    <div style={{ display: 'flex', gap: 16 }}>
      <Card size="small" style={{ width: 300, flex: 'none' }}>
        <Space direction="vertical" style={{ width: '100%' }}>
          <Input size="small" allowClear placeholder={t('logs.searchNode')} value={search} onChange={(e) => setSearch(e.target.value)} data-testid="log-node-search" />
          {shards.length > 1 && (
            <Select size="small" style={{ width: '100%' }} value={shard} onChange={setShard} data-testid="log-shard-filter"
              options={[{ value: 'all' as const, label: t('logs.allShards') }, ...shards.map((s) => ({ value: s, label: t('logs.shard', { index: s }) }))]} />
          )}
          <Tree data-testid="log-tree" defaultExpandAll height={560} selectedKeys={instance ? [instance.id] : []}
            onSelect={(keys) => {
              const k = keys[0] as string | undefined;
              const inst = run.nodes.flatMap((n) => n.instances).find((i) => i.id === k);
              if (inst) onSelect(inst);
            }}
            treeData={tree} />
        </Space>
      </Card>
      <div style={{ flex: 1, minWidth: 0 }}>
        {node && <div style={{ marginBottom: 12 }}><DurationChart runId={run.id} node={node.id} tick={node.status} /></div>}
        <LogView instance={current ?? instance} />
      </div>
    </div>
  );
}

/** The selected instance's log; keyed by instance id, so each one starts fresh. */
export function LogView({ instance }: { instance: Instance | null }) {
  return instance ? <InstanceLog key={instance.id} instance={instance} /> : <EmptyLog />;
}

function EmptyLog() {
  const { t } = useTranslation();
  return <Empty description={t('run.noLog')} />;
}

/** Lines of a streamed log: complete lines and the unfinished last one. */
class Lines {
  lines: string[] = [];
  partial = '';
  bytes = 0;
  dropped = 0;
  add(chunk: string) {
    this.bytes += chunk.length;
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.lines.push(p);
    if (this.lines.length > KEEP_LINES) {
      const n = this.lines.length - KEEP_LINES;
      this.lines.splice(0, n);
      this.dropped += n;
    }
  }
  get count() {
    return this.lines.length + (this.partial ? 1 : 0);
  }
  at(i: number) {
    return i < this.lines.length ? this.lines[i] : this.partial;
  }
}

function InstanceLog({ instance }: { instance: Instance }) {
  const { t } = useTranslation();
  const buf = useRef(new Lines());
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<'following' | 'ended'>('following');
  const [error, setError] = useState('');
  const [downloading, setDownloading] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const dragging = useRef(false);
  const id = instance.id;

  useEffect(() => {
    const ctl = new AbortController();
    let frame = 0;
    const bump = () => {
      frame = 0;
      setVersion((v) => v + 1);
    };
    followLog(id, 0, (chunk) => {
      buf.current.add(chunk);
      // One render per frame however many chunks arrive.
      if (!frame) frame = requestAnimationFrame(bump);
    }, ctl.signal)
      .then(() => setState('ended'))
      .catch((e) => {
        if (ctl.signal.aborted) return;
        setError(errorMessage(e));
        setState('ended');
      })
      .finally(() => {
        if (!ctl.signal.aborted) bump();
      });
    return () => {
      ctl.abort();
      cancelAnimationFrame(frame);
    };
  }, [id]);

  const lines = buf.current;
  // The console is not built with the React Compiler; the virtualizer's
  // unmemoisable functions are what it is for.
  // eslint-disable-next-line react-hooks/incompatible-library
  const rows = useVirtualizer({ count: lines.count, getScrollElement: () => scroller.current, estimateSize: () => LINE, overscan: 30 });
  // Follow the end as lines arrive (not on the virtualizer's own renders
  // while the operator scrolls).
  useEffect(() => {
    if (stick.current && lines.count) rows.scrollToIndex(lines.count - 1, { align: 'end' });
  }, [version]); // eslint-disable-line react-hooks/exhaustive-deps

  async function download() {
    setDownloading(true);
    try {
      const parts: BlobPart[] = [];
      for (let offset = 0; ;) {
        const res = await fetch(`/api/v1/instances/${encodeURIComponent(id)}/log?offset=${offset}&max=${PAGE}`, { headers: { Authorization: `Bearer ${getToken()}` } });
        if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, res.statusText);
        const b = await res.arrayBuffer();
        parts.push(b);
        const next = Number(res.headers.get('X-Next-Offset') ?? offset + b.byteLength);
        const size = Number(res.headers.get('X-Log-Size') ?? next);
        if (!b.byteLength || next >= size) break;
        offset = next;
      }
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob(parts, { type: 'text/plain' }));
      a.download = `${instance.node_id}-${instance.shard_index}-attempt${instance.attempt}.log`;
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setDownloading(false);
    }
  }

  return (
    <Space direction="vertical" style={{ width: '100%' }}>
      <Space wrap>
        <Typography.Text strong>{instance.node_id}</Typography.Text>
        <Typography.Text type="secondary">#{instance.shard_index} · {t('run.attempt')} {instance.attempt}{instance.worker_id ? ` · ${instance.worker_id}` : ''}</Typography.Text>
        <StatusTag status={instance.status} />
        <Tag color={state === 'following' ? 'processing' : 'default'} data-testid="log-state">{state === 'following' ? t('run.following') : t('run.ended')}</Tag>
        <Typography.Text type="secondary" data-testid="log-size">{t('logs.size', { lines: (lines.count + lines.dropped).toLocaleString(), size: fmtBytes(lines.bytes) })}</Typography.Text>
        <Button size="small" onClick={download} loading={downloading} data-testid="log-download">{t('run.download')}</Button>
        <Button size="small" onClick={() => { stick.current = false; rows.scrollToIndex(0); }} data-testid="log-top">{t('logs.top')}</Button>
        <Button size="small" onClick={() => { stick.current = true; rows.scrollToIndex(lines.count - 1, { align: 'end' }); }} data-testid="log-follow">{t('logs.bottom')}</Button>
      </Space>
      {error && <Alert type="error" message={error} />}
      {lines.dropped > 0 && <Alert type="warning" showIcon message={t('logs.dropped', { count: lines.dropped })} />}
      <div ref={scroller} className="log-view" style={{ height: 480 }} data-testid="log-text"
        // Only the operator unsticks it (wheel, keys, dragging the bar):
        // the scroll events of following a growing log must not.
        onWheel={(e) => { if (e.deltaY < 0) stick.current = false; }}
        onKeyDown={(e) => { if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) stick.current = false; }}
        onMouseDown={() => { dragging.current = true; }} onMouseUp={() => { dragging.current = false; }}
        onScroll={(e) => {
          const el = e.currentTarget;
          const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < LINE * 2;
          if (atEnd) stick.current = true;
          else if (dragging.current) stick.current = false;
        }} tabIndex={0}>
        <div style={{ height: rows.getTotalSize(), position: 'relative', minWidth: 'max-content' }}>
          {rows.getVirtualItems().map((v) => (
            <div key={v.index} className="log-line" style={{ position: 'absolute', top: v.start, height: LINE, left: 0 }}>
              <span className="log-no">{v.index + 1 + lines.dropped}</span>{lines.at(v.index)}
            </div>
          ))}
        </div>
      </div>
    </Space>
  );
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
