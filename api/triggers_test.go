package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/workflows"
)

// schedFake records schedule syncs and plays backfill drivers for the
// fakeEngine: the API tests see what the engine was asked to do.
type schedFake struct {
	mu      sync.Mutex
	syncs   []engine.ScheduleDef
	syncErr error

	starts   []workflows.BackfillInput
	startErr error
	progress map[string]workflows.BackfillProgress
	closed   map[string]bool
	signals  []workflows.BackfillControl
}

func (e *fakeEngine) SyncSchedule(_ context.Context, d engine.ScheduleDef) error {
	f := &e.sched
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.syncErr != nil {
		return f.syncErr
	}
	f.syncs = append(f.syncs, d)
	return nil
}

func (e *fakeEngine) StartBackfill(_ context.Context, in workflows.BackfillInput) error {
	f := &e.sched
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return f.startErr
	}
	f.starts = append(f.starts, in)
	if f.progress == nil {
		f.progress = map[string]workflows.BackfillProgress{}
	}
	p := workflows.BackfillProgress{ID: in.ID, Status: status.BackfillRunning, Total: len(in.Dates), Waiting: len(in.Dates)}
	for _, d := range in.Dates {
		p.Dates = append(p.Dates, workflows.BackfillDate{Bizdate: d, Status: "waiting"})
	}
	f.progress[in.ID] = p
	return nil
}

func (e *fakeEngine) BackfillProgress(_ context.Context, id string) (workflows.BackfillProgress, error) {
	f := &e.sched
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.progress[id]
	if !ok || f.closed[id] {
		return p, fmt.Errorf("query backfill %s: %w", id, engine.ErrRunClosed)
	}
	return p, nil
}

// SignalBackfill applies the operation the way the driver does, so the
// API's wait for its effect ends at once.
func (e *fakeEngine) SignalBackfill(_ context.Context, id string, c workflows.BackfillControl) error {
	f := &e.sched
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.progress[id]
	if !ok || f.closed[id] {
		return fmt.Errorf("signal backfill %s: %w", id, engine.ErrRunClosed)
	}
	f.signals = append(f.signals, c)
	switch c.Op {
	case "pause":
		p.Status = status.BackfillPaused
	case "resume":
		p.Status = status.BackfillRunning
	case "stop":
		p.Status = status.BackfillStopped
	case "retry":
		for i := range p.Dates {
			if p.Dates[i].Status == "failed" {
				p.Dates[i].Status = "waiting"
				p.Failed--
				p.Waiting++
			}
		}
		p.Status = status.BackfillRunning
	}
	f.progress[id] = p
	return nil
}

func (e *fakeEngine) takeSyncs() []engine.ScheduleDef {
	f := &e.sched
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.syncs
	f.syncs = nil
	return out
}

func (e *fakeEngine) failSyncs(err error) {
	e.sched.mu.Lock()
	defer e.sched.mu.Unlock()
	e.sched.syncErr = err
}

func problemsOf(t *testing.T, ae apiError) map[string]string {
	t.Helper()
	var ps []dag.Problem
	if err := json.Unmarshal(ae.Error.Details, &ps); err != nil {
		t.Fatalf("details %s: %v", ae.Error.Details, err)
	}
	out := map[string]string{}
	for _, p := range ps {
		if _, dup := out[p.Path]; dup {
			t.Fatalf("path %s reported twice: %s", p.Path, ae.Error.Details)
		}
		out[p.Path] = p.Message
	}
	return out
}

func cronTask(id, cron string) map[string]any {
	return map[string]any{"id": id, "name": id, "kind": "noop",
		"trigger": map[string]any{"type": "cron", "cron": cron, "timezone": "Asia/Shanghai"}}
}

func TestTriggerValidationNamesFieldAndReason(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		trigger map[string]any
		path    string
		want    string
	}{
		{"day-of-week out of range", map[string]any{"type": "cron", "cron": "0 0 12 ? * 8"},
			"trigger.cron", `day-of-week: "8" out of range 1-7`},
		{"minute out of range", map[string]any{"type": "cron", "cron": "0 61 * * * ?"},
			"trigger.cron", `minute: "61" out of range 0-59`},
		{"never fires", map[string]any{"type": "cron", "cron": "0 0 0 30 2 ?"},
			"trigger.cron", "never fires in 2000-2100"},
		{"year beyond Temporal", map[string]any{"type": "cron", "cron": "0 0 0 1 1 ? 2150"},
			"trigger.cron", "year: has no year in 2000-2100"},
		{"unknown zone", map[string]any{"type": "cron", "cron": "0 0 1 * * ?", "timezone": "Mars/Olympus"},
			"trigger.timezone", "Mars/Olympus"},
		{"interval too short", map[string]any{"type": "fixed_rate", "interval": "500ms"},
			"trigger.interval", `interval: "500ms" is shorter than 1s`},
		{"phase not whole seconds", map[string]any{"type": "fixed_rate", "interval": "1m", "phase": "1500ms"},
			"trigger.phase", "not a whole number of seconds"},
		{"unknown overlap", map[string]any{"type": "cron", "cron": "0 0 1 * * ?", "overlap": "sometimes"},
			"trigger.overlap", `not "sometimes"`},
		{"catchup window", map[string]any{"type": "cron", "cron": "0 0 1 * * ?", "catchup_window": "soon"},
			"trigger.catchup_window", `"soon"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"tasks", "flows"} {
				body := map[string]any{"name": "t", "kind": "noop", "trigger": tc.trigger}
				if k == "flows" {
					body = map[string]any{"name": "f", "trigger": tc.trigger,
						"nodes": []map[string]any{{"id": "a", "task": map[string]any{"kind": "noop"}}}}
				}
				ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/"+k, e.operator, body)
				ps := problemsOf(t, ae)
				if len(ps) != 1 || !strings.Contains(ps[tc.path], tc.want) {
					t.Fatalf("%s: problems %v, want %s containing %q", k, ps, tc.path, tc.want)
				}
				if !strings.Contains(ae.Error.Message, tc.path) {
					t.Fatalf("%s: message %q does not name %s", k, ae.Error.Message, tc.path)
				}
			}
		})
	}
	// Nothing was saved and no schedule touched.
	var tl listResp[taskResp]
	e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, &tl)
	var fl listResp[taskResp]
	e.must(http.StatusOK, "GET", "/api/v1/flows", e.viewer, nil, &fl)
	if tl.Total != 0 || fl.Total != 0 || len(e.engine.takeSyncs()) != 0 {
		t.Fatalf("refused bodies left %d tasks, %d flows, or synced schedules", tl.Total, fl.Total)
	}
}

func TestTriggerProblemsComeWithDagProblems(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"name": "f",
		"trigger": map[string]any{"type": "cron", "cron": "0 0 12 ? * 8", "overlap": "never"},
		"nodes": []map[string]any{
			{"id": "a", "task": map[string]any{"kind": "noop"}},
			{"id": "a", "task": map[string]any{"kind": "noop"}},
		},
		"edges": []map[string]any{{"from": "a", "to": "ghost"}}}
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows", e.operator, body)
	var ps []dag.Problem
	if err := json.Unmarshal(ae.Error.Details, &ps); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, p := range ps {
		paths[p.Path] = true
	}
	for _, want := range []string{"trigger.cron", "trigger.overlap", "nodes[1].id", "edges[0].to"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %+v", want, ps)
		}
	}
	// A shape error of dag is not repeated by the parser.
	body = map[string]any{"name": "t", "kind": "noop", "trigger": map[string]any{"type": "cron", "cron": "0 0 12 * *"}}
	ps2 := problemsOf(t, e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.operator, body))
	if len(ps2) != 1 || !strings.Contains(ps2["trigger.cron"], "6 or 7 fields") {
		t.Fatalf("problems %v", ps2)
	}
	// PUT validates the same way and keeps the version.
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, cronTask("nightly", "0 0 1 * * ?"), nil)
	e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "PUT", "/api/v1/tasks/nightly", e.operator, cronTask("nightly", "0 0 1 * * MONX"))
	var got taskResp
	e.must(http.StatusOK, "GET", "/api/v1/tasks/nightly", e.viewer, nil, &got)
	if got.Version != 1 {
		t.Fatalf("refused PUT made version %d", got.Version)
	}
}

func TestCronPreview(t *testing.T) {
	e := newEnv(t)
	var got previewView
	// fixedNow is 2024-03-11 04:00 in Shanghai.
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?expr=0+30+22+*+*+%3F&tz=Asia/Shanghai&n=3", e.viewer, nil, &got)
	want := []string{"2024-03-11T22:30:00+08:00", "2024-03-12T22:30:00+08:00", "2024-03-13T22:30:00+08:00"}
	if got.Expr != "0 30 22 * * ?" || got.Timezone != "Asia/Shanghai" || strings.Join(got.Next, ",") != strings.Join(want, ",") {
		t.Fatalf("preview %+v", got)
	}
	// Default count 10, default zone UTC; L and # work.
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?expr=0+0+9+%3F+*+6%234", e.viewer, nil, &got)
	if len(got.Next) != 10 || got.Timezone != "UTC" || got.Next[0] != "2024-03-22T09:00:00Z" {
		t.Fatalf("fourth Friday preview %+v", got)
	}
	// An explicit start.
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?expr=0+0+0+L+*+%3F&n=2&from=2024-01-31T12:00:00Z", e.viewer, nil, &got)
	if strings.Join(got.Next, ",") != "2024-02-29T00:00:00Z,2024-03-31T00:00:00Z" {
		t.Fatalf("last-day preview %+v", got)
	}
	// Fixed rate: every 90 minutes on the epoch grid, shown in the zone.
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?type=fixed_rate&interval=90m&tz=Asia/Shanghai&n=3", e.viewer, nil, &got)
	want = []string{"2024-03-11T05:00:00+08:00", "2024-03-11T06:30:00+08:00", "2024-03-11T08:00:00+08:00"}
	if strings.Join(got.Next, ",") != strings.Join(want, ",") || got.Interval != "90m" {
		t.Fatalf("fixed-rate preview %+v", got)
	}
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?type=fixed_rate&interval=1h&phase=15m&n=1", e.viewer, nil, &got)
	if strings.Join(got.Next, ",") != "2024-03-10T20:15:00Z" {
		t.Fatalf("fixed-rate phase preview %+v", got)
	}

	bad := []struct{ query, want string }{
		{"expr=0+0+12+%3F+*+8", `day-of-week: "8" out of range 1-7`},
		{"expr=0+0+12+*+*", "6 or 7"},
		{"expr=0+0+0+30+2+%3F", "never fires"},
		{"", `"expr" is required`},
		{"expr=0+0+1+*+*+%3F&tz=Mars/Olympus", `"tz"`},
		{"expr=0+0+1+*+*+%3F&tz=Local", `"tz"`},
		{"expr=0+0+1+*+*+%3F&n=0", `"n" must be 1 to 100,`},
		{"expr=0+0+1+*+*+%3F&n=1000", `"n" must be 1 to 100,`},
		{"expr=0+0+1+*+*+%3F&n=x", `"n"`},
		{"expr=0+0+1+*+*+%3F&from=yesterday", `"from"`},
		{"type=weekly", `"type"`},
		{"type=fixed_rate", `"interval"`},
		{"type=fixed_rate&interval=500ms", `interval: "500ms" is shorter than 1s`},
		{"type=fixed_rate&interval=1h&phase=2h", `"phase"`},
	}
	for _, b := range bad {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/cron/preview?"+b.query, e.viewer, nil)
		if !strings.Contains(ae.Error.Message, b.want) {
			t.Errorf("?%s: message %q, want it to contain %q", b.query, ae.Error.Message, b.want)
		}
	}
	ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/cron/preview?expr=0+0+12+%3F+*+8", e.viewer, nil)
	var d map[string]string
	if err := json.Unmarshal(ae.Error.Details, &d); err != nil || d["field"] != "day-of-week" || d["value"] != "8" || d["param"] != "expr" {
		t.Fatalf("details %s %v", ae.Error.Details, err)
	}
}

func TestSchedulesFollowDefinitions(t *testing.T) {
	e := newEnv(t)
	// A manual task has no schedule to create.
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{
		"id": "load", "name": "load", "kind": "shell", "shell": map[string]any{"script": "echo v1"}}, nil)
	if s := e.engine.takeSyncs(); len(s) != 0 {
		t.Fatalf("manual create synced %+v", s)
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, cronTask("nightly", "0 0 1 * * ?"), nil)
	s := e.engine.takeSyncs()
	if len(s) != 1 || s[0].Kind != "task" || s[0].DefinitionID != "nightly" || s[0].Version != 1 || !s[0].Enabled ||
		s[0].Deleted || s[0].Trigger == nil || s[0].Trigger.Cron != "0 0 1 * * ?" || s[0].Group != "default" ||
		len(s[0].Flow.Nodes) != 1 || s[0].Flow.Nodes[0].ID != "nightly" || s[0].Flow.Nodes[0].Task == nil {
		t.Fatalf("create synced %+v", s)
	}

	flow := map[string]any{"id": "settle", "name": "settle", "group": "etl",
		"trigger": map[string]any{"type": "fixed_rate", "interval": "90m", "overlap": "buffer_one"},
		"params":  map[string]string{"region": "cn"},
		"nodes": []map[string]any{
			{"id": "extract", "task": map[string]any{"kind": "noop"}},
			{"id": "load", "task_id": "load"},
		},
		"edges": []map[string]any{{"from": "extract", "to": "load"}}}
	var saved struct {
		Version       int      `json:"version"`
		ImportedTasks []string `json:"imported_tasks"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, flow, &saved)
	if saved.ImportedTasks == nil || len(saved.ImportedTasks) != 0 {
		t.Fatalf("a manual task is not imported: %+v", saved)
	}
	s = e.engine.takeSyncs()
	if len(s) != 1 || s[0].Kind != "flow" || s[0].Version != 1 || s[0].Group != "etl" || s[0].Params["region"] != "cn" ||
		s[0].Trigger.Overlap != "buffer_one" {
		t.Fatalf("flow create synced %+v", s)
	}
	// The schedule carries the resolved snapshot, like a run once.
	if n := s[0].Flow.Nodes[1]; n.Task == nil || n.Task.Shell == nil || n.Task.Shell.Script != "echo v1" {
		t.Fatalf("flow snapshot not resolved: %+v", s[0].Flow.Nodes)
	}

	// A new version of the flow: its schedule gets it.
	flow["params"] = map[string]string{"region": "us"}
	e.must(http.StatusOK, "PUT", "/api/v1/flows/settle", e.operator, flow, &saved)
	s = e.engine.takeSyncs()
	if saved.Version != 2 || len(s) != 1 || s[0].Version != 2 || s[0].Params["region"] != "us" || !s[0].Enabled {
		t.Fatalf("flow update synced %+v", s)
	}
	// A new version of a task the scheduled flow inlines: both resync.
	e.must(http.StatusOK, "PUT", "/api/v1/tasks/load", e.operator, map[string]any{
		"name": "load", "kind": "shell", "shell": map[string]any{"script": "echo v2"}}, nil)
	s = e.engine.takeSyncs()
	if len(s) != 2 || s[0].Kind != "task" || s[0].Version != 2 || s[1].Kind != "flow" || s[1].DefinitionID != "settle" ||
		s[1].Version != 2 || s[1].Flow.Nodes[1].Task.Shell.Script != "echo v2" {
		t.Fatalf("task update synced %+v", s)
	}

	for _, k := range []string{"tasks/nightly", "flows/settle"} {
		e.must(http.StatusOK, "POST", "/api/v1/"+k+"/disable", e.operator, nil, nil)
		s = e.engine.takeSyncs()
		if len(s) != 1 || s[0].Enabled || s[0].Deleted || s[0].Trigger == nil {
			t.Fatalf("%s disable synced %+v", k, s)
		}
		e.must(http.StatusOK, "POST", "/api/v1/"+k+"/enable", e.operator, nil, nil)
		s = e.engine.takeSyncs()
		if len(s) != 1 || !s[0].Enabled {
			t.Fatalf("%s enable synced %+v", k, s)
		}
		e.must(http.StatusNoContent, "DELETE", "/api/v1/"+k, e.operator, nil, nil)
		s = e.engine.takeSyncs()
		if len(s) != 1 || !s[0].Deleted {
			t.Fatalf("%s delete synced %+v", k, s)
		}
	}
}

func TestScheduleSyncFailureKeepsTheSaveAndARetryFixesIt(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, cronTask("nightly", "0 0 1 * * ?"), nil)
	e.engine.takeSyncs()
	e.engine.failSyncs(errors.New("temporal unreachable"))
	ae := e.mustFail(http.StatusBadGateway, CodeScheduleSyncFailed, "PUT", "/api/v1/tasks/nightly", e.operator,
		cronTask("nightly", "0 0 2 * * ?"))
	if !strings.Contains(ae.Error.Message, "task nightly version 2 was saved") || !strings.Contains(ae.Error.Message, "temporal unreachable") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	var details struct {
		Failures []syncFailure `json:"failures"`
		Saved    taskResp      `json:"saved"`
	}
	if err := json.Unmarshal(ae.Error.Details, &details); err != nil || len(details.Failures) != 1 || details.Saved.Version != 2 {
		t.Fatalf("details %s %v", ae.Error.Details, err)
	}
	var got taskResp
	e.must(http.StatusOK, "GET", "/api/v1/tasks/nightly", e.viewer, nil, &got)
	if got.Version != 2 {
		t.Fatalf("version %d after a failed sync", got.Version)
	}
	e.mustFail(http.StatusBadGateway, CodeScheduleSyncFailed, "POST", "/api/v1/tasks/nightly/disable", e.operator, nil)
	e.must(http.StatusOK, "GET", "/api/v1/tasks/nightly", e.viewer, nil, &got)
	if got.Enabled {
		t.Fatal("the disable was not saved")
	}
	// Once the engine is back, repeating the request syncs what is stored.
	e.engine.failSyncs(nil)
	e.must(http.StatusOK, "POST", "/api/v1/tasks/nightly/disable", e.operator, nil, nil)
	s := e.engine.takeSyncs()
	if len(s) != 1 || s[0].Version != 2 || s[0].Enabled || s[0].Trigger.Cron != "0 0 2 * * ?" {
		t.Fatalf("retry synced %+v", s)
	}

	// Resync brings every firing definition in line, admins only.
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/schedules/resync", e.operator, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "adhoc", "name": "adhoc", "kind": "noop"}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, cronTask("gone", "0 0 3 * * ?"), nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/gone", e.operator, nil, nil)
	e.engine.takeSyncs()
	var rs struct {
		Total, Synced, Failed int
		Items                 []resyncItem
	}
	e.must(http.StatusOK, "POST", "/api/v1/schedules/resync", e.admin, nil, &rs)
	s = e.engine.takeSyncs()
	if rs.Total != 2 || rs.Synced != 2 || len(s) != 2 {
		t.Fatalf("resync %+v, synced %+v", rs, s)
	}
	for _, d := range s {
		switch d.DefinitionID {
		case "nightly":
			if d.Enabled || d.Deleted {
				t.Errorf("nightly resynced as %+v", d)
			}
		case "gone":
			if !d.Deleted {
				t.Errorf("deleted task resynced as %+v", d)
			}
		default:
			t.Errorf("resynced %s", d.DefinitionID)
		}
	}
	e.engine.failSyncs(errors.New("down"))
	e.must(http.StatusOK, "POST", "/api/v1/schedules/resync", e.admin, nil, &rs)
	if rs.Failed != 2 || rs.Items[0].Result != "failed" || !strings.Contains(rs.Items[0].Message, "down") {
		t.Fatalf("resync with the engine down %+v", rs)
	}
}

func TestEnableRefusesAFlowWhoseTaskIsGone(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "t", "name": "t", "kind": "noop"}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, map[string]any{"id": "f", "name": "f",
		"trigger": map[string]any{"type": "cron", "cron": "0 0 1 * * ?"},
		"nodes":   []map[string]any{{"id": "n", "task_id": "t"}}}, nil)
	e.must(http.StatusOK, "POST", "/api/v1/flows/f/disable", e.operator, nil, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/t", e.operator, nil, nil)
	e.engine.takeSyncs()
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows/f/enable", e.operator, nil)
	if !strings.Contains(ae.Error.Message, `task "t" does not exist`) {
		t.Fatalf("message %q", ae.Error.Message)
	}
	var got taskResp
	e.must(http.StatusOK, "GET", "/api/v1/flows/f", e.viewer, nil, &got)
	if got.Enabled || len(e.engine.takeSyncs()) != 0 {
		t.Fatal("a refused enable changed something")
	}
	// Disabling again still works without the task: a paused schedule
	// needs no resolved snapshot.
	e.must(http.StatusOK, "POST", "/api/v1/flows/f/disable", e.operator, nil, nil)
	if s := e.engine.takeSyncs(); len(s) != 1 || s[0].Enabled {
		t.Fatalf("disable synced %+v", s)
	}
}

func TestImportIntoFlowStopsTheTaskFiring(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, cronTask("hourly", "0 0 * * * ?"), nil)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "plain", "name": "plain", "kind": "noop"}, nil)
	e.engine.takeSyncs()
	flow := map[string]any{"id": "daily", "name": "daily",
		"trigger": map[string]any{"type": "cron", "cron": "0 0 2 * * ?"},
		"nodes": []map[string]any{
			{"id": "a", "task_id": "hourly"}, {"id": "b", "task_id": "plain"}, {"id": "c", "task_id": "hourly"},
		},
		"edges": []map[string]any{{"from": "a", "to": "b"}, {"from": "b", "to": "c"}}}
	var saved struct {
		ImportedTasks []string `json:"imported_tasks"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, flow, &saved)
	if strings.Join(saved.ImportedTasks, ",") != "hourly" {
		t.Fatalf("imported %v", saved.ImportedTasks)
	}
	var task taskResp
	e.must(http.StatusOK, "GET", "/api/v1/tasks/hourly", e.viewer, nil, &task)
	if task.Version != 2 || task.Trigger == nil || task.Trigger.Type != "flow" || task.UpdatedBy != "operator" || task.Name != "hourly" {
		t.Fatalf("imported task %+v", task)
	}
	s := e.engine.takeSyncs()
	if len(s) != 2 || s[0].Kind != "task" || s[0].DefinitionID != "hourly" || s[0].Trigger.Type != "flow" ||
		s[1].Kind != "flow" || s[1].DefinitionID != "daily" {
		t.Fatalf("import synced %+v", s)
	}
	// Saving the flow again imports nothing more.
	e.must(http.StatusOK, "PUT", "/api/v1/flows/daily", e.operator, flow, &saved)
	if len(saved.ImportedTasks) != 0 {
		t.Fatalf("second save imported %v", saved.ImportedTasks)
	}
	// Removed from the flow, the task keeps its definition and can fire on
	// its own again once a PUT gives it a trigger.
	flow["nodes"] = []map[string]any{{"id": "b", "task_id": "plain"}}
	flow["edges"] = []map[string]any{}
	e.must(http.StatusOK, "PUT", "/api/v1/flows/daily", e.operator, flow, nil)
	e.must(http.StatusOK, "GET", "/api/v1/tasks/hourly", e.viewer, nil, &task)
	if task.Version != 2 || task.Trigger.Type != "flow" {
		t.Fatalf("task after removal %+v", task)
	}
	e.engine.takeSyncs()
	e.must(http.StatusOK, "PUT", "/api/v1/tasks/hourly", e.operator, cronTask("hourly", "0 0 * * * ?"), nil)
	s = e.engine.takeSyncs()
	if len(s) != 1 || s[0].Trigger.Type != "cron" || s[0].Version != 3 {
		t.Fatalf("task given its trigger back synced %+v", s)
	}
}
