package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// The tests here drive triggers and backfills through the REST API on the
// whole stack, where triggers_test.go drives the engine directly.

// runsOf lists the runs of one definition in the mirror.
func runsOf(t *testing.T, s *stack, kind, id string) []models.Run {
	t.Helper()
	runs, _, err := s.store.ListRuns(context.Background(), models.RunFilter{Kind: kind, Definition: id, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := runs[:0]
	for _, r := range runs {
		// Definition also matches names by substring; only the id counts.
		if r.DefinitionID == id {
			out = append(out, r)
		}
	}
	return out
}

// fireTime reads a scheduled run's fire time from its id
// (<definition>-<fire time>).
func fireTime(t *testing.T, r models.Run) time.Time {
	t.Helper()
	ft, err := time.Parse("20060102T150405Z", r.ID[strings.LastIndex(r.ID, "-")+1:])
	if err != nil {
		t.Fatalf("scheduled run id %s: %v", r.ID, err)
	}
	return ft
}

func waitRunCount(t *testing.T, s *stack, kind, id string, n int, within time.Duration) []models.Run {
	t.Helper()
	var runs []models.Run
	eventually(t, within, fmt.Sprintf("%d runs of %s %s", n, kind, id), func() (bool, string) {
		runs = runsOf(t, s, kind, id)
		return len(runs) >= n, fmt.Sprintf("%d runs", len(runs))
	})
	return runs
}

// runningOf waits for a run of the definition that is running now.
func runningOf(t *testing.T, s *stack, kind, id string) models.Run {
	t.Helper()
	var got models.Run
	eventually(t, 20*time.Second, "a running run of "+id, func() (bool, string) {
		for _, r := range runsOf(t, s, kind, id) {
			if r.Status == "running" {
				got = r
				return true, ""
			}
		}
		return false, "none running"
	})
	return got
}

// quiet checks that the definition starts no run for a while: a fire in
// progress when the schedule changed may still record its run, so the
// count is taken after a settling pause.
func quiet(t *testing.T, s *stack, kind, id string) int {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	before := len(runsOf(t, s, kind, id))
	time.Sleep(5 * time.Second)
	if after := len(runsOf(t, s, kind, id)); after != before {
		t.Fatalf("%s %s still fires: %d runs, then %d", kind, id, before, after)
	}
	return before
}

func scheduleExists(t *testing.T, s *stack, kind, id string) (exists, paused bool) {
	t.Helper()
	desc, err := s.client.ScheduleClient().GetHandle(context.Background(), workflows.ScheduleID(kind, id)).Describe(context.Background())
	if err != nil {
		return false, false
	}
	return true, desc.Schedule.State.Paused
}

func TestTriggersAPIScheduleFollowsFlow(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	marker := filepath.Join(t.TempDir(), "versions")
	const id = "cron-flow-api"
	flow := func(version int) map[string]any {
		return map[string]any{"id": id, "name": "every-two-seconds",
			"trigger": map[string]any{"type": "cron", "cron": "*/2 * * * * ?", "timezone": "Asia/Shanghai", "overlap": "allow_all"},
			"nodes": []map[string]any{{"id": "tick", "type": "task",
				"task": map[string]any{"kind": "shell", "shell": map[string]any{"script": fmt.Sprintf("echo v%d >> %s; sleep 3", version, marker)}}}},
		}
	}
	// A trigger that could not become a schedule is refused before any save.
	bad := flow(1)
	bad["trigger"] = map[string]any{"type": "cron", "cron": "*/2 * * * * 8"}
	var refused struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows", bad, &refused); code != 400 ||
		refused.Error.Code != "invalid_definition" || !strings.Contains(refused.Error.Message, `day-of-week: "8" out of range 1-7`) {
		t.Fatalf("bad cron: %d %+v", code, refused)
	}

	if code := call(t, s.api.URL, "POST", "/api/v1/flows", flow(1), nil); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	runs := waitRunCount(t, s, "flow", id, 3, 30*time.Second)
	var fires []time.Time
	for _, r := range runs {
		if r.Trigger != "cron" || r.Version != 1 || r.Initiator != "schedule" {
			t.Fatalf("scheduled run %s: trigger %s version %d initiator %s", r.ID, r.Trigger, r.Version, r.Initiator)
		}
		fires = append(fires, fireTime(t, r))
	}
	sort.Slice(fires, func(i, j int) bool { return fires[i].Before(fires[j]) })
	for i := 1; i < len(fires); i++ {
		if gap := fires[i].Sub(fires[i-1]); gap != 2*time.Second {
			t.Errorf("fires %s and %s are %s apart, want 2s", fires[i-1], fires[i], gap)
		}
	}

	// A new version while a run is in flight: that run keeps version 1,
	// fires after the save run version 2.
	inFlight := runningOf(t, s, "flow", id)
	var saved struct {
		Version int `json:"version"`
	}
	if code := call(t, s.api.URL, "PUT", "/api/v1/flows/"+id, flow(2), &saved); code != 200 || saved.Version != 2 {
		t.Fatalf("PUT: %d version %d", code, saved.Version)
	}
	savedAt := time.Now()
	if got := waitRun(t, s.api.URL, inFlight.ID, 30*time.Second); got.Status != "success" {
		t.Fatalf("in-flight run ended %s", got.Status)
	}
	if r, err := s.store.GetRun(context.Background(), inFlight.ID); err != nil || r.Version != 1 {
		t.Fatalf("in-flight run: version %d %v", r.Version, err)
	}
	eventually(t, 20*time.Second, "a run of version 2", func() (bool, string) {
		for _, r := range runsOf(t, s, "flow", id) {
			if r.Version == 2 {
				return true, ""
			}
		}
		return false, "none"
	})
	for _, r := range runsOf(t, s, "flow", id) {
		// A fire already under way when the schedule changed may still
		// carry version 1; one a second after the save may not.
		if ft := fireTime(t, r); ft.After(savedAt.Add(time.Second)) && r.Version != 2 {
			t.Errorf("run %s fired at %s, after the save, with version %d", r.ID, ft, r.Version)
		}
	}
	b, err := os.ReadFile(marker)
	if err != nil || !strings.Contains(string(b), "v1") || !strings.Contains(string(b), "v2") {
		t.Fatalf("scripts that ran: %q %v", b, err)
	}

	// Disable pauses the schedule; enable resumes it.
	if code := call(t, s.api.URL, "POST", "/api/v1/flows/"+id+"/disable", nil, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if exists, paused := scheduleExists(t, s, "flow", id); !exists || !paused {
		t.Fatalf("after disable the schedule exists=%v paused=%v", exists, paused)
	}
	n := quiet(t, s, "flow", id)
	if code := call(t, s.api.URL, "POST", "/api/v1/flows/"+id+"/enable", nil, nil); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	waitRunCount(t, s, "flow", id, n+2, 15*time.Second)

	// Delete removes the schedule; the run in flight goes on to its end.
	inFlight = runningOf(t, s, "flow", id)
	if code := call(t, s.api.URL, "DELETE", "/api/v1/flows/"+id, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if exists, _ := scheduleExists(t, s, "flow", id); exists {
		t.Fatal("the schedule outlived its flow")
	}
	if got := waitRun(t, s.api.URL, inFlight.ID, 30*time.Second); got.Status != "success" {
		t.Fatalf("run in flight at the delete ended %s", got.Status)
	}
	quiet(t, s, "flow", id)
}

type backfillDetail struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Total   int    `json:"total"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	Running int    `json:"running"`
	Waiting int    `json:"waiting"`
	Live    bool   `json:"live"`
	Dates   []struct {
		Bizdate string `json:"bizdate"`
		RunID   string `json:"run_id"`
		Attempt int    `json:"attempt"`
		Status  string `json:"status"`
	} `json:"dates"`
}

func waitBackfill(t *testing.T, s *stack, id string, within time.Duration, ok func(backfillDetail) bool) backfillDetail {
	t.Helper()
	var d backfillDetail
	eventually(t, within, "backfill "+id+" progress", func() (bool, string) {
		d = backfillDetail{}
		if code := call(t, s.api.URL, "GET", "/api/v1/backfills/"+id, nil, &d); code != 200 {
			t.Fatalf("GET backfill: %d", code)
		}
		return ok(d), fmt.Sprintf("%s: %d done, %d failed, %d running, %d waiting", d.Status, d.Done, d.Failed, d.Running, d.Waiting)
	})
	return d
}

func TestBackfillAPIParallelLimitAndRetry(t *testing.T) {
	forEachDB(t, testBackfillAPIParallelLimitAndRetry)
}

func testBackfillAPIParallelLimitAndRetry(t *testing.T, dsn string) {
	s := newStack(t, dsn)
	dir := t.TempDir()
	// Two dates fail on their first run only.
	script := fmt.Sprintf(`sleep 0.3
case "$BATON_BIZDATE" in 2026-01-05|2026-01-17)
  test -f %[1]s/$BATON_BIZDATE || { touch %[1]s/$BATON_BIZDATE; echo "first try of $BATON_BIZDATE fails"; exit 1; } ;;
esac`, dir)
	flow := map[string]any{"id": "bf-api", "name": "bf-api",
		"nodes": []map[string]any{
			{"id": "load", "type": "task", "task": map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}},
			{"id": "report", "type": "task", "task": map[string]any{"kind": "noop"}},
		},
		"edges": []map[string]any{{"from": "load", "to": "report"}}}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows", flow, nil); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	body := map[string]any{"kind": "flow", "definition_id": "bf-api", "from": "2026-01-01", "to": "2026-01-30", "parallel": 3}
	var dry struct {
		Runs  int      `json:"runs"`
		Dates []string `json:"dates"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills?dry_run=true", body, &dry); code != 200 || dry.Runs != 30 {
		t.Fatalf("dry run: %d %+v", code, dry)
	}
	var created backfillDetail
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills", body, &created); code != 201 || created.ID == "" || created.Total != 30 {
		t.Fatalf("create backfill: %d %+v", code, created)
	}
	id := created.ID
	d := waitBackfill(t, s, id, 3*time.Minute, func(d backfillDetail) bool { return d.Running == 0 && d.Waiting == 0 })
	if d.Done != 28 || d.Failed != 2 || d.Status != "failed" || !d.Live || len(d.Dates) != 30 {
		t.Fatalf("after the first pass: %+v", d)
	}
	for _, date := range d.Dates {
		wantFailed := date.Bizdate == "2026-01-05" || date.Bizdate == "2026-01-17"
		if (date.Status == "failed") != wantFailed || date.RunID == "" || date.Attempt != 1 {
			t.Fatalf("date %+v", date)
		}
	}
	ctx := context.Background()
	runs, total, err := s.store.ListRuns(ctx, models.RunFilter{BackfillID: id, Limit: 500})
	if err != nil || total != 30 {
		t.Fatalf("runs: %d %v", total, err)
	}
	if peak := maxOverlap(runs); peak > 3 || peak < 2 {
		t.Fatalf("at most 3 runs at once expected (and some parallelism), saw %d", peak)
	}
	for _, r := range runs {
		if r.Trigger != "backfill" || r.BackfillID != id || r.Version != 1 || r.DefinitionID != "bf-api" {
			t.Fatalf("run %s: trigger %s backfill %s version %d", r.ID, r.Trigger, r.BackfillID, r.Version)
		}
	}
	var dryRetry struct {
		Dates []string `json:"dates"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills/"+id+"/retry?dry_run=true", nil, &dryRetry); code != 200 ||
		strings.Join(dryRetry.Dates, ",") != "2026-01-05,2026-01-17" {
		t.Fatalf("retry dry run: %d %+v", code, dryRetry)
	}
	// Retry re-runs the failed dates only.
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills/"+id+"/retry", nil, nil); code != 200 {
		t.Fatalf("retry: %d", code)
	}
	d = waitBackfill(t, s, id, 2*time.Minute, func(d backfillDetail) bool { return d.Status == "success" })
	if d.Done != 30 || d.Failed != 0 {
		t.Fatalf("after retry: %+v", d)
	}
	runs, total, err = s.store.ListRuns(ctx, models.RunFilter{BackfillID: id, Limit: 500})
	if err != nil || total != 32 {
		t.Fatalf("runs after retry: %d %v", total, err)
	}
	wantRetriedOnly(t, runs, "2026-01-05", "2026-01-17")
	for _, date := range d.Dates {
		attempt := 1
		if date.Bizdate == "2026-01-05" || date.Bizdate == "2026-01-17" {
			attempt = 2
		}
		if date.Status != "success" || date.Attempt != attempt {
			t.Errorf("date after retry %+v, want attempt %d", date, attempt)
		}
	}
	// The driver has ended: nothing more applies, and the list shows the
	// mirror's final counts.
	var refused struct {
		Error struct{ Code string } `json:"error"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills/"+id+"/retry", nil, &refused); code != 409 || refused.Error.Code != "backfill_closed" {
		t.Fatalf("retry of an ended backfill: %d %+v", code, refused)
	}
	var l struct {
		Items []backfillDetail `json:"items"`
		Total int              `json:"total"`
	}
	eventually(t, 10*time.Second, "the mirror's final counts", func() (bool, string) {
		if code := call(t, s.api.URL, "GET", "/api/v1/backfills?definition=bf-api", nil, &l); code != 200 {
			t.Fatalf("list: %d", code)
		}
		return l.Total == 1 && l.Items[0].Status == "success" && l.Items[0].Done == 30, fmt.Sprintf("%+v", l)
	})
}

func TestImportTaskIntoFlowStopsItsOwnSchedule(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	const task = "self-firing"
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks", map[string]any{"id": task, "name": task, "kind": "noop",
		"trigger": map[string]any{"type": "cron", "cron": "*/2 * * * * ?", "overlap": "allow_all"}}, nil); code != 201 {
		t.Fatalf("create task: %d", code)
	}
	for _, r := range waitRunCount(t, s, "task", task, 2, 30*time.Second) {
		if r.Trigger != "cron" {
			t.Fatalf("task run %s: trigger %s", r.ID, r.Trigger)
		}
	}
	var saved struct {
		ImportedTasks []string `json:"imported_tasks"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows", map[string]any{"id": "owner", "name": "owner",
		"nodes": []map[string]any{{"id": "step", "type": "task", "task_id": task}}}, &saved); code != 201 ||
		strings.Join(saved.ImportedTasks, ",") != task {
		t.Fatalf("create flow: %d imported %v", code, saved.ImportedTasks)
	}
	if exists, _ := scheduleExists(t, s, "task", task); exists {
		t.Fatal("the imported task kept its schedule")
	}
	var got struct {
		Version int `json:"version"`
		Trigger struct {
			Type string `json:"type"`
		} `json:"trigger"`
	}
	if code := call(t, s.api.URL, "GET", "/api/v1/tasks/"+task, nil, &got); code != 200 || got.Version != 2 || got.Trigger.Type != "flow" {
		t.Fatalf("imported task: %d %+v", code, got)
	}
	quiet(t, s, "task", task)
	// It still runs as part of the flow.
	var run struct {
		ID string `json:"id"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows/owner/runs", nil, &run); code != 201 {
		t.Fatalf("run flow: %d", code)
	}
	if v := waitRun(t, s.api.URL, run.ID, 30*time.Second); v.Status != "success" || len(v.Nodes) != 1 || v.Nodes[0].Status != "success" {
		t.Fatalf("flow run %+v", v)
	}
}

func TestBackfillAPIPauseResumeStop(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	flow := map[string]any{"id": "bf-slow", "name": "bf-slow",
		"nodes": []map[string]any{{"id": "work", "type": "task",
			"task": map[string]any{"kind": "shell", "shell": map[string]any{"script": "sleep 2"}}}}}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows", flow, nil); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	var created backfillDetail
	if code := call(t, s.api.URL, "POST", "/api/v1/backfills", map[string]any{"kind": "flow", "definition_id": "bf-slow",
		"from": "2026-02-01", "to": "2026-02-05", "order": "desc"}, &created); code != 201 {
		t.Fatalf("create backfill: %d", code)
	}
	id := created.ID
	op := func(name string, want int, code string) backfillDetail {
		t.Helper()
		var out struct {
			backfillDetail
			Error struct{ Code, Message string } `json:"error"`
		}
		got := call(t, s.api.URL, "POST", "/api/v1/backfills/"+id+"/"+name, nil, &out)
		if got != want || out.Error.Code != code {
			t.Fatalf("%s: %d %+v, want %d %q", name, got, out.Error, want, code)
		}
		return out.backfillDetail
	}
	d := waitBackfill(t, s, id, 30*time.Second, func(d backfillDetail) bool { return d.Running == 1 })
	if d.Dates[0].Bizdate != "2026-02-05" || d.Dates[0].Status != "running" {
		t.Fatalf("descending order starts with the newest date: %+v", d.Dates[0])
	}
	op("resume", 409, "backfill_not_operable")
	if d = op("pause", 200, ""); d.Status != "paused" {
		t.Fatalf("after pause: %+v", d)
	}
	op("pause", 409, "backfill_not_operable")
	// The run in flight finishes; nothing new starts while paused.
	d = waitBackfill(t, s, id, 30*time.Second, func(d backfillDetail) bool { return d.Running == 0 })
	held := d.Done
	time.Sleep(3 * time.Second)
	if d = waitBackfill(t, s, id, time.Second, func(backfillDetail) bool { return true }); d.Running != 0 || d.Done != held || d.Status != "paused" {
		t.Fatalf("a paused backfill started runs: %+v", d)
	}
	if d = op("resume", 200, ""); d.Status != "running" {
		t.Fatalf("after resume: %+v", d)
	}
	waitBackfill(t, s, id, 30*time.Second, func(d backfillDetail) bool { return d.Running == 1 && d.Done > held })
	op("stop", 200, "")
	d = waitBackfill(t, s, id, 30*time.Second, func(d backfillDetail) bool { return d.Status == "stopped" })
	if d.Done+d.Failed+d.Waiting != 5 || d.Waiting == 0 {
		t.Fatalf("stopped backfill %+v", d)
	}
	runs, _, err := s.store.ListRuns(context.Background(), models.RunFilter{BackfillID: id, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	stopped := 0
	for _, r := range runs {
		if r.Status == "stopped" {
			stopped++
		}
	}
	if stopped != 1 || len(runs) != d.Done+d.Failed {
		t.Fatalf("runs of the stopped backfill: %d, %d stopped; %+v", len(runs), stopped, d)
	}
	op("resume", 409, "backfill_closed")
}
