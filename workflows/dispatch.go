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

// Dispatch: starting nodes, laying out and scheduling their instances,
// and settling them as their results come back.

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
		s.id, s.status, s.times = qs[i].ID, status.InstanceWaiting, instanceTimes{}
		qs[i].Rev = r.recordInstance(n, qs[i], InstanceState{Status: string(status.InstanceWaiting)})
		if r.version >= versionMirrorBehind {
			// The worker's running mark takes this rev: above the waiting
			// write, which may land after it, and below any later state.
			qs[i].Rev = r.nextRev()
		}
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

// newInstanceID names an instance record. Instances a reset run
// dispatches get a suffix so they never overwrite the records of the run
// they were reset from: from version 8 by executionSuffix, the same on
// every replay; before it, only when not replaying, which a replay of the
// reset run undid (execution.go). The id only travels in activity inputs,
// never in commands.
func (r *runner) newInstanceID(nodeID string, shardIndex, attempt int) string {
	id := InstanceID(r.in.RunID, nodeID, shardIndex, attempt)
	if r.version >= versionExecutionIDs {
		return id + r.executionSuffix()
	}
	if r.reset && !workflow.IsReplaying(r.ctx) {
		id += ExecutionSuffix(workflow.GetInfo(r.ctx).WorkflowExecution.RunID)
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
			grace = dag.DefaultGrace
		}
		// The worker enforces the task timeout and the grace period itself;
		// this only bounds a worker that stopped answering.
		stc = addDurations(timeout, grace, time.Minute)
	}
	s := n.shardAt(q.Shard)
	ictx, cancel := workflow.WithCancel(r.actCtx)
	s.cancel = cancel
	queue := q.Queue
	if queue == "" {
		queue = GroupTaskQueue(r.group(n.node.Task))
	}
	ao := workflow.ActivityOptions{
		ActivityID:          InstanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt),
		TaskQueue:           queue,
		StartToCloseTimeout: stc,
		HeartbeatTimeout:    HeartbeatTimeout,
		WaitForCancellation: true,
		// Retries are the workflow's: each attempt is its own instance.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	if r.version >= versionPinnedLost && pinned(n) {
		ao.ScheduleToStartTimeout = pinnedStartTimeout
	}
	actx := workflow.WithActivityOptions(ictx, ao)
	req := TaskRequest{
		RunID: r.in.RunID, NodeID: n.node.ID, InstanceID: q.ID, Attempt: q.Attempt,
		Bizdate: r.in.Bizdate, ShardIndex: q.Shard, ShardTotal: len(n.shards), ShardParam: q.ShardParam,
		Params: r.params(n, &t), Task: t, Mirror: r.in.Mirror, NodeRev: n.rev, InstanceRev: q.Rev,
	}
	if r.version >= versionMirrorBehind {
		// q.Rev was reserved after the node's dispatched touch and before
		// any later one: the running mark is newer than the dispatched
		// write, however late that lands, and older than what follows.
		req.NodeRev = q.Rev
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
	case errors.As(err, &timeoutErr) && r.version >= versionPinnedLost && pinned(n) &&
		timeoutErr.TimeoutType().String() == "Heartbeat":
		return TaskResult{Status: string(status.InstanceFailed), Message: fmt.Sprintf(
			"worker %s lost: no heartbeat within %s; a broadcast instance runs only on its own worker, so it is not run again elsewhere",
			q.WorkerID, HeartbeatTimeout)}
	case errors.As(err, &timeoutErr) && r.version >= versionPinnedLost && pinned(n) &&
		timeoutErr.TimeoutType().String() == "ScheduleToStart":
		return TaskResult{Status: string(status.InstanceFailed), Message: fmt.Sprintf(
			"worker %s did not take its broadcast instance within %s: it is gone or every slot stayed busy", q.WorkerID, pinnedStartTimeout)}
	case errors.As(err, &timeoutErr) && timeoutErr.TimeoutType().String() == "Heartbeat" && q.Lost < maxLostRetries &&
		r.halted == "" && n.stopReq == "" && s.stopReq == "":
		return TaskResult{}
	case errors.As(err, &timeoutErr):
		return TaskResult{Status: string(status.InstanceTimeout), Message: err.Error()}
	default:
		return TaskResult{Status: string(status.InstanceFailed), Message: err.Error()}
	}
}

// pinned reports whether the node's instances are bound to one worker
// each (broadcast): such an instance cannot run on another worker.
func pinned(n *nodeRun) bool {
	return n.node.Task != nil && n.node.Task.Mode == dag.ModeBroadcast
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
	s.times = r.finishedTimes(res)
	r.recordInstance(n, q, InstanceState{Status: res.Status, Message: res.Message, ExitCode: &exit, WorkerID: res.WorkerID,
		StartedAt: s.times.started})
	if s.status == status.InstanceStopFailed {
		r.alertStopFailed(n, q, res.Message)
	}
	if len(res.Outputs) > 0 {
		if n.outputs == nil {
			n.outputs = map[string]string{}
		}
		for _, k := range sortedKeys(res.Outputs) {
			n.outputs[k] = res.Outputs[k]
		}
	}
	if s.status != status.InstanceSuccess && r.halted == "" && n.stopReq == "" && s.stopReq == "" {
		if next, wait, ok := retryAfter(t, q, r.version >= versionSaturatedWaits); ok {
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

// instanceTimes are a finished instance's start (nil when its result did
// not say) and finish.
type instanceTimes struct {
	started, finished *time.Time
}

// finishedTimes are the times of an instance whose result just came: the
// start time the result reports, never after the finish (a worker whose
// clock runs ahead of the server's), and now. They go to the final write
// of the instance and to the view; neither is part of replay (a local
// activity's input, a query's answer).
func (r *runner) finishedTimes(res TaskResult) instanceTimes {
	now := workflow.Now(r.ctx)
	t := instanceTimes{finished: &now}
	if res.StartedAt != nil {
		started := *res.StartedAt
		if started.After(now) {
			started = now
		}
		t.started = &started
	}
	return t
}

// retryAfter is the next attempt of a failed instance and the wait before
// it; saturate caps a wait that outgrows time.Duration.
func retryAfter(t *dag.Task, q QueuedInstance, saturate bool) (QueuedInstance, time.Duration, bool) {
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
		next := float64(wait) * backoff
		if saturate && next >= float64(dag.MaxDuration) {
			wait = dag.MaxDuration
			break
		}
		wait = time.Duration(next)
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
	r.alertNode(n)
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
