package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/workflows"
)

// ErrRunClosed means the run's workflow has ended for good: only rerun and
// rerun-from-node apply to it.
var ErrRunClosed = errors.New("run is closed")

// ErrNeverDispatched means rerun-from-node named a node the run never ran.
var ErrNeverDispatched = errors.New("node was never dispatched in this run")

// ErrNotConfirmed means the run did not answer a control request in time;
// the request may still be applied later.
var ErrNotConfirmed = errors.New("run did not confirm the request in time")

// controlWait bounds how long Control waits for the run to take a request.
const controlWait = 15 * time.Second

// State queries a run's live state. A run whose workflow has ended (its
// operable window passed, say) answers ErrRunClosed, as a signal to it
// would: Temporal could still answer the query by replaying the closed
// workflow, but a dry run must not plan what the real operation refuses.
func (e *Engine) State(ctx context.Context, runID string) (control.View, error) {
	return e.queryState(ctx, runID, enumspb.QUERY_REJECT_CONDITION_NOT_OPEN)
}

// FinalState queries a run's state whether or not its workflow is still
// open: Temporal replays a closed workflow's history to answer. The
// reconciler reads it to repair the mirror of ended runs, whose forced
// flags and instances the workflow's result does not carry.
func (e *Engine) FinalState(ctx context.Context, runID string) (control.View, error) {
	return e.queryState(ctx, runID, enumspb.QUERY_REJECT_CONDITION_NONE)
}

func (e *Engine) queryState(ctx context.Context, runID string, reject enumspb.QueryRejectCondition) (control.View, error) {
	var v control.View
	resp, err := e.Client.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflows.WorkflowID(runID), QueryType: workflows.QueryState,
		QueryRejectCondition: reject})
	if err != nil {
		return v, fmt.Errorf("query run %s: %w", runID, closedOr(err))
	}
	if rej := resp.QueryRejected; rej != nil {
		return v, fmt.Errorf("query run %s: %w: workflow is %s", runID, ErrRunClosed, rej.GetStatus())
	}
	if err := resp.QueryResult.Get(&v); err != nil {
		return v, fmt.Errorf("query run %s: decode: %w", runID, err)
	}
	return v, nil
}

// Control signals a request into the run and waits until the run has
// applied or refused it. A request whose id the run already processed
// returns the first answer without a second effect.
func (e *Engine) Control(ctx context.Context, runID string, req control.Request) (workflows.ControlResult, error) {
	start := time.Now()
	res, err := e.control(ctx, runID, req)
	e.Metrics.Control(string(req.Op), controlOutcome(res.State, err), time.Since(start))
	return res, err
}

// controlOutcome is the result label of a control operation's metric.
func controlOutcome(state string, err error) string {
	switch {
	case errors.Is(err, ErrRunClosed):
		return "closed"
	case errors.Is(err, ErrNotConfirmed):
		return "unconfirmed"
	case err != nil:
		return "error"
	case state == "":
		return "unknown"
	}
	return state
}

func (e *Engine) control(ctx context.Context, runID string, req control.Request) (workflows.ControlResult, error) {
	wfID := workflows.WorkflowID(runID)
	key := workflows.ControlKey(req)
	if key != "" {
		if res, err := e.controlResult(ctx, wfID, key); err == nil && res.State != "" {
			return res, nil
		}
	}
	if err := e.Client.SignalWorkflow(ctx, wfID, "", workflows.SignalControl, req); err != nil {
		return workflows.ControlResult{}, fmt.Errorf("signal run %s: %w", runID, closedOr(err))
	}
	// The first query already waits for the signal to be handled: Temporal
	// answers a query that arrives while a workflow task is pending after
	// that task completes (its strongly consistent queries), and the run
	// keeps the result in that task, after its awaited mirror write. The
	// bench's control shape saw one query per operation, never a retry
	// (docs/benchmarks.md, control latency); Poll's backoff only covers a
	// run whose task failed or timed out and is retried. The run keeps the
	// last keptResults (1,000) results, so a request is answered by its id
	// until 1,000 later requests have been applied.
	res, err := Poll(ctx, controlWait, func() (workflows.ControlResult, error) {
		res, err := e.controlResult(ctx, wfID, key)
		if err == nil && res.State == "" {
			err = ErrPending
		}
		return res, err
	})
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, ctx.Err()
	case errors.Is(err, ErrPending):
		return res, fmt.Errorf("run %s, %s within %s: %w", runID, req.Op, controlWait, ErrNotConfirmed)
	}
	return res, fmt.Errorf("run %s, %s: %w (%w)", runID, req.Op, ErrNotConfirmed, err)
}

func (e *Engine) controlResult(ctx context.Context, wfID, id string) (workflows.ControlResult, error) {
	var res workflows.ControlResult
	resp, err := e.Client.QueryWorkflow(ctx, wfID, "", workflows.QueryControl, id)
	if err != nil {
		return res, closedOr(err)
	}
	return res, resp.Get(&res)
}

// closedOr turns "the workflow is not running" answers into ErrRunClosed.
func closedOr(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) || strings.Contains(err.Error(), "workflow execution already completed") {
		return fmt.Errorf("%w: %s", ErrRunClosed, err.Error())
	}
	return err
}

// ResetPoint is where rerun-from-node resets a run to.
type ResetPoint struct {
	TemporalRunID string `json:"temporal_run_id"`
	EventID       int64  `json:"event_id"`
	// Reexecuted lists the nodes with instances scheduled or finished after
	// the reset point, in history order: they run again. Nodes that had not
	// started by then run too when the flow reaches them.
	Reexecuted []string `json:"reexecuted"`
}

// FindResetPoint finds the workflow task that first dispatched node: the
// completion of the workflow task whose commands scheduled the node's
// first instance, searching the run's continue-as-new chain from the
// latest run backwards.
func (e *Engine) FindResetPoint(ctx context.Context, runID, node string) (ResetPoint, error) {
	wfID := workflows.WorkflowID(runID)
	desc, err := e.Client.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		return ResetPoint{}, fmt.Errorf("describe run %s: %w", runID, err)
	}
	temporalRun := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	for hop := 0; hop < 1000; hop++ {
		it := e.Client.GetWorkflowHistory(ctx, wfID, temporalRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var previous string
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return ResetPoint{}, fmt.Errorf("history of run %s: %w", runID, closedOr(err))
			}
			if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				previous = a.GetContinuedExecutionRunId()
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && isInstanceOf(a.GetActivityId(), runID, node) {
				p := ResetPoint{TemporalRunID: temporalRun, EventID: a.GetWorkflowTaskCompletedEventId()}
				p.Reexecuted, err = e.reexecuted(ctx, wfID, runID, temporalRun, p.EventID)
				return p, err
			}
		}
		if previous == "" {
			return ResetPoint{}, fmt.Errorf("rerun-from %s: %w", node, ErrNeverDispatched)
		}
		temporalRun = previous
	}
	return ResetPoint{}, fmt.Errorf("rerun-from %s: continue-as-new chain too long", node)
}

// reexecuted lists the nodes whose instances were scheduled, or finished,
// after event id at in one Temporal run.
func (e *Engine) reexecuted(ctx context.Context, wfID, runID, temporalRun string, at int64) ([]string, error) {
	nodeOf := map[int64]string{} // scheduled event id -> node
	seen := map[string]bool{}
	var out []string
	add := func(node string) {
		if node != "" && !seen[node] {
			seen[node] = true
			out = append(out, node)
		}
	}
	it := e.Client.GetWorkflowHistory(ctx, wfID, temporalRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of run %s: %w", runID, err)
		}
		var scheduled int64
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			node, _, _, _ := workflows.ParseInstanceID(ev.GetActivityTaskScheduledEventAttributes().GetActivityId(), runID)
			nodeOf[ev.GetEventId()] = node
			if ev.GetEventId() > at {
				add(node)
			}
			continue
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			scheduled = ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
		case ev.GetActivityTaskFailedEventAttributes() != nil:
			scheduled = ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
		case ev.GetActivityTaskTimedOutEventAttributes() != nil:
			scheduled = ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
		case ev.GetActivityTaskCanceledEventAttributes() != nil:
			scheduled = ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
		default:
			continue
		}
		if ev.GetEventId() > at {
			add(nodeOf[scheduled])
		}
	}
	return out, nil
}

// isInstanceOf reports whether an activity id is an instance of node in run.
func isInstanceOf(activityID, runID, node string) bool {
	n, _, _, ok := workflows.ParseInstanceID(activityID, runID)
	return ok && n == node
}

// Reset resets the run's workflow to p; the new Temporal run re-executes
// the node and everything not finished by then. Signals after the reset
// point are not reapplied: old operator requests must not replay.
func (e *Engine) Reset(ctx context.Context, runID string, p ResetPoint, reason, requestID string) (string, error) {
	start := time.Now()
	id, err := e.reset(ctx, runID, p, reason, requestID)
	state := "applied"
	if err != nil {
		state = ""
	}
	e.Metrics.Control("rerun-from", controlOutcome(state, err), time.Since(start))
	return id, err
}

func (e *Engine) reset(ctx context.Context, runID string, p ResetPoint, reason, requestID string) (string, error) {
	resp, err := e.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 e.Namespace,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(runID), RunId: p.TemporalRunID},
		Reason:                    reason,
		WorkflowTaskFinishEventId: p.EventID,
		RequestId:                 requestID,
		ResetReapplyExcludeTypes: []enumspb.ResetReapplyExcludeType{
			enumspb.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, enumspb.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
		},
	})
	if err != nil {
		return "", fmt.Errorf("reset run %s: %w", runID, err)
	}
	return resp.GetRunId(), nil
}
