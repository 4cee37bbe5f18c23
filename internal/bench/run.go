package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/executor"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// Variant is one way of running a shape.
type Variant string

// Variants, in the order the report lists them.
const (
	VariantHand      Variant = "hand-written"
	VariantMirrorOff Variant = "interpreter, mirror off"
	VariantMirrorOn  Variant = "interpreter, mirror on"
	// VariantMirrorAwaited is the mirror as it was before the write-behind
	// queue (workflows.versionMirrorBehind): a flows worker whose mirror
	// activity writes every batch before it answers, so the write holds
	// the workflow task. Run beside the others (-mirror all), it gives the
	// before and after ratios from one run.
	VariantMirrorAwaited Variant = "interpreter, mirror on, awaited (before)"
	// VariantAlerts is mirror on with AlertRules on the run: what alerting
	// costs a run that succeeds (its hops, the SLA timer set and cancelled).
	VariantAlerts Variant = "interpreter, mirror on + alerts"
)

// AlertRules are VariantAlerts' rules, as an operator would put them on a
// nightly flow: page on any failure, and an SLA. On a run that succeeds
// none fires (the channel is never reached); the SLA's timer is started
// at the run's start and cancelled at its end.
var AlertRules = []dag.AlertRule{
	{Events: []dag.AlertEvent{dag.AlertNodeFailed, dag.AlertRunFailed}, Channels: []string{"bench-oncall"}},
	{Events: []dag.AlertEvent{dag.AlertSLAMiss}, Channels: []string{"bench-oncall"}, SLA: &dag.SLA{After: "1h"}},
}

// AwaitedFlowsQueue is the flows queue of VariantMirrorAwaited's worker.
const AwaitedFlowsQueue = workflows.FlowsTaskQueue + "-awaited"

// ActivitySlots is the group worker's MaxConcurrentActivityExecutionSize:
// a whole 1,000-wide layer can run at once, for both variants alike.
const ActivitySlots = 1000

// Options configures a benchmark run.
type Options struct {
	Client client.Client
	// Store is the SQLite mirror the interpreter writes when the mirror is on.
	Store  *models.Store
	Shapes []Shape
	Reps   int
	Mirror string // off | on | both (off and on) | all (off, on and awaited)
	// Alerts adds VariantAlerts to the interpreter variants when the
	// mirror is on.
	Alerts bool
	// Progress receives one line per workflow run.
	Progress io.Writer
	// RunTimeout bounds one workflow run, so a stuck run fails the
	// benchmark instead of hanging it.
	RunTimeout time.Duration
	// DataConverter is the client's, to read activity inputs back from
	// histories (nil: the SDK's default).
	DataConverter converter.DataConverter
	// HistoryDir, when set, receives every measured run's histories as
	// JSON (one file per run of the chain), for reading a slow run's
	// timeline event by event.
	HistoryDir string
}

// Sample is one workflow run.
type Sample struct {
	Rep      int
	Makespan time.Duration
	Stats    HistoryStats
	Err      error
}

// Result is every sample of one shape × variant.
type Result struct {
	Shape   Shape
	Variant Variant
	Samples []Sample
}

// Failed reports whether any sample failed.
func (r *Result) Failed() bool {
	for _, s := range r.Samples {
		if s.Err != nil {
			return true
		}
	}
	return false
}

// Variants lists the variants to run for s under the -mirror setting.
func (o *Options) Variants(s Shape) []Variant {
	var vs []Variant
	if s.Hand != HandNone {
		vs = append(vs, VariantHand)
	}
	if o.Mirror != "on" {
		vs = append(vs, VariantMirrorOff)
	}
	if o.Mirror != "off" {
		vs = append(vs, VariantMirrorOn)
		if o.Alerts {
			vs = append(vs, VariantAlerts)
		}
	}
	if o.Mirror == "all" {
		vs = append(vs, VariantMirrorAwaited)
	}
	return vs
}

// StartWorkers starts what a production worker of group Group runs, in one
// process: the flows queue (the interpreter with its real mirror local
// activity, and the hand-written workflows beside it) and the group queue,
// where NoopTask stands in for the real task executor. Both variants share
// these workers, so pollers and slots are the same for both.
func StartWorkers(c client.Client, store *models.Store, shellConcurrency int) (stop func(), err error) {
	flows := worker.New(c, workflows.FlowsTaskQueue, worker.Options{})
	drain := engine.RegisterFlows(flows, store, nil, nil, nil)
	flows.RegisterWorkflowWithOptions(HandWrittenChain, workflow.RegisterOptions{Name: HandChainWorkflow})
	flows.RegisterWorkflowWithOptions(HandWrittenFanOut, workflow.RegisterOptions{Name: HandFanOutWorkflow})
	flows.RegisterWorkflowWithOptions(HandWrittenLayered, workflow.RegisterOptions{Name: HandLayeredWorkflow})
	// The before variant's worker: the same interpreter, its mirror
	// without the write-behind queue.
	awaited := worker.New(c, AwaitedFlowsQueue, worker.Options{})
	engine.RegisterFlowsWith(awaited, &activities.Mirror{Store: store}, nil)
	tasks := worker.New(c, workflows.GroupTaskQueue(Group), worker.Options{
		MaxConcurrentActivityExecutionSize: ActivitySlots,
		DisableWorkflowWorker:              true,
	})
	tasks.RegisterActivityWithOptions(NoopTask, activity.RegisterOptions{Name: workflows.ExecuteTaskActivity})
	// The shell shapes' worker runs the real task activity, as `baton
	// worker` does (options as engine.StartWorker sets them).
	root, err := os.MkdirTemp("", "baton-bench-work-")
	if err != nil {
		return nil, fmt.Errorf("shell work root: %w", err)
	}
	if err := executor.PrepareWorkRoot(root, nil); err != nil {
		return nil, fmt.Errorf("shell work root: %w", err)
	}
	shell := worker.New(c, workflows.GroupTaskQueue(ShellGroup), worker.Options{
		MaxConcurrentActivityExecutionSize: shellConcurrency,
		MaxHeartbeatThrottleInterval:       time.Second,
		DefaultHeartbeatThrottleInterval:   time.Second,
		DisableWorkflowWorker:              true,
	})
	shellTasks := &activities.Tasks{Store: store, WorkerID: "bench-shell", Host: "bench", WorkRoot: root, Group: ShellGroup}
	shell.RegisterActivityWithOptions(shellTasks.Execute, activity.RegisterOptions{Name: workflows.ExecuteTaskActivity})
	started := []worker.Worker{}
	stopAll := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].Stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = drain(ctx)
		_ = os.RemoveAll(root)
	}
	for _, w := range []worker.Worker{flows, awaited, tasks, shell} {
		if err := w.Start(); err != nil {
			stopAll()
			return nil, fmt.Errorf("start bench worker: %w", err)
		}
		started = append(started, w)
	}
	return stopAll, nil
}

type runner struct {
	o    *Options
	seq  int
	deps map[string]map[string][]string // shape name → TaskDeps
}

// Run runs every shape's variants interleaved, rep after rep, and returns
// one Result per shape × variant. A failed workflow run is recorded in its
// Sample, not returned: the other figures are still worth reporting.
func Run(ctx context.Context, o Options) ([]*Result, error) {
	if o.Reps < 1 {
		o.Reps = 1
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = 20 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	r := &runner{o: &o, deps: map[string]map[string][]string{}}
	// Warm caches, sticky queues and the mirror's connection so the first
	// measured variant does not pay for them; not reported.
	warm := Shape{Name: "warmup", Widths: repeat(1, 5), Hand: HandChain}
	for _, v := range o.Variants(warm) {
		if s := r.once(ctx, warm, v, 0); s.Err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", v, s.Err)
		}
	}
	var results []*Result
	index := map[string]*Result{}
	for _, sh := range o.Shapes {
		for _, v := range o.Variants(sh) {
			res := &Result{Shape: sh, Variant: v}
			results = append(results, res)
			index[sh.Name+"|"+string(v)] = res
		}
	}
	for rep := 1; rep <= o.Reps; rep++ {
		for _, sh := range o.Shapes {
			vs := o.Variants(sh)
			// Rotating the order spreads any drift in the machine's load
			// over all variants instead of always hitting the same one.
			for i := range vs {
				v := vs[(i+rep-1)%len(vs)]
				s := r.once(ctx, sh, v, rep)
				res := index[sh.Name+"|"+string(v)]
				res.Samples = append(res.Samples, s)
				if err := ctx.Err(); err != nil {
					return results, err
				}
			}
		}
	}
	return results, nil
}

func (r *runner) once(ctx context.Context, sh Shape, v Variant, rep int) Sample {
	s := Sample{Rep: rep}
	r.seq++
	runID := fmt.Sprintf("bench-%s-%s-%d", sh.Name, variantKey(v), r.seq)
	flow := sh.Flow()
	deps, ok := r.deps[sh.Name]
	if !ok {
		deps = TaskDeps(&flow)
		r.deps[sh.Name] = deps
	}
	rctx, cancel := context.WithTimeout(ctx, r.o.RunTimeout)
	defer cancel()
	wid, first, makespan, err := r.execute(rctx, sh, flow, v, runID)
	s.Makespan = makespan
	s.Err = err
	if first != "" {
		// Also after a failure: how far the run got, and whether it had
		// continued as new, tells what broke.
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		chain, ferr := FetchChain(hctx, r.o.Client, wid, first)
		hcancel()
		if ferr == nil && r.o.HistoryDir != "" {
			ferr = writeChain(r.o.HistoryDir, runID, chain)
		}
		if ferr == nil {
			s.Stats, ferr = Analyze(chain, deps, NodeFromRequest(r.o.DataConverter))
		}
		switch {
		case s.Err == nil:
			s.Err = ferr
		case ferr == nil:
			s.Err = fmt.Errorf("%w [after %d run(s) in the continue-as-new chain, %d events, %d of %d activities scheduled]",
				s.Err, s.Stats.Runs, s.Stats.Events, s.Stats.Activities, sh.TaskNodes())
		}
	}
	line := fmt.Sprintf("rep %d  %-20s %-32s %8.2fs", rep, sh.Name, v, makespan.Seconds())
	if s.Err != nil {
		line += "  FAILED: " + s.Err.Error()
	} else {
		line += fmt.Sprintf("  runs %d  events %d  workflow tasks %d", s.Stats.Runs, s.Stats.Events, s.Stats.WorkflowTasks)
	}
	_, _ = fmt.Fprintln(r.o.Progress, line)
	return s
}

func variantKey(v Variant) string {
	switch v {
	case VariantHand:
		return "hand"
	case VariantMirrorOff:
		return "off"
	case VariantMirrorAwaited:
		return "awaited"
	case VariantAlerts:
		return "alerts"
	default:
		return "on"
	}
}

// startOptions are the same for both variants: the interpreter's start
// options as the engine sets them (search attributes included, since they
// cost the server a visibility write).
func startOptions(id, definitionID, queue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                queue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchStatus.ValueSet("waiting"),
			workflows.SearchDefinitionID.ValueSet(definitionID),
			workflows.SearchBizdate.ValueSet(bizdate),
		),
	}
}

const bizdate = "2026-01-01"

// execute starts one workflow and waits for its result, following
// continue-as-new; the makespan is wall clock from start to result.
func (r *runner) execute(ctx context.Context, sh Shape, flow dag.Flow, v Variant, runID string) (wid, first string, makespan time.Duration, err error) {
	c := r.o.Client
	defID := "bench-" + sh.Name
	var name string
	var input any
	queue := workflows.FlowsTaskQueue
	if v == VariantHand {
		var hin HandInput
		name, hin, err = sh.HandWorkflow(runID)
		if err != nil {
			return "", "", 0, err
		}
		wid, input = "bench-hand-"+runID, hin
	} else {
		mirror := v == VariantMirrorOn || v == VariantAlerts || v == VariantMirrorAwaited
		if v == VariantMirrorAwaited {
			queue = AwaitedFlowsQueue
		}
		if mirror {
			// The API creates the run row before starting the workflow; the
			// mirror only updates it.
			err := r.o.Store.CreateRun(ctx, &models.Run{ID: runID, Kind: "flow", DefinitionID: defID,
				DefinitionName: flow.Name, Version: 1, Group: Group, Status: "waiting", Trigger: dag.TriggerManual,
				Bizdate: bizdate, WorkflowID: workflows.WorkflowID(runID)})
			if err != nil {
				return "", "", 0, fmt.Errorf("create run row: %w", err)
			}
		}
		name, wid = workflows.RunWorkflowName, workflows.WorkflowID(runID)
		in := workflows.RunInput{RunID: runID, Kind: "flow", DefinitionID: defID, Version: 1,
			Trigger: dag.TriggerManual, Bizdate: bizdate, Flow: flow, Mirror: mirror,
			MaxInFlight: sh.MaxInFlight, HistoryLimit: sh.HistoryLimit}
		if v == VariantAlerts {
			in.Alerts = AlertRules
		}
		input = in
	}
	t0 := time.Now()
	run, err := c.ExecuteWorkflow(ctx, startOptions(wid, defID, queue), name, input)
	if err != nil {
		return wid, "", time.Since(t0), fmt.Errorf("start %s: %w", wid, err)
	}
	// Get moves the handle along the continue-as-new chain: keep the first.
	first = run.GetRunID()
	wctx, stuck := context.WithCancelCause(ctx)
	defer stuck(nil)
	go watch(wctx, c, wid, stuck)
	if v == VariantHand {
		err = run.Get(wctx, nil)
	} else {
		var res workflows.RunResult
		if err = run.Get(wctx, &res); err == nil && res.Status != "success" {
			err = fmt.Errorf("run ended %s", res.Status)
		}
	}
	makespan = time.Since(t0)
	if err == nil {
		return wid, first, makespan, nil
	}
	if cause := context.Cause(wctx); errors.As(cause, new(*stuckError)) {
		err = cause
	}
	// A stuck or timed-out run would go on loading the server under the
	// next measurements; one that already ended makes this a no-op.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var done *serviceerror.NotFound
	if terr := c.TerminateWorkflow(tctx, wid, "", "bench: run failed or is stuck"); terr != nil && !errors.As(terr, &done) {
		err = fmt.Errorf("%w (and terminating it failed: %w)", err, terr)
	}
	return wid, first, makespan, fmt.Errorf("run %s: %w", wid, err)
}

// stuckAttempts is the workflow-task attempt at which a run counts as stuck:
// a failing workflow task is retried forever and the run never ends.
const stuckAttempts = 3

type stuckError struct {
	attempt int32
	cause   string
}

func (e *stuckError) Error() string {
	return fmt.Sprintf("stuck: workflow task failed %d times in a row: %s", e.attempt, e.cause)
}

// watch ends the wait for a run whose workflow task keeps failing, with the
// failure the history recorded.
func watch(ctx context.Context, c client.Client, wid string, stuck context.CancelCauseFunc) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := c.DescribeWorkflowExecution(ctx, wid, "")
		if err != nil {
			continue
		}
		attempt := d.GetPendingWorkflowTask().GetAttempt()
		if attempt < stuckAttempts {
			continue
		}
		cause := "unknown cause"
		it := c.GetWorkflowHistory(ctx, wid, d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				break
			}
			if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
				cause = a.GetCause().String() + ": " + a.GetFailure().GetMessage()
			}
		}
		stuck(&stuckError{attempt: attempt, cause: cause})
		return
	}
}

// FetchChain reads the full history of a workflow from its first run
// through every continue-as-new.
func FetchChain(ctx context.Context, c client.Client, workflowID, runID string) ([]Execution, error) {
	var chain []Execution
	for runID != "" {
		it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var ex Execution
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("history of %s/%s: %w", workflowID, runID, err)
			}
			ex = append(ex, e)
		}
		chain = append(chain, ex)
		runID = ""
		if n := len(ex); n > 0 {
			runID = ex[n-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("empty history")
	}
	return chain, nil
}

// writeChain writes each execution of chain as a Temporal history JSON file
// (the format `temporal workflow show --output json` prints).
func writeChain(dir, runID string, chain []Execution) error {
	for i, ex := range chain {
		b, err := protojson.Marshal(&historypb.History{Events: ex})
		if err != nil {
			return fmt.Errorf("encode history of %s: %w", runID, err)
		}
		name := filepath.Join(dir, fmt.Sprintf("%s.%d.json", runID, i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	return nil
}
