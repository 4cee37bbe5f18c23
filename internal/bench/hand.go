package bench

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/workflows"
)

// Registered names of the hand-written workflows.
const (
	HandChainWorkflow   = "bench.HandChain"
	HandFanOutWorkflow  = "bench.HandFanOut"
	HandLayeredWorkflow = "bench.HandLayered"
)

// Group is the worker group both variants dispatch to.
const Group = "default"

// handStartToClose is what the interpreter gives a task without a timeout;
// the hand-written workflows get exactly the same activity options.
const handStartToClose = 30 * 24 * time.Hour

// HandInput sizes a hand-written workflow: the chain's length, the fan-out's
// width, or the number of layers and their width.
type HandInput struct {
	RunID string `json:"run_id"`
	N     int    `json:"n"`
	Width int    `json:"width,omitempty"`
	// From is the layer a run continued as new starts at.
	From int `json:"from,omitempty"`
	// Shell runs the shape's shell task instead of the no-op.
	Shell bool `json:"shell,omitempty"`
}

// The interpreter's defaults, which the hand-written workflows keep too:
// at most handMaxInFlight activities pending (Temporal refuses more than
// 2,000), and continue-as-new between layers once the history reaches
// handHistoryLimit events or handHistorySize bytes.
const (
	handMaxInFlight  = 1000
	handHistoryLimit = 20000
	handHistorySize  = 20 << 20
)

// HandWorkflow returns the registered name of a hand-written workflow and
// its input for s.
func (s Shape) HandWorkflow(runID string) (string, HandInput, error) {
	switch s.Hand {
	case HandChain:
		return HandChainWorkflow, HandInput{RunID: runID, N: len(s.Widths), Shell: s.Shell}, nil
	case HandFanOut:
		return HandFanOutWorkflow, HandInput{RunID: runID, N: s.Widths[1], Shell: s.Shell}, nil
	case HandLayered:
		return HandLayeredWorkflow, HandInput{RunID: runID, N: len(s.Widths), Width: s.Widths[0], Shell: s.Shell}, nil
	default:
		return "", HandInput{}, fmt.Errorf("shape %s has no hand-written workflow", s.Name)
	}
}

// handStart schedules one node the way the interpreter does: same activity
// name, queue, options and request type, so the hand-written workflow has
// no advantage the interpreter could not have.
func handStart(ctx workflow.Context, in HandInput, layer, i int) workflow.Future {
	runID := in.RunID
	id := NodeID(layer, i)
	instance := workflows.InstanceID(runID, id, 0, 1)
	task := Shape{Shell: in.Shell}.task()
	group := task.Group
	if group == "" {
		group = Group
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          instance,
		TaskQueue:           workflows.GroupTaskQueue(group),
		StartToCloseTimeout: handStartToClose,
		HeartbeatTimeout:    workflows.HeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	return workflow.ExecuteActivity(actx, workflows.ExecuteTaskActivity, workflows.TaskRequest{
		RunID: runID, NodeID: id, InstanceID: instance, Attempt: 1, ShardTotal: 1,
		Task: task,
	})
}

func handWait(ctx workflow.Context, fs []workflow.Future) error {
	for _, f := range fs {
		var res workflows.TaskResult
		if err := f.Get(ctx, &res); err != nil {
			return fmt.Errorf("task: %w", err)
		}
		if res.Status != "success" {
			return fmt.Errorf("task ended %s: %s", res.Status, res.Message)
		}
	}
	return nil
}

// HandWrittenChain runs node i after node i-1.
func HandWrittenChain(ctx workflow.Context, in HandInput) error {
	for k := 0; k < in.N; k++ {
		if err := handWait(ctx, []workflow.Future{handStart(ctx, in, k, 0)}); err != nil {
			return err
		}
	}
	return nil
}

// HandWrittenFanOut runs one node, then N in parallel, then one.
func HandWrittenFanOut(ctx workflow.Context, in HandInput) error {
	if err := handWait(ctx, []workflow.Future{handStart(ctx, in, 0, 0)}); err != nil {
		return err
	}
	if err := handLayer(ctx, in, 1, in.N); err != nil {
		return err
	}
	return handWait(ctx, []workflow.Future{handStart(ctx, in, 2, 0)})
}

// handLayer runs width nodes of one layer, at most handMaxInFlight at a
// time: a new one starts as soon as one ends, as the interpreter does.
func handLayer(ctx workflow.Context, in HandInput, layer, width int) error {
	if width <= handMaxInFlight {
		fs := make([]workflow.Future, width)
		for i := range fs {
			fs[i] = handStart(ctx, in, layer, i)
		}
		return handWait(ctx, fs)
	}
	sel := workflow.NewSelector(ctx)
	next, inflight := 0, 0
	var failed error
	for next < width || inflight > 0 {
		for ; next < width && inflight < handMaxInFlight; next++ {
			inflight++
			sel.AddFuture(handStart(ctx, in, layer, next), func(f workflow.Future) {
				inflight--
				if err := handWait(ctx, []workflow.Future{f}); err != nil && failed == nil {
					failed = err
				}
			})
		}
		sel.Select(ctx)
		if failed != nil {
			return failed
		}
	}
	return nil
}

// HandWrittenLayered runs N layers of Width parallel nodes, each layer once the
// previous one is all done.
// A run whose history reaches the interpreter's limits continues as new
// at the next layer.
func HandWrittenLayered(ctx workflow.Context, in HandInput) error {
	for k := in.From; k < in.N; k++ {
		if err := handLayer(ctx, in, k, in.Width); err != nil {
			return err
		}
		info := workflow.GetInfo(ctx)
		if k+1 < in.N && (info.GetCurrentHistoryLength() >= handHistoryLimit || info.GetCurrentHistorySize() >= handHistorySize) {
			next := in
			next.From = k + 1
			return workflow.NewContinueAsNewError(ctx, HandLayeredWorkflow, next)
		}
	}
	return nil
}

// NoopTask stands in for activities.Tasks: it succeeds at once, so what is
// measured is orchestration, not work.
func NoopTask(context.Context, workflows.TaskRequest) (workflows.TaskResult, error) {
	return workflows.TaskResult{Status: "success", WorkerID: "bench"}, nil
}
