package workflows

import (
	"container/heap"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/status"
)

// pendingBatch gathers the state changes of one workflow task. Only the
// latest state of each entity is kept: the mirror's upserts are keyed and
// revisioned, so intermediate states need not be written. Transitions are
// kept in full because they are the log.
type pendingBatch struct {
	run         *RunState
	nodes       map[string]NodeState
	instances   map[string]InstanceState
	transitions []TransitionNote
	reset       *ResetNote
	// failed counts the writes of this batch that failed; from the first
	// failure on, the mirror is taken to be down.
	failed int
}

func newPendingBatch() *pendingBatch {
	return &pendingBatch{nodes: map[string]NodeState{}, instances: map[string]InstanceState{}}
}

func (b *pendingBatch) empty() bool {
	return b.run == nil && len(b.nodes) == 0 && len(b.instances) == 0 && len(b.transitions) == 0
}

// nextRev orders mirror writes by the workflow's own clock: milliseconds of
// workflow.Now, then a sequence within the same millisecond. A reset run's
// new work therefore always supersedes what the run it came from wrote.
func (r *runner) nextRev() int64 {
	ms := workflow.Now(r.ctx).UnixMilli()
	if ms > r.revMillis {
		r.revMillis, r.revSeq = ms, 0
	}
	r.revSeq++
	r.rev = r.revMillis*1_000_000 + r.revSeq
	return r.rev
}

func (r *runner) note(entity, id, from, to string) {
	if from == to {
		return
	}
	r.batch.transitions = append(r.batch.transitions, TransitionNote{Entity: entity, EntityID: id, From: from, To: to,
		Actor: r.actor, Reason: r.reason, RequestID: r.requestID, At: r.noteAt(entity, id)})
}

func (r *runner) setRun(st status.Run, msg string) {
	now := workflow.Now(r.ctx)
	from := r.runStatus
	if from != "" && !status.RunMayBecome(from, st) {
		r.log.Info("refused run transition", "from", from, "to", st)
		return
	}
	r.runStatus = st
	if !st.Terminal() {
		r.alerts.endAlerted = false // a new arrival at a final status pages again
	}
	rs := &RunState{Status: string(st), Rev: r.nextRev(), Message: msg,
		TemporalRunID: workflow.GetInfo(r.ctx).WorkflowExecution.RunID}
	started := r.startedAt
	rs.StartedAt = &started
	if st.Terminal() {
		rs.FinishedAt = &now
	}
	r.batch.run = rs
	r.note("run", r.in.RunID, string(from), string(st))
}

// touch records n's current state; a status change also goes to the
// transition log.
func (r *runner) touch(n *nodeRun) {
	if n.lastStatus != "" && !status.NodeMayBecome(n.lastStatus, n.status) {
		// A bug, not an operator error: operators are refused earlier by
		// control.Check. Record it loudly rather than hide it.
		r.log.Info("node transition outside the state machine", "node", n.node.ID, "from", n.lastStatus, "to", n.status)
	}
	n.rev = r.nextRev()
	r.batch.nodes[n.node.ID] = NodeState{NodeID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts,
		Rev: n.rev, Outputs: n.outputs, Message: n.message, StartedAt: n.startedAt, FinishedAt: n.finishedAt}
	r.note("node", n.node.ID, string(n.lastStatus), string(n.status))
	n.lastStatus = n.status
}

func (r *runner) recordInstance(n *nodeRun, q QueuedInstance, s InstanceState) int64 {
	now := workflow.Now(r.ctx)
	s.ID = q.ID
	if s.ID == "" {
		s.ID = InstanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt)
	}
	s.NodeID, s.ShardIndex, s.Attempt = n.node.ID, q.Shard, q.Attempt
	if s.WorkerID == "" {
		s.WorkerID = q.WorkerID
	}
	s.Rev = r.nextRev()
	if status.Instance(s.Status).Terminal() {
		s.FinishedAt = &now
	}
	prev, seen := r.batch.instances[s.ID]
	r.batch.instances[s.ID] = s
	if seen {
		r.note("instance", s.ID, prev.Status, s.Status)
	} else if s.Status != string(status.InstanceWaiting) {
		r.note("instance", s.ID, "", s.Status)
	}
	return s.Rev
}

// resync puts the whole run into the batch: the first live write of a reset
// run must overwrite what the original run left in the mirror.
func (r *runner) resync() {
	if !r.reset || r.resynced || workflow.IsReplaying(r.ctx) {
		return
	}
	r.resynced = true
	r.batch.reset = r.resetNote()
	r.setRun(r.runStatus, "")
	for _, n := range r.nodes {
		n.rev = r.nextRev()
		r.batch.nodes[n.node.ID] = NodeState{NodeID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts,
			Rev: n.rev, Outputs: n.outputs, Message: n.message, StartedAt: n.startedAt, FinishedAt: n.finishedAt}
	}
}

// flush writes the gathered changes in one local activity. From
// versionMirrorBehind on, the worker queues the write and the activity
// answers at once, so the task's commands (the dispatch) do not wait for
// the database; a workflow task that applied a control request still
// awaits its write.
func (r *runner) flush() {
	behind := r.version >= versionMirrorBehind && !r.controlled
	r.controlled = false
	r.write(behind)
}

// flushAwaited writes the gathered changes, and every write of the run the
// worker still holds, before it returns: what the run ends (or waits for
// operations) with is in the mirror when the workflow says so.
func (r *runner) flushAwaited() { r.write(false) }

// write sends the batch to the mirror activity. A failed write is kept and
// merged into the next one: upserts make resending harmless.
func (r *runner) write(behind bool) {
	if r.in.Mirror && !r.batch.empty() {
		r.resync()
	}
	if !r.in.Mirror {
		r.batch = newPendingBatch()
		return
	}
	// An awaited write with nothing new still goes out while the worker
	// may hold queued writes of this run: it waits for them.
	if r.batch.empty() && (behind || !r.queuedBehind) {
		return
	}
	b := MirrorBatch{RunID: r.in.RunID, Run: r.batch.run, Transitions: r.batch.transitions, Reset: r.batch.reset, WriteBehind: behind}
	for _, k := range sortedKeys(r.batch.nodes) {
		b.Nodes = append(b.Nodes, r.batch.nodes[k])
	}
	for _, k := range sortedKeys(r.batch.instances) {
		b.Instances = append(b.Instances, r.batch.instances[k])
	}
	opts := workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Second, MaximumAttempts: 8,
		},
	}
	if r.batch.failed > 0 {
		// The mirror is down: one short attempt per workflow task, so the
		// run keeps its pace instead of waiting out the retries on every
		// task. The batch keeps growing and lands whole once the database
		// is back; a run that ends first is repaired by the reconciler.
		// (Retry options shape no command, so replay is unaffected.)
		opts = workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}}
	}
	lctx := workflow.WithLocalActivityOptions(r.ctx, opts)
	if err := workflow.ExecuteLocalActivity(lctx, RecordMirrorActivity, b).Get(r.ctx, nil); err != nil {
		r.batch.failed++
		r.log.Info("mirror write failed; will resend with the next batch", "error", err, "failed_writes", r.batch.failed)
		return
	}
	r.queuedBehind = behind
	r.batch = newPendingBatch()
}

// indexSet is a set of topological positions popped smallest first, so
// upstream decisions are always made before downstream ones.
type indexSet struct {
	h   intHeap
	has map[int]bool
}

func newIndexSet() *indexSet { return &indexSet{has: map[int]bool{}} }

func (s *indexSet) add(i int) {
	if i < 0 || s.has[i] {
		return
	}
	s.has[i] = true
	heap.Push(&s.h, i)
}

func (s *indexSet) popMin() int {
	i := heap.Pop(&s.h).(int)
	delete(s.has, i)
	return i
}

func (s *indexSet) len() int { return s.h.Len() }

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
