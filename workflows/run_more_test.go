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
	"github.com/baton-sched/baton/internal/status"
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
	queried := false
	env.RegisterDelayedCallback(func() {
		queried = true
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
	if !queried {
		t.Fatal("the state query never ran: the run ended before the callback's minute")
	}
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

// A paused node resumed in a halted (stopped) run becomes waiting but does
// not start: a stopped run starts no work until an operator reopens it (a
// run retry), and then the resumed node runs after its upstream.
func TestNodeResumeInAHaltedRunDoesNotStartIt(t *testing.T) {
	env := newEnv(t)
	var mu sync.Mutex
	ran := map[string]int{}
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req TaskRequest) (TaskResult, error) {
			mu.Lock()
			ran[req.NodeID]++
			mu.Unlock()
			return TaskResult{Status: "success"}, nil
		}).After(time.Hour)
	f := dag.Flow{Nodes: []dag.Node{task("long"), task("b")}, Edges: []dag.Edge{edge("long", "b", "")}}
	state := func() (string, map[string]string) {
		v, err := env.QueryWorkflow(QueryState)
		if err != nil {
			t.Fatal(err)
		}
		var view control.View
		if err := v.Get(&view); err != nil {
			t.Fatal(err)
		}
		nodes := map[string]string{}
		for _, n := range view.Nodes {
			nodes[n.ID] = n.Status
		}
		return view.Status, nodes
	}
	signal := func(op status.Op, nodes ...string) {
		env.SignalWorkflow(SignalControl, control.Request{ID: string(op), Op: op, Nodes: nodes, Actor: "test"})
	}
	checked := 0
	env.RegisterDelayedCallback(func() { signal(status.OpNodePause, "b") }, time.Minute)
	env.RegisterDelayedCallback(func() { signal(status.OpStop) }, 2*time.Minute)
	env.RegisterDelayedCallback(func() {
		checked++
		if run, nodes := state(); run != "stopped" || nodes["long"] != "stopped" || nodes["b"] != "paused" {
			t.Errorf("after the stop: run %s, nodes %v; want stopped, long stopped, b paused", run, nodes)
		}
		signal(status.OpNodeResume, "b")
	}, 3*time.Minute)
	env.RegisterDelayedCallback(func() {
		checked++
		if run, nodes := state(); run != "stopped" || nodes["b"] != "waiting" {
			t.Errorf("after the resume: run %s, nodes %v; want the run still stopped and b waiting", run, nodes)
		}
		mu.Lock()
		defer mu.Unlock()
		if ran["b"] != 0 {
			t.Errorf("b was started %d times in a stopped run", ran["b"])
		}
		signal(status.OpRetryFailed)
	}, 4*time.Minute)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f, OperableWindow: "1h"})
	if checked != 2 {
		t.Fatalf("%d of 2 checks ran: the run ended early", checked)
	}
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	// The retry reopened the run: long ran again, then b.
	if res.Status != "success" || res.Nodes["long"].Status != "success" || res.Nodes["b"].Status != "success" || ran["b"] != 1 {
		t.Fatalf("after the retry: %+v, b ran %d times; want success with b run once", res, ran["b"])
	}
}
