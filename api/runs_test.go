package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/models"
)

// runResp is what GET /api/v1/runs/{id} answers: the handler's own type,
// so a field the handler drops or renames fails these tests.
type runResp = runDetail

// seedFlow stores a task and a flow that uses it by reference and inline.
func seedFlow(t *testing.T, e *env) {
	t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{
		"id": "load", "name": "load", "kind": "shell", "shell": map[string]any{"script": "echo v1"},
		"params": map[string]string{"table": "t1"}, "trigger": map[string]any{"type": "flow"}}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, map[string]any{
		"id": "settle", "name": "daily-settlement", "group": "etl",
		"trigger": map[string]any{"type": "cron", "cron": "0 30 22 * * ?", "timezone": "Asia/Shanghai"},
		"params":  map[string]string{"region": "cn", "mode": "full"},
		"nodes": []map[string]any{
			{"id": "extract", "type": "task", "task": map[string]any{"kind": "noop"}},
			{"id": "load", "type": "task", "task_id": "load", "core": true},
		},
		"edges": []map[string]any{{"from": "extract", "to": "load", "on": "success"}},
	}, nil)
}

func TestRunOnceFlowSnapshot(t *testing.T) {
	e := newEnv(t)
	seedFlow(t, e)
	// The task changes after the flow was saved: the run takes the task as
	// it is now.
	e.must(http.StatusOK, "PUT", "/api/v1/tasks/load", e.operator, map[string]any{
		"name": "load", "kind": "shell", "shell": map[string]any{"script": "echo v2"},
		"params": map[string]string{"table": "t2"}, "trigger": map[string]any{"type": "flow"}}, nil)

	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator,
		map[string]any{"params": map[string]string{"mode": "delta", "extra": "1"}}, &run)
	if run.Kind != "flow" || run.DefinitionID != "settle" || run.DefinitionName != "daily-settlement" ||
		run.Version != 1 || run.Group != "etl" || run.Status != "waiting" || run.Trigger != "manual" ||
		run.Initiator != "operator" || run.WorkflowID != "baton-run-"+run.ID || run.TemporalRunID != "temporal-"+run.ID ||
		run.CreatedAt == nil || run.StartedAt != nil || run.FinishedAt != nil || run.Nodes == nil || run.Transitions == nil {
		t.Fatalf("run %+v", run)
	}
	// 20:00 UTC on the 10th is the 11th in Shanghai.
	if run.Bizdate != "2024-03-11" {
		t.Fatalf("default bizdate %q, want the Shanghai date 2024-03-11", run.Bizdate)
	}
	wantParams := map[string]string{"region": "cn", "mode": "delta", "extra": "1"}
	if !equalMaps(run.Params, wantParams) {
		t.Fatalf("run params %v, want %v", run.Params, wantParams)
	}

	started := e.engine.started()
	if len(started) != 1 {
		t.Fatalf("engine started %d runs", len(started))
	}
	in := started[0]
	if in.RunID != run.ID || in.Kind != "flow" || in.DefinitionID != "settle" || in.Version != 1 ||
		in.Trigger != "manual" || in.Bizdate != "2024-03-11" || !in.Mirror || !equalMaps(in.Params, wantParams) {
		t.Fatalf("run input %+v", in)
	}
	if len(in.Flow.Nodes) != 2 || in.Flow.Name != "daily-settlement" || len(in.Flow.Edges) != 1 {
		t.Fatalf("snapshot %+v", in.Flow)
	}
	load := in.Flow.Nodes[1]
	if load.TaskID != "load" || load.Task == nil || load.Task.Shell == nil || load.Task.Shell.Script != "echo v2" ||
		load.Task.Params["table"] != "t2" || !load.Core {
		t.Fatalf("referenced task not inlined at its latest version: %+v (task %+v)", load, load.Task)
	}
	if in.Flow.Nodes[0].Task == nil || in.Flow.Nodes[0].Task.Kind != "noop" {
		t.Fatalf("inline node changed: %+v", in.Flow.Nodes[0])
	}

	// The stored run is what the answer said.
	var again runResp
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+run.ID, e.viewer, nil, &again)
	if again.TemporalRunID != run.TemporalRunID || again.Bizdate != run.Bizdate || !equalMaps(again.Params, wantParams) {
		t.Fatalf("stored run %+v", again)
	}

	// A test run with a bizdate, on a disabled flow.
	e.must(http.StatusOK, "POST", "/api/v1/flows/settle/disable", e.operator, nil, nil)
	run = runResp{}
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator,
		map[string]any{"bizdate": "2023-12-31", "test": true}, &run)
	if run.Trigger != "test" || run.Bizdate != "2023-12-31" || !equalMaps(run.Params, map[string]string{"region": "cn", "mode": "full"}) {
		t.Fatalf("test run %+v", run)
	}
	if in := e.engine.started()[1]; in.Trigger != "test" || in.Bizdate != "2023-12-31" {
		t.Fatalf("test run input %+v", in)
	}

	for _, bad := range []string{"2024-13-01", "2024-2-01", "20240101", "2024-02-30", "tomorrow"} {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/flows/settle/runs", e.operator,
			map[string]any{"bizdate": bad})
		if !strings.Contains(ae.Error.Message, "bizdate") {
			t.Errorf("bizdate %q: message %q", bad, ae.Error.Message)
		}
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/flows/settle/runs", e.operator,
		map[string]any{"param": map[string]string{}})
	if n := len(e.engine.started()); n != 2 {
		t.Fatalf("bad bodies started runs: %d", n)
	}
	var runs listResp[runResp]
	e.must(http.StatusOK, "GET", "/api/v1/runs", e.viewer, nil, &runs)
	if runs.Total != 2 {
		t.Fatalf("bad bodies created runs: %d", runs.Total)
	}

	// A referenced task deleted since the flow was saved makes it unrunnable.
	e.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/load", e.operator, nil, nil)
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows/settle/runs", e.operator, nil)
	if !strings.Contains(string(ae.Error.Details), "nodes[1].task_id") {
		t.Fatalf("details %s", ae.Error.Details)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRunOnceTask(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{
		"id": "nap", "name": "nap", "kind": "sleep", "sleep": map[string]any{"duration": "1s"},
		"params": map[string]string{"k": "v"}}, nil)
	var run runResp
	// An empty body is a plain run once.
	e.must(http.StatusCreated, "POST", "/api/v1/tasks/nap/runs", e.admin, "", &run)
	if run.Kind != "task" || run.Trigger != "manual" || run.Bizdate != "2024-03-10" || run.Group != "default" ||
		run.Initiator != "admin" || run.Params["k"] != "v" {
		t.Fatalf("task run %+v", run)
	}
	in := e.engine.started()[0]
	if len(in.Flow.Nodes) != 1 || in.Flow.Nodes[0].ID != "nap" || in.Flow.Nodes[0].Task == nil ||
		in.Flow.Nodes[0].Task.Kind != "sleep" || in.Kind != "task" {
		t.Fatalf("task snapshot %+v", in.Flow)
	}
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/tasks/nap/runs", e.viewer, nil)
}

func TestEngineFailureFailsRun(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, sleepTask("nap", "1s"), nil)
	var tl listResp[struct{ ID string }]
	e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, &tl)
	e.engine.fail(errEngineDown)

	ae := e.mustFail(http.StatusBadGateway, CodeEngineUnavailable, "POST", "/api/v1/tasks/"+tl.Items[0].ID+"/runs", e.operator, nil)
	if !strings.Contains(ae.Error.Message, "temporal frontend unreachable") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	var runs listResp[runResp]
	e.must(http.StatusOK, "GET", "/api/v1/runs", e.viewer, nil, &runs)
	if runs.Total != 1 {
		t.Fatalf("runs %+v", runs)
	}
	var run runResp
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+runs.Items[0].ID, e.viewer, nil, &run)
	if run.Status != "failed" || !strings.Contains(run.Message, "temporal frontend unreachable") || run.FinishedAt == nil {
		t.Fatalf("unstarted run left as %+v", run)
	}
	if len(run.Transitions) != 1 || run.Transitions[0].From != "waiting" || run.Transitions[0].To != "failed" ||
		run.Transitions[0].Actor != "operator" || run.Transitions[0].RequestID == "" {
		t.Fatalf("transitions %+v", run.Transitions)
	}
	if !strings.Contains(string(ae.Error.Details), runs.Items[0].ID) {
		t.Fatalf("details %s lack the run id", ae.Error.Details)
	}
}

func TestRunListFiltersAndStats(t *testing.T) {
	e := newEnv(t)
	seedFlow(t, e)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "solo", "name": "solo", "kind": "noop"}, nil)
	mk := func(path, bizdate string, test bool) string {
		var r runResp
		e.must(http.StatusCreated, "POST", path, e.operator, map[string]any{"bizdate": bizdate, "test": test}, &r)
		return r.ID
	}
	f1 := mk("/api/v1/flows/settle/runs", "2024-01-01", false)
	f2 := mk("/api/v1/flows/settle/runs", "2024-01-02", true)
	f3 := mk("/api/v1/flows/settle/runs", "2024-01-03", false)
	t1 := mk("/api/v1/tasks/solo/runs", "2024-01-02", false)

	// The engine moves runs on through the mirror.
	ctx := context.Background()
	setStatus := func(id, st string) {
		if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id, Run: &models.RunUpdate{Status: st, Rev: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(f1, "success")
	setStatus(f2, "failed")
	setStatus(f3, "running")

	ids := func(q string) []string {
		t.Helper()
		var l listResp[runResp]
		e.must(http.StatusOK, "GET", "/api/v1/runs"+q, e.viewer, nil, &l)
		if int(l.Total) != len(l.Items) {
			t.Fatalf("%s: total %d, %d items", q, l.Total, len(l.Items))
		}
		out := make([]string, len(l.Items))
		for i, r := range l.Items {
			out[i] = r.ID
		}
		return out
	}
	check := func(q string, want ...string) {
		t.Helper()
		got := ids(q)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: got %v, want %v", q, got, want)
		}
	}
	// Newest first; runs created in the same millisecond fall back to id
	// order, so compare as sets where that can happen.
	all := ids("")
	if len(all) != 4 {
		t.Fatalf("all runs %v", all)
	}
	check("?status=failed", f2)
	asSet(t, ids("?status=failed,success"), f1, f2)
	asSet(t, ids("?status=waiting"), t1)
	check("?trigger=test", f2)
	asSet(t, ids("?trigger=manual"), f1, f3, t1)
	asSet(t, ids("?definition=settle"), f1, f2, f3)
	asSet(t, ids("?definition=solo"), t1)
	asSet(t, ids("?kind=task"), t1)
	asSet(t, ids("?bizdate_from=2024-01-02&bizdate_to=2024-01-02"), f2, t1)
	asSet(t, ids("?bizdate_from=2024-01-02"), f2, f3, t1)
	asSet(t, ids("?group=etl&bizdate_to=2024-01-02"), f1, f2)
	check("?batch_id="+f3, f3)
	asSet(t, ids("?initiator=operator"), f1, f2, f3, t1)
	check("?initiator=nobody")
	// Runs are created at the server's clock, fixedNow.
	hourBefore := fixedNow.Add(-time.Hour).Format(time.RFC3339)
	asSet(t, ids("?created_from="+hourBefore), f1, f2, f3, t1)
	check("?created_to=" + hourBefore)
	asSet(t, ids("?created_from="+hourBefore+"&created_to="+fixedNow.Format(time.RFC3339)), f1, f2, f3, t1)

	for _, q := range []string{"status=done", "kind=job", "trigger=later", "bizdate_from=2024-1-1",
		"bizdate_to=x", "created_from=yesterday", "created_to=2024-01-01"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs?"+q, e.viewer, nil)
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/stats?"+q, e.viewer, nil)
	}

	var stats struct {
		Counts map[string]int64 `json:"counts"`
		Total  int64            `json:"total"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/stats", e.viewer, nil, &stats)
	if stats.Counts["success"] != 1 || stats.Counts["failed"] != 1 || stats.Counts["running"] != 1 ||
		stats.Counts["waiting"] != 1 || stats.Total != 4 {
		t.Fatalf("stats %+v", stats)
	}
	if n, ok := stats.Counts["rollback_failed"]; !ok || n != 0 {
		t.Fatalf("stats omit zero statuses: %+v", stats.Counts)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/stats?kind=flow&bizdate_to=2024-01-02", e.viewer, nil, &stats)
	if stats.Counts["success"] != 1 || stats.Counts["failed"] != 1 || stats.Counts["running"] != 0 || stats.Total != 2 {
		t.Fatalf("filtered stats %+v", stats)
	}
}

func asSet(t *testing.T, got []string, want ...string) {
	t.Helper()
	m := map[string]bool{}
	for _, g := range got {
		m[g] = true
	}
	ok := len(got) == len(want)
	for _, w := range want {
		ok = ok && m[w]
	}
	if !ok {
		t.Errorf("got %v, want %v in any order", got, want)
	}
}

func TestRunDetailNodesInstancesAndLog(t *testing.T) {
	e := newEnv(t)
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)

	ctx := context.Background()
	t0 := time.Date(2024, 3, 10, 20, 0, 1, 0, time.FixedZone("CST", 8*3600))
	code := 0
	err := e.store.ApplyMirror(ctx, models.MirrorBatch{
		RunID: run.ID,
		Run:   &models.RunUpdate{Status: "running", Rev: 2, StartedAt: &t0},
		Nodes: []models.NodeUpdate{
			{NodeID: "extract", Status: "success", Attempts: 1, Rev: 2, Outputs: map[string]string{"rows": "10"}, StartedAt: &t0, FinishedAt: &t0},
			{NodeID: "load", Status: "running", Attempts: 2, Rev: 2, StartedAt: &t0},
		},
		Instances: []models.InstanceUpdate{
			{ID: run.ID + ".extract.0.1", NodeID: "extract", Attempt: 1, WorkerID: "w1", Status: "success", ExitCode: &code, Rev: 2, StartedAt: &t0, FinishedAt: &t0},
			{ID: run.ID + ".load.0.1", NodeID: "load", Attempt: 1, WorkerID: "w1", Status: "failed", Rev: 2, StartedAt: &t0},
			{ID: run.ID + ".load.0.2", NodeID: "load", Attempt: 2, WorkerID: "w2", Status: "running", Rev: 2, StartedAt: &t0},
		},
		Transitions: []models.Transition{{Entity: "run", EntityID: run.ID, FromStatus: "waiting", ToStatus: "running", Actor: "engine", At: t0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+run.ID, e.viewer, nil, &run)
	if run.Status != "running" || run.StartedAt == nil || !run.StartedAt.Equal(t0) || run.FinishedAt != nil {
		t.Fatalf("run %s", r.body)
	}
	if !strings.Contains(string(r.body), `"started_at":"2024-03-10T12:00:01Z"`) || !strings.Contains(string(r.body), `"finished_at":null`) {
		t.Fatalf("times not UTC RFC 3339 with nulls: %s", r.body)
	}
	if len(run.Nodes) != 2 {
		t.Fatalf("nodes %+v", run.Nodes)
	}
	for _, n := range run.Nodes {
		switch n.ID {
		case "extract":
			if n.Status != "success" || n.Outputs["rows"] != "10" || len(n.Instances) != 1 || *n.Instances[0].ExitCode != 0 {
				t.Fatalf("extract %+v", n)
			}
		case "load":
			if n.Status != "running" || n.Attempts != 2 || len(n.Instances) != 2 || n.Instances[1].WorkerID != "w2" || n.Instances[0].ExitCode != nil {
				t.Fatalf("load %+v", n)
			}
		default:
			t.Fatalf("unexpected node %+v", n)
		}
	}
	if len(run.Transitions) != 1 || run.Transitions[0].To != "running" {
		t.Fatalf("transitions %+v", run.Transitions)
	}

	var insts listResp[struct {
		ID     string `json:"id"`
		NodeID string `json:"node_id"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+run.ID+"/instances?limit=2", e.viewer, nil, &insts)
	if insts.Total != 3 || len(insts.Items) != 2 {
		t.Fatalf("instances %+v", insts)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+run.ID+"/instances?offset=2", e.viewer, nil, &insts)
	if len(insts.Items) != 1 {
		t.Fatalf("instances page 2 %+v", insts)
	}

	// The log of an instance that wrote nothing yet is empty, not missing.
	lr := e.must(http.StatusOK, "GET", "/api/v1/instances/"+run.ID+".load.0.2/log", e.viewer, nil, nil)
	if len(lr.body) != 0 || lr.header.Get("X-Log-Size") != "0" || lr.header.Get("X-Next-Offset") != "0" ||
		!strings.HasPrefix(lr.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("empty log: %q %v", lr.body, lr.header)
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/instances/"+run.ID+".load.0.2/log?offset=-1", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/instances/"+run.ID+".load.0.2/log?follow=maybe", e.viewer, nil)
}

func TestInstanceLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Output may reach the mirror before the instance row does.
	if err := e.store.AppendLog(ctx, "i1", 0, 0, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AppendLog(ctx, "i1", 1, 6, []byte("world\n")); err != nil {
		t.Fatal(err)
	}
	read := func(q string) (string, string, string) {
		t.Helper()
		r := e.must(http.StatusOK, "GET", "/api/v1/instances/i1/log"+q, e.viewer, nil, nil)
		return string(r.body), r.header.Get("X-Log-Size"), r.header.Get("X-Next-Offset")
	}
	check := func(q, body, size, next string) {
		t.Helper()
		b, s, n := read(q)
		if b != body || s != size || n != next {
			t.Errorf("%s: body %q size %s next %s; want %q %s %s", q, b, s, n, body, size, next)
		}
	}
	check("", "hello\nworld\n", "12", "12")
	check("?offset=3", "lo\nworld\n", "12", "12")
	check("?offset=3&max=4", "lo\nw", "12", "7")
	check("?offset=12", "", "12", "12")
	check("?offset=99", "", "12", "99")
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/instances/i1/log?max=x", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/instances/i2/log", e.viewer, nil)
}

func TestWorkers(t *testing.T) {
	// The server's clock moves; the store stamps last_seen with its own (real) one.
	var mu sync.Mutex
	now := time.Now()
	e := startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	ctx := context.Background()
	for _, w := range []models.Worker{{ID: "w1", Group: "default", Host: "h1", PID: 10}, {ID: "w2", Group: "gpu", Host: "h2", PID: 20}} {
		if err := e.store.HeartbeatWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	var l listResp[struct {
		ID       string     `json:"id"`
		Group    string     `json:"group"`
		Host     string     `json:"host"`
		PID      int        `json:"pid"`
		LastSeen *time.Time `json:"last_seen"`
		Live     bool       `json:"live"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/workers", e.viewer, nil, &l)
	if l.Total != 2 || len(l.Items) != 2 {
		t.Fatalf("workers %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/workers?group=gpu", e.viewer, nil, &l)
	if l.Total != 1 || l.Items[0].ID != "w2" || l.Items[0].Host != "h2" || l.Items[0].PID != 20 || l.Items[0].LastSeen == nil || !l.Items[0].Live {
		t.Fatalf("gpu workers %+v", l)
	}
	// Live is the engine's window: a worker not seen for longer is listed, not live.
	mu.Lock()
	now = now.Add(activities.WorkerLiveness + time.Second)
	mu.Unlock()
	e.must(http.StatusOK, "GET", "/api/v1/workers?group=gpu", e.viewer, nil, &l)
	if l.Items[0].Live {
		t.Fatalf("worker seen %v ago is live: %+v", activities.WorkerLiveness+time.Second, l)
	}
}

// TestRunWithNullParams covers runs a schedule fired for a definition
// without params: the row holds "null", and the answer must still be an
// object, as the OpenAPI document (and a console) expects.
func TestRunWithNullParams(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.CreateRun(ctx, &models.Run{ID: "fired", Kind: "flow", DefinitionID: "etl", Status: "success",
		Trigger: "cron", Bizdate: "2024-03-10", Params: "null", CreatedAt: fixedNow}); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Params map[string]string `json:"params"`
	}
	r := e.must(200, "GET", "/api/v1/runs/fired", e.viewer, nil, &v)
	if v.Params == nil {
		t.Fatalf("params answered as null: %s", r.body)
	}
}
