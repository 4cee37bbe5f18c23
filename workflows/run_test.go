package workflows

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/dag"
)

// script says how each instance ends: key "node" or "node#shard", value the
// statuses of successive attempts (the last one repeats).
type script map[string][]string

type scriptedTasks struct {
	mu    sync.Mutex
	s     script
	calls map[string]int
	reqs  []TaskRequest
}

func (st *scriptedTasks) execute(_ context.Context, req TaskRequest) (TaskResult, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.reqs = append(st.reqs, req)
	key := req.NodeID
	if _, ok := st.s[fmt.Sprintf("%s#%d", req.NodeID, req.ShardIndex)]; ok {
		key = fmt.Sprintf("%s#%d", req.NodeID, req.ShardIndex)
	}
	st.calls[key]++
	outs := st.s[key]
	res := "success"
	if len(outs) > 0 {
		i := st.calls[key] - 1
		if i >= len(outs) {
			i = len(outs) - 1
		}
		res = outs[i]
	}
	return TaskResult{Status: res, Outputs: map[string]string{"from_" + req.NodeID: "1"}}, nil
}

func task(id string) dag.Node {
	return dag.Node{ID: id, Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindNoop}}
}

func edge(from, to string, on dag.EdgeOn) dag.Edge { return dag.Edge{From: from, To: to, On: on} }

func runFlow(t *testing.T, f dag.Flow, s script) (RunResult, *scriptedTasks) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RunWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	st := &scriptedTasks{s: s, calls: map[string]int{}}
	env.RegisterActivityWithOptions(st.execute, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Bizdate: "2026-01-02"})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, st
}

func TestSemantics(t *testing.T) {
	or := dag.Node{ID: "or", Type: dag.NodeOr}
	and := dag.Node{ID: "and", Type: dag.NodeAnd}
	core := func(n dag.Node) dag.Node { n.Core = true; return n }
	sharded := func(id string, shards, rate int) dag.Node {
		n := task(id)
		n.Task.Mode, n.Task.Shards, n.Task.SuccessRate = dag.ModeSharding, shards, rate
		return n
	}
	retried := func(id string, attempts int) dag.Node {
		n := task(id)
		n.Retry = &dag.Retry{MaxAttempts: attempts, InitialInterval: "1s", Backoff: 2}
		return n
	}
	cases := []struct {
		name  string
		flow  dag.Flow
		s     script
		run   string
		nodes map[string]string
	}{
		{
			name:  "chain succeeds",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}},
			run:   "success",
			nodes: map[string]string{"a": "success", "b": "success"},
		},
		{
			name:  "unhandled failure fails the run and skips downstream",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("b"), task("c")}, Edges: []dag.Edge{edge("a", "b", ""), edge("b", "c", "")}},
			s:     script{"a": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"a": "failed", "b": "skipped", "c": "skipped"},
		},
		{
			name:  "independent branch keeps running after a failure",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("x"), task("y")}, Edges: []dag.Edge{edge("x", "y", "")}},
			s:     script{"a": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"a": "failed", "x": "success", "y": "success"},
		},
		{
			name:  "failure handled by a failure edge leaves the run successful",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("onfail"), task("next")}, Edges: []dag.Edge{edge("a", "onfail", dag.OnFailure), edge("a", "next", dag.OnSuccess)}},
			s:     script{"a": {"failed"}},
			run:   "success",
			nodes: map[string]string{"a": "failed", "onfail": "success", "next": "skipped"},
		},
		{
			name:  "failure edge is dead when the upstream succeeds",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("onfail")}, Edges: []dag.Edge{edge("a", "onfail", dag.OnFailure)}},
			run:   "success",
			nodes: map[string]string{"a": "success", "onfail": "skipped"},
		},
		{
			name:  "always edge fires on failure",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("cleanup")}, Edges: []dag.Edge{edge("a", "cleanup", dag.OnAlways)}},
			s:     script{"a": {"failed"}},
			run:   "success",
			nodes: map[string]string{"a": "failed", "cleanup": "success"},
		},
		{
			name: "OR fed by a success branch and a failure branch",
			flow: dag.Flow{Nodes: []dag.Node{task("a"), task("b"), or, task("c")},
				Edges: []dag.Edge{edge("a", "or", dag.OnSuccess), edge("b", "or", dag.OnFailure), edge("or", "c", "")}},
			s:     script{"a": {"failed"}, "b": {"failed"}},
			run:   "failed", // a's failure has no failure edge: unhandled
			nodes: map[string]string{"a": "failed", "b": "failed", "or": "success", "c": "success"},
		},
		{
			name: "OR with every edge dead is skipped",
			flow: dag.Flow{Nodes: []dag.Node{task("a"), task("b"), or, task("c")},
				Edges: []dag.Edge{edge("a", "or", dag.OnFailure), edge("b", "or", dag.OnFailure), edge("or", "c", "")}},
			run:   "success",
			nodes: map[string]string{"a": "success", "b": "success", "or": "skipped", "c": "skipped"},
		},
		{
			name: "AND with one dead edge is skipped and skipping propagates",
			flow: dag.Flow{Nodes: []dag.Node{task("a"), task("b"), task("handler"), and, task("c")},
				Edges: []dag.Edge{edge("a", "and", ""), edge("b", "and", ""), edge("b", "handler", dag.OnFailure), edge("and", "c", "")}},
			s:     script{"b": {"failed"}},
			run:   "success",
			nodes: map[string]string{"a": "success", "b": "failed", "handler": "success", "and": "skipped", "c": "skipped"},
		},
		{
			name: "task node with several upstreams is AND",
			flow: dag.Flow{Nodes: []dag.Node{task("a"), task("b"), task("c")},
				Edges: []dag.Edge{edge("a", "c", ""), edge("b", "c", "")}},
			s:     script{"b": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"a": "success", "b": "failed", "c": "skipped"},
		},
		{
			name:  "core node failed while others succeeded fails the run",
			flow:  dag.Flow{Nodes: []dag.Node{core(task("a")), task("b"), task("h")}, Edges: []dag.Edge{edge("a", "h", dag.OnFailure)}},
			s:     script{"a": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"a": "failed", "b": "success", "h": "success"},
		},
		{
			name:  "core nodes succeeded decide success despite other failures",
			flow:  dag.Flow{Nodes: []dag.Node{core(task("a")), task("b")}},
			s:     script{"b": {"failed"}},
			run:   "success",
			nodes: map[string]string{"a": "success", "b": "failed"},
		},
		{
			name:  "retry succeeds on the second attempt",
			flow:  dag.Flow{Nodes: []dag.Node{retried("a", 3), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}},
			s:     script{"a": {"failed", "success"}},
			run:   "success",
			nodes: map[string]string{"a": "success", "b": "success"},
		},
		{
			name:  "retries exhausted fail the node",
			flow:  dag.Flow{Nodes: []dag.Node{retried("a", 2)}},
			s:     script{"a": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"a": "failed"},
		},
		{
			name:  "default is one attempt, no retry",
			flow:  dag.Flow{Nodes: []dag.Node{task("a")}},
			s:     script{"a": {"failed", "success"}},
			run:   "failed",
			nodes: map[string]string{"a": "failed"},
		},
		{
			name:  "sharding 4 with success_rate 75 and one failing shard succeeds",
			flow:  dag.Flow{Nodes: []dag.Node{sharded("s", 4, 75)}},
			s:     script{"s#2": {"failed"}},
			run:   "success",
			nodes: map[string]string{"s": "success"},
		},
		{
			name:  "sharding 4 with default rate and one failing shard fails",
			flow:  dag.Flow{Nodes: []dag.Node{sharded("s", 4, 0)}},
			s:     script{"s#2": {"failed"}},
			run:   "failed",
			nodes: map[string]string{"s": "failed"},
		},
		{
			name:  "timeout of an instance makes the node timeout",
			flow:  dag.Flow{Nodes: []dag.Node{task("a"), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}},
			s:     script{"a": {"timeout"}},
			run:   "failed",
			nodes: map[string]string{"a": "timeout", "b": "skipped"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := runFlow(t, tc.flow, tc.s)
			if res.Status != tc.run {
				t.Errorf("run = %s, want %s", res.Status, tc.run)
			}
			for id, want := range tc.nodes {
				if got := res.Nodes[id].Status; got != want {
					t.Errorf("node %s = %s, want %s (%s)", id, got, want, res.Nodes[id].Message)
				}
			}
		})
	}
}

func TestRetryAttemptsAreSeparateInstances(t *testing.T) {
	n := task("a")
	n.Retry = &dag.Retry{MaxAttempts: 3, InitialInterval: "2s", Backoff: 2}
	res, st := runFlow(t, dag.Flow{Nodes: []dag.Node{n}}, script{"a": {"failed", "failed", "success"}})
	if res.Status != "success" || res.Nodes["a"].Attempts != 3 {
		t.Fatalf("result %+v", res)
	}
	ids := map[string]bool{}
	for _, r := range st.reqs {
		ids[r.InstanceID] = true
	}
	for _, want := range []string{"r1.a.0.1", "r1.a.0.2", "r1.a.0.3"} {
		if !ids[want] {
			t.Errorf("instance %s not dispatched; got %v", want, ids)
		}
	}
}

func TestParamsAndUpstreamOutputsReachTasks(t *testing.T) {
	a := task("a")
	a.Task.Params = map[string]string{"k": "task", "only_task": "t"}
	b := task("b")
	b.Params = map[string]string{"k": "node"}
	f := dag.Flow{Nodes: []dag.Node{a, b}, Edges: []dag.Edge{edge("a", "b", "")}}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	st := &scriptedTasks{calls: map[string]int{}}
	env.RegisterWorkflowWithOptions(RunWorkflow, workflow.RegisterOptions{Name: RunWorkflowName})
	env.RegisterActivityWithOptions(st.execute, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r", Flow: f, Bizdate: "2026-03-04", Params: map[string]string{"run": "x"}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var reqB TaskRequest
	for _, r := range st.reqs {
		if r.NodeID == "b" {
			reqB = r
		}
	}
	if reqB.Bizdate != "2026-03-04" || reqB.Params["k"] != "node" || reqB.Params["run"] != "x" || reqB.Params["from_a"] != "1" {
		t.Errorf("b got %+v", reqB)
	}
	if st.reqs[0].Params["k"] != "task" || st.reqs[0].Params["only_task"] != "t" {
		t.Errorf("a got %+v", st.reqs[0].Params)
	}
}

// TestHugeDurationsCannotWedgeARun: a stored definition from before
// durations were bounded gives a timeout whose sum with the grace period
// and the engine's margin passes time.Duration's range. The activity's
// timeout saturates instead of wrapping negative (which Temporal refuses,
// failing the workflow task for ever), and the task runs.
func TestHugeDurationsCannotWedgeARun(t *testing.T) {
	n := task("a")
	n.Task.Timeout, n.Task.Grace = "106751d", "1d"
	res, st := runFlow(t, dag.Flow{Nodes: []dag.Node{n}}, script{})
	if res.Status != "success" || len(st.reqs) != 1 {
		t.Fatalf("result %+v after %d instances", res, len(st.reqs))
	}
	if got := addDurations(math.MaxInt64-5, 10, time.Minute); got != math.MaxInt64 {
		t.Fatalf("saturated sum %d", got)
	}
}

// TestRetryBackoffSaturates: a backoff whose waits pass time.Duration's
// range caps them at max_interval rather than failing the node before its
// last attempt (the product wrapped negative before the cap applied).
func TestRetryBackoffSaturates(t *testing.T) {
	n := task("a")
	n.Retry = &dag.Retry{MaxAttempts: 4, InitialInterval: "1h", Backoff: 1e300, MaxInterval: "2h"}
	res, _ := runFlow(t, dag.Flow{Nodes: []dag.Node{n}}, script{"a": {"failed", "failed", "failed", "success"}})
	if res.Status != "success" || res.Nodes["a"].Attempts != 4 {
		t.Fatalf("result %+v", res)
	}
	_, wait, _ := retryAfter(&dag.Task{Retry: &dag.Retry{MaxAttempts: 4, InitialInterval: "1h", Backoff: 1e300}}, QueuedInstance{Attempt: 3}, true)
	if wait != dag.MaxDuration {
		t.Fatalf("wait %s", wait)
	}
}
