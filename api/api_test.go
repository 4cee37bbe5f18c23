package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-sched/baton/api/apitest"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// fakeEngine records what it was asked to start; err makes it fail.
type fakeEngine struct {
	mu     sync.Mutex
	inputs []workflows.RunInput
	err    error
	// sched records schedule syncs and fakes backfill drivers
	// (triggers_test.go).
	sched schedFake
}

func (e *fakeEngine) StartRun(_ context.Context, in workflows.RunInput) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return "", e.err
	}
	e.inputs = append(e.inputs, in)
	return "temporal-" + in.RunID, nil
}

func (e *fakeEngine) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err = err
}

func (e *fakeEngine) started() []workflows.RunInput {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]workflows.RunInput(nil), e.inputs...)
}

// fixedNow is 20:00 UTC: already the next day in Asia/Shanghai, which the
// bizdate default must notice.
var fixedNow = time.Date(2024, 3, 10, 20, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	store  *models.Store
	srv    *Server
	engine *fakeEngine
	url    string
	// Plaintext tokens by role; the token names equal the roles.
	admin, operator, viewer string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { return fixedNow }})
}

// startEnv serves the API over a fresh SQLite store with one token per
// role. o.Engine defaults to fe, which the env keeps for assertions.
func startEnv(t *testing.T, fe *fakeEngine, o Options) *env {
	t.Helper()
	ctx := context.Background()
	st, err := models.Open(ctx, "sqlite:"+t.TempDir()+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, engine: fe}
	for _, role := range []string{RoleAdmin, RoleOperator, RoleViewer} {
		plain, _, err := st.CreateToken(ctx, role, role)
		if err != nil {
			t.Fatal(err)
		}
		switch role {
		case RoleAdmin:
			e.admin = plain
		case RoleOperator:
			e.operator = plain
		case RoleViewer:
			e.viewer = plain
		}
	}
	o.Store = st
	if o.Engine == nil {
		o.Engine = fe
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.srv = New(o)
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends body (a string is sent verbatim, anything else as JSON) with the
// token, and returns the whole answer.
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	return e.send(method, path, token, body, nil)
}

// send is do with extra request headers (set last, so they may override).
func (e *env) send(method, path, token string, body any, hdr map[string]string) response {
	e.t.Helper()
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		sent = []byte(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		sent = data
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(sent)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	apitest.Exchange(e.t, openAPIChecker, req, sent, resp, data)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// must is do that fails the test unless the status is want, decoding the
// answer into out when out is not nil.
func (e *env) must(want int, method, path, token string, body, out any) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

type apiError struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// mustFail checks the status and the error envelope, returning the error.
func (e *env) mustFail(want int, code, method, path, token string, body any) apiError {
	e.t.Helper()
	var ae apiError
	r := e.must(want, method, path, token, body, &ae)
	if ae.Error.Code != code {
		e.t.Fatalf("%s %s: code %q, want %q; body %s", method, path, ae.Error.Code, code, r.body)
	}
	if ae.Error.Message == "" {
		e.t.Fatalf("%s %s: empty error message; body %s", method, path, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	return ae
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	var body map[string]string
	e.must(http.StatusOK, "GET", "/healthz", "", nil, &body)
	if body["status"] != "ok" {
		t.Fatalf("healthz body %v", body)
	}
	_ = e.store.Close()
	e.mustFail(http.StatusServiceUnavailable, CodeServiceUnavailable, "GET", "/healthz", "", nil)
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.url+"/healthz", nil)
	req.Header.Set("X-Request-ID", "trace-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "trace-42" {
		t.Fatalf("echoed request id %q", got)
	}
	r := e.do("GET", "/healthz", "", nil)
	if len(r.header.Get("X-Request-ID")) < 32 {
		t.Fatalf("generated request id %q", r.header.Get("X-Request-ID"))
	}
	// A header that could forge log lines is replaced, not echoed.
	req.Header.Set("X-Request-ID", "a b")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "a b" || got == "" {
		t.Fatalf("unsafe request id echoed as %q", got)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	e.mustFail(http.StatusUnauthorized, CodeUnauthorized, "GET", "/api/v1/tasks", "", nil)
	e.mustFail(http.StatusUnauthorized, CodeUnauthorized, "GET", "/api/v1/tasks", "not-a-token", nil)
	e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, nil)
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/tasks", e.viewer, sleepTask("t", "1s"))
	e.mustFail(http.StatusForbidden, CodeForbidden, "DELETE", "/api/v1/tasks/x", e.viewer, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, sleepTask("t", "1s"), nil)

	// Token management is the admin's alone, reading included.
	e.mustFail(http.StatusForbidden, CodeForbidden, "GET", "/api/v1/tokens", e.operator, nil)
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/tokens", e.operator, map[string]string{"name": "x", "role": "admin"})

	var tok struct {
		ID    uint64 `json:"id"`
		Name  string `json:"name"`
		Role  string `json:"role"`
		Token string `json:"token"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "ci", "role": "viewer"}, &tok)
	if tok.Token == "" || tok.Role != "viewer" || tok.Name != "ci" {
		t.Fatalf("created token %+v", tok)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs", tok.Token, nil, nil)

	var toks struct {
		Items []map[string]any `json:"items"`
		Total int64            `json:"total"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/tokens", e.admin, nil, &toks)
	if toks.Total != 4 {
		t.Fatalf("tokens total %d, want 4", toks.Total)
	}
	for _, it := range toks.Items {
		for k := range it {
			if k == "token" || k == "hash" {
				t.Fatalf("token list leaks %q: %v", k, it)
			}
		}
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "x", "role": "root"})
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "DELETE", "/api/v1/tokens/abc", e.admin, nil)

	e.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+itoa(tok.ID), e.admin, nil, nil)
	e.mustFail(http.StatusUnauthorized, CodeUnauthorized, "GET", "/api/v1/runs", tok.Token, nil)
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestNotFoundShape(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/v1/tasks/nope", "/api/v1/flows/nope", "/api/v1/runs/nope",
		"/api/v1/tasks/nope/versions", "/api/v1/tasks/nope/versions/1", "/api/v1/instances/nope/log",
		"/api/v1/runs/nope/instances", "/api/v1/no-such-route"} {
		e.mustFail(http.StatusNotFound, CodeNotFound, "GET", p, e.viewer, nil)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "PUT", "/api/v1/tasks/nope", e.operator, sleepTask("x", "1s"))
	e.mustFail(http.StatusNotFound, CodeNotFound, "DELETE", "/api/v1/flows/nope", e.operator, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/tasks/nope/runs", e.operator, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/flows/nope/enable", e.operator, nil)
	e.mustFail(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "PATCH", "/api/v1/tasks", e.operator, nil)
}

func sleepTask(name, d string) map[string]any {
	return map[string]any{"name": name, "kind": "sleep", "sleep": map[string]any{"duration": d}}
}

type taskResp struct {
	ID        string                     `json:"id"`
	Name      string                     `json:"name"`
	Kind      string                     `json:"kind"`
	Group     string                     `json:"group"`
	Version   int                        `json:"version"`
	Enabled   bool                       `json:"enabled"`
	CreatedBy string                     `json:"created_by"`
	UpdatedBy string                     `json:"updated_by"`
	CreatedAt *time.Time                 `json:"created_at"`
	UpdatedAt *time.Time                 `json:"updated_at"`
	Shell     *struct{ Script string }   `json:"shell"`
	Sleep     *struct{ Duration string } `json:"sleep"`
	Params    map[string]string          `json:"params"`
	Trigger   *struct {
		Type     string `json:"type"`
		Timezone string `json:"timezone"`
	} `json:"trigger"`
}

type listResp[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

func TestTaskCRUDAndVersions(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"id": "extract", "name": "抽取", "kind": "shell",
		"shell": map[string]any{"script": "echo one"}, "params": map[string]string{"a": "1"}}
	var got taskResp
	r := e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, body, &got)
	if got.ID != "extract" || got.Version != 1 || !got.Enabled || got.CreatedBy != "operator" ||
		got.Name != "抽取" || got.Kind != "shell" || got.Shell == nil || got.Shell.Script != "echo one" ||
		got.CreatedAt == nil || got.UpdatedAt == nil {
		t.Fatalf("created %s", r.body)
	}
	// The id is the resource's, not part of the stored definition.
	if strings.Contains(string(r.body), `"id":"extract","id"`) {
		t.Fatalf("duplicate id in %s", r.body)
	}
	e.mustFail(http.StatusConflict, CodeConflict, "POST", "/api/v1/tasks", e.operator, body)

	// What GET returns can be edited and sent back as is.
	var cur map[string]any
	e.must(http.StatusOK, "GET", "/api/v1/tasks/extract", e.viewer, nil, &cur)
	cur["shell"] = map[string]any{"script": "echo two"}
	e.must(http.StatusOK, "PUT", "/api/v1/tasks/extract", e.admin, cur, &got)
	if got.Version != 2 || got.Shell.Script != "echo two" || got.UpdatedBy != "admin" || got.CreatedBy != "operator" {
		t.Fatalf("updated %+v", got)
	}
	e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "PUT", "/api/v1/tasks/extract", e.admin,
		map[string]any{"id": "other", "name": "x", "kind": "noop"})

	var vers listResp[struct {
		Version   int        `json:"version"`
		CreatedBy string     `json:"created_by"`
		CreatedAt *time.Time `json:"created_at"`
		Task      taskResp   `json:"task"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/tasks/extract/versions", e.viewer, nil, &vers)
	if vers.Total != 2 || len(vers.Items) != 2 || vers.Items[0].Version != 2 || vers.Items[1].Version != 1 ||
		vers.Items[1].Task.Shell.Script != "echo one" || vers.Items[1].CreatedBy != "operator" || vers.Items[1].CreatedAt == nil {
		t.Fatalf("versions %+v", vers)
	}
	var v1 struct {
		Version int      `json:"version"`
		Task    taskResp `json:"task"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/tasks/extract/versions/1", e.viewer, nil, &v1)
	if v1.Version != 1 || v1.Task.Shell.Script != "echo one" {
		t.Fatalf("version 1 %+v", v1)
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/tasks/extract/versions/x", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/tasks/extract/versions/3", e.viewer, nil)

	e.must(http.StatusOK, "POST", "/api/v1/tasks/extract/disable", e.operator, nil, &got)
	if got.Enabled || got.Version != 2 {
		t.Fatalf("disabled %+v", got)
	}
	e.must(http.StatusOK, "POST", "/api/v1/tasks/extract/enable", e.operator, nil, &got)
	if !got.Enabled {
		t.Fatalf("enabled %+v", got)
	}

	// Without an id one is generated; the group defaults for the listing.
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, sleepTask("nap", "1s"), &got)
	if len(got.ID) != 36 {
		t.Fatalf("generated id %q", got.ID)
	}
	var tl listResp[struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Group       string `json:"group"`
		TriggerType string `json:"trigger_type"`
		Version     int    `json:"version"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/tasks?limit=1", e.viewer, nil, &tl)
	if tl.Total != 2 || len(tl.Items) != 1 || tl.Limit != 1 || tl.Offset != 0 {
		t.Fatalf("list %+v", tl)
	}
	e.must(http.StatusOK, "GET", "/api/v1/tasks?name=nap", e.viewer, nil, &tl)
	if tl.Total != 1 || tl.Items[0].Name != "nap" || tl.Items[0].Group != "default" || tl.Items[0].TriggerType != "manual" {
		t.Fatalf("filtered list %+v", tl)
	}

	// A run before the delete must stay listed after it.
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/tasks/extract/runs", e.operator, nil, &run)

	e.must(http.StatusNoContent, "DELETE", "/api/v1/tasks/extract", e.operator, nil, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/tasks/extract", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "DELETE", "/api/v1/tasks/extract", e.operator, nil)
	e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, &tl)
	if tl.Total != 1 || tl.Items[0].Name != "nap" {
		t.Fatalf("list after delete %+v", tl)
	}
	e.must(http.StatusOK, "GET", "/api/v1/tasks?include_deleted=true", e.viewer, nil, &tl)
	if tl.Total != 2 {
		t.Fatalf("list with deleted %+v", tl)
	}
	e.must(http.StatusOK, "GET", "/api/v1/tasks/extract/versions", e.viewer, nil, &vers)
	if vers.Total != 2 {
		t.Fatalf("versions after delete %+v", vers)
	}
	var runs listResp[runResp]
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition=extract", e.viewer, nil, &runs)
	if runs.Total != 1 || runs.Items[0].ID != run.ID {
		t.Fatalf("runs after delete %+v", runs)
	}
	// The id stays taken: reusing it would splice two histories.
	e.mustFail(http.StatusConflict, CodeConflict, "POST", "/api/v1/tasks", e.operator, body)
}

func TestValidationListsEveryProblem(t *testing.T) {
	e := newEnv(t)
	flow := map[string]any{
		"id":      "bad id!",
		"name":    "f",
		"trigger": map[string]any{"type": "cron", "cron": "* *", "timezone": "Mars/Base"},
		"nodes": []map[string]any{
			{"id": "a", "type": "task", "task": map[string]any{"kind": "shell"}},
			{"id": "b", "type": "task", "task_id": "missing-task"},
			{"id": "g", "type": "and"},
		},
		"edges": []map[string]any{{"from": "a", "to": "zz"}},
	}
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows", e.operator, flow)
	var problems []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(ae.Error.Details, &problems); err != nil {
		t.Fatalf("details %s: %v", ae.Error.Details, err)
	}
	paths := map[string]bool{}
	for _, p := range problems {
		paths[p.Path] = true
		if p.Message == "" {
			t.Fatalf("problem without message: %+v", p)
		}
	}
	for _, want := range []string{"id", "trigger.cron", "trigger.timezone", "nodes[0].task.shell", "nodes[1].task_id"} {
		if !paths[want] {
			t.Errorf("no problem at %q in %+v", want, problems)
		}
	}
	if len(problems) < 6 {
		t.Errorf("only %d problems: %+v", len(problems), problems)
	}
	var fl listResp[map[string]any]
	e.must(http.StatusOK, "GET", "/api/v1/flows?include_deleted=true", e.viewer, nil, &fl)
	if fl.Total != 0 {
		t.Fatalf("an invalid flow was saved: %+v", fl)
	}

	// validate answers the same without saving, and accepts a good flow.
	e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows/validate", e.operator, flow)
	var ok map[string]bool
	e.must(http.StatusOK, "POST", "/api/v1/flows/validate", e.operator, map[string]any{
		"name": "good", "nodes": []map[string]any{{"id": "a", "type": "task", "task": map[string]any{"kind": "noop"}}}}, &ok)
	if !ok["valid"] {
		t.Fatalf("validate said %v", ok)
	}
	e.must(http.StatusOK, "GET", "/api/v1/flows", e.viewer, nil, &fl)
	if fl.Total != 0 {
		t.Fatalf("validate saved a flow")
	}

	ae = e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.operator,
		map[string]any{"kind": "sleep", "mode": "sharding", "timeout": "soon"})
	if err := json.Unmarshal(ae.Error.Details, &problems); err != nil {
		t.Fatal(err)
	}
	paths = map[string]bool{}
	for _, p := range problems {
		paths[p.Path] = true
	}
	for _, want := range []string{"name", "sleep", "shards", "timeout"} {
		if !paths[want] {
			t.Errorf("task: no problem at %q in %+v", want, problems)
		}
	}
}

func TestBadJSON(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		body, want string
	}{
		{`{"name": "x", `, "unexpected end"},
		{`{"name": "x", "kind": "noop", "retyr": {}}`, `"retyr"`},
		{`{"name": "x", "kind": "noop", "shards": "four"}`, `"shards"`},
		{`{"name": "x"} {"name": "y"}`, "after"},
		{``, "empty"},
		{`[1]`, "must be an object"},
	}
	for _, c := range cases {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/tasks", e.operator, c.body)
		if !strings.Contains(ae.Error.Message, c.want) {
			t.Errorf("body %q: message %q lacks %q", c.body, ae.Error.Message, c.want)
		}
	}
	ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/flows", e.operator,
		`{"name": "f", "nodes": [{"id": "a", "type": "task", "retry": {"max_attempts": "3"}}]}`)
	if !strings.Contains(ae.Error.Message, "nodes.retry.max_attempts") {
		t.Errorf("nested field not named: %q", ae.Error.Message)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"limit=-1", "limit=abc", "offset=-5", "offset=1.5"} {
		for _, p := range []string{"/api/v1/tasks", "/api/v1/flows", "/api/v1/runs", "/api/v1/audit", "/api/v1/workers"} {
			ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", p+"?"+q, e.admin, nil)
			name, _, _ := strings.Cut(q, "=")
			if !strings.Contains(ae.Error.Message, name) {
				t.Errorf("%s?%s: message %q does not name the parameter", p, q, ae.Error.Message)
			}
		}
	}
	var l listResp[map[string]any]
	e.must(http.StatusOK, "GET", "/api/v1/runs?limit=100000&offset=3", e.viewer, nil, &l)
	if l.Limit != 500 || l.Offset != 3 || l.Items == nil {
		t.Fatalf("clamped page %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs", e.viewer, nil, &l)
	if l.Limit != 50 || l.Offset != 0 {
		t.Fatalf("default page %+v", l)
	}
}

var errEngineDown = errors.New("temporal frontend unreachable")

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	big := `{"name": "x", "kind": "noop", "description": "` + strings.Repeat("a", maxBody) + `"}`
	e.mustFail(http.StatusRequestEntityTooLarge, CodeTooLarge, "POST", "/api/v1/tasks", e.operator, big)
	e.mustFail(http.StatusRequestEntityTooLarge, CodeTooLarge, "POST", "/api/v1/flows/validate", e.operator, big)
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	_ = e.store.Close()
	ae := e.mustFail(http.StatusInternalServerError, CodeInternal, "GET", "/api/v1/tasks", e.viewer, nil)
	if ae.Error.Message != "internal error" || len(ae.Error.Details) != 0 {
		t.Fatalf("internal error shows %+v", ae.Error)
	}
}

// TestLargeFlow saves and runs a 10,000-node flow whose nodes reference a
// few tasks, the size design §4 requires.
func TestLargeFlow(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"t0", "t1", "t2"} {
		e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": id, "name": id, "kind": "noop"}, nil)
	}
	const n = 10000
	nodes := make([]map[string]any, n)
	edges := make([]map[string]any, 0, n)
	for i := range nodes {
		nodes[i] = map[string]any{"id": "n" + itoa(uint64(i)), "type": "task", "task_id": "t" + itoa(uint64(i%3))}
		if i > 0 {
			edges = append(edges, map[string]any{"from": "n" + itoa(uint64(i/2)), "to": "n" + itoa(uint64(i))})
		}
	}
	flow := map[string]any{"id": "big", "name": "big", "nodes": nodes, "edges": edges}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, flow, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows/big/runs", e.operator, nil, nil)
	in := e.engine.started()[0]
	if len(in.Flow.Nodes) != n || len(in.Flow.Edges) != n-1 {
		t.Fatalf("snapshot has %d nodes, %d edges", len(in.Flow.Nodes), len(in.Flow.Edges))
	}
	for _, nd := range in.Flow.Nodes {
		if nd.Task == nil || nd.Task.Kind != "noop" || nd.Task.Name != nd.TaskID {
			t.Fatalf("node %s not resolved: %+v", nd.ID, nd)
		}
	}
}
