package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Each test here is bad input a new user tried, once answered wrongly.

// TestTimeoutPlusGraceOverflow: the sum of a task's timeout and grace
// period wrapped time.Duration negative, and every run of it wedged.
func TestTimeoutPlusGraceOverflow(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		timeout, grace, path string
	}{{"106751d", "1d", "timeout"}, {"36500d", "", "grace"}, {"1h", "106751d", "grace"}} {
		task := sleepTask("long", "1s")
		task["timeout"], task["grace"] = c.timeout, c.grace
		ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.operator, task)
		if !strings.Contains(string(ae.Error.Details), `"path":"`+c.path+`"`) || !strings.Contains(ae.Error.Message, "36500d") {
			t.Errorf("timeout %s grace %s: %s %s", c.timeout, c.grace, ae.Error.Message, ae.Error.Details)
		}
	}
	flow := map[string]any{"name": "f", "nodes": []map[string]any{{"id": "a", "type": "task", "timeout": "36500d",
		"task": map[string]any{"kind": "noop", "grace": "1h"}}}}
	e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows", e.operator, flow)
	var l listResp[map[string]any]
	if e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, &l); l.Total != 0 {
		t.Fatalf("%d tasks saved", l.Total)
	}
}

// randomText is incompressible, as a generated script or embedded data is.
func randomText(t *testing.T, n int) string {
	t.Helper()
	raw := make([]byte, n*3/4)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// TestDefinitionTooLargeToRun: a 3 MB definition was saved, then every run
// of it failed with 502 "Blob data size exceeds limit".
func TestDefinitionTooLargeToRun(t *testing.T) {
	e := newEnv(t)
	script := randomText(t, 3<<20)
	big := map[string]any{"id": "big", "name": "big", "kind": "shell", "shell": map[string]any{"script": script}}
	ae := e.mustFail(http.StatusBadRequest, CodeRunInputTooLarge, "POST", "/api/v1/tasks", e.operator, big)
	if !strings.Contains(ae.Error.Message, "Temporal takes at most") {
		t.Fatalf("message %q", ae.Error.Message)
	}
	flow := map[string]any{"id": "bigflow", "name": "bigflow", "nodes": []map[string]any{{"id": "a", "type": "task",
		"task": map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}}}}
	e.mustFail(http.StatusBadRequest, CodeRunInputTooLarge, "POST", "/api/v1/flows", e.operator, flow)
	e.mustFail(http.StatusBadRequest, CodeRunInputTooLarge, "POST", "/api/v1/flows/validate", e.operator, flow)

	// What compresses under the limit is runnable, so it is kept.
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "rep", "name": "rep", "kind": "shell",
		"shell": map[string]any{"script": strings.Repeat("echo same line\n", 200_000)}}, nil)
	// An update that makes it unrunnable is refused and leaves version 1.
	delete(big, "id")
	e.mustFail(http.StatusBadRequest, CodeRunInputTooLarge, "PUT", "/api/v1/tasks/rep", e.operator, big)
	var got taskResp
	if e.must(http.StatusOK, "GET", "/api/v1/tasks/rep", e.viewer, nil, &got); got.Version != 1 {
		t.Fatalf("version %d after a refused update", got.Version)
	}
	// Params can make a run too large too: refused before the run exists.
	e.mustFail(http.StatusBadRequest, CodeRunInputTooLarge, "POST", "/api/v1/tasks/rep/runs", e.operator,
		map[string]any{"params": map[string]string{"blob": randomText(t, 3<<20)}})
	var runs listResp[runResp]
	if e.must(http.StatusOK, "GET", "/api/v1/runs", e.viewer, nil, &runs); runs.Total != 0 || len(e.engine.started()) != 0 {
		t.Fatalf("%d runs recorded, %d started", runs.Total, len(e.engine.started()))
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tasks/rep/runs", e.operator, nil, nil)
}

// TestRunParamsAreValidated: run once and rerun took params definitions
// would refuse: empty keys, NUL bytes, 10,000-character keys.
func TestRunParamsAreValidated(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	parent := ce.startOps("failed", "a:success+", "b:failed+")
	before := len(ce.eng.started())
	for _, params := range []map[string]string{
		{"": "x"}, {"a\x00b": "x"}, {strings.Repeat("k", 10_000): "v"}, {"ok": "a\x00b"}, {"with space": "v"},
	} {
		for _, path := range []string{"/api/v1/flows/ops/runs", "/api/v1/runs/" + parent + "/rerun"} {
			ae := ce.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", path, ce.operator, map[string]any{"params": params})
			var details []struct{ Path, Message string }
			if err := json.Unmarshal(ae.Error.Details, &details); err != nil || len(details) != 1 || details[0].Path != "params" ||
				len(ae.Error.Message) > 400 {
				t.Errorf("%s %q: %s %s (%v)", path, params, ae.Error.Message, ae.Error.Details, err)
			}
		}
	}
	if n := len(ce.eng.started()); n != before {
		t.Fatalf("%d runs started with bad params", n-before)
	}
	ce.must(http.StatusCreated, "POST", "/api/v1/runs/"+parent+"/rerun", ce.operator, map[string]any{"params": map[string]string{"region": "us"}}, nil)
}

// TestCronPreviewStaysInTheScheduleRange: n=1000 listed fire times in
// 2101-2199, years the compiled schedule never fires.
func TestCronPreviewStaysInTheScheduleRange(t *testing.T) {
	e := newEnv(t)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/cron/preview?expr=0+0+0+1+1+%3F&n=1000", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/cron/preview?expr=0+0+0+1+1+%3F&n=101", e.viewer, nil)
	var got previewView
	e.must(http.StatusOK, "GET", "/api/v1/cron/preview?expr=0+0+0+1+1+%3F&n=100", e.viewer, nil, &got)
	if len(got.Next) != 2100-fixedNow.Year() || !strings.HasPrefix(got.Next[len(got.Next)-1], "2100-01-01") {
		t.Fatalf("%d fire times, the last %v", len(got.Next), got.Next[len(got.Next)-1:])
	}
}

// TestJSONTypeErrorsSpeakJSON: a body of the wrong type was answered with
// a Go struct type.
func TestJSONTypeErrorsSpeakJSON(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		path, body, want string
	}{
		{"/api/v1/tasks", `{"name": 5, "kind": "noop"}`, `field "name" must be a string, got a number`},
		{"/api/v1/tasks", `{"name": "x", "kind": "noop", "params": ["a"]}`, `field "params" must be an object of strings, got an array`},
		{"/api/v1/tasks", `{"name": "x", "kind": "noop", "retry": "3"}`, `field "retry" must be an object, got a string`},
		{"/api/v1/tasks", `{"name": "x", "kind": "noop", "shards": 1.5}`, `field "shards" must be an integer, got number 1.5`},
		{"/api/v1/tasks", `[1]`, `the body must be an object, got an array`},
		{"/api/v1/flows", `{"name": "f", "nodes": {}}`, `field "nodes" must be an array, got an object`},
		{"/api/v1/flows", `{"name": "f", "fail_fast": "yes", "nodes": []}`, `field "fail_fast" must be true or false, got a string`},
		{"/api/v1/runs/batch/stop", `{"ids": "r1"}`, `field "ids" must be an array, got a string`},
		{"/api/v1/tokens", `{"name": ["a"], "role": "viewer"}`, `field "name" must be a string, got an array`},
	} {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", c.path, e.admin, c.body)
		if !strings.Contains(ae.Error.Message, c.want) || strings.Contains(ae.Error.Message, "dag.") ||
			strings.Contains(ae.Error.Message, "[]") || strings.Contains(ae.Error.Message, "map[") {
			t.Errorf("%s %s: message %q, want %q", c.path, c.body, ae.Error.Message, c.want)
		}
	}
}
