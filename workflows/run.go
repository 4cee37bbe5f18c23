package workflows

import (
	"errors"
	"fmt"
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
	// keptResults bounds the control results kept for the control query.
	keptResults = 1000
)

// changeOperable is the interpreter's versioned change; its versions,
// newest last, follow.
var changeOperable = newChange(RunWorkflowName, "operable-window", versionOwnLimits)

const (
	versionOperable1 = 1
	// versionOwnLimits: continue-as-new at the interpreter's own history
	// limits only. Temporal suggests it from 4,096 events, which made every
	// 1,000-node flow pause to hand over its state.
	versionOwnLimits = 2
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

	candidates  *indexSet
	queue       []*nodeRun // nodes with queued instances, FIFO
	inflight    int
	timers      int
	actCtx      workflow.Context
	cancelActs  workflow.CancelFunc
	sel         workflow.Selector
	batch       *pendingBatch
	maxInFlight int
	reset       bool // this run is the product of a Temporal reset
	resynced    bool
	results     map[string]ControlResult
	resultOrder []string
	actor       string // who caused the changes being recorded
	reason      string
	requestID   string
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
	} else {
		r.version = changeOperable.get(r.ctx)
		r.start()
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
			r.flush()
			r.notify()
			if r.closed || final == status.RunSuccess || final == status.RunSkipped {
				return r.result(), nil
			}
			// An unsuccessful run stays open for operations (retry, skip,
			// rerun downstream, rollback, abandon) for the operable window.
			if window == nil {
				r.deadline = nil
				window = workflow.NewTimer(r.ctx, r.operableWindow())
				r.sel.AddFuture(window, func(workflow.Future) {})
			}
			if window.IsReady() {
				return r.result(), nil
			}
		}
		if r.draining && r.inflight == 0 && r.timers == 0 {
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

func (r *runner) historyFull() bool {
	limit := r.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	info := workflow.GetInfo(r.ctx)
	if r.version >= versionOwnLimits {
		return info.GetCurrentHistoryLength() >= limit || info.GetCurrentHistorySize() >= historySizeLimit
	}
	return info.GetCurrentHistoryLength() >= limit || info.GetContinueAsNewSuggested()
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

func (r *runner) restore(c *Carry) {
	r.rev, r.startedAt, r.deadline = c.Rev, c.StartedAt, c.Deadline
	r.revMillis, r.revSeq = c.RevMillis, c.RevSeq
	r.runStatus, r.paused = status.RunRunning, c.Paused
	for _, cn := range c.Nodes {
		n := r.byID[cn.ID]
		if n == nil {
			continue
		}
		n.status, n.forced, n.attempts, n.outputs, n.message = status.Node(cn.Status), cn.Forced, cn.Attempts, cn.Outputs, cn.Message
		n.rev, n.startedAt, n.finishedAt, n.queued = cn.Rev, cn.StartedAt, cn.FinishedAt, cn.Queued
		n.lastStatus = n.status
		for _, s := range cn.Shards {
			n.shards = append(n.shards, &shard{index: s.Index, param: s.Param, attempt: s.Attempt, lost: s.Lost,
				queue: s.Queue, workerID: s.WorkerID, id: s.ID, status: status.Instance(s.Status)})
		}
		if len(cn.Shards) == 0 && cn.Total > 0 {
			// Carried by an older interpreter that kept counts only.
			for i := 0; i < cn.Total; i++ {
				st := status.InstanceWaiting
				if i < cn.Total-cn.Remaining {
					st = status.InstanceFailed
					if i < cn.Succeeded {
						st = status.InstanceSuccess
					}
				}
				n.shards = append(n.shards, &shard{index: i, attempt: cn.Attempts, status: st})
			}
		}
		if n.status == status.NodeWaiting {
			r.candidates.add(n.idx)
		}
		if len(n.queued) > 0 {
			r.queue = append(r.queue, n)
		}
	}
}

func (r *runner) continueAsNew() error {
	c := &Carry{Rev: r.rev, RevMillis: r.revMillis, RevSeq: r.revSeq, StartedAt: r.startedAt, Deadline: r.deadline,
		Paused: r.paused, Version: int(r.version)}
	for _, n := range r.nodes {
		cn := CarriedNode{ID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts, Outputs: n.outputs,
			Message: n.message, Rev: n.rev, StartedAt: n.startedAt, FinishedAt: n.finishedAt, Queued: n.queued}
		for _, s := range n.shards {
			cn.Shards = append(cn.Shards, CarriedShard{Index: s.index, Param: s.param, Attempt: s.attempt, Lost: s.lost,
				Queue: s.queue, WorkerID: s.workerID, ID: s.id, Status: string(s.status)})
		}
		c.Nodes = append(c.Nodes, cn)
	}
	next := r.in
	next.Carry = c
	return workflow.NewContinueAsNewError(r.ctx, RunWorkflowName, next)
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

func (r *runner) group(t *dag.Task) string {
	switch {
	case t.Group != "":
		return t.Group
	case r.in.Flow.Group != "":
		return r.in.Flow.Group
	default:
		return "default"
	}
}

// startNode dispatches a node: every instance slot when only is nil (a
// fresh start or a node retry), else just those shard indexes.
func (r *runner) startNode(n *nodeRun, only []int) {
	t := n.node.Task
	if t == nil {
		r.finishNode(n, status.NodeFailed, "task definition was not resolved into the run snapshot")
		return
	}
	if only == nil {
		slots, err := r.slots(t)
		if err != nil {
			r.finishNode(n, status.NodeFailed, err.Error())
			return
		}
		n.shards = slots
		only = make([]int, len(slots))
		for i := range slots {
			only[i] = i
		}
	}
	attempt := n.attempts + 1
	now := workflow.Now(r.ctx)
	if n.startedAt == nil || n.status.Terminal() {
		n.startedAt = &now
	}
	n.finishedAt, n.stopReq, n.chosen, n.rerun = nil, "", false, nil
	n.attempts = attempt
	n.status, n.message = status.NodeDispatched, ""
	r.touch(n)
	var qs []QueuedInstance
	for _, i := range only {
		s := n.shards[i]
		s.attempt, s.stopReq, s.lost = attempt, "", 0
		qs = append(qs, QueuedInstance{Shard: s.index, ShardParam: s.param, Attempt: attempt, Queue: s.queue, WorkerID: s.workerID})
	}
	r.enqueue(n, qs...)
}

// slots lays out a node's instances by execution mode.
func (r *runner) slots(t *dag.Task) ([]*shard, error) {
	group := r.group(t)
	switch t.Mode {
	case dag.ModeSharding:
		out := make([]*shard, t.Shards)
		for i := range out {
			out[i] = &shard{index: i, queue: GroupTaskQueue(group)}
			if i < len(t.ShardParams) {
				out[i].param = t.ShardParams[i]
			}
		}
		return out, nil
	case dag.ModeBroadcast:
		workers, err := r.liveWorkers(group)
		if err != nil {
			return nil, fmt.Errorf("list live workers: %w", err)
		}
		if len(workers) == 0 {
			return nil, fmt.Errorf("no live worker in group %q", group)
		}
		out := make([]*shard, len(workers))
		for i, w := range workers {
			out[i] = &shard{index: i, queue: WorkerTaskQueue(group, w), workerID: w}
		}
		return out, nil
	default:
		return []*shard{{queue: GroupTaskQueue(group)}}, nil
	}
}

func (r *runner) liveWorkers(group string) ([]string, error) {
	lctx := workflow.WithLocalActivityOptions(r.ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var ids []string
	err := workflow.ExecuteLocalActivity(lctx, LiveWorkersActivity, group).Get(r.ctx, &ids)
	sort.Strings(ids)
	return ids, err
}

func (r *runner) enqueue(n *nodeRun, qs ...QueuedInstance) {
	if len(n.queued) == 0 {
		r.queue = append(r.queue, n)
	}
	for i := range qs {
		qs[i].ID = r.newInstanceID(n.node.ID, qs[i].Shard, qs[i].Attempt)
		s := n.shardAt(qs[i].Shard)
		s.id, s.status = qs[i].ID, status.InstanceWaiting
		qs[i].Rev = r.recordInstance(n, qs[i], InstanceState{Status: string(status.InstanceWaiting)})
	}
	n.queued = append(n.queued, qs...)
}

func (n *nodeRun) shardAt(index int) *shard {
	for _, s := range n.shards {
		if s.index == index {
			return s
		}
	}
	s := &shard{index: index}
	n.shards = append(n.shards, s)
	return s
}

// newInstanceID names an instance record. Instances dispatched live in a
// reset run get a suffix so they never overwrite the records of the run
// they were reset from; the id only travels in activity inputs, never in
// commands, so replay is unaffected.
func (r *runner) newInstanceID(nodeID string, shardIndex, attempt int) string {
	id := InstanceID(r.in.RunID, nodeID, shardIndex, attempt)
	if r.reset && !workflow.IsReplaying(r.ctx) {
		run := workflow.GetInfo(r.ctx).WorkflowExecution.RunID
		if len(run) > 8 {
			run = run[:8]
		}
		id += "~" + run
	}
	return id
}

// dispatch schedules queued instances while under the in-flight cap; every
// ready node is scheduled in the same workflow task.
func (r *runner) dispatch() {
	for len(r.queue) > 0 && r.inflight < r.maxInFlight && r.halted == "" && !r.draining && !r.paused {
		n := r.queue[0]
		q := n.queued[0]
		n.queued = n.queued[1:]
		if len(n.queued) == 0 {
			r.queue = r.queue[1:]
		}
		r.schedule(n, q)
	}
}

func (r *runner) taskFor(n *nodeRun) dag.Task {
	t := *n.node.Task
	if n.node.Timeout != "" {
		t.Timeout = n.node.Timeout
	}
	if n.node.Retry != nil {
		t.Retry = n.node.Retry
	}
	return t
}

// params layers, lowest first: task defaults, node, run (flow params plus
// the caller's overrides), then outputs of finished upstream nodes in edge
// declaration order.
func (r *runner) params(n *nodeRun, t *dag.Task) map[string]string {
	p := map[string]string{}
	for _, layer := range []map[string]string{t.Params, n.node.Params, r.in.Params} {
		for _, k := range sortedKeys(layer) {
			p[k] = layer[k]
		}
	}
	for _, e := range r.g.Upstream(n.node.ID) {
		out := r.byID[e.From].outputs
		for _, k := range sortedKeys(out) {
			p[k] = out[k]
		}
	}
	return p
}

func (r *runner) schedule(n *nodeRun, q QueuedInstance) {
	t := r.taskFor(n)
	timeout := t.Timeout.MustStd()
	stc := noTimeout
	if timeout > 0 {
		grace := t.Grace.MustStd()
		if grace == 0 {
			grace = 10 * time.Second
		}
		// The worker enforces the task timeout and the grace period itself;
		// this only bounds a worker that stopped answering.
		stc = timeout + grace + time.Minute
	}
	s := n.shardAt(q.Shard)
	ictx, cancel := workflow.WithCancel(r.actCtx)
	s.cancel = cancel
	queue := q.Queue
	if queue == "" {
		queue = GroupTaskQueue(r.group(n.node.Task))
	}
	actx := workflow.WithActivityOptions(ictx, workflow.ActivityOptions{
		ActivityID:          InstanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt),
		TaskQueue:           queue,
		StartToCloseTimeout: stc,
		HeartbeatTimeout:    HeartbeatTimeout,
		WaitForCancellation: true,
		// Retries are the workflow's: each attempt is its own instance.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	req := TaskRequest{
		RunID: r.in.RunID, NodeID: n.node.ID, InstanceID: q.ID, Attempt: q.Attempt,
		Bizdate: r.in.Bizdate, ShardIndex: q.Shard, ShardTotal: len(n.shards), ShardParam: q.ShardParam,
		Params: r.params(n, &t), Task: t, Mirror: r.in.Mirror, NodeRev: n.rev, InstanceRev: q.Rev,
	}
	r.inflight++
	f := workflow.ExecuteActivity(actx, ExecuteTaskActivity, req)
	r.sel.AddFuture(f, func(f workflow.Future) {
		r.inflight--
		var res TaskResult
		if err := f.Get(r.ctx, &res); err != nil {
			res = r.classify(err, n, s, &q)
			if res.Status == "" { // worker lost: run it again elsewhere
				r.recordInstance(n, q, InstanceState{Status: string(status.InstanceFailed),
					Message: "worker lost: no heartbeat within " + HeartbeatTimeout.String()})
				q.Lost++
				q.Attempt++
				s.lost = q.Lost
				if n.attempts < q.Attempt {
					n.attempts = q.Attempt
				}
				s.attempt = q.Attempt
				r.enqueue(n, q)
				return
			}
		}
		r.instanceDone(n, s, q, &t, res)
	})
}

// classify turns an activity error into an instance result. An empty Status
// means the worker was lost and the instance should run again.
func (r *runner) classify(err error, n *nodeRun, s *shard, q *QueuedInstance) TaskResult {
	var canceled *temporal.CanceledError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &canceled):
		return TaskResult{Status: string(status.InstanceStopped), Message: "stopped: " + r.stopReason(n, s)}
	case errors.As(err, &timeoutErr) && timeoutErr.TimeoutType().String() == "Heartbeat" && q.Lost < maxLostRetries &&
		r.halted == "" && n.stopReq == "" && s.stopReq == "":
		return TaskResult{}
	case errors.As(err, &timeoutErr):
		return TaskResult{Status: string(status.InstanceTimeout), Message: err.Error()}
	default:
		return TaskResult{Status: string(status.InstanceFailed), Message: err.Error()}
	}
}

func (r *runner) stopReason(n *nodeRun, s *shard) string {
	switch {
	case s.stopReq != "":
		return s.stopReq
	case n.stopReq != "":
		return n.stopReq
	case r.haltMsg != "":
		return r.haltMsg
	}
	return r.halted
}

func (r *runner) instanceDone(n *nodeRun, s *shard, q QueuedInstance, t *dag.Task, res TaskResult) {
	if res.Status == string(status.InstanceStopped) && r.halted == "timeout" && n.stopReq == "" && s.stopReq == "" {
		// The worker saw only a cancellation; the run knows it was its timeout.
		res.Status, res.Message = string(status.InstanceTimeout), "run timeout reached; "+res.Message
	}
	s.status = status.Instance(res.Status)
	if res.WorkerID != "" {
		s.workerID = res.WorkerID
	}
	exit := res.ExitCode
	r.recordInstance(n, q, InstanceState{Status: res.Status, Message: res.Message, ExitCode: &exit, WorkerID: res.WorkerID})
	if len(res.Outputs) > 0 {
		if n.outputs == nil {
			n.outputs = map[string]string{}
		}
		for _, k := range sortedKeys(res.Outputs) {
			n.outputs[k] = res.Outputs[k]
		}
	}
	if s.status != status.InstanceSuccess && r.halted == "" && n.stopReq == "" && s.stopReq == "" {
		if next, wait, ok := retryAfter(t, q); ok {
			if n.attempts < next.Attempt {
				n.attempts = next.Attempt
			}
			n.message = fmt.Sprintf("attempt %d %s: %s; retrying in %s", q.Attempt, res.Status, res.Message, wait)
			r.touch(n)
			r.timers++
			r.sel.AddFuture(workflow.NewTimer(r.actCtx, wait), func(f workflow.Future) {
				r.timers--
				if f.Get(r.ctx, nil) != nil || r.halted != "" || n.stopReq != "" {
					r.nodeSettle(n, res)
					return
				}
				s.attempt = next.Attempt
				r.enqueue(n, next)
			})
			return
		}
	}
	r.nodeSettle(n, res)
}

func retryAfter(t *dag.Task, q QueuedInstance) (QueuedInstance, time.Duration, bool) {
	rp := t.Retry
	if rp == nil || q.Attempt-q.Lost >= rp.MaxAttempts {
		return q, 0, false
	}
	wait := rp.InitialInterval.MustStd()
	if wait <= 0 {
		wait = time.Second
	}
	backoff := rp.Backoff
	if backoff < 1 {
		backoff = 1
	}
	for i := 1; i < q.Attempt-q.Lost; i++ {
		wait = time.Duration(float64(wait) * backoff)
	}
	if maxWait := rp.MaxInterval.MustStd(); maxWait > 0 && wait > maxWait {
		wait = maxWait
	}
	next := q
	next.Attempt++
	return next, wait, true
}

// nodeSettle finishes the node once every slot has a final instance.
func (r *runner) nodeSettle(n *nodeRun, last TaskResult) {
	succeeded := 0
	for _, s := range n.shards {
		if !s.status.Terminal() {
			return
		}
		if s.status == status.InstanceSuccess {
			succeeded++
		}
	}
	if len(n.queued) > 0 {
		return
	}
	rate := 100
	if t := n.node.Task; t != nil && t.SuccessRate > 0 {
		rate = t.SuccessRate
	}
	total := len(n.shards)
	if succeeded*100 >= rate*total {
		r.finishNode(n, status.NodeSuccess, "")
		return
	}
	st := status.NodeFailed
	switch status.Instance(last.Status) {
	case status.InstanceTimeout:
		st = status.NodeTimeout
	case status.InstanceStopped, status.InstanceStopFailed:
		st = status.NodeStopped
	}
	msg := last.Message
	if total > 1 {
		msg = fmt.Sprintf("%d of %d instances succeeded, %d%% required; last: %s", succeeded, total, rate, last.Message)
	}
	r.finishNode(n, st, msg)
}

func (r *runner) finishNode(n *nodeRun, st status.Node, msg string) {
	now := workflow.Now(r.ctx)
	n.status, n.message, n.finishedAt, n.chosen, n.rerun = st, msg, &now, false, nil
	if n.startedAt == nil {
		n.startedAt = &now
	}
	n.forced = false
	r.touch(n)
	for _, e := range r.g.Downstream(n.node.ID) {
		r.candidates.add(r.g.Index(e.To))
	}
	if failedStatus(st) && !r.g.FailureHandled(n.node.ID) && r.in.Flow.FailFast && r.halted == "" {
		r.halt("fail_fast", fmt.Sprintf("node %s %s and the flow is fail_fast", n.node.ID, st))
	}
}

func failedStatus(st status.Node) bool {
	return st == status.NodeFailed || st == status.NodeTimeout || st == status.NodeStopped
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

// outcome is the run's status once it has settled.
func (r *runner) outcome() status.Run {
	if r.closed || r.runStatus == status.RunRollbackFailed {
		return r.runStatus
	}
	switch r.halted {
	case "timeout":
		return status.RunTimeout
	case "stop":
		return status.RunStopped
	}
	var core, coreOK int
	unhandled := false
	for _, n := range r.nodes {
		if n.node.Core {
			core++
			if n.status == status.NodeSuccess {
				coreOK++
			}
		}
		if failedStatus(n.status) && !r.g.FailureHandled(n.node.ID) {
			unhandled = true
		}
	}
	switch {
	case core > 0 && coreOK == core:
		return status.RunSuccess
	case core > 0, unhandled:
		return status.RunFailed
	default:
		return status.RunSuccess
	}
}

// finish ends a run of the first version: it closes as soon as it settles.
func (r *runner) finish(final status.Run) (RunResult, error) {
	r.setRun(final, "")
	r.flush()
	r.upsertStatus()
	return r.result(), nil
}

func (r *runner) result() RunResult {
	res := RunResult{Status: string(r.runStatus), Nodes: map[string]NodeResult{}}
	for _, n := range r.nodes {
		res.Nodes[n.node.ID] = NodeResult{Status: string(n.status), Attempts: n.attempts, Outputs: n.outputs, Message: n.message}
	}
	return res
}

func (r *runner) upsertStatus() {
	err := workflow.UpsertTypedSearchAttributes(r.ctx, SearchStatus.ValueSet(string(r.runStatus)))
	if err != nil {
		r.log.Info("upsert search attributes failed", "error", err)
	}
}

func (r *runner) view() (control.View, error) {
	v := control.View{Status: string(r.runStatus), Nodes: make([]control.NodeView, 0, len(r.nodes))}
	for _, n := range r.nodes {
		nv := control.NodeView{ID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts,
			Ran: n.ran(), Message: n.message}
		for _, s := range n.shards {
			nv.Instances = append(nv.Instances, control.InstanceView{ID: s.id, Shard: s.index, Attempt: s.attempt,
				Status: string(s.status), WorkerID: s.workerID})
		}
		v.Nodes = append(v.Nodes, nv)
	}
	return v, nil
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
