// The run topology's node and edge components. They are memoised and read
// only their own data, so a live state change re-renders the node it
// touches and nothing else; below LOW_ZOOM a node is a coloured box
// without text, which keeps a zoomed-out 10,000-node view cheap.
import { memo } from 'react';
import { BaseEdge, getBezierPath, Handle, Position, useStore, type EdgeProps, type Node, type NodeProps, type Edge } from '@xyflow/react';
import { useTranslation } from 'react-i18next';
import { statusColor } from '../status';
import type { Pt } from './layered';
import { edgeColors } from './layout';

export const LOW_ZOOM = 0.45;

export type RunNodeData = {
  label: string;
  kind: string;
  logic: boolean;
  status: string;
  forced?: boolean;
  core?: boolean;
  /** Faded: not in the highlighted lineage. */
  dim?: boolean;
};

export type RunEdgeData = { on: string; route?: Pt[]; dim?: boolean };

type N = Node<RunNodeData>;

const lowZoom = (s: { transform: [number, number, number] }) => s.transform[2] < LOW_ZOOM;

const handleStyle = { opacity: 0, pointerEvents: 'none' as const };

function RunNodeView({ id, data, selected }: NodeProps<N>) {
  const { t } = useTranslation();
  const simple = useStore(lowZoom);
  const color = statusColor(data.status);
  const cls = `node-box${data.logic ? ' logic' : ''}${selected ? ' selected' : ''}`;
  const style = { borderColor: color, background: data.logic ? '#fff' : `${color}22`, opacity: data.dim ? 0.25 : 1 };
  return (
    <div className={cls} style={style} data-testid={`node-${id}`} data-status={data.status}>
      <Handle type="target" position={Position.Left} style={handleStyle} isConnectable={false} />
      {simple ? null : data.logic ? (
        data.kind.toUpperCase()
      ) : (
        <>
          <div style={{ fontWeight: 600, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
            {data.core ? '★ ' : ''}{data.label}
          </div>
          <div style={{ color: '#8c8c8c', overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
            {data.kind} · {t(`status.${data.status}`, { defaultValue: data.status })}{data.forced ? ` (${t('status.forced')})` : ''}
          </div>
        </>
      )}
      <Handle type="source" position={Position.Right} style={handleStyle} isConnectable={false} />
    </div>
  );
}

/** Rounded polyline through pts. */
function polyline(pts: Pt[]): string {
  const r = 8;
  let d = `M ${pts[0][0]} ${pts[0][1]}`;
  for (let i = 1; i < pts.length - 1; i++) {
    const [px, py] = pts[i - 1];
    const [x, y] = pts[i];
    const [nx, ny] = pts[i + 1];
    const l1 = Math.hypot(x - px, y - py) || 1;
    const l2 = Math.hypot(nx - x, ny - y) || 1;
    const a = Math.min(r, l1 / 2);
    const b = Math.min(r, l2 / 2);
    d += ` L ${x - ((x - px) / l1) * a} ${y - ((y - py) / l1) * a} Q ${x} ${y} ${x + ((nx - x) / l2) * b} ${y + ((ny - y) / l2) * b}`;
  }
  const last = pts[pts.length - 1];
  return `${d} L ${last[0]} ${last[1]}`;
}

/**
 * An edge of the run topology: a curve to the next column, or, for edges
 * that skip columns or point back, the layout's route round the nodes.
 */
function RoutedEdgeView({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, markerEnd }: EdgeProps<Edge<RunEdgeData>>) {
  const kind = data?.on ?? 'success';
  const color = edgeColors[kind] ?? '#8c8c8c';
  const style = {
    stroke: color, strokeWidth: 2, opacity: data?.dim ? 0.15 : 1,
    strokeDasharray: kind === 'always' ? '6 4' : kind === 'failure' ? '2 3' : undefined,
  };
  const path = data?.route
    ? polyline([[sourceX, sourceY], ...data.route, [targetX, targetY]])
    : getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition })[0];
  return <BaseEdge path={path} style={style} markerEnd={markerEnd} />;
}

export const runNodeTypes = { run: memo(RunNodeView) };
export const runEdgeTypes = { routed: memo(RoutedEdgeView) };
