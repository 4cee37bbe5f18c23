import { useState } from 'react';
import { Button, Input, Space } from 'antd';
import { useTranslation } from 'react-i18next';

type Row = { k: string; v: string };

/**
 * A key/value table (params, HTTP headers). Rows with an empty key are kept
 * while typing and left out of the value; an empty table is undefined, so
 * the body omits the field. The parent keys it by what it edits, so the rows
 * start again from the value when the selection (or undo) changes it.
 */
export function KeyValues({ value, onChange, disabled, testid, keyPlaceholder = 'key' }: {
  value?: Record<string, string>; onChange: (v: Record<string, string> | undefined) => void;
  disabled?: boolean; testid?: string; keyPlaceholder?: string;
}) {
  const { t } = useTranslation();
  const [rows, setRows] = useState<Row[]>(() => Object.entries(value ?? {}).map(([k, v]) => ({ k, v })));
  function set(next: Row[]) {
    setRows(next);
    const out: Record<string, string> = {};
    for (const r of next) if (r.k.trim()) out[r.k.trim()] = r.v;
    onChange(Object.keys(out).length ? out : undefined);
  }
  const dup = (i: number) => rows.findIndex((r) => r.k.trim() && r.k.trim() === rows[i].k.trim()) !== i;
  return (
    <Space direction="vertical" size={4} style={{ width: '100%' }} data-testid={testid}>
      {rows.map((r, i) => (
        <Space.Compact key={i} style={{ width: '100%' }}>
          <Input placeholder={keyPlaceholder} value={r.k} status={dup(i) ? 'error' : undefined} disabled={disabled} style={{ width: '40%' }}
            onChange={(e) => set(rows.map((x, j) => (j === i ? { ...x, k: e.target.value } : x)))} data-testid={testid && `${testid}-key-${i}`} />
          <Input placeholder="value" value={r.v} disabled={disabled}
            onChange={(e) => set(rows.map((x, j) => (j === i ? { ...x, v: e.target.value } : x)))} data-testid={testid && `${testid}-value-${i}`} />
          {!disabled && <Button onClick={() => set(rows.filter((_, j) => j !== i))} aria-label={t('editor.removeRow')}>×</Button>}
        </Space.Compact>
      ))}
      {!disabled && <Button size="small" type="dashed" onClick={() => setRows([...rows, { k: '', v: '' }])} data-testid={testid && `${testid}-add`}>+ {t('editor.addRow')}</Button>}
    </Space>
  );
}
