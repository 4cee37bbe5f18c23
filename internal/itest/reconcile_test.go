package itest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/reconcile"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// The mirror reconciler on the real stack: rows deleted or given wrong
// statuses on purpose are restored from Temporal in one pass, for a run
// whose workflow has closed and for a failed run whose workflow is still
// open for operations; a run row whose workflow was never started is
// marked failed once the start grace is over.
func TestReconcileRepairsCorruptedMirror(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		e := newCtlEnv(t, s)
		ctx := context.Background()
		exec := func(stmt string, args ...any) {
			t.Helper()
			if err := s.store.Exec(ctx, stmt, args...); err != nil {
				t.Fatal(err)
			}
		}

		done := e.start([]map[string]any{
			ctlNodeSpec("a", `echo "answer=42" >> "$BATON_OUTPUTS"`, ""),
			ctlNodeSpec("b", "true", ""),
			ctlNodeSpec("c", "true", ""),
		}, ctlEdges("a>b", "b>c"), nil)
		open := e.start([]map[string]any{ctlNodeSpec("x", "exit 3", ""), ctlNodeSpec("y", "true", "")},
			ctlEdges("x>y"), nil)
		going := e.start([]map[string]any{ctlNodeSpec("p", awaitRelease, ""), ctlNodeSpec("q", "true", "")},
			ctlEdges("p>q"), nil)
		if got := e.waitStatus(done, "success").Status; got != "success" {
			t.Fatalf("run %s is %s", done, got)
		}
		e.waitStatus(open, "failed")
		e.waitNode(going, "p", "running")
		assertMirrorMatches(t, s, 30*time.Second, done, open, going)

		// The finished run: its status moved backwards, a node moved
		// backwards, another "forwards" to a wrong final status, a node
		// row, instance rows and transitions gone.
		exec("UPDATE runs SET status = 'running' WHERE id = ?", done)
		exec("UPDATE node_runs SET status = 'waiting', outputs = '' WHERE run_id = ? AND node_id = 'a'", done)
		exec("UPDATE node_runs SET status = 'failed', attempts = 7 WHERE run_id = ? AND node_id = 'c'", done)
		exec("DELETE FROM node_runs WHERE run_id = ? AND node_id = 'b'", done)
		exec("DELETE FROM instances WHERE run_id = ? AND node_id IN ('a', 'b')", done)
		exec("DELETE FROM transitions WHERE run_id = ? AND (entity = 'run' OR entity_id = 'c')", done)
		// The failed run, still open for operations: its failed node said to
		// have succeeded, the downstream node and the instance gone.
		exec("UPDATE node_runs SET status = 'success' WHERE run_id = ? AND node_id = 'x'", open)
		exec("DELETE FROM node_runs WHERE run_id = ? AND node_id = 'y'", open)
		exec("DELETE FROM instances WHERE run_id = ?", open)
		// The running run said to have timed out, its waiting node gone.
		exec("UPDATE runs SET status = 'timeout' WHERE id = ?", going)
		exec("DELETE FROM node_runs WHERE run_id = ? AND node_id = 'q'", going)
		// A run recorded whose start never reached Temporal.
		lost := "r-lost-start-" + strings.ReplaceAll(t.Name(), "/", "-")
		if err := s.store.CreateRun(ctx, &models.Run{ID: lost, Kind: "flow", DefinitionID: "f-none",
			Status: "waiting", Trigger: "manual", CreatedAt: time.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{done, open, going} {
			if diff := s.mirrorDiff(id); len(diff) == 0 {
				t.Fatalf("run %s: the checker does not see the corruption", id)
			}
		}

		// Within its grace the lost start is left alone.
		patient := s.reconciler(reconcile.Options{StartGrace: time.Hour})
		if st := patient.Pass(ctx); st.MarkedFailed != 0 || st.Errors != 0 || st.Repaired != 3 || !st.Complete {
			t.Errorf("first pass: %+v, want 3 runs repaired and none marked failed", st)
		}
		assertMirrorMatches(t, s, 0, done, open, going)
		if r, err := s.store.GetRun(ctx, lost); err != nil || r.Status != "waiting" {
			t.Fatalf("lost start within its grace: %+v, %v", r, err)
		}
		m, err := s.store.LoadRunMirror(ctx, done)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range m.Nodes {
			if n.NodeID == "a" && n.Outputs != `{"answer":"42"}` {
				t.Errorf("node a outputs %q after repair", n.Outputs)
			}
		}
		if len(m.Instances) != 3 {
			t.Errorf("run %s has %d instances after repair, want 3", done, len(m.Instances))
		}

		// The repaired open run still takes operations: skip the failed node.
		e.op(nodePath(open, "x", "skip"), map[string]any{})
		e.waitStatus(open, "success")
		e.release()
		e.waitStatus(going, "success")
		assertMirrorMatches(t, s, 30*time.Second, open, going)

		reg, err := metrics.New()
		if err != nil {
			t.Fatal(err)
		}
		r := s.reconciler(reconcile.Options{StartGrace: time.Second, Metrics: reg})
		st := r.Pass(ctx)
		if st.MarkedFailed != 1 || st.Repaired != 0 || st.Errors != 0 {
			t.Errorf("second pass: %+v, want only the lost start marked failed", st)
		}
		got, err := s.store.LoadRunMirror(ctx, lost)
		if err != nil {
			t.Fatal(err)
		}
		if got.Run.Status != "failed" || !strings.Contains(got.Run.Message, "no workflow was started") || got.Run.FinishedAt == nil {
			t.Errorf("lost start after the grace: %s %q finished %v", got.Run.Status, got.Run.Message, got.Run.FinishedAt)
		}
		if n := len(got.Transitions); n != 1 || got.Transitions[0].Actor != reconcile.Actor || got.Transitions[0].ToStatus != "failed" {
			t.Errorf("lost start transitions: %+v", got.Transitions)
		}
		if st := r.Pass(ctx); st.Repaired+st.MarkedFailed+st.Errors != 0 {
			t.Errorf("a pass over a converged mirror changed something: %+v", st)
		}
		stats := r.Stats()
		if stats.Passes != 2 || stats.MarkedFailed != 1 {
			t.Errorf("stats %+v", stats)
		}
		// The same counts on /metrics.
		rec := httptest.NewRecorder()
		reg.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, want := range []string{
			"baton_reconcile_passes_total 2\n",
			fmt.Sprintf("baton_reconcile_runs_total{result=\"checked\"} %d\n", stats.Checked),
			"baton_reconcile_runs_total{result=\"marked_failed\"} 1\n",
			"baton_reconcile_runs_total{result=\"repaired\"} 0\n",
			"baton_reconcile_runs_total{result=\"error\"} 0\n",
			"baton_reconcile_last_pass_seconds ",
		} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

// While the mirror's tables are gone (an outage that fails writes at once,
// like a stopped MariaDB), runs keep going at their pace; a run still going
// when the database is back writes everything it had gathered with its next
// batch, and one that ended during the outage is repaired by the reconciler.
func TestMirrorOutage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		e := newCtlEnv(t, s)
		ctx := context.Background()
		exec := func(stmt string) {
			t.Helper()
			if err := s.store.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		const awaitGo = `while [ ! -f "$BATON_PARAM_DIR/go" ]; do sleep 0.1; done`
		fast := e.start([]map[string]any{ctlNodeSpec("a", awaitGo, ""), ctlNodeSpec("b", "true", ""), ctlNodeSpec("c", "true", "")},
			ctlEdges("a>b", "b>c"), nil)
		slow := e.start([]map[string]any{ctlNodeSpec("x", awaitRelease, ""), ctlNodeSpec("y", "true", "")},
			ctlEdges("x>y"), nil)
		e.waitNode(fast, "a", "running")
		e.waitNode(slow, "x", "running")
		exec("ALTER TABLE node_runs RENAME TO node_runs_away")
		exec("ALTER TABLE instances RENAME TO instances_away")
		down := time.Now()
		if err := os.WriteFile(filepath.Join(e.dir, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, s, fast, 60*time.Second)
		t.Logf("a three-node run finished in %s with the mirror down", time.Since(down).Round(100*time.Millisecond))
		if r, err := s.store.GetRun(ctx, fast); err != nil || r.Status == "success" {
			t.Fatalf("run %s during the outage: %+v, %v; want it stale in the mirror", fast, r, err)
		}

		exec("ALTER TABLE node_runs_away RENAME TO node_runs")
		exec("ALTER TABLE instances_away RENAME TO instances")
		e.release()
		waitClosed(t, s, slow, 60*time.Second)
		assertMirrorMatches(t, s, 30*time.Second, slow)

		if len(s.mirrorDiff(fast)) == 0 {
			t.Fatalf("run %s: its last writes were lost in the outage, yet the mirror matches", fast)
		}
		if st := s.reconciler(reconcile.Options{}).Pass(ctx); st.Repaired != 1 || st.Errors != 0 {
			t.Errorf("pass after the outage: %+v, want the ended run repaired", st)
		}
		assertMirrorMatches(t, s, 0, fast)
	})
}

// waitClosed waits until the run's workflow has closed.
func waitClosed(t *testing.T, s *stack, runID string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := s.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(runID), "")
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: workflow still open after %s (%v)", runID, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
