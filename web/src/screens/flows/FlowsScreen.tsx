import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { BackfillDialog } from './BackfillDialog';
import { DefinitionList, type Summary } from './DefinitionList';

export function FlowsScreen() {
  const { t } = useTranslation();
  const [backfillOf, setBackfillOf] = useState<Summary | null>(null);
  return (
    <>
      <DefinitionList kind="flows" extra={(r) => <a onClick={() => setBackfillOf(r)} data-testid={`flow-backfill-${r.name}`}>{t('backfill.open')}</a>} />
      {backfillOf && <BackfillDialog flow={backfillOf} onClose={() => setBackfillOf(null)} />}
    </>
  );
}

// Kept for callers that imported it from here.
export { parseParams } from './RunDialog';
