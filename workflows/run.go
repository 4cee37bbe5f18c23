package workflows

import (
	"fmt"
	"math"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

const (
	defaultMaxInFlight  = 1000
	defaultHistoryLimit = 20000
	// HeartbeatTimeout is how soon a dead worker is noticed; task activities
	// heartbeat well inside it.
	HeartbeatTimeout = 15 * time.Second
	// maxLostRetries bounds re-dispatches after a worker vanished mid-task;
	// they do not consume the node's own retry budget.
	maxLostRetries = 3
	// noTimeout bounds an instance without a timeout; heartbeats still catch
	// a dead worker within HeartbeatTimeout.
	noTimeout = 30 * 24 * time.Hour
	// DefaultOperableWindow keeps an ended, unsuccessful run open for
	// operations when the input does not say.
	DefaultOperableWindow = 7 * 24 * time.Hour
	// pinnedStartTimeout bounds the wait of a broadcast instance for its
	// own worker to take it: a live worker takes it within a second unless
	// all its slots are busy, so this is generous.
	pinnedStartTimeout = 10 * time.Minute
	// keptResults bounds the control results kept for the control query.
	keptResults = 1000
)

// changeOperable is the interpreter's versioned change; its versions,
// newest last, follow.
var changeOperable = newChange(RunWorkflowName, "operable-window", versionMirrorBehind).
	reserve("never used: the write-behind mirror was developed as 6 beside version 8 and merged as 9", 6, 7)

const (
	versionOperable1 = 1
	// versionOwnLimits: continue-as-new at the interpreter's own history
	// limits only. Temporal suggests it from 4,096 events, which made every
	// 1,000-node flow pause to hand over its state.
	versionOwnLimits = 2
	// versionSaturatedWaits: a retry wait whose backoff passes
	// time.Duration's range is capped (at max_interval, else
	// dag.MaxDuration) instead of wrapping negative, which failed the
	// node at once without its remaining attempts.
	versionSaturatedWaits = 3
	// versionAlerts: the run delivers alerts (run, node and instance
	// events, SLA timers) by its RunInput.Alerts; see alerts.go.
	versionAlerts = 4
	// versionPinnedLost: a broadcast instance (it may run only on its own
	// worker) whose worker is lost fails at once, saying so, instead of
	// being queued again for that worker, where nothing polls while the
	// worker is gone; and it fails when its worker does not take it within
	// pinnedStartTimeout (the worker died after the live-worker list).
	versionPinnedLost = 5
	// Versions 6 and 7 are reserved (see changeOperable).
	//
	// versionExecutionIDs: the instances a reset execution dispatches are
	// named after it deterministically (executionSuffix), so a replay of
	// the reset execution (a query on an evicted workflow, a worker
	// restart) names them as its live run did.
	versionExecutionIDs = 8
	// versionMirrorBehind: the mirror write of a workflow task no longer
	// holds the task. The batch goes to the worker's write-behind queue
	// (activities.WriteBehind) and the task's commands leave at once; the
	// write the run ends with, and that of a task that applied a control
	// request, are still awaited, so a closed run's mirror is whole and a
	// control's effect is there before its answer. The worker's "running"
	// mark gets a rev of its own, reserved at dispatch above the instance's
	// "waiting" write, so that write landing late cannot take the instance
	// back to waiting.
	versionMirrorBehind = 9
	// historySizeLimit is the history size at which a run continues as new
	// (Temporal's hard limit is 50 MiB).
	historySizeLimit = 20 << 20
)

// RunWorkflow interprets one run of a flow (or of a single task, as a
// one-node flow) from the snapshot in its input.
func RunWorkflow(ctx workflow.Context, in RunInput) (RunResult, error) {
	g, err := dag.NewGraph(&in.Flow)
	if err != nil {
		return RunResult{}, temporal.NewNonRetryableApplicationError("invalid flow snapshot", "InvalidFlow", err)
	}
	r := newRunner(ctx, in, g)
	return r.run()
}

// shard is the latest attempt of one instance slot of a node.
type shard struct {
	index    int
	param    string
	attempt  int
	lost     int
	queue    string
	workerID string
	id       string // instance id of the latest attempt
	status   status.Instance
	cancel   workflow.CancelFunc
	stopReq  string // why a stop was asked for; no retry after it
	// times of the latest attempt once it has finished, for the view
	times instanceTimes
}

type nodeRun struct {
	idx        int
	node       *dag.Node
	status     status.Node
	lastStatus status.Node // as last recorded, for the transition log
	forced     bool
	attempts   int
	outputs    map[string]string
	message    string
	rev        int64
	startedAt  *time.Time
	finishedAt *time.Time
	shards     []*shard
	queued     []QueuedInstance
	stopReq    string
	// chosen marks a node re-executed by rerun-downstream: it waits only for
	// the other chosen nodes upstream of it.
	chosen bool
	rerun  map[string]bool
}

func (n *nodeRun) ran() bool { return n.attempts > 0 }

type runner struct {
	ctx     workflow.Context
	in      RunInput
	g       *dag.Graph
	log     interface{ Info(string, ...any) }
	byID    map[string]*nodeRun
	version workflow.Version
	// nodes is indexed by topological position (dag.Graph.Index).
	nodes []*nodeRun

	revMillis int64
	revSeq    int64
	rev       int64
	startedAt time.Time
	deadline  *time.Time
	runStatus status.Run
	paused    bool
	halted    string // why no new work starts: "timeout", "fail_fast", "stop"
	haltMsg   string
	draining  bool // continue-as-new requested
	closed    bool // the run ended for good (rolled back, abandoned)
	notified  status.Run
	// rollbackDue holds an accepted rollback until the main loop runs it,
	// so the request is answered at once however long compensations take.
	rollbackDue []string

	candidates *indexSet
	queue      []*nodeRun // nodes with queued instances, FIFO
	inflight   int
	timers     int
	actCtx     workflow.Context
	cancelActs workflow.CancelFunc
	sel        workflow.Selector
	batch      *pendingBatch
	// queuedBehind: the last mirror write was left to the worker's queue,
	// so an awaited write must go out even with nothing new.
	queuedBehind bool
	// controlled: this workflow task applied a control request, so its
	// mirror write is awaited.
	controlled  bool
	maxInFlight int
	reset       bool // this run is the product of a Temporal reset
	resynced    bool
	results     map[string]ControlResult
	resultOrder []string
	actor       string // who caused the changes being recorded
	reason      string
	requestID   string
	alerts      runAlerts
	notes       noteClock
}

func newRunner(ctx workflow.Context, in RunInput, g *dag.Graph) *runner {
	info := workflow.GetInfo(ctx)
	r := &runner{
		ctx:         ctx,
		in:          in,
		g:           g,
		log:         workflow.GetLogger(ctx),
		byID:        make(map[string]*nodeRun, g.Len()),
		nodes:       make([]*nodeRun, g.Len()),
		candidates:  newIndexSet(),
		sel:         workflow.NewSelector(ctx),
		batch:       newPendingBatch(),
		maxInFlight: in.MaxInFlight,
		reset:       info.OriginalRunID != "" && info.OriginalRunID != info.WorkflowExecution.RunID,
		results:     map[string]ControlResult{},
		actor:       "engine",
	}
	if r.maxInFlight <= 0 {
		r.maxInFlight = defaultMaxInFlight
	}
	for i, id := range g.Order() {
		n := &nodeRun{idx: i, node: g.Node(id), status: status.NodeWaiting}
		r.nodes[i] = n
		r.byID[id] = n
	}
	r.actCtx, r.cancelActs = workflow.WithCancel(ctx)
	return r
}

func (r *runner) run() (RunResult, error) {
	if err := workflow.SetQueryHandler(r.ctx, QueryState, r.view); err != nil {
		return RunResult{}, fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetQueryHandler(r.ctx, QueryControl, r.controlResult); err != nil {
		return RunResult{}, fmt.Errorf("register control query: %w", err)
	}
	if c := r.in.Carry; c != nil {
		r.version = workflow.Version(c.Version)
		r.restore(c)
		r.restoreAlerts(c.Alerts)
	} else {
		r.version = changeOperable.get(r.ctx)
		r.start()
		r.startSLAs()
	}
	ctrl := workflow.GetSignalChannel(r.ctx, SignalControl)
	r.sel.AddReceive(ctrl, func(c workflow.ReceiveChannel, _ bool) {
		var req control.Request
		c.Receive(r.ctx, &req)
		r.apply(req)
	})
	if r.deadline != nil {
		d := r.deadline.Sub(workflow.Now(r.ctx))
		if d <= 0 {
			d = time.Millisecond
		}
		// The deadline timer lives outside actCtx: halting cancels
		// activities, never the run's own deadline.
		r.sel.AddFuture(workflow.NewTimer(r.ctx, d), func(workflow.Future) {
			if r.deadline != nil && r.halted == "" && !r.runStatus.Terminal() {
				r.halt("timeout", "run timeout reached")
			}
		})
	}
	r.armSLAs()
	var window workflow.Future
	for {
		r.evaluate()
		r.dispatch()
		r.flush()
		if ids := r.rollbackDue; ids != nil {
			r.rollbackDue = nil
			r.rollback(ids)
			continue
		}
		if r.settled() {
			final := r.outcome()
			if r.version < versionOperable1 {
				return r.finish(final)
			}
			if r.runStatus != final {
				r.setRun(final, r.haltMsg)
				r.upsertStatus()
			}
			r.flushAwaited()
			r.notify()
			r.alertEnd()
			if r.closed || final == status.RunSuccess || final == status.RunSkipped {
				if r.alertsDrained() {
					return r.result(), nil
				}
			} else {
				// An unsuccessful run stays open for operations (retry, skip,
				// rerun downstream, rollback, abandon) for the operable window.
				if window == nil {
					r.deadline = nil
					window = workflow.NewTimer(r.ctx, r.operableWindow())
					r.sel.AddFuture(window, func(workflow.Future) {})
				}
				if window.IsReady() && r.alertsDrained() {
					return r.result(), nil
				}
			}
		}
		if r.draining && r.inflight == 0 && r.timers == 0 &&
			(r.version < versionAlerts || r.alerts.drained(r.ctx, r.sel, alertHandover)) {
			return RunResult{}, r.continueAsNew()
		}
		r.sel.Select(r.ctx)
		for r.sel.HasPending() {
			r.sel.Select(r.ctx)
		}
		if !r.draining && r.historyFull() {
			r.draining = true
		}
	}
}

// notify tells the Notify workflow about each final status the run reaches.
func (r *runner) notify() {
	if r.in.Notify == "" || r.notified == r.runStatus {
		return
	}
	r.notified = r.runStatus
	ended := RunEnded{RunID: r.in.RunID, Status: string(r.runStatus), Bizdate: r.in.Bizdate}
	// The backfill or fire may have ended already; that is not the run's problem.
	if err := workflow.SignalExternalWorkflow(r.ctx, r.in.Notify, "", SignalRunEnded, ended).Get(r.ctx, nil); err != nil {
		r.log.Info("notify failed", "workflow", r.in.Notify, "error", err)
	}
}

func (r *runner) operableWindow() time.Duration {
	if r.in.OperableWindow != "" {
		if d := r.in.OperableWindow.MustStd(); d > 0 {
			return d
		}
	}
	return DefaultOperableWindow
}

// settled reports whether nothing is running or can start by itself.
func (r *runner) settled() bool {
	if r.inflight > 0 || r.timers > 0 {
		return false
	}
	if r.halted != "" || r.runStatus.Terminal() {
		return true
	}
	if r.paused || len(r.queue) > 0 {
		return false
	}
	for _, n := range r.nodes {
		if n.status == status.NodePaused {
			return false
		}
	}
	return true
}

func (r *runner) start() {
	now := workflow.Now(r.ctx)
	r.startedAt = now
	if d := r.in.Flow.Timeout.MustStd(); d > 0 {
		t := now.Add(d)
		r.deadline = &t
	}
	r.setRun(status.RunRunning, "")
	for _, n := range r.nodes {
		r.touch(n)
	}
	for _, id := range r.g.Roots() {
		r.candidates.add(r.g.Index(id))
	}
	r.upsertStatus()
}

// evaluate decides every candidate node in topological order, so a skip or
// an instant logic node propagates to its downstream within the same pass.
func (r *runner) evaluate() {
	if r.paused || r.halted != "" {
		return
	}
	for r.candidates.len() > 0 {
		n := r.nodes[r.candidates.popMin()]
		if n.status != status.NodeWaiting {
			continue
		}
		d := r.g.Decide(n.node.ID, r.outcome1)
		if n.chosen {
			d = r.decideChosen(n)
		}
		switch d {
		case dag.Ready:
			if n.node.IsLogic() {
				r.finishNode(n, status.NodeSuccess, "")
			} else {
				r.startNode(n, nil)
			}
		case dag.Skip:
			r.finishNode(n, status.NodeSkipped, "condition not met")
		case dag.Wait:
		}
	}
}

// decideChosen is readiness for a node of a rerun-downstream selection: it
// waits for the chosen nodes upstream of it and ignores the others.
func (r *runner) decideChosen(n *nodeRun) dag.Decision {
	for _, e := range r.g.Upstream(n.node.ID) {
		if !n.rerun[e.From] {
			continue
		}
		switch r.outcome1(e.From) {
		case dag.Pending:
			return dag.Wait
		case dag.Succeeded:
		default:
			return dag.Skip
		}
	}
	return dag.Ready
}

func (r *runner) outcome1(id string) dag.Outcome {
	n := r.byID[id]
	if n.chosen {
		return dag.Pending
	}
	switch n.status {
	case status.NodeSuccess:
		return dag.Succeeded
	case status.NodeFailed, status.NodeTimeout, status.NodeStopped:
		return dag.Failed
	case status.NodeSkipped:
		return dag.Skipped
	default:
		return dag.Pending
	}
}

// halt stops all new work; in-flight instances are cancelled (the worker
// escalates SIGTERM to SIGKILL) and retry timers dropped.
func (r *runner) halt(reason, msg string) {
	r.halted, r.haltMsg = reason, msg
	r.log.Info("run halted", "reason", reason, "message", msg)
	r.cancelActs()
	if r.inflight > 0 && reason == "stop" {
		r.setRun(status.RunStopping, msg)
	}
	for _, n := range r.queue {
		queued := n.queued
		n.queued = nil
		for _, q := range queued {
			s := n.shardAt(q.Shard)
			s.status = status.InstanceStopped
			r.recordInstance(n, q, InstanceState{Status: string(status.InstanceStopped), Message: "stopped before it started: " + msg})
			r.nodeSettle(n, TaskResult{Status: string(status.InstanceStopped), Message: msg})
		}
	}
	r.queue = nil
}

// unhalt lets work start again after an operator's retry or skip in a run
// that had stopped.
func (r *runner) unhalt() {
	if r.halted == "" {
		return
	}
	r.halted, r.haltMsg = "", ""
	r.actCtx, r.cancelActs = workflow.WithCancel(r.ctx)
}

// sortedKeys is the one place workflow code ranges over a map: the keys are
// sorted before anyone sees them, so iteration order cannot leak into
// commands.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addDurations sums durations, saturating at the largest time.Duration
// instead of wrapping negative. A negative activity timeout is a command
// Temporal refuses, which fails the workflow task on every attempt and
// wedges the run; validation bounds what new definitions give, and this
// keeps stored ones from wedging. No recorded history depends on the
// wrapped sum: Temporal never accepted the command it produced.
func addDurations(ds ...time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		if sum > math.MaxInt64-d {
			return math.MaxInt64
		}
		sum += d
	}
	return sum
}
