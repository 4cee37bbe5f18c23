package itest

import (
	"testing"
	"time"
)

// threeNodeFlow is the foundation slice: a→b, a→c, shell tasks, with an
// output of a flowing into b as a param.
func threeNodeFlow(name string) map[string]any {
	shell := func(script string) map[string]any {
		return map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}
	}
	return map[string]any{
		"name": name,
		"nodes": []map[string]any{
			{"id": "a", "type": "task", "task": shell(`echo "a on $BATON_BIZDATE"; echo "greeting=hello-$BATON_NODE_ID" >> "$BATON_OUTPUTS"`)},
			{"id": "b", "type": "task", "task": shell(`echo "b got $BATON_PARAM_GREETING"; test "$BATON_PARAM_GREETING" = hello-a`)},
			{"id": "c", "type": "task", "task": shell(`echo c; test "$BATON_PARAM_REGION" = cn`)},
		},
		"edges": []map[string]any{
			{"from": "a", "to": "b", "on": "success"},
			{"from": "a", "to": "c"},
		},
		"params": map[string]string{"region": "cn"},
	}
}

func TestSliceThreeNodeFlowRunsToSuccess(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		var flow struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		if code := call(t, s.api.URL, "POST", "/api/v1/flows", threeNodeFlow("slice"), &flow); code != 201 {
			t.Fatalf("create flow: %d", code)
		}
		var run runView
		if code := call(t, s.api.URL, "POST", "/api/v1/flows/"+flow.ID+"/runs", map[string]any{"bizdate": "2026-11-21"}, &run); code != 201 {
			t.Fatalf("start run: %d", code)
		}
		got := waitRun(t, s.api.URL, run.ID, 60*time.Second)
		if got.Status != "success" {
			t.Fatalf("run status %q, want success: %+v", got.Status, got)
		}
		if got.Bizdate != "2026-11-21" || got.Trigger != "manual" || got.StartedAt == nil || got.FinishedAt == nil {
			t.Errorf("run fields: %+v", got)
		}
		if len(got.Nodes) != 3 {
			t.Fatalf("want 3 nodes, got %d", len(got.Nodes))
		}
		for _, n := range got.Nodes {
			if n.Status != "success" || len(n.Instances) != 1 || n.Instances[0].Status != "success" || n.Instances[0].WorkerID != "itest-1" {
				t.Errorf("node %s: %+v", n.ID, n)
			}
			if n.ID == "a" && n.Outputs["greeting"] != "hello-a" {
				t.Errorf("node a outputs %v", n.Outputs)
			}
		}
		// The log of a's instance holds what the script printed.
		var a = got.Nodes[0]
		for _, n := range got.Nodes {
			if n.ID == "a" {
				a = n
			}
		}
		text := getText(t, s.api.URL, "/api/v1/instances/"+a.Instances[0].ID+"/log")
		if want := "a on 2026-11-21"; !contains(text, want) {
			t.Errorf("log of a = %q, want it to contain %q", text, want)
		}
		// The run is listed.
		var list struct {
			Items []runView `json:"items"`
			Total int       `json:"total"`
		}
		if code := call(t, s.api.URL, "GET", "/api/v1/runs?definition="+flow.ID, nil, &list); code != 200 || list.Total != 1 {
			t.Errorf("list runs: %d %+v", code, list)
		}
	})
}

// runFailingFlow runs threeNodeFlow with node a running script instead,
// and waits for the run to end.
func runFailingFlow(t *testing.T, s *stack, name, script string) runView {
	t.Helper()
	flow := threeNodeFlow(name)
	flow["nodes"].([]map[string]any)[0]["task"] = map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}
	var f struct{ ID string }
	if code := call(t, s.api.URL, "POST", "/api/v1/flows", flow, &f); code != 201 {
		t.Fatalf("create: %d", code)
	}
	var run runView
	if code := call(t, s.api.URL, "POST", "/api/v1/flows/"+f.ID+"/runs", nil, &run); code != 201 {
		t.Fatalf("run: %d", code)
	}
	return waitRun(t, s.api.URL, run.ID, 60*time.Second)
}

func TestFailedNodeFailsRunAndSkipsDownstream(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	got := runFailingFlow(t, s, "failing", "echo boom >&2; exit 3")
	if got.Status != "failed" {
		t.Fatalf("status %q, want failed", got.Status)
	}
	want := map[string]string{"a": "failed", "b": "skipped", "c": "skipped"}
	for _, n := range got.Nodes {
		if n.Status != want[n.ID] {
			t.Errorf("node %s = %s, want %s", n.ID, n.Status, want[n.ID])
		}
	}
}
