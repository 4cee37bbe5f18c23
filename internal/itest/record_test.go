package itest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// recordEnv names the directory recorded histories are written to. `make
// record-histories` sets it to workflows/testdata, whose replay test then
// guards every later change of the interpreter against non-determinism.
const recordEnv = "BATON_RECORD_HISTORIES"

func shellNode(id, script string) dag.Node {
	return dag.Node{ID: id, Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: script}}}
}

// historyCases are flows that between them exercise every path of the
// interpreter: fan-out/fan-in, logic nodes, handled failures and skips,
// retries with backoff timers, sharding with a success rate, the run
// timeout (cancellation), and continue-as-new.
func historyCases() map[string]workflows.RunInput {
	retried := shellNode("flaky", `test "$BATON_ATTEMPT" -ge 2`)
	retried.Retry = &dag.Retry{MaxAttempts: 3, InitialInterval: "200ms", Backoff: 2}
	sharded := shellNode("shards", `test "$BATON_SHARD_INDEX" != 1`)
	sharded.Task.Mode, sharded.Task.Shards, sharded.Task.SuccessRate = dag.ModeSharding, 3, 60
	sleeper := dag.Node{ID: "slow", Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: "30s"}}}
	chain := dag.Flow{Name: "chain"}
	for i := 0; i < 30; i++ {
		chain.Nodes = append(chain.Nodes, dag.Node{ID: "n" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindNoop}})
		if i > 0 {
			chain.Edges = append(chain.Edges, dag.Edge{From: chain.Nodes[i-1].ID, To: chain.Nodes[i].ID})
		}
	}
	return map[string]workflows.RunInput{
		"fanout-and-logic": {Flow: dag.Flow{Name: "fanout", Params: map[string]string{"k": "v"},
			Nodes: []dag.Node{shellNode("a", `echo "x=1" >> "$BATON_OUTPUTS"`), shellNode("b", "true"), shellNode("c", "exit 2"),
				{ID: "any", Type: dag.NodeOr}, {ID: "all", Type: dag.NodeAnd}, shellNode("d", "true"), shellNode("e", "true")},
			Edges: []dag.Edge{{From: "a", To: "b"}, {From: "a", To: "c"}, {From: "b", To: "any"}, {From: "c", To: "any", On: dag.OnFailure},
				{From: "b", To: "all"}, {From: "c", To: "all"}, {From: "any", To: "d"}, {From: "all", To: "e"}}}},
		"retry-and-sharding": {Flow: dag.Flow{Name: "retry", Nodes: []dag.Node{retried, sharded}, Edges: []dag.Edge{{From: "flaky", To: "shards"}}}},
		"run-timeout":        {Flow: dag.Flow{Name: "timeout", Timeout: "2s", Nodes: []dag.Node{sleeper, shellNode("after", "true")}, Edges: []dag.Edge{{From: "slow", To: "after"}}}},
		"continue-as-new":    {Flow: chain, HistoryLimit: 60},
	}
}

// historyWant is each case's expected run status and node statuses.
var historyWant = map[string]struct {
	run   string
	nodes map[string]string
}{
	"fanout-and-logic": {"success", map[string]string{"a": "success", "b": "success", "c": "failed",
		"any": "success", "all": "skipped", "d": "success", "e": "skipped"}},
	"retry-and-sharding": {"success", map[string]string{"flaky": "success", "shards": "success"}},
	"run-timeout":        {"timeout", map[string]string{"slow": "timeout", "after": "waiting"}},
	"continue-as-new":    {"success", map[string]string{"naa": "success", "ndb": "success"}},
}

func TestRecordedHistoriesReplay(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	ctx := context.Background()
	eng := &engine.Engine{Client: s.client}
	outDir := os.Getenv(recordEnv)
	for _, name := range []string{"fanout-and-logic", "retry-and-sharding", "run-timeout", "continue-as-new"} {
		in := historyCases()[name]
		t.Run(name, func(t *testing.T) {
			in.RunID, in.Kind, in.DefinitionID, in.Version, in.Trigger, in.Bizdate, in.Mirror =
				"hist-"+name, "flow", "def-"+name, 1, "manual", "2026-01-02", true
			if err := s.store.CreateRun(ctx, &models.Run{ID: in.RunID, Kind: "flow", DefinitionID: in.DefinitionID,
				Version: 1, Status: "waiting", Trigger: "manual", Bizdate: in.Bizdate}); err != nil {
				t.Fatal(err)
			}
			firstRunID, err := eng.StartRun(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.RunResult
			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			if err := s.client.GetWorkflow(wctx, workflows.WorkflowID(in.RunID), "").Get(wctx, &res); err != nil {
				t.Fatal(err)
			}
			want := historyWant[name]
			if res.Status != want.run {
				t.Errorf("run status %s, want %s", res.Status, want.run)
			}
			for id, st := range want.nodes {
				if got := res.Nodes[id]; got.Status != st {
					t.Errorf("node %s = %s (%s), want %s", id, got.Status, got.Message, st)
				}
			}
			if name == "retry-and-sharding" && res.Nodes["flaky"].Attempts != 2 {
				t.Errorf("flaky took %d attempts, want 2", res.Nodes["flaky"].Attempts)
			}
			histories := map[string]*historypb.History{name: fetchHistory(t, s.client, workflows.WorkflowID(in.RunID), firstRunID)}
			if name == "continue-as-new" {
				last := fetchHistory(t, s.client, workflows.WorkflowID(in.RunID), "")
				if countEvents(histories[name], enums.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW) != 1 {
					t.Fatalf("first run did not continue as new")
				}
				histories[name+"-last"] = last
				if res.Status != "success" || len(res.Nodes) != 30 {
					t.Fatalf("continued run result: %+v", res)
				}
			}
			for hname, h := range histories {
				replayer := worker.NewWorkflowReplayer()
				replayer.RegisterWorkflowWithOptions(workflows.RunWorkflow, workflow.RegisterOptions{Name: workflows.RunWorkflowName})
				if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
					t.Fatalf("replay %s: %v", hname, err)
				}
				if outDir != "" {
					b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(outDir, hname+".json"), b, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("recorded %s (%d events)", hname, len(h.Events))
				}
			}
		})
	}
}

func fetchHistory(t *testing.T, c client.Client, wfID, runID string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wfID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

func countEvents(h *historypb.History, typ enums.EventType) int {
	n := 0
	for _, e := range h.Events {
		if e.GetEventType() == typ {
			n++
		}
	}
	return n
}
