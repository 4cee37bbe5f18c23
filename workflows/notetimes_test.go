package workflows

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// TestSignalStormKeepsTheLogAChain: pause, resume, pause, ... signalled at
// once land in one workflow task. Every entry the run writes must survive
// the mirror's "already logged" key (run, entity, id, target status, time
// to the millisecond), and in the log's order (time, then write order)
// each entry of an entity must start where the one before it ended.
func TestSignalStormKeepsTheLogAChain(t *testing.T) {
	env := newEnv(t)
	var mu sync.Mutex
	var notes []TransitionNote
	env.RegisterActivityWithOptions(func(_ context.Context, b MirrorBatch) error {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, b.Transitions...)
		return nil
	}, activity.RegisterOptions{Name: RecordMirrorActivity})
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(time.Hour)
	env.RegisterDelayedCallback(func() {
		for i, op := range []status.Op{status.OpPause, status.OpResume, status.OpPause, status.OpResume, status.OpPause, status.OpResume, status.OpPause} {
			env.SignalWorkflow(SignalControl, control.Request{ID: fmt.Sprint("op", i), Op: op, Actor: "test"})
		}
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalControl, control.Request{ID: "last", Op: status.OpResume, Actor: "test"})
	}, 2*time.Minute)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: dag.Flow{Nodes: []dag.Node{task("long")}}, Mirror: true})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != "success" {
		t.Fatalf("run: %+v %v", res, err)
	}

	type key struct {
		entity, id, to string
		at             time.Time
	}
	seen := map[key]bool{}
	var run []TransitionNote
	for _, n := range notes {
		k := key{n.Entity, n.EntityID, n.To, n.At.UTC().Truncate(time.Millisecond)}
		if seen[k] {
			t.Errorf("%s %s →%s at %s twice: the mirror logs only the first", n.Entity, n.EntityID, n.To, k.at.Format(time.RFC3339Nano))
		}
		seen[k] = true
		if n.Entity == "run" {
			run = append(run, n)
		}
	}
	// The log's order: by time, then by write order (a stable sort).
	for i := 1; i < len(run); i++ {
		for j := i; j > 0 && run[j].At.Before(run[j-1].At); j-- {
			run[j], run[j-1] = run[j-1], run[j]
		}
	}
	var chain []string
	for i, n := range run {
		chain = append(chain, n.From+"→"+n.To)
		if i > 0 && run[i-1].To != n.From {
			t.Errorf("run entry %d %s→%s follows %s", i, n.From, n.To, run[i-1].To)
		}
	}
	if len(run) < 9 {
		t.Errorf("run log %v: want start, 7 storm entries, the last resume and the end", chain)
	}
}
