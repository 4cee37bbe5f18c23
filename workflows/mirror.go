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
}

func newPendingBatch() *pendingBatch {
	return &pendingBatch{nodes: map[string]NodeState{}, instances: map[string]InstanceState{}}
}

func (b *pendingBatch) empty() bool {
	return b.run == nil && len(b.nodes) == 0 && len(b.instances) == 0 && len(b.transitions) == 0
}

func (r *runner) nextRev() int64 {
	r.rev++
	return r.rev
}

func (r *runner) setRun(st status.Run, msg string) {
	now := workflow.Now(r.ctx)
	from := r.runStatus
	r.runStatus = st
	rs := &RunState{Status: string(st), Rev: r.nextRev(), Message: msg,
		TemporalRunID: workflow.GetInfo(r.ctx).WorkflowExecution.RunID}
	started := r.startedAt
	rs.StartedAt = &started
	if st.Terminal() {
		rs.FinishedAt = &now
	}
	r.batch.run = rs
	if from != st {
		r.batch.transitions = append(r.batch.transitions, TransitionNote{
			Entity: "run", EntityID: r.in.RunID, From: string(from), To: string(st), Actor: "engine", Reason: msg, At: now})
	}
}

// touch records n's current state; a status change also goes to the
// transition log.
func (r *runner) touch(n *nodeRun, reason string) {
	prev, seen := r.batch.nodes[n.node.ID]
	n.rev = r.nextRev()
	r.batch.nodes[n.node.ID] = NodeState{NodeID: n.node.ID, Status: string(n.status), Attempts: n.attempts,
		Rev: n.rev, Outputs: n.outputs, Message: n.message, StartedAt: n.startedAt, FinishedAt: n.finishedAt}
	from := ""
	if seen {
		from = prev.Status
	} else if n.lastStatus != "" {
		from = string(n.lastStatus)
	}
	if from != string(n.status) {
		r.batch.transitions = append(r.batch.transitions, TransitionNote{
			Entity: "node", EntityID: n.node.ID, From: from, To: string(n.status), Actor: "engine", Reason: reason, At: workflow.Now(r.ctx)})
	}
	n.lastStatus = n.status
}

func (r *runner) recordInstance(n *nodeRun, q QueuedInstance, s InstanceState) {
	now := workflow.Now(r.ctx)
	s.ID = instanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt)
	s.NodeID, s.ShardIndex, s.Attempt = n.node.ID, q.Shard, q.Attempt
	if s.WorkerID == "" {
		s.WorkerID = q.WorkerID
	}
	// Revisions: waiting 1, running 2 (written by the worker), final 3.
	s.Rev = 1
	if status.Instance(s.Status).Terminal() {
		s.Rev = 3
		s.FinishedAt = &now
	}
	r.batch.instances[s.ID] = s
}

// flush writes the gathered changes in one local activity. A failed write
// is kept and merged into the next one: upserts make resending harmless.
func (r *runner) flush() {
	if !r.in.Mirror || r.batch.empty() {
		r.batch = newPendingBatch()
		return
	}
	b := MirrorBatch{RunID: r.in.RunID, Run: r.batch.run, Transitions: r.batch.transitions}
	for _, k := range sortedKeys(r.batch.nodes) {
		b.Nodes = append(b.Nodes, r.batch.nodes[k])
	}
	for _, k := range sortedKeys(r.batch.instances) {
		b.Instances = append(b.Instances, r.batch.instances[k])
	}
	lctx := workflow.WithLocalActivityOptions(r.ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Second, MaximumAttempts: 8,
		},
	})
	if err := workflow.ExecuteLocalActivity(lctx, RecordMirrorActivity, b).Get(r.ctx, nil); err != nil {
		r.log.Info("mirror write failed; will resend with the next batch", "error", err)
		return
	}
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
