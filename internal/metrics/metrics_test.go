package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStartServesRegistry is a worker's /metrics: its own listener, the
// series recorded on the registry, the Temporal bridge registered.
func TestStartServesRegistry(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Start(ctx, "127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	m.InstanceDone("etl", "shell", "success", 1500*time.Millisecond)
	m.ScheduleFire("started")
	m.BackfillDates("done", 3)
	m.BackfillDates("failed", -1) // a retried date: totals only grow
	m.TemporalHandler().Counter("temporal_test_probe").Inc(2)
	m.ReconcilePass(7, 2, 1, 0, 1, 1500*time.Millisecond)
	m.ReconcilePass(3, 1, 0, 1, 0, 250*time.Millisecond)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	for _, want := range []string{
		`baton_instance_duration_seconds_bucket{group="etl",status="success",task_kind="shell",le="5"} 1`,
		`baton_schedule_fires_total{result="started"} 1`,
		`baton_backfill_dates_total{outcome="done"} 3`,
		`temporal_test_probe_total 2`,
		`baton_reconcile_passes_total 2`,
		`baton_reconcile_runs_total{result="checked"} 10`,
		`baton_reconcile_runs_total{result="repaired"} 3`,
		`baton_reconcile_runs_total{result="marked_failed"} 1`,
		`baton_reconcile_runs_total{result="behind"} 1`,
		`baton_reconcile_runs_total{result="error"} 1`,
		`baton_reconcile_last_pass_seconds 0.25`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `outcome="failed"`) {
		t.Error("a negative backfill delta made a series")
	}
	if resp, err := http.Get("http://" + addr + "/other"); err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("/other: %d", resp.StatusCode)
		}
	}
}

// TestNilRecordsNothing: components built without metrics call the same
// methods.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.RunStarted("flow", "manual")
	m.RunFinished("flow", "manual", "success")
	m.InstanceDone("g", "shell", "success", time.Second)
	m.Control("stop", "applied", time.Second)
	m.MirrorWrite(3, time.Millisecond, []time.Duration{time.Millisecond})
	m.ScheduleFire("started")
	m.BackfillDates("done", 1)
	if m.TemporalHandler() != nil {
		t.Fatal("nil metrics gave a Temporal handler")
	}
	if m.GinMiddleware() == nil {
		t.Fatal("nil metrics gave no middleware")
	}
}
