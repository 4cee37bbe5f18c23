import { BaseEdge, type EdgeProps } from '@xyflow/react';
import type { EditorEdge } from './model';

/**
 * An edge that points back (its target is left of its source, as an edge
 * closing a cycle does). A bezier from the right handle to the left one
 * would cut through every node in between; this one leaves to the right,
 * runs in a lane below the nodes it passes (data.lane) and comes in from
 * the left.
 */
export function BackEdge({ id, sourceX, sourceY, targetX, targetY, data, style, markerEnd, label, labelStyle }: EdgeProps<EditorEdge>) {
  const lane = data?.lane ?? Math.max(sourceY, targetY) + 60;
  const out = sourceX + 24;
  const into = targetX - 24;
  const path = `M ${sourceX},${sourceY} L ${out},${sourceY} Q ${out + 12},${sourceY} ${out + 12},${sourceY + 12} L ${out + 12},${lane - 12} `
    + `Q ${out + 12},${lane} ${out},${lane} L ${into},${lane} Q ${into - 12},${lane} ${into - 12},${lane - 12} `
    + `L ${into - 12},${targetY + 12} Q ${into - 12},${targetY} ${into},${targetY} L ${targetX},${targetY}`;
  return <BaseEdge id={id} path={path} style={style} markerEnd={markerEnd} label={label} labelX={(out + into) / 2} labelY={lane}
    labelStyle={labelStyle} labelShowBg labelBgStyle={{ fill: '#fff' }} labelBgPadding={[4, 2]} />;
}

export const edgeTypes = { back: BackEdge };
