package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// From versionMirrorBehind on, a run's mirror writes are left to the
// worker's queue except the one it ends with, which is awaited; the
// worker's running mark gets a rev above the instance's waiting write and
// the node's dispatched write.
func TestMirrorWritesBehindUntilTheEnd(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RunWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	st := &scriptedTasks{s: script{}, calls: map[string]int{}}
	env.RegisterActivityWithOptions(st.execute, activity.RegisterOptions{Name: ExecuteTaskActivity})
	batches := recordBatches(env)
	f := dag.Flow{Name: "f", Nodes: []dag.Node{task("a"), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Bizdate: "2026-01-02", Mirror: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	bs := *batches
	if len(bs) < 3 {
		t.Fatalf("%d mirror writes, want one per workflow task (at least 3)", len(bs))
	}
	last := bs[len(bs)-1]
	if last.WriteBehind || last.Run == nil || last.Run.Status != "success" {
		t.Errorf("last write: behind %v, run %+v; want the awaited write of the final status", last.WriteBehind, last.Run)
	}
	waiting := map[string]int64{}
	dispatched := map[string]int64{}
	for i, b := range bs[:len(bs)-1] {
		if !b.WriteBehind {
			t.Errorf("write %d of %d is awaited: only the last one should be", i+1, len(bs))
		}
		for _, in := range b.Instances {
			if in.Status == "waiting" {
				waiting[in.ID] = in.Rev
			}
		}
		for _, n := range b.Nodes {
			if n.Status == "dispatched" {
				dispatched[n.NodeID] = n.Rev
			}
		}
	}
	if len(st.reqs) != 2 {
		t.Fatalf("%d tasks ran, want 2", len(st.reqs))
	}
	for _, req := range st.reqs {
		w, ok := waiting[req.InstanceID]
		if !ok || req.InstanceRev <= w {
			t.Errorf("instance %s: running mark at rev %d, waiting written at %d (seen %v): the mark must be above it",
				req.InstanceID, req.InstanceRev, w, ok)
		}
		// The node's dispatched write may land after the mark too: at an
		// equal rev it would take the node back to dispatched.
		if d, ok := dispatched[req.NodeID]; !ok || req.NodeRev <= d {
			t.Errorf("node %s: running mark at rev %d, dispatched written at %d (seen %v): the mark must be above it",
				req.NodeID, req.NodeRev, d, ok)
		}
	}
}

// A workflow task that applied a control request awaits its mirror write:
// the control query answers after that task, and a client reading the run
// after the POST must see the effect.
func TestMirrorWriteOfAControlIsAwaited(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RunWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	env.RegisterActivityWithOptions(func(context.Context, TaskRequest) (TaskResult, error) {
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	batches := recordBatches(env)
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalControl, control.Request{ID: "p1", Op: status.OpPause, Actor: "ann"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalControl, control.Request{ID: "r1", Op: status.OpResume, Actor: "ann"})
	}, 2*time.Minute)
	f := dag.Flow{Name: "f", Nodes: []dag.Node{task("a"), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Bizdate: "2026-01-02", Mirror: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, b := range *batches {
		if b.Run != nil && (b.Run.Status == "paused" || b.Run.Status == "running" && seen["paused"]) {
			seen[b.Run.Status] = true
			if b.WriteBehind {
				t.Errorf("the write of the run becoming %s (a control's effect) was left to the queue", b.Run.Status)
			}
		}
	}
	if !seen["paused"] || !seen["running"] {
		t.Fatalf("saw the run's statuses %v in the mirror writes; want paused, then running again", seen)
	}
}

// recordBatches registers a mirror activity that keeps every batch.
func recordBatches(env *testsuite.TestWorkflowEnvironment) *[]MirrorBatch {
	var mu sync.Mutex
	var batches []MirrorBatch
	env.RegisterActivityWithOptions(func(_ context.Context, b MirrorBatch) error {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, b)
		return nil
	}, activity.RegisterOptions{Name: RecordMirrorActivity})
	return &batches
}
