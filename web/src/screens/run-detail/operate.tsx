// One way to perform a control operation: confirmation with a reason for
// the destructive ones, the server's refusal (409, naming the nodes) shown
// as it is.
import { useState } from 'react';
import { App, Input, Modal } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError, errorMessage } from '../../api/client';
import { destructive } from '../../status';

export interface PendingOp {
  op: string;
  /** What the operation acts on, for the dialog title. */
  target: string;
  run(reason: string): Promise<unknown>;
}

export function useOperate(onDone: () => void) {
  const { t } = useTranslation();
  const { message, notification } = App.useApp();
  const [pending, setPending] = useState<PendingOp | null>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);

  async function exec(p: PendingOp, why: string) {
    setBusy(true);
    try {
      await p.run(why);
      message.success(t('op.done', { op: t(`op.${p.op}`) }));
      onDone();
    } catch (e) {
      notification.error({
        message: t('op.refused', { message: '' }),
        description: <span data-testid="op-error">{e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : errorMessage(e)}</span>,
        duration: 10,
      });
    } finally {
      setBusy(false);
      setPending(null);
      setReason('');
    }
  }

  function start(p: PendingOp) {
    if (destructive.has(p.op)) setPending(p);
    else void exec(p, '');
  }

  const dialog = (
    <Modal open={!!pending} confirmLoading={busy} okText={t('op.confirm')} cancelText={t('op.cancel')} okButtonProps={{ danger: true, id: 'op-confirm' }}
      title={pending ? t('op.confirmTitle', { op: t(`op.${pending.op}`), target: pending.target }) : ''}
      onOk={() => pending && exec(pending, reason)} onCancel={() => setPending(null)}>
      <Input.TextArea rows={2} placeholder={t('op.reason')} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="op-reason" />
    </Modal>
  );
  return { start, dialog };
}
