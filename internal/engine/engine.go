package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/executor"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// SearchAttributes are the custom attributes the namespace must have.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, n := range workflows.SearchAttributeNames() {
		m[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return m
}

// DialOption adjusts the Temporal client's options.
type DialOption func(*client.Options)

// WithMetrics sends the SDK's own metrics (requests, polls, task latencies)
// to m's registry.
func WithMetrics(m *metrics.Metrics) DialOption {
	return func(o *client.Options) { o.MetricsHandler = m.TemporalHandler() }
}

// Dial connects to Temporal, retrying for up to wait while the server
// comes up, and gives up at once when ctx ends.
func Dial(ctx context.Context, hostPort, namespace string, logger *slog.Logger, wait time.Duration, opts ...DialOption) (client.Client, error) {
	o := client.Options{
		HostPort:      hostPort,
		Namespace:     namespace,
		Logger:        tlog.NewStructuredLogger(logger),
		DataConverter: DataConverter(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := Poll(ctx, wait, func() (client.Client, error) { return client.DialContext(ctx, o) })
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", hostPort, err)
	}
	return c, nil
}

// Engine starts runs; it implements api.Engine.
type Engine struct {
	Client client.Client
	// Namespace is needed by the raw service calls (reset).
	Namespace string
	// Metrics counts control operations; nil records nothing.
	Metrics *metrics.Metrics
}

// StartRun starts the interpreter for a run and returns its Temporal run id.
func (e *Engine) StartRun(ctx context.Context, in workflows.RunInput) (string, error) {
	opts := client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(in.RunID),
		TaskQueue:                workflows.FlowsTaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchStatus.ValueSet("waiting"),
			workflows.SearchDefinitionID.ValueSet(in.DefinitionID),
			workflows.SearchBizdate.ValueSet(in.Bizdate),
		),
	}
	run, err := e.Client.ExecuteWorkflow(ctx, opts, workflows.RunWorkflowName, in)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return "", fmt.Errorf("start run %s: %w", in.RunID, models.ErrConflict)
		}
		return "", fmt.Errorf("start run %s: %w", in.RunID, err)
	}
	return run.GetRunID(), nil
}

// WorkerOptions configures a group worker.
type WorkerOptions struct {
	Group       string
	WorkerID    string
	Concurrency int
	// WorkRoot holds per-instance working directories ("" = temp dir).
	WorkRoot  string
	HTTPAllow []string
	// Isolation confines shell tasks (task user, cgroups, environment).
	Isolation executor.Isolation
	Logger    *slog.Logger
	// Metrics receives instance, mirror, schedule and backfill series.
	Metrics *metrics.Metrics
	// ConsoleURL is where alert messages link runs to (BATON_CONSOLE_URL).
	ConsoleURL string
	// Sealer opens alert channels' sealed secrets (BATON_SECRET_KEY); nil
	// leaves only env:NAME secrets usable.
	Sealer *alert.Sealer
	// FlowActivities registers more activities on the flows worker, before
	// it starts. The itests register a recording DeliverAlertActivity with
	// it while the real one is not on their branch.
	FlowActivities func(worker.Registry)
}

// Worker is a running group worker.
type Worker struct {
	workers []worker.Worker
	tasks   *activities.Tasks
	store   *models.Store
	opts    WorkerOptions
	host    string
	drain   func(context.Context) error // the mirror's write-behind queue
	stop    chan struct{}
	done    chan struct{}
}

// RegisterFlows registers the workflows (interpreter, backfill, schedule
// fire) and the mirror and alert activities they run on the flows queue.
// A nil alerts delivers without a secret key or console link. The mirror
// gets its write-behind queue; the returned function drains it once the
// worker has stopped (bounded by its ctx).
func RegisterFlows(w worker.Registry, store *models.Store, m *metrics.Metrics, logger *slog.Logger, alerts *activities.Alerts) (drain func(context.Context) error) {
	mirror := activities.NewMirror(store, m, logger)
	RegisterFlowsWith(w, mirror, alerts)
	return mirror.Behind.Close
}

// RegisterFlowsWith is RegisterFlows with the caller's mirror activities
// (the benchmark measures one without a write-behind queue too).
func RegisterFlowsWith(w worker.Registry, mirror *activities.Mirror, alerts *activities.Alerts) {
	w.RegisterWorkflowWithOptions(workflows.RunWorkflow, workflow.RegisterOptions{Name: workflows.RunWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.BackfillWorkflow, workflow.RegisterOptions{Name: workflows.BackfillWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.FireWorkflow, workflow.RegisterOptions{Name: workflows.FireWorkflowName})
	w.RegisterActivityWithOptions(mirror.Record, activity.RegisterOptions{Name: workflows.RecordMirrorActivity})
	w.RegisterActivityWithOptions(mirror.LiveWorkers, activity.RegisterOptions{Name: workflows.LiveWorkersActivity})
	if alerts == nil {
		alerts = &activities.Alerts{}
	}
	if alerts.Store == nil {
		alerts.Store = mirror.Store
	}
	w.RegisterActivityWithOptions(alerts.Deliver, activity.RegisterOptions{Name: workflows.DeliverAlertActivity})
}

// RegisterRunStarter registers the activities that start runs by
// themselves (backfill dates, schedule fires); they need the client.
func RegisterRunStarter(w worker.Registry, store *models.Store, c client.Client, m *metrics.Metrics) {
	e := &Engine{Client: c}
	runs := &activities.Runs{Store: store, Starter: e, Schedules: e, Metrics: m}
	w.RegisterActivityWithOptions(runs.StartRun, activity.RegisterOptions{Name: workflows.StartRunActivity})
	w.RegisterActivityWithOptions(runs.RecordBackfill, activity.RegisterOptions{Name: workflows.RecordBackfillLocal})
	w.RegisterActivityWithOptions(runs.ActiveFiredRuns, activity.RegisterOptions{Name: workflows.ActiveFiredRunsActivity})
	w.RegisterActivityWithOptions(runs.PauseSchedule, activity.RegisterOptions{Name: workflows.PauseScheduleActivity})
}

// StartWorker starts polling the flows queue, the group queue and the
// worker's own queue, and registers the worker in the mirror.
func StartWorker(ctx context.Context, c client.Client, store *models.Store, o WorkerOptions) (*Worker, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	if o.WorkRoot == "" {
		o.WorkRoot = filepath.Join(os.TempDir(), "baton-work")
	}
	if err := executor.PrepareWorkRoot(o.WorkRoot, o.Isolation.User); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	tasks := &activities.Tasks{Store: store, WorkerID: o.WorkerID, Host: host, WorkRoot: o.WorkRoot, HTTPAllow: o.HTTPAllow,
		Group: o.Group, Metrics: o.Metrics, Isolation: o.Isolation}
	flows := worker.New(c, workflows.FlowsTaskQueue, worker.Options{})
	// Webhooks share the http tasks' allowlist: any worker may deliver.
	drain := RegisterFlows(flows, store, o.Metrics, o.Logger, &activities.Alerts{Store: store, Sealer: o.Sealer,
		ConsoleURL: o.ConsoleURL, Sender: &alert.Sender{HTTPAllow: o.HTTPAllow}})
	RegisterRunStarter(flows, store, c, o.Metrics)
	if o.FlowActivities != nil {
		o.FlowActivities(flows)
	}
	ws := []worker.Worker{flows}
	for _, q := range []string{workflows.GroupTaskQueue(o.Group), workflows.WorkerTaskQueue(o.Group, o.WorkerID)} {
		w := worker.New(c, q, worker.Options{
			MaxConcurrentActivityExecutionSize: o.Concurrency,
			// A stop reaches a running task on a heartbeat response; the
			// SDK's default throttle (80% of the heartbeat timeout) would
			// delay it by many seconds.
			MaxHeartbeatThrottleInterval:     time.Second,
			DefaultHeartbeatThrottleInterval: time.Second,
			// Task instances only: this poller never runs workflows.
			DisableWorkflowWorker: true,
		})
		w.RegisterActivityWithOptions(tasks.Execute, activity.RegisterOptions{Name: workflows.ExecuteTaskActivity})
		ws = append(ws, w)
	}
	wk := &Worker{workers: ws, tasks: tasks, store: store, opts: o, host: host, drain: drain,
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := wk.heartbeat(ctx); err != nil {
		_ = drain(ctx)
		return nil, fmt.Errorf("start worker: register: %w", err)
	}
	for i, w := range ws {
		if err := w.Start(); err != nil {
			for _, s := range ws[:i] {
				s.Stop()
			}
			_ = drain(ctx)
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	go wk.heartbeatLoop()
	return wk, nil
}

func (w *Worker) heartbeat(ctx context.Context) error {
	return w.store.HeartbeatWorker(ctx, models.Worker{
		ID: w.opts.WorkerID, Group: w.opts.Group, Host: w.host, PID: os.Getpid(),
		Running: int(w.tasks.Running.Load()),
	})
}

func (w *Worker) heartbeatLoop() {
	defer close(w.done)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := w.heartbeat(ctx); err != nil {
				w.opts.Logger.Warn("worker heartbeat failed", "error", err)
			}
			cancel()
		}
	}
}

// Stop stops polling and waits for running activities to end (the SDK
// gives them its stop timeout).
func (w *Worker) Stop() {
	close(w.stop)
	<-w.done
	for _, x := range w.workers {
		x.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.drain(ctx); err != nil {
		w.opts.Logger.Warn("worker stop: mirror writes left to the reconciler", "error", err)
	}
}
