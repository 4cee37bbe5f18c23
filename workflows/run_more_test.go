package workflows

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
)

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterWorkflowWithOptions(RunWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	return env
}

func TestBroadcastRunsOnEveryLiveWorker(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(func(_ context.Context, group string) ([]string, error) {
		if group != "etl" {
			t.Errorf("live workers asked for group %q", group)
		}
		return []string{"w2", "w1"}, nil
	}, activity.RegisterOptions{Name: LiveWorkersActivity})
	var mu sync.Mutex
	var queues []string
	env.RegisterActivityWithOptions(func(ctx context.Context, _ TaskRequest) (TaskResult, error) {
		mu.Lock()
		defer mu.Unlock()
		queues = append(queues, activity.GetInfo(ctx).TaskQueue)
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	n := task("b")
	n.Task.Mode, n.Task.Group = dag.ModeBroadcast, "etl"
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: dag.Flow{Nodes: []dag.Node{n}}})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	sort.Strings(queues)
	want := []string{WorkerTaskQueue("etl", "w1"), WorkerTaskQueue("etl", "w2")}
	if res.Status != "success" || len(queues) != 2 || queues[0] != want[0] || queues[1] != want[1] {
		t.Fatalf("status %s, queues %v, want %v", res.Status, queues, want)
	}
}

func TestBroadcastWithoutLiveWorkersFailsTheNode(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(func(context.Context, string) ([]string, error) { return nil, nil },
		activity.RegisterOptions{Name: LiveWorkersActivity})
	n := task("b")
	n.Task.Mode = dag.ModeBroadcast
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: dag.Flow{Nodes: []dag.Node{n}}})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || res.Nodes["b"].Status != "failed" {
		t.Fatalf("%+v", res)
	}
}

// slowTasks fails node "bad" at once and makes every other node run until
// cancelled (or 1h of test time).
func slowTasks(ctx context.Context, req TaskRequest) (TaskResult, error) {
	if req.NodeID == "bad" {
		return TaskResult{Status: "failed"}, nil
	}
	// Like a real task, learn of a stop through heartbeats.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return TaskResult{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
			activity.RecordHeartbeat(ctx)
		}
	}
	return TaskResult{Status: "success"}, nil
}

func slowResult(req TaskRequest) TaskResult {
	if req.NodeID == "bad" {
		return TaskResult{Status: "failed"}
	}
	return TaskResult{Status: "success"}
}

func TestFailFastStopsTheOtherBranches(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	f := dag.Flow{FailFast: true, Nodes: []dag.Node{task("bad"), task("long"), task("after")},
		Edges: []dag.Edge{edge("long", "after", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || res.Nodes["long"].Status != "stopped" || res.Nodes["after"].Status != "waiting" {
		t.Fatalf("%+v", res)
	}
}

func TestWithoutFailFastOtherBranchesRunToTheEnd(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(func(_ context.Context, req TaskRequest) (TaskResult, error) {
		if req.NodeID == "bad" {
			return TaskResult{Status: "failed"}, nil
		}
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	f := dag.Flow{Nodes: []dag.Node{task("bad"), task("long"), task("after")}, Edges: []dag.Edge{edge("long", "after", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || res.Nodes["after"].Status != "success" {
		t.Fatalf("%+v", res)
	}
}

func TestRunTimeoutStopsRunningInstances(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	// A mocked hour on the suite's clock, so the 10m run timer can fire first.
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(time.Hour)
	f := dag.Flow{Timeout: "10m", Nodes: []dag.Node{task("long"), task("after")}, Edges: []dag.Edge{edge("long", "after", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "timeout" || res.Nodes["long"].Status != "timeout" || res.Nodes["after"].Status != "waiting" {
		t.Fatalf("%+v", res)
	}
}

func TestStateQueryShowsEveryNode(t *testing.T) {
	env := newEnv(t)
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req TaskRequest) (TaskResult, error) { return slowResult(req), nil }).After(10 * time.Minute)
	f := dag.Flow{Timeout: "1h", Nodes: []dag.Node{task("bad"), task("long"), task("after")}, Edges: []dag.Edge{edge("long", "after", "")}}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryState)
		if err != nil {
			t.Error(err)
			return
		}
		var view control.View
		if err := v.Get(&view); err != nil {
			t.Error(err)
			return
		}
		got := map[string]string{}
		for _, n := range view.Nodes {
			got[n.ID] = n.Status
		}
		want := map[string]string{"bad": "dispatched", "long": "dispatched", "after": "waiting"}
		if view.Status != "running" || len(got) != 3 || got["bad"] != want["bad"] || got["long"] != want["long"] || got["after"] != want["after"] {
			t.Errorf("query: %+v", view)
		}
	}, time.Minute)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f})
}

func TestMaxInFlightQueuesTheRest(t *testing.T) {
	env := newEnv(t)
	var mu sync.Mutex
	running, peak := 0, 0
	env.RegisterActivityWithOptions(func(context.Context, TaskRequest) (TaskResult, error) {
		mu.Lock()
		running++
		if running > peak {
			peak = running
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	f := dag.Flow{}
	for i := 0; i < 50; i++ {
		f.Nodes = append(f.Nodes, task("n"+string(rune('A'+i))))
	}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f, MaxInFlight: 5})
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "success" || peak > 5 || peak == 0 {
		t.Fatalf("status %s, peak in flight %d (cap 5)", res.Status, peak)
	}
}
