package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/baton-sched/baton/models"
)

// seedBackfillFlow stores a flow a -> b -> c, a -> d, where b comes from a
// stored task.
func seedBackfillFlow(t *testing.T, e *env) {
	t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{
		"id": "load", "name": "load", "kind": "shell", "shell": map[string]any{"script": "echo load"},
		"params": map[string]string{"table": "t1"}}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, map[string]any{
		"id": "etl", "name": "etl", "group": "etl", "params": map[string]string{"region": "cn"},
		"nodes": []map[string]any{
			{"id": "a", "task": map[string]any{"kind": "noop"}},
			{"id": "b", "task_id": "load"},
			{"id": "c", "task": map[string]any{"kind": "noop"}},
			{"id": "d", "task": map[string]any{"kind": "noop"}},
		},
		"edges": []map[string]any{{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "a", "to": "d"}},
	}, nil)
}

func TestBackfillDryRun(t *testing.T) {
	e := newEnv(t)
	seedBackfillFlow(t, e)
	var dr backfillDryRun
	e.must(http.StatusOK, "POST", "/api/v1/backfills?dry_run=true", e.operator, map[string]any{
		"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-30",
		"nodes": []string{"b"}, "downstream": true}, &dr)
	if !dr.DryRun || dr.Runs != 30 || len(dr.Dates) != 30 || dr.Dates[0] != "2026-01-01" || dr.Dates[29] != "2026-01-30" ||
		strings.Join(dr.Nodes, ",") != "b,c" || dr.NodeRuns != 60 || len(dr.Preview) != 30 || dr.Parallel != 1 ||
		dr.Order != "asc" || dr.Version != 1 {
		t.Fatalf("dry run %+v", dr)
	}
	for i, p := range dr.Preview {
		if p.Bizdate != dr.Dates[i] || strings.Join(p.Nodes, ",") != "b,c" {
			t.Fatalf("preview %d: %+v", i, p)
		}
	}
	// A chosen set without downstream is exactly that set; descending
	// order runs the newest date first.
	e.must(http.StatusOK, "POST", "/api/v1/backfills?dry_run=true", e.operator, map[string]any{
		"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-30", "order": "desc",
		"nodes": []string{"a", "c"}, "parallel": 5}, &dr)
	if strings.Join(dr.Nodes, ",") != "a,c" || dr.Dates[0] != "2026-01-30" || dr.Dates[29] != "2026-01-01" ||
		dr.Preview[0].Bizdate != "2026-01-30" || dr.Parallel != 5 || dr.NodeRuns != 60 {
		t.Fatalf("chosen set dry run %+v", dr)
	}
	// The whole flow, weekly; a task is its one node.
	e.must(http.StatusOK, "POST", "/api/v1/backfills?dry_run=true", e.operator, map[string]any{
		"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-30", "step": "1w"}, &dr)
	if strings.Join(dr.Nodes, ",") != "a,b,c,d" || strings.Join(dr.Dates, ",") != "2026-01-01,2026-01-08,2026-01-15,2026-01-22,2026-01-29" {
		t.Fatalf("weekly dry run %+v", dr)
	}
	e.must(http.StatusOK, "POST", "/api/v1/backfills?dry_run=true", e.operator, map[string]any{
		"kind": "task", "definition_id": "load", "from": "2026-01-31", "to": "2026-04-30", "step": "1m"}, &dr)
	if strings.Join(dr.Nodes, ",") != "load" || strings.Join(dr.Dates, ",") != "2026-01-31,2026-02-28,2026-03-31,2026-04-30" {
		t.Fatalf("task dry run %+v", dr)
	}
	// Nothing was created or started.
	var l listResp[backfillView]
	e.must(http.StatusOK, "GET", "/api/v1/backfills", e.viewer, nil, &l)
	if l.Total != 0 || len(e.engine.sched.starts) != 0 {
		t.Fatalf("dry runs left %d backfills, %d starts", l.Total, len(e.engine.sched.starts))
	}
}

func TestBackfillRequestProblems(t *testing.T) {
	e := newEnv(t)
	seedBackfillFlow(t, e)
	ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/backfills", e.operator, map[string]any{
		"kind": "job", "from": "2026-02-30", "to": "2026-01-01", "step": "2x", "order": "up", "parallel": 51,
		"params": map[string]string{"bad name": "x"}})
	ps := problemsOf(t, ae)
	for path, want := range map[string]string{
		"kind": `not "job"`, "definition_id": "required", "from": "2026-02-30", "step": `"2x"`,
		"order": `not "up"`, "parallel": "1 (serial) to 50", "params": `"bad name"`,
	} {
		if !strings.Contains(ps[path], want) {
			t.Errorf("problem at %s: %q, want it to contain %q (all: %v)", path, ps[path], want, ps)
		}
	}
	cases := []struct {
		body map[string]any
		path string
		want string
	}{
		{map[string]any{"kind": "flow", "definition_id": "etl", "from": "2026-02-01", "to": "2026-01-01"}, "to", "the end is before the start"},
		{map[string]any{"kind": "flow", "definition_id": "etl", "from": "2000-01-01", "to": "2026-01-01"}, "to", "more than 3660 dates"},
		{map[string]any{"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-02", "nodes": []string{"b", "zz"}}, "nodes[1]", `no node "zz"`},
		{map[string]any{"kind": "task", "definition_id": "load", "from": "2026-01-01", "to": "2026-01-02", "nodes": []string{"load"}}, "nodes", "only a flow"},
		{map[string]any{"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-02", "parallel": -1}, "parallel", "not -1"},
	}
	for _, c := range cases {
		ps := problemsOf(t, e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/backfills", e.operator, c.body))
		if !strings.Contains(ps[c.path], c.want) {
			t.Errorf("%v: problems %v, want %s containing %q", c.body, ps, c.path, c.want)
		}
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/backfills", e.operator, map[string]any{
		"kind": "flow", "definition_id": "nope", "from": "2026-01-01", "to": "2026-01-02"})
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/backfills", e.operator, map[string]any{
		"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-02", "nodez": []string{"a"}})
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/backfills", e.viewer, map[string]any{})
}

func TestBackfillStartProgressAndOperations(t *testing.T) {
	e := newEnv(t)
	seedBackfillFlow(t, e)
	var bf backfillView
	e.must(http.StatusCreated, "POST", "/api/v1/backfills", e.operator, map[string]any{
		"kind": "flow", "definition_id": "etl", "from": "2026-01-01", "to": "2026-01-30", "parallel": 3,
		"nodes": []string{"b"}, "downstream": true, "params": map[string]string{"mode": "backfill"}}, &bf)
	if bf.ID == "" || bf.Status != "running" || bf.Total != 30 || bf.Waiting != 30 || len(bf.Dates) != 30 ||
		bf.Initiator != "operator" || bf.Kind != "flow" || bf.DefinitionID != "etl" || bf.Version != 1 {
		t.Fatalf("created %+v", bf)
	}
	var spec backfillBody
	if err := json.Unmarshal(bf.Spec, &spec); err != nil || spec.Parallel != 3 || spec.Step != "1d" || spec.Order != "asc" ||
		strings.Join(spec.Nodes, ",") != "b" || !spec.Downstream {
		t.Fatalf("spec %s %v", bf.Spec, err)
	}
	starts := e.engine.sched.starts
	if len(starts) != 1 {
		t.Fatalf("%d starts", len(starts))
	}
	in := starts[0]
	if in.ID != bf.ID || in.Parallel != 3 || len(in.Dates) != 30 || !in.Mirror || in.Initiator != "operator" ||
		in.Group != "etl" || in.DefinitionName != "etl" || len(in.Flow.Nodes) != 2 || in.Flow.Nodes[0].Task == nil ||
		in.Flow.Nodes[0].Task.Shell.Script != "echo load" || in.Params["region"] != "cn" || in.Params["mode"] != "backfill" {
		t.Fatalf("start input %+v", in)
	}

	// Live progress while the driver runs.
	e.engine.sched.mu.Lock()
	p := e.engine.sched.progress[bf.ID]
	p.Dates[0].Status, p.Dates[0].RunID, p.Dates[1].Status = "failed", bf.ID+"-0-1", "success"
	p.Failed, p.Done, p.Waiting = 1, 1, 28
	e.engine.sched.progress[bf.ID] = p
	e.engine.sched.mu.Unlock()
	var got backfillView
	e.must(http.StatusOK, "GET", "/api/v1/backfills/"+bf.ID, e.viewer, nil, &got)
	if !got.Live || got.Failed != 1 || got.Done != 1 || got.Dates[0].Status != "failed" || got.Dates[0].RunID != bf.ID+"-0-1" {
		t.Fatalf("live detail %+v", got)
	}

	// Operations check the driver's state first.
	e.mustFail(http.StatusConflict, CodeBackfillNotOperable, "POST", "/api/v1/backfills/"+bf.ID+"/resume", e.operator, nil)
	var dry struct {
		DryRun bool     `json:"dry_run"`
		Dates  []string `json:"dates"`
	}
	e.must(http.StatusOK, "POST", "/api/v1/backfills/"+bf.ID+"/retry?dry_run=true", e.operator, nil, &dry)
	if !dry.DryRun || strings.Join(dry.Dates, ",") != "2026-01-01" || len(e.engine.sched.signals) != 0 {
		t.Fatalf("retry dry run %+v", dry)
	}
	e.must(http.StatusOK, "POST", "/api/v1/backfills/"+bf.ID+"/pause", e.operator, nil, &got)
	if got.Status != "paused" {
		t.Fatalf("after pause %+v", got)
	}
	e.mustFail(http.StatusConflict, CodeBackfillNotOperable, "POST", "/api/v1/backfills/"+bf.ID+"/pause", e.operator, nil)
	e.must(http.StatusOK, "POST", "/api/v1/backfills/"+bf.ID+"/resume", e.operator, nil, &got)
	e.must(http.StatusOK, "POST", "/api/v1/backfills/"+bf.ID+"/retry", e.operator, nil, &got)
	if got.Failed != 0 || got.Dates[0].Status != "waiting" {
		t.Fatalf("after retry %+v", got)
	}
	ae := e.mustFail(http.StatusConflict, CodeBackfillNotOperable, "POST", "/api/v1/backfills/"+bf.ID+"/retry", e.operator, nil)
	if !strings.Contains(ae.Error.Message, "nothing to retry") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	sig := e.engine.sched.signals
	if len(sig) != 3 || sig[0].Op != "pause" || sig[1].Op != "resume" || sig[2].Op != "retry" || sig[2].Actor != "operator" {
		t.Fatalf("signals %+v", sig)
	}
	// An Idempotency-Key makes a repeat a replay, not a second stop.
	stop := func() response {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/backfills/"+bf.ID+"/stop", nil)
		req.Header.Set("Authorization", "Bearer "+e.operator)
		req.Header.Set(HeaderIdempotencyKey, "stop-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return response{status: resp.StatusCode, header: resp.Header}
	}
	if r := stop(); r.status != http.StatusOK {
		t.Fatalf("stop: %d", r.status)
	}
	if r := stop(); r.status != http.StatusOK || r.header.Get(HeaderIdempotentReplay) != "true" {
		t.Fatalf("repeated stop: %d %v", r.status, r.header)
	}
	if n := len(e.engine.sched.signals); n != 4 {
		t.Fatalf("%d signals after a stop and its repeat", n)
	}
	// Once the driver has ended nothing applies, and the detail comes from
	// the mirror: the row's counts and the runs linked to the backfill.
	e.engine.sched.mu.Lock()
	e.engine.sched.closed = map[string]bool{bf.ID: true}
	e.engine.sched.mu.Unlock()
	e.mustFail(http.StatusConflict, CodeBackfillClosed, "POST", "/api/v1/backfills/"+bf.ID+"/retry", e.operator, nil)
	ctx := context.Background()
	for i, r := range []struct {
		id, date, status string
	}{{bf.ID + "-0-1", "2026-01-01", "failed"}, {bf.ID + "-0-2", "2026-01-01", "success"}, {bf.ID + "-1-1", "2026-01-02", "running"}} {
		if err := e.store.CreateRun(ctx, &models.Run{ID: r.id, Kind: "flow", DefinitionID: "etl", Status: r.status,
			Trigger: "backfill", Bizdate: r.date, BackfillID: bf.ID}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := e.store.UpdateBackfillProgress(ctx, bf.ID, models.BackfillCounts{Status: "stopped", Total: 30, Done: 1, Running: 1, Waiting: 28}); err != nil {
		t.Fatal(err)
	}
	got = backfillView{}
	e.must(http.StatusOK, "GET", "/api/v1/backfills/"+bf.ID, e.viewer, nil, &got)
	if got.Live || got.Status != "stopped" || len(got.Dates) != 30 ||
		got.Dates[0].RunID != bf.ID+"-0-2" || got.Dates[0].Attempt != 2 || got.Dates[0].Status != "success" ||
		got.Dates[1].Status != "running" || got.Dates[2].Status != "waiting" || got.Dates[2].RunID != "" {
		t.Fatalf("mirror detail %+v", got)
	}
	ae = e.mustFail(http.StatusConflict, CodeBackfillClosed, "POST", "/api/v1/backfills/"+bf.ID+"/pause", e.operator, nil)
	if !strings.Contains(ae.Error.Message, "has ended (stopped)") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/backfills/nope", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/backfills/nope/stop", e.operator, nil)
}

func TestBackfillListAndRefusedStart(t *testing.T) {
	e := newEnv(t)
	seedBackfillFlow(t, e)
	body := func(kind, id string) map[string]any {
		return map[string]any{"kind": kind, "definition_id": id, "from": "2026-01-01", "to": "2026-01-03"}
	}
	e.must(http.StatusCreated, "POST", "/api/v1/backfills", e.operator, body("flow", "etl"), nil)
	e.must(http.StatusCreated, "POST", "/api/v1/backfills", e.operator, body("task", "load"), nil)
	e.engine.sched.mu.Lock()
	e.engine.sched.startErr = errors.New("temporal unreachable")
	e.engine.sched.mu.Unlock()
	ae := e.mustFail(http.StatusBadGateway, CodeEngineUnavailable, "POST", "/api/v1/backfills", e.operator, body("flow", "etl"))
	var d map[string]string
	if err := json.Unmarshal(ae.Error.Details, &d); err != nil || d["backfill_id"] == "" {
		t.Fatalf("details %s", ae.Error.Details)
	}
	var got backfillView
	e.must(http.StatusOK, "GET", "/api/v1/backfills/"+d["backfill_id"], e.viewer, nil, &got)
	if got.Status != "failed" || got.Live || len(got.Dates) != 3 || got.Dates[0].Status != "waiting" {
		t.Fatalf("refused backfill %+v", got)
	}
	var l listResp[backfillView]
	e.must(http.StatusOK, "GET", "/api/v1/backfills?definition=etl", e.viewer, nil, &l)
	if l.Total != 2 || len(l.Items) != 2 || l.Items[0].Dates != nil {
		t.Fatalf("list %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/backfills?limit=1", e.viewer, nil, &l)
	if l.Total != 3 || len(l.Items) != 1 {
		t.Fatalf("page %+v", l)
	}
}
