package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// problemPaths decodes an invalid_definition error's problems' paths.
func problemPaths(t *testing.T, ae apiError) []string {
	t.Helper()
	var problems []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(ae.Error.Details, &problems); err != nil {
		t.Fatalf("details %s: %v", ae.Error.Details, err)
	}
	var out []string
	for _, p := range problems {
		if p.Message == "" {
			t.Fatalf("problem without a message: %+v", p)
		}
		out = append(out, p.Path)
	}
	return out
}

// TestAlertRulesOnDefinitions: a flow's and a task's alert rules are saved
// and read back as given, and bad rules are refused with the path of each
// problem, nothing saved.
func TestAlertRulesOnDefinitions(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"oncall", "mail", "c"} {
		e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, map[string]any{"name": name, "kind": "email",
			"email": map[string]any{"host": "smtp.example.com", "from": "baton@example.com", "to": []string{"oncall@example.com"}}}, nil)
	}
	rules := []map[string]any{
		{"events": []string{"run_failed", "node_failed", "recovered"}, "channels": []string{"oncall"}},
		{"events": []string{"sla_miss"}, "channels": []string{"oncall", "mail"}, "sla": map[string]any{"at": "06:30", "tz": "Asia/Shanghai"}},
	}
	flow := map[string]any{"name": "settle", "alerts": rules,
		"nodes": []map[string]any{{"id": "a", "type": "task", "task": map[string]any{"kind": "noop"}}}}
	var saved struct {
		ID     string           `json:"id"`
		Alerts []map[string]any `json:"alerts"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, flow, &saved)
	var got struct {
		Alerts []map[string]any `json:"alerts"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/flows/"+saved.ID, e.viewer, nil, &got)
	want, _ := json.Marshal(rules)
	have, _ := json.Marshal(got.Alerts)
	var w, h any
	_ = json.Unmarshal(want, &w)
	_ = json.Unmarshal(have, &h)
	if !reflect.DeepEqual(w, h) {
		t.Fatalf("alerts read back as %s, saved %s", have, want)
	}

	bad := map[string]any{"name": "bad", "alerts": []map[string]any{
		{"events": []string{"run_exploded"}, "channels": []string{"oncall"}},
		{"events": []string{"sla_miss"}, "channels": []string{}},
		{"events": []string{"sla_miss"}, "channels": []string{"c"}, "sla": map[string]any{"at": "25:00", "tz": "Mars/Base"}},
		{"events": []string{"run_failed"}, "channels": []string{"c"}, "sla": map[string]any{"after": "1h"}},
		{"events": []string{"sla_miss"}, "channels": []string{"c"}, "sla": map[string]any{"at": "06:00", "after": "1h"}},
	}, "nodes": []map[string]any{{"id": "a", "type": "task", "task": map[string]any{"kind": "noop"}}}}
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows", e.operator, bad)
	wantPaths := []string{"alerts[0].events[0]", "alerts[1].channels", "alerts[1].sla",
		"alerts[2].sla.at", "alerts[2].sla.tz", "alerts[3].sla", "alerts[4].sla"}
	if got := problemPaths(t, ae); !reflect.DeepEqual(got, wantPaths) {
		t.Errorf("flow problems at %v, want %v", got, wantPaths)
	}

	task := sleepTask("t", "1s")
	task["alerts"] = []map[string]any{{"events": []string{"sla_miss"}, "channels": []string{"c"}, "sla": map[string]any{"after": "0s"}}}
	ae = e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.operator, task)
	if got := problemPaths(t, ae); !reflect.DeepEqual(got, []string{"alerts[0].sla.after"}) {
		t.Errorf("task problems at %v", got)
	}
	task["alerts"] = []map[string]any{{"events": []string{"sla_miss", "run_timeout"}, "channels": []string{"c"}, "sla": map[string]any{"after": "90m"}}}
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, task, nil)

	var fl listResp[map[string]any]
	e.must(http.StatusOK, "GET", "/api/v1/flows", e.viewer, nil, &fl)
	if fl.Total != 1 {
		t.Fatalf("%d flows saved, want the good one only", fl.Total)
	}
}
