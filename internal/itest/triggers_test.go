package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

func dates(from string, n int) []string {
	d, _ := time.Parse("2006-01-02", from)
	out := make([]string, n)
	for i := range out {
		out[i] = d.AddDate(0, 0, i).Format("2006-01-02")
	}
	return out
}

func startBackfill(t *testing.T, s *stack, in workflows.BackfillInput) {
	t.Helper()
	ctx := context.Background()
	if err := s.store.CreateBackfill(ctx, &models.Backfill{ID: in.ID, Kind: in.Kind, DefinitionID: in.DefinitionID,
		Status: "running", Total: len(in.Dates), Waiting: len(in.Dates)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.BackfillWorkflowID(in.ID),
		TaskQueue: workflows.FlowsTaskQueue}, workflows.BackfillWorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
}

func progress(t *testing.T, s *stack, id string) workflows.BackfillProgress {
	t.Helper()
	var p workflows.BackfillProgress
	resp, err := s.client.QueryWorkflow(context.Background(), workflows.BackfillWorkflowID(id), "", workflows.QueryProgress)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Get(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitProgress(t *testing.T, s *stack, id string, within time.Duration, ok func(workflows.BackfillProgress) bool) workflows.BackfillProgress {
	t.Helper()
	deadline := time.Now().Add(within)
	var p workflows.BackfillProgress
	for time.Now().Before(deadline) {
		p = progress(t, s, id)
		if ok(p) {
			return p
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("backfill %s: progress %+v after %s", id, p, within)
	return p
}

// maxOverlap is the largest number of [start, end] intervals open at once.
func maxOverlap(runs []models.Run) int {
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, r := range runs {
		if r.StartedAt == nil || r.FinishedAt == nil {
			continue
		}
		evs = append(evs, ev{*r.StartedAt, 1}, ev{*r.FinishedAt, -1})
	}
	// Ends before starts at the same instant: touching is not overlapping.
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at.Equal(evs[j].at) {
			return evs[i].delta < evs[j].delta
		}
		return evs[i].at.Before(evs[j].at)
	})
	open, peak := 0, 0
	for _, e := range evs {
		open += e.delta
		peak = max(peak, open)
	}
	return peak
}

// wantRetriedOnly checks that the retried dates ran twice and every other
// date once.
func wantRetriedOnly(t *testing.T, runs []models.Run, retried ...string) {
	t.Helper()
	perDate := map[string]int{}
	for _, r := range runs {
		perDate[r.Bizdate]++
	}
	for d, n := range perDate {
		want := 1
		if slices.Contains(retried, d) {
			want = 2
		}
		if n != want {
			t.Errorf("bizdate %s ran %d times, want %d", d, n, want)
		}
	}
}

func TestBackfillParallelLimitAndRetryOfFailedDates(t *testing.T) {
	sink := &alertSink{}
	s := newStackOpts(t, databases(t)["sqlite"], withAlerts(sink))
	dir := t.TempDir()
	// Two dates fail on their first run only.
	script := fmt.Sprintf(`sleep 0.3
case "$BATON_BIZDATE" in 2026-01-05|2026-01-17)
  test -f %[1]s/$BATON_BIZDATE || { touch %[1]s/$BATON_BIZDATE; echo "first try of $BATON_BIZDATE fails"; exit 1; } ;;
esac`, dir)
	flow := dag.Flow{Name: "bf", Nodes: []dag.Node{shellNode("load", script)}}
	in := workflows.BackfillInput{ID: "bf30", Kind: "flow", DefinitionID: "bf-flow", Version: 1, Flow: flow,
		Dates: dates("2026-01-01", 30), Parallel: 3, Mirror: true, OperableWindow: "1h", Initiator: "test"}
	startBackfill(t, s, in)
	p := waitProgress(t, s, in.ID, 3*time.Minute, func(p workflows.BackfillProgress) bool { return p.Running == 0 && p.Waiting == 0 })
	if p.Done != 28 || p.Failed != 2 || p.Status != status.BackfillFailed {
		t.Fatalf("after first pass: %+v", p)
	}
	ctx := context.Background()
	runs, total, err := s.store.ListRuns(ctx, models.RunFilter{BackfillID: in.ID, Limit: 500})
	if err != nil || total != 30 {
		t.Fatalf("runs: %d %v", total, err)
	}
	if peak := maxOverlap(runs); peak > 3 || peak < 2 {
		t.Fatalf("at most 3 runs at once expected (and some parallelism), saw %d", peak)
	}
	for _, r := range runs {
		if r.Trigger != "backfill" || r.BackfillID != in.ID {
			t.Fatalf("run %s: trigger %s backfill %s", r.ID, r.Trigger, r.BackfillID)
		}
	}
	// Retry re-runs the failed dates only.
	if err := s.client.SignalWorkflow(ctx, workflows.BackfillWorkflowID(in.ID), "", workflows.SignalBackfill,
		workflows.BackfillControl{Op: "retry"}); err != nil {
		t.Fatal(err)
	}
	var final workflows.BackfillProgress
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.client.GetWorkflow(wctx, workflows.BackfillWorkflowID(in.ID), "").Get(wctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != status.BackfillSuccess || final.Done != 30 {
		t.Fatalf("after retry: %+v", final)
	}
	runs, total, err = s.store.ListRuns(ctx, models.RunFilter{BackfillID: in.ID, Limit: 500})
	if err != nil || total != 32 {
		t.Fatalf("runs after retry: %d %v", total, err)
	}
	wantRetriedOnly(t, runs, "2026-01-05", "2026-01-17")
	// backfill_finished: once with the two failures, once after the retry.
	finished := sink.events(dag.AlertBackfillFinished)
	if len(finished) != 2 || finished[0].Key != "backfill-bf30-1" || finished[0].Status != "failed" ||
		finished[0].Counts["success"] != 28 || finished[0].Counts["failed"] != 2 ||
		finished[1].Key != "backfill-bf30-2" || finished[1].Status != "success" || finished[1].Counts["success"] != 30 {
		t.Fatalf("backfill_finished alerts %+v", finished)
	}
	b, err := s.store.GetBackfill(ctx, in.ID)
	if err != nil || b.Status != string(status.BackfillSuccess) || b.Done != 30 {
		t.Fatalf("mirror: %+v %v", b, err)
	}
	// The driver's history (parallel limit, failures, retry signal) guards
	// it against non-deterministic changes.
	h := fetchHistory(t, s.client, workflows.BackfillWorkflowID(in.ID), "")
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(workflows.BackfillWorkflow, workflow.RegisterOptions{Name: workflows.BackfillWorkflowName})
	if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
		t.Fatalf("replay backfill: %v", err)
	}
	recordHistory(t, workflows.BackfillWorkflowName, "parallel-retry", h)
}

// TestBackfillOfThreeYearsCompletes runs 1,096 daily dates of a no-op flow:
// the driver continues as new along the way and every date gets its run.
func TestBackfillOfThreeYearsCompletes(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	flow := dag.Flow{Name: "noop", Nodes: []dag.Node{{ID: "n", Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindNoop}}}}
	in := workflows.BackfillInput{ID: "bf3y", Kind: "flow", DefinitionID: "noop-flow", Version: 1, Flow: flow,
		// A low limit makes the hand-over certain rather than dependent on
		// how many events the default 8,000 leaves room for.
		Dates: dates("2023-01-01", 1096), Parallel: 40, Mirror: true, HistoryLimit: 2000}
	start := time.Now()
	startBackfill(t, s, in)
	ctx := context.Background()
	var final workflows.BackfillProgress
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if err := s.client.GetWorkflow(wctx, workflows.BackfillWorkflowID(in.ID), "").Get(wctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != status.BackfillSuccess || final.Done != 1096 {
		t.Fatalf("%+v", final)
	}
	_, total, err := s.store.ListRuns(ctx, models.RunFilter{BackfillID: in.ID, Statuses: []string{"success"}})
	if err != nil || total != 1096 {
		t.Fatalf("successful runs %d %v", total, err)
	}
	// The driver kept its history short by continuing as new.
	resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", workflows.BackfillWorkflowID(in.ID))})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetExecutions()); n < 2 {
		t.Fatalf("backfill driver ran as %d execution(s); want continue-as-new", n)
	}
	t.Logf("1,096 dates in %s, driver continued as new %d times", time.Since(start).Round(time.Second), len(resp.GetExecutions())-1)
}

func TestScheduleFiresPausesResumesAndKeepsVersions(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	ctx := context.Background()
	eng := &engine.Engine{Client: s.client, Namespace: "default"}
	marker := filepath.Join(t.TempDir(), "versions")
	def := func(version int, enabled bool) engine.ScheduleDef {
		script := fmt.Sprintf(`echo v%d >> %s; sleep 3`, version, marker)
		return engine.ScheduleDef{Kind: "flow", DefinitionID: "sched", DefinitionName: "sched", Version: version,
			Flow:    dag.Flow{Name: "sched", Nodes: []dag.Node{shellNode("tick", script)}},
			Trigger: &dag.Trigger{Type: dag.TriggerCron, Cron: "*/2 * * * * ?", Timezone: "Asia/Shanghai", Overlap: "allow_all"},
			Enabled: enabled}
	}
	runsOf := func() []models.Run {
		runs, _, err := s.store.ListRuns(ctx, models.RunFilter{Definition: "sched", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return runs
	}
	waitRuns := func(n int, within time.Duration) []models.Run {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if r := runsOf(); len(r) >= n {
				return r
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("fewer than %d scheduled runs after %s: %d", n, within, len(runsOf()))
		return nil
	}
	if err := eng.SyncSchedule(ctx, def(1, true)); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(3, 30*time.Second)
	var fires []time.Time
	for _, r := range runs {
		if r.Trigger != "cron" || r.Version != 1 {
			t.Fatalf("scheduled run %s: trigger %s version %d", r.ID, r.Trigger, r.Version)
		}
		stamp := r.ID[strings.LastIndex(r.ID, "-")+1:]
		ft, err := time.Parse("20060102T150405Z", stamp)
		if err != nil {
			t.Fatalf("run id %s: %v", r.ID, err)
		}
		if ft.Second()%2 != 0 {
			t.Errorf("fire time %s is not on an even second", ft)
		}
		shanghai, _ := time.LoadLocation("Asia/Shanghai")
		if r.Bizdate != ft.In(shanghai).Format("2006-01-02") {
			t.Errorf("bizdate %s for fire time %s in Asia/Shanghai", r.Bizdate, ft)
		}
		fires = append(fires, ft)
	}
	sort.Slice(fires, func(i, j int) bool { return fires[i].Before(fires[j]) })
	for i := 1; i < len(fires); i++ {
		if gap := fires[i].Sub(fires[i-1]); gap != 2*time.Second {
			t.Errorf("fires %s and %s are %s apart, want 2s", fires[i-1], fires[i], gap)
		}
	}

	// Edit while a run is in flight: that run keeps version 1.
	inFlight := waitRunning(t, s)
	if err := eng.SyncSchedule(ctx, def(2, true)); err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, s.api.URL, inFlight.ID, 30*time.Second)
	if got.Status != "success" {
		t.Fatalf("in-flight run ended %s", got.Status)
	}
	r, err := s.store.GetRun(ctx, inFlight.ID)
	if err != nil || r.Version != 1 {
		t.Fatalf("in-flight run version %d %v", r.Version, err)
	}
	waitVersion := func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range runsOf() {
				if r.Version == 2 {
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("no run of version 2 after the edit")
	}
	waitVersion()
	b, err := os.ReadFile(marker)
	if err != nil || !strings.Contains(string(b), "v1") || !strings.Contains(string(b), "v2") {
		t.Fatalf("scripts that ran: %q %v", b, err)
	}

	// Disable: no more fires. Enable: they come back.
	if err := eng.SyncSchedule(ctx, def(2, false)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // a fire already in progress may still record its run
	paused := len(runsOf())
	time.Sleep(5 * time.Second)
	if n := len(runsOf()); n != paused {
		t.Fatalf("disabled schedule still fired: %d runs, then %d", paused, n)
	}
	if err := eng.SyncSchedule(ctx, def(2, true)); err != nil {
		t.Fatal(err)
	}
	waitRuns(paused+1, 15*time.Second)
	// Deleting the definition removes the schedule.
	d := def(2, true)
	d.Deleted = true
	if err := eng.SyncSchedule(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID("flow", "sched")).Describe(ctx); err == nil {
		t.Fatal("schedule still exists after delete")
	}
}

// waitRunning returns a scheduled run that is running now.
func waitRunning(t *testing.T, s *stack) models.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runs, _, err := s.store.ListRuns(context.Background(), models.RunFilter{Definition: "sched", Statuses: []string{"running"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) > 0 {
			return runs[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no scheduled run is running")
	return models.Run{}
}

// TestScheduleOverlapAndPauseOnFailure checks the overlap policies that act
// on runs (a run outlives the fire that started it only as a workflow of
// its own, so Temporal's policies alone would not touch it) and pause on
// failure.
func TestScheduleOverlapAndPauseOnFailure(t *testing.T) {
	sink := &alertSink{}
	s := newStackOpts(t, databases(t)["sqlite"], withAlerts(sink))
	ctx := context.Background()
	eng := &engine.Engine{Client: s.client, Namespace: "default"}
	def := func(id, script string, trig dag.Trigger) engine.ScheduleDef {
		trig.Type, trig.Cron = dag.TriggerCron, "*/2 * * * * ?"
		return engine.ScheduleDef{Kind: "flow", DefinitionID: id, DefinitionName: id, Version: 1,
			Flow: dag.Flow{Name: id, Nodes: []dag.Node{shellNode("work", script)}}, Trigger: &trig, Enabled: true}
	}
	runsOf := func(id string) []models.Run {
		runs, _, err := s.store.ListRuns(ctx, models.RunFilter{Definition: id, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return runs // newest first
	}
	disable := func(d engine.ScheduleDef) {
		d.Enabled = false
		if err := eng.SyncSchedule(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	for _, policy := range []string{"terminate_other", "cancel_other"} {
		t.Run(policy, func(t *testing.T) {
			id := "ovl-" + policy
			d := def(id, "sleep 60", dag.Trigger{Overlap: policy})
			if err := eng.SyncSchedule(ctx, d); err != nil {
				t.Fatal(err)
			}
			// Three fires: the first two runs must have been stopped by
			// the fires after them.
			deadline := time.Now().Add(40 * time.Second)
			var runs []models.Run
			for time.Now().Before(deadline) {
				runs = runsOf(id)
				stopped := 0
				for _, r := range runs {
					if r.Status == "stopped" {
						stopped++
					}
				}
				if stopped >= 2 {
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
			disable(d)
			var view []string
			stopped := 0
			for _, r := range runs {
				view = append(view, r.ID+"="+r.Status)
				switch r.Status {
				case "stopped":
					stopped++
				case "success":
					t.Errorf("run %s of a 60 s task succeeded: it was never stopped", r.ID)
				}
			}
			if stopped < 2 {
				t.Fatalf("%s: want the runs of earlier fires stopped, got %v", policy, view)
			}
			if policy == workflows.OverlapTerminateOther {
				checkFireHistories(t, s, id, "terminate-other")
			}
		})
	}

	t.Run("pause_on_failure", func(t *testing.T) {
		id := "ovl-pause"
		d := def(id, "exit 3", dag.Trigger{Overlap: "allow_all", PauseOnFailure: true})
		if err := eng.SyncSchedule(ctx, d); err != nil {
			t.Fatal(err)
		}
		h := s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID("flow", id))
		deadline := time.Now().Add(30 * time.Second)
		paused := false
		for time.Now().Before(deadline) && !paused {
			desc, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			paused = desc.Schedule.State.Paused
			time.Sleep(300 * time.Millisecond)
		}
		if !paused {
			t.Fatalf("schedule not paused after failed runs: %d runs", len(runsOf(id)))
		}
		time.Sleep(1500 * time.Millisecond) // a fire already in progress may still record its run
		before := len(runsOf(id))
		time.Sleep(5 * time.Second)
		after := runsOf(id)
		if len(after) != before {
			t.Fatalf("paused schedule still fired: %d runs, then %d", before, len(after))
		}
		for _, r := range after {
			if r.Status != "failed" {
				t.Errorf("run %s: status %s, want failed", r.ID, r.Status)
			}
		}
		var pages []workflows.AlertEvent
		for _, e := range sink.events(dag.AlertSchedulePaused) {
			if e.DefinitionID == id {
				pages = append(pages, e)
			}
		}
		if len(pages) == 0 || pages[0].ScheduleID != workflows.ScheduleID("flow", id) || pages[0].Status != "failed" ||
			!slices.Equal(pages[0].Channels, []string{"ops"}) {
			t.Fatalf("schedule_paused alerts %+v", pages)
		}
		checkFireHistories(t, s, id, "pause-on-failure")
	})
}

// checkFireHistories replays the closed fire workflows of a definition
// against the current FireWorkflow and, under `make record-histories`,
// writes the one that exercised the change (it ran an extra activity) to
// workflows/testdata as name.json.
func checkFireHistories(t *testing.T, s *stack, definitionID, name string) {
	t.Helper()
	ctx := context.Background()
	prefix := "baton-fire-flow-" + definitionID + "-"
	// Visibility learns of closes a moment after they happen.
	var closed []*workflowpb.WorkflowExecutionInfo
	for deadline := time.Now().Add(15 * time.Second); len(closed) == 0 && time.Now().Before(deadline); {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = '" + workflows.FireWorkflowName + "' AND ExecutionStatus != 'Running'"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.GetExecutions() {
			if strings.HasPrefix(ex.GetExecution().GetWorkflowId(), prefix) {
				closed = append(closed, ex)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	var chosen *historypb.History
	for _, ex := range closed {
		wid := ex.GetExecution().GetWorkflowId()
		h := fetchHistory(t, s.client, wid, ex.GetExecution().GetRunId())
		replayer := worker.NewWorkflowReplayer()
		replayer.RegisterWorkflowWithOptions(workflows.FireWorkflow, workflow.RegisterOptions{Name: workflows.FireWorkflowName})
		if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
			t.Fatalf("replay fire %s: %v", wid, err)
		}
		if chosen == nil && countEvents(h, enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) >= 2 {
			chosen = h
		}
	}
	if chosen == nil {
		t.Fatalf("no closed fire of %s ran the change's activity", definitionID)
	}
	recordHistory(t, workflows.FireWorkflowName, name, chosen)
}

// recordHistory writes h, a history of workflowType recorded by the
// current code, to workflows/testdata under `make record-histories`, for
// TestReplayRecordedHistories. The file is named by the version it records
// (workflows.HistoryFixture); a file already there is kept, never
// replaced: it is the evidence of what ran, and the replay test holds the
// current code to it.
func recordHistory(t *testing.T, workflowType, name string, h *historypb.History) {
	t.Helper()
	dir := os.Getenv(recordEnv)
	if dir == "" {
		return
	}
	file := workflows.HistoryFixture(workflowType, name)
	if v := newestMarker(t, h); v > 0 {
		// Named by the newest version it records: a fire that took no
		// pause records fire-pause-on-failure's version not at all.
		file = workflows.HistoryFixtureOf(workflowType, name, v)
	}
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err == nil {
		t.Logf("kept %s: a history of this version is recorded already (remove it to record again)", path)
		return
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}

// newestMarker is the newest version h records in a version marker; 0
// when it has none (a run continued as new carries its version instead,
// and is recorded by the current code).
func newestMarker(t *testing.T, h *historypb.History) int {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	newest := 0
	for _, e := range h.Events {
		a := e.GetMarkerRecordedEventAttributes()
		if a == nil || a.GetMarkerName() != "Version" {
			continue
		}
		var v int
		if err := dc.FromPayloads(a.GetDetails()["version"], &v); err != nil {
			t.Fatalf("version marker: %v", err)
		}
		newest = max(newest, v)
	}
	return newest
}
