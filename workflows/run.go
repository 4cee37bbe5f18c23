package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

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

type nodeRun struct {
	idx        int
	node       *dag.Node
	status     status.Node
	lastStatus status.Node // as last recorded, for the transition log
	attempts   int
	outputs    map[string]string
	message    string
	rev        int64
	startedAt  *time.Time
	finishedAt *time.Time
	total      int // instances the node needs
	remaining  int // instances not final yet
	succeeded  int
	queued     []QueuedInstance
}

type runner struct {
	ctx  workflow.Context
	in   RunInput
	g    *dag.Graph
	log  interface{ Info(string, ...any) }
	byID map[string]*nodeRun
	// nodes is indexed by topological position (dag.Graph.Index).
	nodes []*nodeRun

	rev       int64
	startedAt time.Time
	deadline  *time.Time
	runStatus status.Run
	unhandled bool
	halted    string // why no new work starts: "timeout", "fail_fast"
	draining  bool   // continue-as-new requested

	candidates  *indexSet
	queue       []*nodeRun // nodes with queued instances, FIFO
	inflight    int
	timers      int
	actCtx      workflow.Context
	cancelActs  workflow.CancelFunc
	sel         workflow.Selector
	batch       *pendingBatch
	maxInFlight int
}

func newRunner(ctx workflow.Context, in RunInput, g *dag.Graph) *runner {
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
		return RunResult{}, fmt.Errorf("register query: %w", err)
	}
	if c := r.in.Carry; c != nil {
		r.restore(c)
	} else {
		r.start()
	}
	if r.deadline != nil {
		d := r.deadline.Sub(workflow.Now(r.ctx))
		if d <= 0 {
			d = time.Millisecond
		}
		// The deadline timer lives outside actCtx: halting cancels
		// activities, never the run's own deadline.
		r.sel.AddFuture(workflow.NewTimer(r.ctx, d), func(workflow.Future) {
			if r.halted == "" {
				r.halt("timeout", "run timeout reached")
			}
		})
	}
	for {
		r.evaluate()
		r.dispatch()
		r.flush()
		if r.inflight == 0 && r.timers == 0 && (len(r.queue) == 0 || r.halted != "") {
			break
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
	return r.finish()
}

func (r *runner) historyFull() bool {
	limit := r.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	info := workflow.GetInfo(r.ctx)
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
		r.touch(n, "")
	}
	for _, id := range r.g.Roots() {
		r.candidates.add(r.g.Index(id))
	}
	r.upsertStatus()
}

func (r *runner) restore(c *Carry) {
	r.rev, r.startedAt, r.deadline, r.unhandled = c.Rev, c.StartedAt, c.Deadline, c.Unhandled
	r.runStatus = status.RunRunning
	for _, cn := range c.Nodes {
		n := r.byID[cn.ID]
		if n == nil {
			continue
		}
		n.status, n.attempts, n.outputs, n.message = status.Node(cn.Status), cn.Attempts, cn.Outputs, cn.Message
		n.rev, n.startedAt, n.finishedAt = cn.Rev, cn.StartedAt, cn.FinishedAt
		n.total, n.remaining, n.succeeded, n.queued = cn.Total, cn.Remaining, cn.Succeeded, cn.Queued
		if n.status == status.NodeWaiting {
			r.candidates.add(n.idx)
		}
		if len(n.queued) > 0 {
			r.queue = append(r.queue, n)
		}
	}
}

func (r *runner) continueAsNew() error {
	c := &Carry{Rev: r.rev, StartedAt: r.startedAt, Deadline: r.deadline, Unhandled: r.unhandled}
	for _, n := range r.nodes {
		c.Nodes = append(c.Nodes, CarriedNode{
			ID: n.node.ID, Status: string(n.status), Attempts: n.attempts, Outputs: n.outputs,
			Message: n.message, Rev: n.rev, StartedAt: n.startedAt, FinishedAt: n.finishedAt,
			Total: n.total, Remaining: n.remaining, Succeeded: n.succeeded, Queued: n.queued,
		})
	}
	next := r.in
	next.Carry = c
	return workflow.NewContinueAsNewError(r.ctx, RunWorkflowName, next)
}

// evaluate decides every candidate node in topological order, so a skip or
// an instant logic node propagates to its downstream within the same pass.
func (r *runner) evaluate() {
	for r.candidates.len() > 0 {
		n := r.nodes[r.candidates.popMin()]
		if n.status != status.NodeWaiting || r.halted != "" {
			continue
		}
		switch r.g.Decide(n.node.ID, r.outcome) {
		case dag.Ready:
			if n.node.Type == dag.NodeAnd || n.node.Type == dag.NodeOr {
				r.finishNode(n, status.NodeSuccess, "")
			} else {
				r.startNode(n)
			}
		case dag.Skip:
			r.finishNode(n, status.NodeSkipped, "condition not met")
		case dag.Wait:
		}
	}
}

func (r *runner) outcome(id string) dag.Outcome {
	switch r.byID[id].status {
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

func (r *runner) startNode(n *nodeRun) {
	t := n.node.Task
	if t == nil {
		r.finishNode(n, status.NodeFailed, "task definition was not resolved into the run snapshot")
		return
	}
	group := r.group(t)
	var qs []QueuedInstance
	switch t.Mode {
	case dag.ModeSharding:
		for i := 0; i < t.Shards; i++ {
			q := QueuedInstance{Shard: i, Attempt: 1, Queue: GroupTaskQueue(group)}
			if i < len(t.ShardParams) {
				q.ShardParam = t.ShardParams[i]
			}
			qs = append(qs, q)
		}
	case dag.ModeBroadcast:
		workers, err := r.liveWorkers(group)
		if err != nil {
			r.finishNode(n, status.NodeFailed, "list live workers: "+err.Error())
			return
		}
		if len(workers) == 0 {
			r.finishNode(n, status.NodeFailed, fmt.Sprintf("no live worker in group %q", group))
			return
		}
		for i, w := range workers {
			qs = append(qs, QueuedInstance{Shard: i, Attempt: 1, Queue: WorkerTaskQueue(group, w), WorkerID: w})
		}
	default:
		qs = []QueuedInstance{{Attempt: 1, Queue: GroupTaskQueue(group)}}
	}
	now := workflow.Now(r.ctx)
	n.startedAt = &now
	n.total, n.remaining, n.attempts = len(qs), len(qs), 1
	n.status = status.NodeDispatched
	r.touch(n, "")
	r.enqueue(n, qs...)
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
	n.queued = append(n.queued, qs...)
	for _, q := range qs {
		r.recordInstance(n, q, InstanceState{Status: string(status.InstanceWaiting)})
	}
}

func instanceID(runID, nodeID string, shard, attempt int) string {
	return fmt.Sprintf("%s.%s.%d.%d", runID, nodeID, shard, attempt)
}

// dispatch schedules queued instances while under the in-flight cap; every
// ready node is scheduled in the same workflow task.
func (r *runner) dispatch() {
	for len(r.queue) > 0 && r.inflight < r.maxInFlight && r.halted == "" && !r.draining {
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
	id := instanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt)
	actx := workflow.WithActivityOptions(r.actCtx, workflow.ActivityOptions{
		ActivityID:          id,
		TaskQueue:           q.Queue,
		StartToCloseTimeout: stc,
		HeartbeatTimeout:    HeartbeatTimeout,
		WaitForCancellation: true,
		// Retries are the workflow's: each attempt is its own instance.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	req := TaskRequest{
		RunID: r.in.RunID, NodeID: n.node.ID, InstanceID: id, Attempt: q.Attempt,
		Bizdate: r.in.Bizdate, ShardIndex: q.Shard, ShardTotal: n.total, ShardParam: q.ShardParam,
		Params: r.params(n, &t), Task: t, Mirror: r.in.Mirror, NodeRev: n.rev,
	}
	r.inflight++
	f := workflow.ExecuteActivity(actx, ExecuteTaskActivity, req)
	r.sel.AddFuture(f, func(f workflow.Future) {
		r.inflight--
		var res TaskResult
		if err := f.Get(r.ctx, &res); err != nil {
			res = r.classify(err, &q)
			if res.Status == "" { // worker lost: run it again elsewhere
				q.Lost++
				q.Attempt++
				if n.attempts < q.Attempt {
					n.attempts = q.Attempt
				}
				r.recordInstance(n, QueuedInstance{Shard: q.Shard, Attempt: q.Attempt - 1, Queue: q.Queue},
					InstanceState{Status: string(status.InstanceFailed), Message: "worker lost: no heartbeat within " + HeartbeatTimeout.String()})
				r.enqueue(n, q)
				return
			}
		}
		r.instanceDone(n, q, &t, res)
	})
}

// classify turns an activity error into an instance result. An empty Status
// means the worker was lost and the instance should run again.
func (r *runner) classify(err error, q *QueuedInstance) TaskResult {
	var canceled *temporal.CanceledError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &canceled):
		if r.halted == "timeout" {
			return TaskResult{Status: string(status.InstanceTimeout), Message: "run timeout reached"}
		}
		return TaskResult{Status: string(status.InstanceStopped), Message: "stopped: " + r.halted}
	case errors.As(err, &timeoutErr) && timeoutErr.TimeoutType().String() == "Heartbeat" && q.Lost < maxLostRetries && r.halted == "":
		return TaskResult{}
	case errors.As(err, &timeoutErr):
		return TaskResult{Status: string(status.InstanceTimeout), Message: err.Error()}
	default:
		return TaskResult{Status: string(status.InstanceFailed), Message: err.Error()}
	}
}

func (r *runner) instanceDone(n *nodeRun, q QueuedInstance, t *dag.Task, res TaskResult) {
	if res.Status == string(status.InstanceStopped) && r.halted == "timeout" {
		// The worker saw only a cancellation; the run knows it was its timeout.
		res.Status, res.Message = string(status.InstanceTimeout), "run timeout reached; "+res.Message
	}
	st := status.Instance(res.Status)
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
	if st == status.InstanceSuccess {
		n.succeeded++
	} else if next, wait, ok := r.retryAfter(t, q); ok && r.halted == "" {
		if n.attempts < next.Attempt {
			n.attempts = next.Attempt
		}
		n.message = fmt.Sprintf("attempt %d %s: %s; retrying in %s", q.Attempt, res.Status, res.Message, wait)
		r.touch(n, "")
		r.timers++
		r.sel.AddFuture(workflow.NewTimer(r.actCtx, wait), func(f workflow.Future) {
			r.timers--
			if f.Get(r.ctx, nil) != nil || r.halted != "" {
				r.instanceFinal(n, res)
				return
			}
			r.enqueue(n, next)
		})
		return
	}
	r.instanceFinal(n, res)
}

func (r *runner) retryAfter(t *dag.Task, q QueuedInstance) (QueuedInstance, time.Duration, bool) {
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

func (r *runner) instanceFinal(n *nodeRun, last TaskResult) {
	n.remaining--
	if n.remaining > 0 {
		return
	}
	rate := 100
	if t := n.node.Task; t != nil && t.SuccessRate > 0 {
		rate = t.SuccessRate
	}
	if n.succeeded*100 >= rate*n.total {
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
	if n.total > 1 {
		msg = fmt.Sprintf("%d of %d instances succeeded, %d%% required; last: %s", n.succeeded, n.total, rate, last.Message)
	}
	r.finishNode(n, st, msg)
}

func (r *runner) finishNode(n *nodeRun, st status.Node, msg string) {
	now := workflow.Now(r.ctx)
	n.status, n.message, n.finishedAt = st, msg, &now
	if n.startedAt == nil {
		n.startedAt = &now
	}
	r.touch(n, msg)
	for _, e := range r.g.Downstream(n.node.ID) {
		r.candidates.add(r.g.Index(e.To))
	}
	if (st == status.NodeFailed || st == status.NodeTimeout || st == status.NodeStopped) && !r.g.FailureHandled(n.node.ID) {
		r.unhandled = true
		if r.in.Flow.FailFast && r.halted == "" {
			r.halt("fail_fast", fmt.Sprintf("node %s %s and the flow is fail_fast", n.node.ID, st))
		}
	}
}

// halt stops all new work; in-flight instances are cancelled (the worker
// escalates SIGTERM to SIGKILL) and retry timers dropped.
func (r *runner) halt(reason, msg string) {
	r.halted = reason
	r.log.Info("run halted", "reason", reason, "message", msg)
	r.cancelActs()
	for _, n := range r.queue {
		for range n.queued {
			r.instanceFinal(n, TaskResult{Status: string(status.InstanceStopped), Message: msg})
		}
		n.queued = nil
	}
	r.queue = nil
}

func (r *runner) finish() (RunResult, error) {
	var final status.Run
	var core, coreOK int
	for _, n := range r.nodes {
		if n.node.Core {
			core++
			if n.status == status.NodeSuccess {
				coreOK++
			}
		}
	}
	switch {
	case r.halted == "timeout":
		final = status.RunTimeout
	case core > 0 && coreOK == core:
		final = status.RunSuccess
	case core > 0:
		final = status.RunFailed
	case r.unhandled:
		final = status.RunFailed
	default:
		final = status.RunSuccess
	}
	r.setRun(final, "")
	r.flush()
	r.upsertStatus()
	res := RunResult{Status: string(final), Nodes: map[string]NodeResult{}}
	for _, n := range r.nodes {
		res.Nodes[n.node.ID] = NodeResult{Status: string(n.status), Attempts: n.attempts, Outputs: n.outputs, Message: n.message}
	}
	return res, nil
}

func (r *runner) upsertStatus() {
	err := workflow.UpsertTypedSearchAttributes(r.ctx, SearchStatus.ValueSet(string(r.runStatus)))
	if err != nil {
		r.log.Info("upsert search attributes failed", "error", err)
	}
}

func (r *runner) view() (RunView, error) {
	v := RunView{Status: string(r.runStatus)}
	for _, n := range r.nodes {
		v.Nodes = append(v.Nodes, NodeView{ID: n.node.ID, Status: string(n.status), Attempts: n.attempts,
			Message: n.message, StartedAt: n.startedAt, FinishedAt: n.finishedAt})
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
