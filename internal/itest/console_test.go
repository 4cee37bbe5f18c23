package itest

import (
	"strings"
	"testing"
)

// The console's run routes answer a real failed run in the shapes the
// OpenAPI document gives them: every exchange goes through the checker.
func TestConsoleRunRoutesOnAFailedRun(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	run := runFailingFlow(t, s, "console", "echo boom; exit 3")
	if run.Status != "failed" {
		t.Fatalf("status %q, want failed", run.Status)
	}
	base := "/api/v1/runs/" + run.ID

	var topo struct {
		View  string `json:"view"`
		Nodes []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"nodes"`
		Edges [][3]string `json:"edges"`
	}
	if code := call(t, s.api.URL, "GET", base+"?view=topology&live=true", nil, &topo); code != 200 || topo.View != "topology" || len(topo.Nodes) != 3 || len(topo.Edges) == 0 {
		t.Errorf("topology: %d %+v", code, topo)
	}

	var loc struct {
		State  string `json:"state"`
		Failed *struct {
			ID      string   `json:"id"`
			LogTail []string `json:"log_tail"`
		} `json:"failed"`
	}
	if code := call(t, s.api.URL, "GET", base+"/locate?lines=5", nil, &loc); code != 200 || loc.State != "failed" || loc.Failed == nil ||
		loc.Failed.ID != "a" || !strings.Contains(strings.Join(loc.Failed.LogTail, "\n"), "boom") {
		t.Errorf("locate: %d %+v", code, loc)
	}

	var lin struct {
		Downstream []struct{ ID string } `json:"downstream"`
	}
	if code := call(t, s.api.URL, "GET", base+"/nodes/a/lineage?depth=0&direction=down", nil, &lin); code != 200 || len(lin.Downstream) != 2 {
		t.Errorf("lineage: %d %+v", code, lin)
	}

	var hist struct {
		Items []struct {
			RunID      string `json:"run_id"`
			DurationMS *int64 `json:"duration_ms"`
		} `json:"items"`
	}
	if code := call(t, s.api.URL, "GET", base+"/nodes/a/history?limit=5", nil, &hist); code != 200 || len(hist.Items) != 1 ||
		hist.Items[0].RunID != run.ID || hist.Items[0].DurationMS == nil {
		t.Errorf("history: %d %+v", code, hist)
	}

	var gantt struct {
		Items []struct {
			Node   string `json:"node"`
			Status string `json:"status"`
		} `json:"items"`
	}
	if code := call(t, s.api.URL, "GET", base+"/gantt", nil, &gantt); code != 200 || len(gantt.Items) != 1 || gantt.Items[0].Node != "a" {
		t.Errorf("gantt: %d %+v", code, gantt)
	}

	var me struct{ Role string }
	if code := call(t, s.api.URL, "GET", "/api/v1/me", nil, &me); code != 200 || me.Role == "" {
		t.Errorf("me: %d %+v", code, me)
	}
}
