package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// errNoControl is what the plain fakeEngine of the other API tests answers
// to control calls: they never make any.
var errNoControl = errors.New("fake engine: control not scripted")

func (e *fakeEngine) State(context.Context, string) (control.View, error) {
	return control.View{}, errNoControl
}

func (e *fakeEngine) Control(context.Context, string, control.Request) (workflows.ControlResult, error) {
	return workflows.ControlResult{}, errNoControl
}

func (e *fakeEngine) FindResetPoint(context.Context, string, string) (engine.ResetPoint, error) {
	return engine.ResetPoint{}, errNoControl
}

func (e *fakeEngine) Reset(context.Context, string, engine.ResetPoint, string, string) (string, error) {
	return "", errNoControl
}

// ctlEngine is a scripted engine for the control routes: a live view per
// run, the workflow's dedupe on request ids, and a log of what it was asked.
type ctlEngine struct {
	*fakeEngine
	mu         sync.Mutex
	views      map[string]control.View
	results    map[string]workflows.ControlResult
	calls      []control.Request
	controlErr error             // the next Control fails with it
	refuse     *control.Conflict // Control refuses with it
	gate       chan struct{}     // when set, Control waits for it to close
	point      engine.ResetPoint
	pointErr   error
	resets     []string // request ids of the resets
}

func newCtlEngine() *ctlEngine {
	return &ctlEngine{fakeEngine: &fakeEngine{}, views: map[string]control.View{}, results: map[string]workflows.ControlResult{}}
}

func (e *ctlEngine) setView(runID string, v control.View) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.views[runID] = v
}

// script changes the engine's answers between requests.
func (e *ctlEngine) script(f func(e *ctlEngine)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

func (e *ctlEngine) resetRequests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.resets)
}

func (e *ctlEngine) requests() []control.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func (e *ctlEngine) State(_ context.Context, runID string) (control.View, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.views[runID]
	if !ok {
		return v, fmt.Errorf("query run %s: %w", runID, engine.ErrRunClosed)
	}
	v.Nodes = slices.Clone(v.Nodes)
	return v, nil
}

func (e *ctlEngine) Control(_ context.Context, runID string, req control.Request) (workflows.ControlResult, error) {
	e.mu.Lock()
	e.calls = append(e.calls, req)
	gate := e.gate
	if res, ok := e.results[req.ID]; ok && req.ID != "" {
		e.mu.Unlock()
		return res, nil
	}
	if err := e.controlErr; err != nil {
		e.controlErr = nil
		e.mu.Unlock()
		return workflows.ControlResult{}, err
	}
	res := workflows.ControlResult{State: "applied", Plan: control.Plan{Nodes: req.Nodes}}
	if req.Instance != "" {
		res.Plan.Instances = []string{req.Instance}
	}
	if e.refuse != nil {
		res = workflows.ControlResult{State: "refused", Conflict: e.refuse}
	} else if v, ok := e.views[runID]; ok {
		// Enough of the run's reaction for a repeat to be judged anew.
		switch req.Op {
		case status.OpStop:
			v.Status = string(status.RunStopped)
		case status.OpPause:
			v.Status = string(status.RunPaused)
		case status.OpResume:
			v.Status = string(status.RunRunning)
		}
		e.views[runID] = v
	}
	e.results[req.ID] = res
	e.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return res, nil
}

func (e *ctlEngine) FindResetPoint(_ context.Context, _, node string) (engine.ResetPoint, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pointErr != nil {
		return engine.ResetPoint{}, fmt.Errorf("rerun-from %s: %w", node, e.pointErr)
	}
	return e.point, nil
}

func (e *ctlEngine) Reset(_ context.Context, _ string, _ engine.ResetPoint, _, requestID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resets = append(e.resets, requestID)
	return fmt.Sprintf("temporal-reset-%d", len(e.resets)), nil
}

// ctlEnv is an API on the real clock (task versions are picked by time) with
// the scripted engine.
type ctlEnv struct {
	*env
	eng *ctlEngine
}

const testWindow = 36 * time.Hour

func newCtlEnv(t *testing.T) *ctlEnv {
	t.Helper()
	eng := newCtlEngine()
	e := startEnv(t, eng.fakeEngine, Options{Engine: eng, OperableWindow: testWindow})
	return &ctlEnv{env: e, eng: eng}
}

// seedOps stores task tb (with a rollback) and flow ops:
//
//	a → b → j(and) → d,  a → c → j;  a and b have rollbacks, b by reference.
func (ce *ctlEnv) seedOps() {
	ce.t.Helper()
	ce.must(http.StatusCreated, "POST", "/api/v1/tasks", ce.operator, map[string]any{
		"id": "tb", "name": "tb", "kind": "noop", "rollback": map[string]any{"kind": "shell", "shell": map[string]any{"script": "true"}}}, nil)
	ce.must(http.StatusCreated, "POST", "/api/v1/flows", ce.operator, map[string]any{
		"id": "ops", "name": "ops", "params": map[string]string{"region": "cn", "mode": "full"},
		"nodes": []map[string]any{
			{"id": "a", "type": "task", "task": map[string]any{"kind": "noop", "rollback": map[string]any{"kind": "shell", "shell": map[string]any{"script": "true"}}}},
			{"id": "b", "type": "task", "task_id": "tb"},
			{"id": "c", "type": "task", "task": map[string]any{"kind": "noop"}},
			{"id": "j", "type": "and"},
			{"id": "d", "type": "task", "task": map[string]any{"kind": "noop"}},
		},
		"edges": []map[string]any{
			{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "j"},
			{"from": "c", "to": "j"}, {"from": "j", "to": "d"},
		},
	}, nil)
}

// startOps starts a run of ops and sets its mirror and live status.
func (ce *ctlEnv) startOps(runStatus string, nodes ...string) string {
	ce.t.Helper()
	var run struct{ ID string }
	ce.must(http.StatusCreated, "POST", "/api/v1/flows/ops/runs", ce.operator, nil, &run)
	ce.setRun(run.ID, runStatus, nodes...)
	return run.ID
}

var ctlRev int64 = 1000

// setRun sets the run's status in the mirror and its live view; nodes are
// "id:status" with "+" appended for nodes that ran.
func (ce *ctlEnv) setRun(runID, runStatus string, nodes ...string) {
	ce.t.Helper()
	ctlRev++
	v := control.View{Status: runStatus}
	b := models.MirrorBatch{RunID: runID, Run: &models.RunUpdate{Status: runStatus, Rev: ctlRev}}
	for _, n := range nodes {
		id, st, _ := strings.Cut(n, ":")
		ran := strings.HasSuffix(st, "+")
		st = strings.TrimSuffix(st, "+")
		nv := control.NodeView{ID: id, Status: st, Ran: ran}
		if ran {
			nv.Attempts = 1
			nv.Instances = []control.InstanceView{{ID: runID + "." + id + ".0.1", Attempt: 1, Status: instanceOf(st)}}
		}
		v.Nodes = append(v.Nodes, nv)
		b.Nodes = append(b.Nodes, models.NodeUpdate{NodeID: id, Status: st, Rev: ctlRev, Attempts: nv.Attempts})
	}
	if err := ce.store.ApplyMirror(context.Background(), b); err != nil {
		ce.t.Fatal(err)
	}
	ce.eng.setView(runID, v)
}

func instanceOf(node string) string {
	switch node {
	case "dispatched", "waiting":
		return "waiting"
	case "running", "stopping":
		return "running"
	}
	return node
}

type opResp struct {
	Applied bool `json:"applied"`
	DryRun  bool `json:"dry_run"`
	Plan    struct {
		Nodes     []string `json:"nodes"`
		Instances []string `json:"instances"`
	} `json:"plan"`
	Run *struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"run"`
}

type offendingDetails struct {
	Offending []control.Offender `json:"offending"`
}

func TestControlRoutesCarryTheOperation(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	type tc struct {
		path     string // after /api/v1/runs/{id}
		body     any
		run      string
		nodes    []string
		op       status.Op
		reqNodes []string
		instance bool
	}
	cases := []tc{
		{path: "/stop", run: "running", nodes: []string{"a:running+"}, op: status.OpStop},
		{path: "/pause", run: "running", op: status.OpPause},
		{path: "/resume", run: "paused", op: status.OpResume},
		{path: "/retry", run: "failed", nodes: []string{"a:failed+"}, op: status.OpRetryFailed},
		{path: "/rollback", run: "failed", nodes: []string{"a:success+", "b:failed+"}, op: status.OpRollback},
		{path: "/abandon", run: "stopped", op: status.OpAbandon},
		{path: "/rerun-downstream", body: map[string]any{"nodes": []string{"c", "b"}}, run: "failed",
			nodes: []string{"a:success+", "b:failed+", "c:success+"}, op: status.OpRerunDownstream, reqNodes: []string{"c", "b"}},
		{path: "/nodes/b/stop", run: "running", nodes: []string{"b:running+"}, op: status.OpNodeStop, reqNodes: []string{"b"}},
		{path: "/nodes/b/pause", run: "running", nodes: []string{"b:waiting"}, op: status.OpNodePause, reqNodes: []string{"b"}},
		{path: "/nodes/b/resume", run: "running", nodes: []string{"b:paused"}, op: status.OpNodeResume, reqNodes: []string{"b"}},
		{path: "/nodes/b/retry", run: "failed", nodes: []string{"b:failed+"}, op: status.OpNodeRetry, reqNodes: []string{"b"}},
		{path: "/nodes/b/skip", run: "failed", nodes: []string{"b:failed+"}, op: status.OpNodeSkip, reqNodes: []string{"b"}},
		{path: "instance/stop", run: "running", nodes: []string{"b:running+"}, op: status.OpInstanceStop, instance: true},
		{path: "instance/rerun", run: "failed", nodes: []string{"b:failed+"}, op: status.OpInstanceRerun, instance: true},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.path, "/", "_"), func(t *testing.T) {
			ce.t = t
			id := ce.startOps(c.run, c.nodes...)
			path := "/api/v1/runs/" + id + c.path
			if c.instance {
				path = "/api/v1/instances/" + id + ".b.0.1/" + strings.TrimPrefix(c.path, "instance/")
			}
			body := c.body
			if body == nil {
				body = map[string]any{"reason": "because"}
			}
			before := len(ce.eng.requests())
			r := ce.send("POST", path, ce.operator, body, map[string]string{"X-Request-ID": "req-" + id})
			if r.status != http.StatusOK {
				t.Fatalf("POST %s: %d %s", path, r.status, r.body)
			}
			var got opResp
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if !got.Applied || got.Run == nil || got.Run.ID != id || got.Plan.Nodes == nil || got.Plan.Instances == nil {
				t.Fatalf("answer %s", r.body)
			}
			reqs := ce.eng.requests()
			if len(reqs) != before+1 {
				t.Fatalf("%d control calls, want 1", len(reqs)-before)
			}
			req := reqs[len(reqs)-1]
			if req.Op != c.op || !slices.Equal(req.Nodes, c.reqNodes) || req.ID != "req-"+id || req.Actor != RoleOperator {
				t.Fatalf("request %+v, want op %s nodes %v", req, c.op, c.reqNodes)
			}
			if c.body == nil && req.Reason != "because" {
				t.Fatalf("reason %q", req.Reason)
			}
			if c.instance && req.Instance != id+".b.0.1" {
				t.Fatalf("instance %q", req.Instance)
			}
		})
	}
	ce.t = t
	// A viewer may not operate.
	id := ce.startOps("running")
	ce.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/runs/"+id+"/stop", ce.viewer, nil)
	// Unknown fields are refused rather than ignored.
	ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/runs/"+id+"/stop", ce.operator, map[string]any{"reasn": "x"})
}

func TestControlRefusalsAnswer409WithOffenders(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running", "a:success+", "b:running+", "c:waiting", "j:waiting", "d:waiting")

	// rerun-downstream of running and waiting-never-ran nodes: the message
	// names each offender with its status, like DataWorks.
	ae := ce.mustFail(http.StatusConflict, control.CodeNodeNotEligible, "POST", "/api/v1/runs/"+id+"/rerun-downstream",
		ce.operator, map[string]any{"nodes": []string{"a", "b", "j"}})
	var det offendingDetails
	if err := json.Unmarshal(ae.Error.Details, &det); err != nil {
		t.Fatal(err)
	}
	if len(det.Offending) != 2 || det.Offending[0] != (control.Offender{ID: "b", Status: "running"}) ||
		det.Offending[1].ID != "j" || !strings.Contains(ae.Error.Message, "b (running)") {
		t.Fatalf("offenders %+v, message %q", det.Offending, ae.Error.Message)
	}
	ae = ce.mustFail(http.StatusNotFound, control.CodeUnknownNode, "POST", "/api/v1/runs/"+id+"/nodes/zz/retry", ce.operator, nil)
	if err := json.Unmarshal(ae.Error.Details, &det); err != nil || len(det.Offending) != 1 || det.Offending[0].ID != "zz" {
		t.Fatalf("unknown node details %s", ae.Error.Details)
	}
	ce.mustFail(http.StatusConflict, control.CodeNodeNotEligible, "POST", "/api/v1/runs/"+id+"/nodes/a/skip", ce.operator, nil)
	ae = ce.mustFail(http.StatusConflict, control.CodeRunNotOperable, "POST", "/api/v1/runs/"+id+"/resume", ce.operator, nil)
	if !strings.Contains(ae.Error.Message, "running") || string(ae.Error.Details) != `{"offending":[]}` {
		t.Fatalf("run_not_operable: %q %s", ae.Error.Message, ae.Error.Details)
	}
	ce.mustFail(http.StatusNotFound, control.CodeUnknownInstance, "POST", "/api/v1/instances/"+id+".zz.0.1/stop", ce.operator, nil)
	ce.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/runs/nope/stop", ce.operator, nil)
	ce.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/instances/nope.a.0.1/stop", ce.operator, nil)
	ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/runs/"+id+"/rerun-downstream", ce.operator, map[string]any{"nodes": []string{}})
	if n := len(ce.eng.requests()); n != 0 {
		t.Fatalf("refused requests reached the engine %d times", n)
	}

	// The run may refuse what the API allowed: its state moved on.
	ce.eng.script(func(e *ctlEngine) {
		e.refuse = &control.Conflict{Code: control.CodeNodeNotEligible, Message: "the selection contains nodes not eligible to node-stop: b (success)",
			Offending: []control.Offender{{ID: "b", Status: "success"}}}
	})
	ae = ce.mustFail(http.StatusConflict, control.CodeNodeNotEligible, "POST", "/api/v1/runs/"+id+"/nodes/b/stop", ce.operator, nil)
	if !strings.Contains(ae.Error.Message, "b (success)") {
		t.Fatalf("refusal message %q", ae.Error.Message)
	}
	ce.eng.script(func(e *ctlEngine) {
		e.refuse = &control.Conflict{Code: "worker_gone", Message: "instance x is a broadcast instance of worker w, which is no longer alive"}
	})
	ce.setRun(id, "failed", "b:failed+")
	ce.mustFail(http.StatusConflict, "worker_gone", "POST", "/api/v1/instances/"+id+".b.0.1/rerun", ce.operator, nil)
	ce.eng.script(func(e *ctlEngine) { e.refuse = nil })

	// Closed runs: by the mirror, or by the engine when the window ended.
	closed := ce.startOps("success", "a:success+")
	ae = ce.mustFail(http.StatusConflict, CodeRunClosed, "POST", "/api/v1/runs/"+closed+"/retry", ce.operator, nil)
	if !strings.Contains(ae.Error.Message, "success") || string(ae.Error.Details) != `{"status":"success"}` {
		t.Fatalf("run_closed: %q %s", ae.Error.Message, ae.Error.Details)
	}
	gone := ce.startOps("failed", "a:failed+")
	ce.eng.script(func(e *ctlEngine) { delete(e.views, gone) })
	ae = ce.mustFail(http.StatusConflict, CodeRunClosed, "POST", "/api/v1/runs/"+gone+"/retry", ce.operator, nil)
	if !strings.Contains(ae.Error.Message, "failed") {
		t.Fatalf("run_closed by the engine: %q", ae.Error.Message)
	}
	// An engine failure is a 502 and is not mistaken for a refusal.
	ce.eng.script(func(e *ctlEngine) { e.controlErr = errors.New("connection refused") })
	ce.mustFail(http.StatusBadGateway, CodeEngineUnavailable, "POST", "/api/v1/runs/"+id+"/retry", ce.operator, nil)
}

func TestControlDryRunTouchesNothing(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("failed", "a:success+", "b:failed+", "c:success+", "j:skipped", "d:skipped")
	// A later edit of referenced task tb drops its rollback; the run still
	// has the version it started with.
	ce.must(http.StatusOK, "PUT", "/api/v1/tasks/tb", ce.operator, map[string]any{"name": "tb", "kind": "noop"}, nil)

	var got opResp
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/rerun-downstream?dry_run=true", ce.operator,
		map[string]any{"nodes": []string{"d", "c", "b"}}, &got)
	if !got.DryRun || got.Applied || !slices.Equal(got.Plan.Nodes, []string{"b", "c", "d"}) || got.Run != nil {
		t.Fatalf("rerun-downstream plan %+v", got)
	}
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/rollback?dry_run=true", ce.operator, nil, &got)
	// Reverse topological order, back to the root; c has no rollback.
	if !slices.Equal(got.Plan.Nodes, []string{"b", "a"}) {
		t.Fatalf("rollback plan %v", got.Plan.Nodes)
	}
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/retry?dry_run=true", ce.operator, nil, &got)
	if !slices.Equal(got.Plan.Nodes, []string{"b"}) {
		t.Fatalf("retry plan %v", got.Plan.Nodes)
	}
	ce.eng.script(func(e *ctlEngine) {
		e.point = engine.ResetPoint{TemporalRunID: "t1", EventID: 42, Reexecuted: []string{"b", "c"}}
	})
	var rf struct {
		DryRun     bool              `json:"dry_run"`
		ResetPoint engine.ResetPoint `json:"reset_point"`
		Nodes      []string          `json:"nodes"`
	}
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/nodes/b/rerun-from?dry_run=true", ce.operator, nil, &rf)
	if !rf.DryRun || rf.ResetPoint.EventID != 42 || !slices.Equal(rf.Nodes, []string{"b", "c"}) {
		t.Fatalf("rerun-from dry run %+v", rf)
	}
	ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/runs/"+id+"/retry?dry_run=maybe", ce.operator, nil)
	if n, resets := len(ce.eng.requests()), len(ce.eng.resetRequests()); n != 0 || resets != 0 {
		t.Fatalf("dry runs reached the engine: %d controls, %d resets", n, resets)
	}
}

func TestBatchOperationsAnswerPerRun(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	running := ce.startOps("running", "a:running+")
	closed := ce.startOps("success", "a:success+")
	failed := ce.startOps("failed", "a:failed+")
	var got struct {
		DryRun  bool `json:"dry_run"`
		Results []struct {
			ID     string    `json:"id"`
			OK     bool      `json:"ok"`
			Status string    `json:"status"`
			Plan   *planView `json:"plan"`
			Error  *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	ids := []string{running, closed, "nope", failed}
	ce.must(http.StatusOK, "POST", "/api/v1/runs/batch/stop?dry_run=true", ce.operator, map[string]any{"ids": ids}, &got)
	if !got.DryRun || len(got.Results) != 4 || !got.Results[0].OK || got.Results[0].Plan == nil ||
		!slices.Equal(got.Results[0].Plan.Nodes, []string{"a"}) || len(ce.eng.requests()) != 0 {
		t.Fatalf("dry run %+v", got)
	}
	r := ce.send("POST", "/api/v1/runs/batch/stop", ce.operator, map[string]any{"ids": ids}, map[string]string{HeaderIdempotencyKey: "batch-1"})
	if r.status != http.StatusOK {
		t.Fatalf("batch stop: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, code string
	}{{running, ""}, {closed, CodeRunClosed}, {"nope", CodeNotFound}, {failed, control.CodeRunNotOperable}}
	for i, w := range want {
		res := got.Results[i]
		if res.ID != w.id || res.OK != (w.code == "") || (w.code != "" && (res.Error == nil || res.Error.Code != w.code || res.Error.Message == "")) {
			t.Fatalf("result %d: %+v, want %+v", i, res, w)
		}
	}
	if got.Results[1].Status != "" || got.Results[0].Status == "" {
		t.Fatalf("statuses: %+v", got.Results)
	}
	reqs := ce.eng.requests()
	if len(reqs) != 1 || reqs[0].ID != "batch-1/"+running || reqs[0].Op != status.OpStop {
		t.Fatalf("engine got %+v", reqs)
	}
	// Retry of the failed one.
	ce.must(http.StatusOK, "POST", "/api/v1/runs/batch/retry", ce.operator, map[string]any{"ids": []string{failed}}, &got)
	if len(got.Results) != 1 || !got.Results[0].OK {
		t.Fatalf("batch retry %+v", got)
	}
	ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/runs/batch/stop", ce.operator, map[string]any{"ids": []string{}})
	if k := batchKey(strings.Repeat("k", 64), running); len(k) > 64 || k == batchKey(strings.Repeat("k", 64), failed) {
		t.Fatalf("batch key %q", k)
	}
}

func TestIdempotencyKeyReplaysTheFirstAnswer(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running", "a:running+")
	key := map[string]string{HeaderIdempotencyKey: "stop-1"}
	first := ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.operator, map[string]any{"reason": "r"}, key)
	if first.status != http.StatusOK || first.header.Get(HeaderIdempotentReplay) != "" {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.operator, map[string]any{"reason": "r"}, key)
	if again.status != http.StatusOK || !bytes.Equal(again.body, first.body) || again.header.Get(HeaderIdempotentReplay) != "true" {
		t.Fatalf("repeat: %d %q replay=%q\nfirst %s", again.status, again.body, again.header.Get(HeaderIdempotentReplay), first.body)
	}
	if reqs := ce.eng.requests(); len(reqs) != 1 || reqs[0].ID != "stop-1" {
		t.Fatalf("engine got %+v", reqs)
	}
	// Without a key, the second stop is judged anew: the run is stopped.
	ce.mustFail(http.StatusConflict, control.CodeRunNotOperable, "POST", "/api/v1/runs/"+id+"/stop", ce.operator, nil)

	// The key on another path, or with another body, is a client bug.
	r := ce.send("POST", "/api/v1/runs/"+id+"/pause", ce.operator, map[string]any{"reason": "r"}, key)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), CodeIdempotencyKeyReused) {
		t.Fatalf("reuse on another path: %d %s", r.status, r.body)
	}
	r = ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.operator, map[string]any{"reason": "other"}, key)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reuse with another body: %d %s", r.status, r.body)
	}
	// Keys belong to the actor: the admin's "stop-1" is another key.
	r = ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.admin, map[string]any{"reason": "r"}, key)
	if r.status != http.StatusConflict || r.header.Get(HeaderIdempotentReplay) != "" {
		t.Fatalf("another actor: %d %s", r.status, r.body)
	}
	// Refusals are answers too, replayed as such.
	r2 := ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.admin, map[string]any{"reason": "r"}, key)
	if r2.status != http.StatusConflict || !bytes.Equal(r.body, r2.body) || r2.header.Get(HeaderIdempotentReplay) != "true" {
		t.Fatalf("replayed refusal: %d %s", r2.status, r2.body)
	}
	if r := ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.operator, nil, map[string]string{HeaderIdempotencyKey: "has space"}); r.status != http.StatusBadRequest {
		t.Fatalf("bad key: %d", r.status)
	}
	// GETs ignore the header.
	if r := ce.send("GET", "/api/v1/runs/"+id, ce.operator, nil, key); r.status != http.StatusOK {
		t.Fatalf("GET with a key: %d", r.status)
	}
	// Token creation is exempt: its answer holds a secret never stored.
	tokKey := map[string]string{HeaderIdempotencyKey: "token-1"}
	t1 := ce.send("POST", "/api/v1/tokens", ce.admin, map[string]any{"name": "ci", "role": RoleViewer}, tokKey)
	t2 := ce.send("POST", "/api/v1/tokens", ce.admin, map[string]any{"name": "ci-2", "role": RoleViewer}, tokKey)
	if t1.status != http.StatusCreated || t2.status != http.StatusCreated || bytes.Equal(t1.body, t2.body) || t2.header.Get(HeaderIdempotentReplay) != "" {
		t.Fatalf("tokens: %d %s / %d %s", t1.status, t1.body, t2.status, t2.body)
	}
	// Reserving the key again finds no row: no token answer was kept.
	if kept, err := ce.store.ReserveIdempotencyKey(context.Background(),
		&models.IdempotencyKey{Actor: RoleAdmin, Key: "token-1", Owner: "test"}); kept != nil || err != nil {
		t.Fatalf("a token answer was kept: %+v %v", kept, err)
	}
	// Definitions and run once are covered too: one run for two calls.
	runKey := map[string]string{HeaderIdempotencyKey: "run-once-1"}
	a := ce.send("POST", "/api/v1/flows/ops/runs", ce.operator, map[string]any{"bizdate": "2026-01-02"}, runKey)
	b := ce.send("POST", "/api/v1/flows/ops/runs", ce.operator, map[string]any{"bizdate": "2026-01-02"}, runKey)
	if a.status != http.StatusCreated || b.status != http.StatusCreated || !bytes.Equal(a.body, b.body) {
		t.Fatalf("run once twice: %d %d", a.status, b.status)
	}
	var list struct{ Total int }
	ce.must(http.StatusOK, "GET", "/api/v1/runs?bizdate_from=2026-01-02&bizdate_to=2026-01-02", ce.operator, nil, &list)
	if list.Total != 1 {
		t.Fatalf("%d runs for one keyed run once", list.Total)
	}
}

func TestIdempotencyServerErrorsAreNotKept(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running", "a:running+")
	key := map[string]string{HeaderIdempotencyKey: "k-502"}
	ce.eng.script(func(e *ctlEngine) { e.controlErr = errors.New("connection refused") })
	if r := ce.send("POST", "/api/v1/runs/"+id+"/pause", ce.operator, nil, key); r.status != http.StatusBadGateway {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := ce.send("POST", "/api/v1/runs/"+id+"/pause", ce.operator, nil, key)
	if r.status != http.StatusOK || r.header.Get(HeaderIdempotentReplay) != "" {
		t.Fatalf("retry after the failure: %d %s", r.status, r.body)
	}
}

func TestIdempotencyConcurrentRepeatWaitsForTheFirst(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running", "a:running+")
	gate := make(chan struct{})
	ce.eng.script(func(e *ctlEngine) { e.gate = gate })
	key := map[string]string{HeaderIdempotencyKey: "pause-1"}
	answers := make(chan response, 2)
	go func() { answers <- ce.send("POST", "/api/v1/runs/"+id+"/pause", ce.operator, nil, key) }()
	// The first holds the key once the engine has it.
	deadline := time.Now().Add(10 * time.Second)
	for len(ce.eng.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached the engine")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() { answers <- ce.send("POST", "/api/v1/runs/"+id+"/pause", ce.operator, nil, key) }()
	time.Sleep(100 * time.Millisecond) // let the repeat find the key taken
	close(gate)
	a, b := <-answers, <-answers
	if a.status != http.StatusOK || b.status != http.StatusOK || !bytes.Equal(a.body, b.body) {
		t.Fatalf("answers %d %s / %d %s", a.status, a.body, b.status, b.body)
	}
	if replays := a.header.Get(HeaderIdempotentReplay) + b.header.Get(HeaderIdempotentReplay); replays != "true" {
		t.Fatalf("want exactly one replay, got %q", replays)
	}
	if n := len(ce.eng.requests()); n != 1 {
		t.Fatalf("engine called %d times", n)
	}

	// A first request that outlasts the wait leaves the repeat with 409.
	saved := idempotencyWait
	idempotencyWait = 200 * time.Millisecond
	t.Cleanup(func() { idempotencyWait = saved })
	gate = make(chan struct{})
	ce.eng.script(func(e *ctlEngine) { e.gate = gate })
	slow := map[string]string{HeaderIdempotencyKey: "resume-1"}
	go func() { answers <- ce.send("POST", "/api/v1/runs/"+id+"/resume", ce.operator, nil, slow) }()
	for len(ce.eng.requests()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	r := ce.send("POST", "/api/v1/runs/"+id+"/resume", ce.operator, nil, slow)
	close(gate)
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), CodeIdempotencyInProgress) {
		t.Fatalf("in progress: %d %s", r.status, r.body)
	}
	if first := <-answers; first.status != http.StatusOK {
		t.Fatalf("slow first: %d %s", first.status, first.body)
	}
}

type rerunResp struct {
	ID          string            `json:"id"`
	Trigger     string            `json:"trigger"`
	ParentRunID string            `json:"parent_run_id"`
	Version     int               `json:"version"`
	Params      map[string]string `json:"params"`
	Executions  []struct {
		TemporalRunID string   `json:"temporal_run_id"`
		Reason        string   `json:"reason"`
		Node          string   `json:"node"`
		Reexecuted    []string `json:"reexecuted"`
		Actor         string   `json:"actor"`
		RequestID     string   `json:"request_id"`
	} `json:"executions"`
	TemporalRunID string `json:"temporal_run_id"`
	Status        string `json:"status"`
	Live          bool   `json:"live"`
	Nodes         []struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		FinishedAt *time.Time `json:"finished_at"`
		Instances  []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"instances"`
	} `json:"nodes"`
}

func TestRerunStartsANewRunOfTheSameVersion(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	parent := ce.startOps("failed", "a:failed+")
	// Version 2 of the flow must not reach the rerun of a version 1 run.
	ce.must(http.StatusOK, "PUT", "/api/v1/flows/ops", ce.operator, map[string]any{"name": "ops",
		"nodes": []map[string]any{{"id": "z", "type": "task", "task": map[string]any{"kind": "noop"}}}, "edges": []any{}}, nil)
	var got rerunResp
	ce.must(http.StatusCreated, "POST", "/api/v1/runs/"+parent+"/rerun", ce.operator,
		map[string]any{"params": map[string]string{"mode": "delta"}}, &got)
	if got.ID == parent || got.Trigger != "rerun" || got.ParentRunID != parent || got.Version != 1 ||
		got.Params["mode"] != "delta" || got.Params["region"] != "cn" {
		t.Fatalf("rerun %+v", got)
	}
	ins := ce.eng.started()
	in := ins[len(ins)-1]
	if in.RunID != got.ID || in.Trigger != "rerun" || in.Version != 1 || len(in.Flow.Nodes) != 5 ||
		in.Params["mode"] != "delta" || in.OperableWindow != "36h0m0s" {
		t.Fatalf("started %+v", in)
	}
	// Referenced tasks are inlined, as run once does.
	for _, n := range in.Flow.Nodes {
		if n.ID == "b" && (n.Task == nil || n.Task.Rollback == nil) {
			t.Fatalf("node b not resolved: %+v", n)
		}
	}
	if len(got.Executions) != 1 || got.Executions[0].Reason != "start" || got.Executions[0].TemporalRunID != "temporal-"+got.ID {
		t.Fatalf("executions %+v", got.Executions)
	}
	// Only a finished run is rerun.
	running := ce.startOps("running")
	ce.mustFail(http.StatusConflict, control.CodeRunNotOperable, "POST", "/api/v1/runs/"+running+"/rerun", ce.operator, nil)
	ce.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/runs/nope/rerun", ce.operator, nil)
	ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/runs/"+parent+"/rerun", ce.operator, map[string]any{"params": "x"})
}

func TestRerunFromRecordsTheExecution(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	// Rerun-from works on closed runs too.
	id := ce.startOps("success", "a:success+", "b:success+", "c:success+", "j:success", "d:success+")
	ce.eng.script(func(e *ctlEngine) {
		e.point = engine.ResetPoint{TemporalRunID: "temporal-" + id, EventID: 17, Reexecuted: []string{"b", "d"}}
	})
	var got struct {
		Applied       bool              `json:"applied"`
		ResetPoint    engine.ResetPoint `json:"reset_point"`
		Nodes         []string          `json:"nodes"`
		TemporalRunID string            `json:"temporal_run_id"`
		Run           rerunResp         `json:"run"`
	}
	r := ce.send("POST", "/api/v1/runs/"+id+"/nodes/b/rerun-from", ce.operator, map[string]any{"reason": "bad data"},
		map[string]string{HeaderIdempotencyKey: "rf-1"})
	if r.status != http.StatusOK {
		t.Fatalf("rerun-from: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Applied || got.TemporalRunID != "temporal-reset-1" || got.Run.TemporalRunID != "temporal-reset-1" ||
		!slices.Equal(got.Nodes, []string{"b", "d"}) || got.ResetPoint.EventID != 17 {
		t.Fatalf("answer %s", r.body)
	}
	ex := got.Run.Executions
	if len(ex) != 2 || ex[0].Reason != "start" || ex[1].Reason != "rerun-from" || ex[1].Node != "b" ||
		!slices.Equal(ex[1].Reexecuted, []string{"b", "d"}) || ex[1].RequestID != "rf-1" || ex[1].Actor != RoleOperator {
		t.Fatalf("executions %+v", ex)
	}
	again := ce.send("POST", "/api/v1/runs/"+id+"/nodes/b/rerun-from", ce.operator, map[string]any{"reason": "bad data"},
		map[string]string{HeaderIdempotencyKey: "rf-1"})
	if !bytes.Equal(again.body, r.body) || len(ce.eng.resetRequests()) != 1 || ce.eng.resetRequests()[0] != "rf-1" {
		t.Fatalf("repeat reset: %d resets", len(ce.eng.resetRequests()))
	}
	ce.mustFail(http.StatusNotFound, control.CodeUnknownNode, "POST", "/api/v1/runs/"+id+"/nodes/zz/rerun-from", ce.operator, nil)
	ce.mustFail(http.StatusConflict, control.CodeNodeNotEligible, "POST", "/api/v1/runs/"+id+"/nodes/j/rerun-from", ce.operator, nil)
	ce.eng.script(func(e *ctlEngine) { e.pointErr = serviceerror.NewNotFound("workflow not found") })
	ce.mustFail(http.StatusConflict, CodeNodeNeverDispatched, "POST", "/api/v1/runs/"+id+"/nodes/d/rerun-from", ce.operator, nil)
	ce.eng.script(func(e *ctlEngine) { e.pointErr = engine.ErrNeverDispatched })
	ae := ce.mustFail(http.StatusConflict, CodeNodeNeverDispatched, "POST", "/api/v1/runs/"+id+"/nodes/d/rerun-from", ce.operator, nil)
	// The run was reset from b above: d is not "never" dispatched, the
	// reset execution has not reached it yet.
	if !strings.Contains(ae.Error.Message, "node d has not been dispatched yet") || !strings.Contains(ae.Error.Message, "rerun from b") {
		t.Fatalf("message %q", ae.Error.Message)
	}
}

func TestRunDetailHidesStaleFinishAndOverlaysLive(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running")
	done := time.Now().UTC().Add(-time.Minute)
	ctlRev++
	// The mirror after a retry: b dispatched again, the old finish time kept.
	if err := ce.store.ApplyMirror(context.Background(), models.MirrorBatch{RunID: id, Nodes: []models.NodeUpdate{
		{NodeID: "a", Status: "success", Rev: ctlRev, FinishedAt: &done},
		{NodeID: "b", Status: "dispatched", Rev: ctlRev, Attempts: 2, FinishedAt: &done},
	}}); err != nil {
		t.Fatal(err)
	}
	var got rerunResp
	ce.must(http.StatusOK, "GET", "/api/v1/runs/"+id, ce.viewer, nil, &got)
	for _, n := range got.Nodes {
		if (n.ID == "a") != (n.FinishedAt != nil) {
			t.Fatalf("node %s finished_at %v", n.ID, n.FinishedAt)
		}
	}
	if got.Live {
		t.Fatal("live without asking")
	}
	ce.eng.setView(id, control.View{Status: "running", Nodes: []control.NodeView{
		{ID: "a", Status: "success", Ran: true}, {ID: "b", Status: "success", Ran: true, Attempts: 2,
			Instances: []control.InstanceView{{ID: id + ".b.0.2", Attempt: 2, Status: "success"}}}}})
	ce.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"?live=true", ce.viewer, nil, &got)
	if !got.Live {
		t.Fatal("not live")
	}
	for _, n := range got.Nodes {
		if n.ID == "b" && (n.Status != "success" || len(n.Instances) != 1 || n.Instances[0].Status != "success") {
			t.Fatalf("live b %+v", n)
		}
	}
	// A run the engine no longer has is answered from the mirror.
	ce.eng.script(func(e *ctlEngine) { delete(e.views, id) })
	var fromMirror rerunResp
	ce.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"?live=true", ce.viewer, nil, &fromMirror)
	if fromMirror.Live {
		t.Fatal("live without an engine answer")
	}
}
