package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// apply carries out one control request. It is checked again here against
// the run's own state, because the state may have moved since the API
// checked it; a refused request changes nothing and is logged.
func (r *runner) apply(req control.Request) {
	// What a control request changed is in the mirror before its answer
	// can be read (the control query answers after this workflow task):
	// a client that reads the run after the POST sees the effect.
	r.controlled = true
	key := ControlKey(req)
	if key != "" {
		if _, done := r.results[key]; done {
			return // a repeat of a processed request has no second effect
		}
	}
	v, _ := r.view()
	plan, conflict := control.Check(r.g, v, req)
	r.actor, r.reason, r.requestID = req.Actor, req.Reason, req.ID
	if r.actor == "" {
		r.actor = "operator"
	}
	defer func() { r.actor, r.reason, r.requestID = "engine", "", "" }()
	if conflict == nil {
		conflict = r.carryOut(req, plan)
	}
	res := ControlResult{State: "applied", Plan: plan}
	if conflict != nil {
		res = ControlResult{State: "refused", Conflict: conflict}
		r.reason = conflict.Message
		r.note("request", string(req.Op)+" "+req.ID, "", "refused")
		r.log.Info("control request refused", "op", req.Op, "id", req.ID, "reason", conflict.Message)
	}
	r.keep(key, res)
}

// ControlKey is what a run remembers a request by: its id, per actor, so
// one caller's key never answers another caller's request.
func ControlKey(req control.Request) string {
	if req.ID == "" {
		return ""
	}
	return req.Actor + "/" + req.ID
}

func (r *runner) keep(id string, res ControlResult) {
	if id == "" {
		return
	}
	r.results[id] = res
	r.resultOrder = append(r.resultOrder, id)
	if len(r.resultOrder) > keptResults {
		delete(r.results, r.resultOrder[0])
		r.resultOrder = r.resultOrder[1:]
	}
}

func (r *runner) controlResult(id string) (ControlResult, error) {
	return r.results[id], nil
}

func (r *runner) carryOut(req control.Request, plan control.Plan) *control.Conflict {
	by := "by " + r.actor
	switch req.Op {
	case status.OpStop:
		r.paused = false
		r.halt("stop", "stopped "+by)
	case status.OpPause:
		r.paused = true
		r.setRun(status.RunPaused, "paused "+by)
	case status.OpResume:
		r.paused = false
		r.setRun(status.RunRunning, "")
	case status.OpRetryFailed, status.OpNodeRetry:
		r.reopen()
		for _, id := range plan.Nodes {
			n := r.byID[id]
			r.resetSkippedDescendants(n)
			r.startNode(n, nil)
		}
	case status.OpNodeSkip:
		r.reopen()
		for _, id := range plan.Nodes {
			n := r.byID[id]
			r.resetSkippedDescendants(n)
			r.finishNode(n, status.NodeSuccess, "set success "+by)
			n.forced = true
			r.touch(n)
		}
	case status.OpRerunDownstream:
		r.reopen()
		chosen := map[string]bool{}
		for _, id := range plan.Nodes {
			chosen[id] = true
		}
		for _, id := range plan.Nodes {
			n := r.byID[id]
			r.resetSkippedDescendants(n)
			n.status, n.chosen, n.rerun, n.finishedAt = status.NodeWaiting, true, chosen, nil
			r.touch(n)
			r.candidates.add(n.idx)
		}
	case status.OpNodeStop:
		for _, id := range plan.Nodes {
			r.stopNode(r.byID[id], "stopped "+by)
		}
	case status.OpNodePause:
		for _, id := range plan.Nodes {
			n := r.byID[id]
			n.status = status.NodePaused
			r.touch(n)
		}
	case status.OpNodeResume:
		for _, id := range plan.Nodes {
			n := r.byID[id]
			n.status = status.NodeWaiting
			r.touch(n)
			r.candidates.add(n.idx)
		}
	case status.OpInstanceStop:
		n := r.byID[plan.Nodes[0]]
		for _, s := range n.shards {
			if s.id == req.Instance {
				r.stopInstance(n, s, "stopped "+by)
			}
		}
	case status.OpInstanceRerun:
		n := r.byID[plan.Nodes[0]]
		for _, s := range n.shards {
			if s.id == req.Instance {
				return r.rerunInstance(n, s)
			}
		}
	case status.OpRollback:
		r.setRun(status.RunRollingBack, "rollback by "+r.actor)
		r.upsertStatus()
		r.rollbackDue = append([]string{}, plan.Nodes...)
	case status.OpAbandon:
		r.closed = true
		r.setRun(status.RunAbandoned, "abandoned "+by)
		r.upsertStatus()
	default:
		return &control.Conflict{Code: control.CodeBadRequest, Message: fmt.Sprintf("operation %q is not carried out by the run", req.Op)}
	}
	return nil
}

// reopen brings an ended run back to running for an operation that
// re-executes work in it.
func (r *runner) reopen() {
	r.unhalt()
	if r.runStatus != status.RunRunning && r.runStatus != status.RunPaused {
		r.setRun(status.RunRunning, "")
		r.upsertStatus()
	}
}

// resetSkippedDescendants makes the nodes skipped because of n decidable
// again: once n is re-executed or set successful, its downstream resumes.
func (r *runner) resetSkippedDescendants(n *nodeRun) {
	for _, id := range r.g.Descendants(n.node.ID) {
		d := r.byID[id]
		if d.status == status.NodeSkipped {
			d.status, d.finishedAt, d.message = status.NodeWaiting, nil, ""
			r.touch(d)
		}
	}
}

func (r *runner) stopNode(n *nodeRun, why string) {
	switch n.status {
	case status.NodeWaiting, status.NodePaused:
		r.finishNode(n, status.NodeStopped, why)
		return
	}
	n.stopReq = why
	n.status = status.NodeStopping
	r.touch(n)
	for _, s := range slices.Clone(n.shards) {
		r.stopInstance(n, s, why)
	}
}

func (r *runner) stopInstance(n *nodeRun, s *shard, why string) {
	if s.status.Terminal() {
		return
	}
	s.stopReq = why
	for i, q := range n.queued {
		if q.Shard != s.index {
			continue
		}
		// Not scheduled yet: it simply never starts.
		n.queued = slices.Delete(n.queued, i, i+1)
		if len(n.queued) == 0 {
			r.queue = slices.DeleteFunc(r.queue, func(x *nodeRun) bool { return x == n })
		}
		s.status = status.InstanceStopped
		r.recordInstance(n, q, InstanceState{Status: string(status.InstanceStopped), Message: why})
		r.nodeSettle(n, TaskResult{Status: string(status.InstanceStopped), Message: why})
		return
	}
	if s.cancel != nil {
		// The worker gets the cancellation on its next heartbeat and
		// escalates SIGTERM to SIGKILL after the task's grace period.
		s.cancel()
		r.recordInstance(n, QueuedInstance{ID: s.id, Shard: s.index, Attempt: s.attempt, WorkerID: s.workerID},
			InstanceState{Status: string(status.InstanceStopping), Message: why})
	}
}

// rerunInstance runs one instance slot again: on its own worker when that
// worker is alive (a broadcast instance only there), else anywhere in the
// group.
func (r *runner) rerunInstance(n *nodeRun, s *shard) *control.Conflict {
	t := n.node.Task
	group := r.group(t)
	queue := GroupTaskQueue(group)
	if s.workerID != "" {
		live, err := r.liveWorkers(group)
		alive := err == nil && slices.Contains(live, s.workerID)
		switch {
		case alive:
			queue = WorkerTaskQueue(group, s.workerID)
		case t.Mode == dag.ModeBroadcast:
			return &control.Conflict{Code: "worker_gone", Offending: []control.Offender{{ID: s.id, Status: string(s.status)}},
				Message: fmt.Sprintf("instance %s is a broadcast instance of worker %s, which is no longer alive in group %s", s.id, s.workerID, group)}
		}
	}
	r.reopen()
	r.resetSkippedDescendants(n)
	saved := s.queue
	s.queue = queue
	r.startNode(n, []int{s.index})
	s.queue = saved
	return nil
}

// rollback runs each node's compensation in the order given (reverse
// topological) and stops at the first that fails.
func (r *runner) rollback(ids []string) {
	r.flush()
	for k, id := range ids {
		n := r.byID[id]
		t := *n.node.Task.Rollback
		if t.Group == "" {
			t.Group = r.group(n.node.Task)
		}
		q := QueuedInstance{ID: fmt.Sprintf("%s.%s.rollback.%d", r.in.RunID, id, n.attempts+k+1), Shard: -1, Attempt: n.attempts + k + 1}
		r.recordInstance(n, q, InstanceState{Status: string(status.InstanceWaiting), Message: "rollback"})
		r.flush()
		actx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
			ActivityID:          q.ID,
			TaskQueue:           GroupTaskQueue(r.group(&t)),
			StartToCloseTimeout: noTimeout,
			HeartbeatTimeout:    HeartbeatTimeout,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		if d := t.Timeout.MustStd(); d > 0 {
			actx = workflow.WithStartToCloseTimeout(actx, addDurations(d, time.Minute))
		}
		var res TaskResult
		err := workflow.ExecuteActivity(actx, ExecuteTaskActivity, TaskRequest{
			RunID: r.in.RunID, NodeID: id, InstanceID: q.ID, Attempt: q.Attempt, Bizdate: r.in.Bizdate,
			Params: r.params(n, &t), Task: t, Mirror: r.in.Mirror, NodeRev: n.rev,
		}).Get(r.ctx, &res)
		if err != nil {
			res = TaskResult{Status: string(status.InstanceFailed), Message: err.Error()}
		}
		exit := res.ExitCode
		r.recordInstance(n, q, InstanceState{Status: res.Status, Message: "rollback: " + res.Message, ExitCode: &exit, WorkerID: res.WorkerID})
		if res.Status != string(status.InstanceSuccess) {
			n.message = "rollback failed: " + res.Message
			r.touch(n)
			r.setRun(status.RunRollbackFailed, fmt.Sprintf("rollback of %s failed: %s", id, res.Message))
			r.upsertStatus()
			return
		}
		n.status, n.message = status.NodeRolledBack, "rolled back"
		r.touch(n)
		r.flush()
	}
	r.closed = true
	r.setRun(status.RunRolledBack, "")
	r.upsertStatus()
}
