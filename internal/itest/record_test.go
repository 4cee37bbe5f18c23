package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	ctl "github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
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
// flakyOnce fails on its first run and succeeds after.
func flakyOnce(id, dir string) dag.Node {
	return shellNode(id, fmt.Sprintf(`test -f %[1]s/%[2]s || { touch %[1]s/%[2]s; exit 1; }`, dir, id))
}

// undoable has a compensation that appends its id to dir/undone.
func undoable(id, dir string) dag.Node {
	n := shellNode(id, "true")
	n.Task.Rollback = &dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: fmt.Sprintf("echo %s >> %s/undone", id, dir)}}
	return n
}

func historyCases(dir string) map[string]workflows.RunInput {
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
		"control-retry-skip": {Flow: dag.Flow{Name: "retry", Nodes: []dag.Node{flakyOnce("a", dir), shellNode("b", "true"),
			shellNode("c", "exit 4"), shellNode("d", "true")},
			Edges: []dag.Edge{{From: "a", To: "b"}, {From: "b", To: "c"}, {From: "c", To: "d"}}}},
		"control-rollback": {Flow: dag.Flow{Name: "rollback", Nodes: []dag.Node{undoable("a", dir), undoable("b", dir),
			shellNode("c", "exit 1")}, Edges: []dag.Edge{{From: "a", To: "b"}, {From: "b", To: "c"}}}},
		// Alerts (v4): an SLA that fires while slow runs, then c fails.
		"alerts-failure-sla": {Flow: dag.Flow{Name: "alerts", Nodes: []dag.Node{
			{ID: "slow", Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: "3s"}}},
			shellNode("c", "echo broken >&2; exit 1")}, Edges: []dag.Edge{{From: "slow", To: "c"}}},
			Alerts: []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertNodeFailed}, Channels: []string{"oncall"}},
				{Events: []dag.AlertEvent{dag.AlertSLAMiss}, Channels: []string{"oncall"}, SLA: &dag.SLA{After: "1s"}}}},
		// Alerts (v4): failed, retried by an operator, recovered.
		"alerts-recovered": {Flow: dag.Flow{Name: "recovered", Nodes: []dag.Node{flakyOnce("r", dir), shellNode("s", "true")},
			Edges: []dag.Edge{{From: "r", To: "s"}}},
			Alerts: []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertRecovered, dag.AlertNodeFailed}, Channels: []string{"oncall"}}}},
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
	"control-retry-skip": {"success", map[string]string{"a": "success", "b": "success", "c": "success", "d": "success"}},
	"control-rollback":   {"rolled_back", map[string]string{"a": "rolled_back", "b": "rolled_back", "c": "failed"}},
	"alerts-failure-sla": {"failed", map[string]string{"slow": "success", "c": "failed"}},
	"alerts-recovered":   {"success", map[string]string{"r": "success", "s": "success"}},
}

// historyAlerts is the alerts each case must have delivered, "event/key".
var historyAlerts = map[string][]string{
	"alerts-failure-sla": {"sla_miss/*", "node_failed/c#1", "run_failed/end-1"},
	"alerts-recovered":   {"node_failed/r#1", "run_failed/end-1", "recovered/end-2"},
}

// historyDrivers operate on a case's run while it is open, as an operator
// would, so the control paths are recorded too.
var historyDrivers = map[string]func(t *testing.T, s *stack, runID string){
	"control-retry-skip": func(t *testing.T, s *stack, runID string) {
		waitState(t, s, runID, "failed")
		control(t, s, runID, ctlReq("retry-a", status.OpNodeRetry, "a"))
		waitState(t, s, runID, "failed") // c fails too, unhandled
		control(t, s, runID, ctlReq("skip-c", status.OpNodeSkip, "c"))
	},
	"control-rollback": func(t *testing.T, s *stack, runID string) {
		waitState(t, s, runID, "failed")
		control(t, s, runID, ctlReq("rollback", status.OpRollback))
	},
	"alerts-recovered": func(t *testing.T, s *stack, runID string) {
		waitState(t, s, runID, "failed")
		control(t, s, runID, ctlReq("retry", status.OpRetryFailed))
	},
}

func ctlReq(id string, op status.Op, nodes ...string) ctl.Request {
	return ctl.Request{ID: id, Op: op, Nodes: nodes, Actor: "recorder"}
}

func waitState(t *testing.T, s *stack, runID, want string) {
	t.Helper()
	eng := &engine.Engine{Client: s.client, Namespace: "default"}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		v, err := eng.State(context.Background(), runID)
		if err == nil && v.Status == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %s never became %s", runID, want)
}

func control(t *testing.T, s *stack, runID string, req ctl.Request) {
	t.Helper()
	eng := &engine.Engine{Client: s.client, Namespace: "default"}
	res, err := eng.Control(context.Background(), runID, req)
	if err != nil || res.State != "applied" {
		t.Fatalf("%s on %s: %+v %v", req.Op, runID, res, err)
	}
}

func TestRecordedHistoriesReplay(t *testing.T) {
	sink := &alertSink{}
	s := newStackOpts(t, databases(t)["sqlite"], stackOptions{FlowActivities: sink.register})
	ctx := context.Background()
	eng := &engine.Engine{Client: s.client}
	dir := t.TempDir()
	for _, name := range []string{"fanout-and-logic", "retry-and-sharding", "run-timeout", "continue-as-new",
		"control-retry-skip", "control-rollback", "alerts-failure-sla", "alerts-recovered"} {
		in := historyCases(dir)[name]
		t.Run(name, func(t *testing.T) {
			// Unsuccessful runs stay open for operations; a short window lets
			// the recorder see them close.
			in.RunID, in.Kind, in.DefinitionID, in.Version, in.Trigger, in.Bizdate, in.Mirror, in.OperableWindow =
				"hist-"+name, "flow", "def-"+name, 1, "manual", "2026-01-02", true, "3s"
			if err := s.store.CreateRun(ctx, &models.Run{ID: in.RunID, Kind: "flow", DefinitionID: in.DefinitionID,
				Version: 1, Status: "waiting", Trigger: "manual", Bizdate: in.Bizdate}); err != nil {
				t.Fatal(err)
			}
			firstRunID, err := eng.StartRun(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if drive := historyDrivers[name]; drive != nil {
				drive(t, s, in.RunID)
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
			if name == "control-rollback" {
				if b, err := os.ReadFile(filepath.Join(dir, "undone")); err != nil || string(b) != "b\na\n" {
					t.Errorf("compensations ran as %q (%v), want b then a", b, err)
				}
			}
			if want := historyAlerts[name]; !sink.delivered(in.RunID, want...) {
				t.Errorf("alerts delivered %v, want %v", sink.keys(in.RunID), want)
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
				recordHistory(t, workflows.RunWorkflowName, hname, h)
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
