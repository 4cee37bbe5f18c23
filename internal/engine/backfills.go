package engine

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// StartBackfill starts a backfill's driver workflow.
func (e *Engine) StartBackfill(ctx context.Context, in workflows.BackfillInput) error {
	_, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.BackfillWorkflowID(in.ID),
		TaskQueue:                workflows.FlowsTaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.BackfillWorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return fmt.Errorf("start backfill %s: %w", in.ID, models.ErrConflict)
		}
		return fmt.Errorf("start backfill %s: %w", in.ID, err)
	}
	return nil
}

// BackfillProgress queries a backfill's live progress; ErrRunClosed when
// its driver has ended (the mirror then holds the final counts).
func (e *Engine) BackfillProgress(ctx context.Context, id string) (workflows.BackfillProgress, error) {
	var p workflows.BackfillProgress
	resp, err := e.Client.QueryWorkflow(ctx, workflows.BackfillWorkflowID(id), "", workflows.QueryProgress)
	if err != nil {
		return p, fmt.Errorf("query backfill %s: %w", id, closedOr(err))
	}
	if err := resp.Get(&p); err != nil {
		return p, fmt.Errorf("query backfill %s: decode: %w", id, err)
	}
	return p, nil
}

// SignalBackfill sends pause, resume, stop or retry to a backfill.
func (e *Engine) SignalBackfill(ctx context.Context, id string, c workflows.BackfillControl) error {
	if err := e.Client.SignalWorkflow(ctx, workflows.BackfillWorkflowID(id), "", workflows.SignalBackfill, c); err != nil {
		return fmt.Errorf("signal backfill %s: %w", id, closedOr(err))
	}
	return nil
}
