import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import { tagColor } from '../status';

export function StatusTag({ status, forced }: { status: string; forced?: boolean }) {
  const { t } = useTranslation();
  return (
    <Tag color={tagColor(status)} data-status={status}>
      {t(`status.${status}`, { defaultValue: status })}
      {forced ? ` (${t('status.forced')})` : ''}
    </Tag>
  );
}

export function fmtTime(s?: string | null): string {
  if (!s) return '—';
  const d = new Date(s);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
