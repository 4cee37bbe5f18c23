import { Handle, Position, type NodeProps, type Node } from '@xyflow/react';
import { Tooltip } from 'antd';
import { useTranslation } from 'react-i18next';
import { statusColor } from '../status';
import type { GraphNodeData } from './layout';

type N = Node<GraphNodeData>;

function border(d: GraphNodeData): string | undefined {
  return d.status ? statusColor(d.status) : undefined;
}

export function TaskNode({ data, selected }: NodeProps<N>) {
  const { t } = useTranslation();
  const kind = data.node.task?.kind ?? (data.node.task_id ? 'ref' : '');
  const box = (
    <div className={`node-box${data.problem ? ' problem' : ''}${selected ? ' selected' : ''}`}
      style={{ borderColor: border(data), background: data.status ? `${statusColor(data.status)}22` : '#fff' }}
      data-testid={`node-${data.node.id}`} data-status={data.status ?? ''} data-problem={data.problem ? 'true' : 'false'}>
      <Handle type="target" position={Position.Left} />
      <div style={{ fontWeight: 600, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
        {data.node.core ? '★ ' : ''}{data.label}
      </div>
      <div style={{ color: '#8c8c8c' }}>
        {kind}{data.status ? ` · ${t(`status.${data.status}`, { defaultValue: data.status })}${data.forced ? ` (${t('status.forced')})` : ''}` : ''}
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
  return data.problem ? <Tooltip title={data.problem} open color="red" placement="top">{box}</Tooltip> : box;
}

export function LogicNode({ data, selected }: NodeProps<N>) {
  const box = (
    <div className={`node-box logic${data.problem ? ' problem' : ''}${selected ? ' selected' : ''}`}
      style={{ borderColor: border(data) }} data-testid={`node-${data.node.id}`} data-status={data.status ?? ''} data-problem={data.problem ? 'true' : 'false'}>
      <Handle type="target" position={Position.Left} />
      {(data.node.type ?? '').toUpperCase()}
      <Handle type="source" position={Position.Right} />
    </div>
  );
  return data.problem ? <Tooltip title={data.problem} open color="red" placement="top">{box}</Tooltip> : box;
}

export const nodeTypes = { task: TaskNode, logic: LogicNode };
