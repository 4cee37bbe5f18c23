package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/workflows"
)

// Observation is what Temporal says about one run.
type Observation struct {
	// Found is false when no workflow has the run's id.
	Found bool
	Truth Truth
}

// Observer asks Temporal about a run.
type Observer interface {
	Observe(ctx context.Context, runID string) (Observation, error)
}

// TemporalObserver observes runs through the engine's client: describe
// for whether the workflow exists and how it closed, the state query for
// the run's nodes and instances (it answers for closed workflows too, by
// replaying their history), and the workflow's result when it cannot.
type TemporalObserver struct {
	Engine *engine.Engine
}

// Observe implements Observer.
func (o TemporalObserver) Observe(ctx context.Context, runID string) (Observation, error) {
	wfID := workflows.WorkflowID(runID)
	desc, err := o.Engine.Client.DescribeWorkflowExecution(ctx, wfID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Observation{}, nil
	}
	if err != nil {
		return Observation{}, fmt.Errorf("observe run %s: describe: %w", runID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	obs := Observation{Found: true, Truth: Truth{TemporalRunID: info.GetExecution().GetRunId()}}
	closed := info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	obs.Truth.Closed = closed
	view, qerr := o.Engine.FinalState(ctx, runID)
	switch {
	case qerr == nil:
	case !closed:
		return Observation{}, fmt.Errorf("observe run %s: %w", runID, qerr)
	case info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if view, err = o.result(ctx, wfID, obs.Truth.TemporalRunID); err != nil {
			return Observation{}, fmt.Errorf("observe run %s: state query: %w; %w", runID, qerr, err)
		}
	default:
		// Only the close status is known: nodes are left as they are.
		view = control.View{Rev: math.MaxInt64}
	}
	if closed && !status.Run(view.Status).Terminal() {
		// The workflow ended without reaching a final status itself: it
		// was terminated, cancelled, timed out or failed in Temporal.
		view.Status = string(status.RunFailed)
		if c := info.GetStatus(); c == enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED || c == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
			view.Status = string(status.RunStopped)
		}
		obs.Truth.Message = "the workflow was " + closeWord(info.GetStatus()) + " in Temporal"
	}
	obs.Truth.View = view
	return obs, nil
}

// result builds a view from a completed workflow's result. It has no
// instances and no revision: the run can no longer change, so every row
// may be repaired (still each at its own stored rev).
func (o TemporalObserver) result(ctx context.Context, wfID, runID string) (control.View, error) {
	var res workflows.RunResult
	if err := o.Engine.Client.GetWorkflow(ctx, wfID, runID).Get(ctx, &res); err != nil {
		return control.View{}, fmt.Errorf("result: %w", err)
	}
	v := control.View{Status: res.Status, Rev: math.MaxInt64}
	for _, id := range slices.Sorted(maps.Keys(res.Nodes)) {
		n := res.Nodes[id]
		v.Nodes = append(v.Nodes, control.NodeView{ID: id, Status: n.Status, Attempts: n.Attempts,
			Ran: n.Attempts > 0, Message: n.Message, Outputs: n.Outputs})
	}
	return v, nil
}

func closeWord(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	}
	return "failed"
}
