package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
)

type runPageResp struct {
	Items       []runResp `json:"items"`
	Total       int64     `json:"total"`
	TotalCapped bool      `json:"total_capped"`
	NextCursor  *string   `json:"next_cursor"`
	Limit       int       `json:"limit"`
}

func TestRunListCursorCapAndParams(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := fixedNow.Add(-48 * time.Hour)
	mk := func(id, def, st string, at time.Time) {
		t.Helper()
		if err := e.store.CreateRun(ctx, &models.Run{ID: id, Kind: "flow", DefinitionID: def, DefinitionName: "name-" + def,
			Group: "g", Status: st, Trigger: "cron", Bizdate: "2024-03-01", Initiator: "system", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 11 {
		def := "d1"
		if i%2 == 1 {
			def = "d2"
		}
		mk(fmt.Sprintf("r%02d", i), def, "success", base.Add(time.Duration(i/2)*time.Minute))
	}
	// Walk every page with the cursor while runs keep arriving.
	var seen []string
	q := "/api/v1/runs?limit=3"
	for page := 0; page < 10; page++ {
		var pg runPageResp
		e.must(http.StatusOK, "GET", q, e.viewer, nil, &pg)
		for _, r := range pg.Items {
			seen = append(seen, r.ID)
		}
		mk(fmt.Sprintf("new%d", page), "d1", "running", base.Add(time.Hour+time.Duration(page)*time.Minute))
		if pg.NextCursor == nil {
			break
		}
		q = "/api/v1/runs?limit=3&cursor=" + url.QueryEscape(*pg.NextCursor)
	}
	want := "r10 r09 r08 r07 r06 r05 r04 r03 r02 r01 r00"
	if got := strings.Join(seen, " "); got != want {
		t.Fatalf("cursor pages %s, want %s", got, want)
	}

	// definition_id is a filter of its own; the cursor keeps the filter's rows.
	var pg runPageResp
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition_id=d2&limit=2", e.viewer, nil, &pg)
	if len(pg.Items) != 2 || pg.Items[0].ID != "r09" || pg.Items[1].ID != "r07" || pg.Total != 5 || pg.NextCursor == nil {
		t.Fatalf("definition_id page %+v", pg)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition_id=d2&limit=2&cursor="+*pg.NextCursor, e.viewer, nil, &pg)
	if len(pg.Items) != 2 || pg.Items[0].ID != "r05" || pg.Items[1].ID != "r03" {
		t.Fatalf("definition_id page 2 %+v", pg)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition_id=name-d2", e.viewer, nil, &pg)
	if len(pg.Items) != 0 {
		t.Fatalf("definition_id matched a name: %+v", pg)
	}

	// The total is exact up to the cap, flagged beyond it.
	defer func(v int64) { runsTotalCap = v }(runsTotalCap)
	runsTotalCap = 5
	e.must(http.StatusOK, "GET", "/api/v1/runs?limit=2", e.viewer, nil, &pg)
	if pg.Total != 5 || !pg.TotalCapped || len(pg.Items) != 2 {
		t.Fatalf("capped total %+v", pg)
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/runs?definition_id=d2", e.viewer, nil, &pg)
	if pg.Total != 5 || pg.TotalCapped || !strings.Contains(string(r.body), `"total_capped":false`) || !strings.Contains(string(r.body), `"next_cursor":null`) {
		t.Fatalf("total at the cap: %s", r.body)
	}
	runsTotalCap = 3
	e.must(http.StatusOK, "GET", "/api/v1/runs?status=running", e.viewer, nil, &pg)
	if pg.Total != 3 || !pg.TotalCapped {
		t.Fatalf("capped filtered total %+v", pg)
	}
	runsTotalCap = 1000
	e.must(http.StatusOK, "GET", "/api/v1/runs?status=running", e.viewer, nil, &pg)
	if pg.Total != int64(len(seen)/3+1) || pg.TotalCapped {
		t.Fatalf("uncapped filtered total %+v", pg)
	}

	// Offset still pages.
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition_id=d2&offset=4", e.viewer, nil, &pg)
	if len(pg.Items) != 1 || pg.Items[0].ID != "r01" {
		t.Fatalf("offset page %+v", pg)
	}

	// Refused: unknown parameters (named), bad cursors, cursor with offset,
	// overlong values and NUL bytes; on the list and on its stats.
	for _, c := range []struct{ q, says string }{
		{"sort=created_at&q=x", `"q", "sort"`},
		{"definitionid=d1", `"definitionid"`},
		{"cursor=abc", "cursor"},
		{"cursor=" + *encodeCursor(&models.RunCursor{CreatedAt: base, ID: "r01"}) + "&offset=2", "cannot be combined"},
		{"definition=" + strings.Repeat("x", maxParamLen+1), "at most 256"},
		{"initiator=" + strings.Repeat("é", 25000), "at most 256"},
		{"definition=a%00b", "NUL"},
		{"group=%ff", "UTF-8"},
	} {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs?"+c.q, e.viewer, nil)
		if !strings.Contains(ae.Error.Message, c.says) {
			t.Errorf("?%.40s: message %q does not say %q", c.q, ae.Error.Message, c.says)
		}
	}
	for _, q := range []string{"sort=x", "limit=3", "cursor=x", "definition=" + strings.Repeat("y", 50000)} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/stats?"+q, e.viewer, nil)
	}
	// A value at the limit is a filter like any other.
	e.must(http.StatusOK, "GET", "/api/v1/runs?definition="+strings.Repeat("x", maxParamLen), e.viewer, nil, &pg)
	if len(pg.Items) != 0 {
		t.Fatalf("long filter matched %+v", pg)
	}

	var stats struct {
		Counts map[string]int64 `json:"counts"`
		Total  int64            `json:"total"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/stats?definition_id=d1", e.viewer, nil, &stats)
	if stats.Counts["success"] != 6 || stats.Counts["running"] != int64(len(seen)/3+1) || stats.Total != stats.Counts["success"]+stats.Counts["running"] {
		t.Fatalf("stats %+v", stats)
	}
	// The same query string as the list's filters (status included) works.
	e.must(http.StatusOK, "GET", "/api/v1/runs/stats?definition_id=d2&status=failed", e.viewer, nil, &stats)
	if stats.Counts["success"] != 5 || stats.Total != 5 {
		t.Fatalf("stats ignore status %+v", stats)
	}
}

// consoleFlow is a flow whose shape exercises the topology view:
//
//	extract -> load(core, sharding) -> both(and) -> report
//	extract -failure-> alert;  check -> both
func consoleFlow(t *testing.T, e *env) string {
	t.Helper()
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{
		"id": "loader", "name": "loader", "kind": "shell", "shell": map[string]any{"script": "echo load"},
		"group": "heavy", "mode": "sharding", "shards": 2, "trigger": map[string]any{"type": "flow"}}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, map[string]any{
		"id": "console", "name": "console", "group": "etl",
		"nodes": []map[string]any{
			{"id": "extract", "type": "task", "task": map[string]any{"kind": "noop"}},
			{"id": "check", "type": "task", "task": map[string]any{"kind": "sleep", "sleep": map[string]any{"duration": "1s"}}},
			{"id": "load", "type": "task", "task_id": "loader", "core": true},
			{"id": "both", "type": "and"},
			{"id": "report", "type": "task", "task": map[string]any{"kind": "noop"}},
			{"id": "alert", "type": "task", "task": map[string]any{"kind": "noop"}},
		},
		"edges": []map[string]any{
			{"from": "extract", "to": "load"}, {"from": "load", "to": "both"}, {"from": "check", "to": "both"},
			{"from": "both", "to": "report"}, {"from": "extract", "to": "alert", "on": "failure"},
		},
	}, nil)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/console/runs", e.operator, nil, &run)
	return run.ID
}

func TestRunTopologyView(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	ctx := context.Background()
	t0 := fixedNow.Add(time.Minute)
	t1 := t0.Add(time.Second)
	code := 0
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id,
		Run: &models.RunUpdate{Status: "running", Rev: 2, StartedAt: &t0},
		Nodes: []models.NodeUpdate{
			{NodeID: "extract", Status: "success", Attempts: 1, Rev: 2, StartedAt: &t0, FinishedAt: &t1},
			{NodeID: "load", Status: "running", Attempts: 1, Rev: 2, StartedAt: &t1},
		},
		Instances: []models.InstanceUpdate{
			{ID: id + ".extract.0.1", NodeID: "extract", Attempt: 1, WorkerID: "w1", Status: "success", ExitCode: &code, Rev: 2, DispatchedAt: &t0, StartedAt: &t0, FinishedAt: &t1},
			{ID: id + ".load.1.1", NodeID: "load", ShardIndex: 1, Attempt: 1, WorkerID: "w2", Status: "running", Rev: 2, DispatchedAt: &t1, StartedAt: &t1},
		},
		Transitions: []models.Transition{{Entity: "run", EntityID: id, FromStatus: "waiting", ToStatus: "running", Actor: "engine", At: t0},
			{Entity: "node", EntityID: "extract", FromStatus: "running", ToStatus: "success", Actor: "engine", At: t1}},
	}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID    string `json:"id"`
		View  string `json:"view"`
		Nodes []struct {
			ID, Type, Kind, Group, Mode, Status string
			TaskID                              string `json:"task_id"`
			Shards                              int
			Core                                bool
			Instances                           []struct {
				ID, Status   string
				WorkerID     string `json:"worker_id"`
				Shard        int
				DispatchedAt *time.Time `json:"dispatched_at"`
			}
		} `json:"nodes"`
		Edges       [][3]string       `json:"edges"`
		Transitions []json.RawMessage `json:"transitions"`
		Executions  []json.RawMessage `json:"executions"`
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"?view=topology", e.viewer, nil, &d)
	if d.ID != id || d.View != "topology" || len(d.Transitions) != 1 || len(d.Executions) != 1 {
		t.Fatalf("topology head %s", r.body)
	}
	var order []string
	for _, n := range d.Nodes {
		order = append(order, fmt.Sprintf("%s:%s:%s:%s:%s:%s:%d:%v", n.ID, n.Type, n.Kind, n.Group, n.Mode, n.Status, n.Shards, n.Core))
	}
	want := "extract:task:noop:etl:single:success:0:false check:task:sleep:etl:single:waiting:0:false " +
		"load:task:shell:heavy:sharding:running:2:true both:and::::waiting:0:false " +
		"report:task:noop:etl:single:waiting:0:false alert:task:noop:etl:single:waiting:0:false"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("nodes\n got %s\nwant %s", got, want)
	}
	if d.Nodes[2].TaskID != "loader" || len(d.Nodes[2].Instances) != 1 || d.Nodes[2].Instances[0].Shard != 1 ||
		d.Nodes[2].Instances[0].WorkerID != "w2" || d.Nodes[2].Instances[0].DispatchedAt == nil || !d.Nodes[2].Instances[0].DispatchedAt.Equal(t1) {
		t.Fatalf("load node %s", r.body)
	}
	// By source node in topological order, then as declared.
	wantEdges := `[["extract","load","success"],["extract","alert","failure"],["check","both","success"],["load","both","success"],["both","report","success"]]`
	if got, _ := json.Marshal(d.Edges); string(got) != wantEdges {
		t.Fatalf("edges %s, want %s", got, wantEdges)
	}
	// Compact: the nodes leave defaults and empty values out.
	body := string(r.body)
	nodes := body[strings.Index(body, `"nodes":`):strings.Index(body, `"edges":`)]
	for _, absent := range []string{`"forced"`, `"outputs"`, `"instances":[]`, `"finished_at":null`, `"message":""`, `"shards":0`, `"core":false`} {
		if strings.Contains(nodes, absent) {
			t.Errorf("topology nodes carry %s: %s", absent, nodes)
		}
	}
	// The full detail keeps its shape, with the dispatch time added.
	var full map[string]any
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id, e.viewer, nil, &full)
	if _, ok := full["view"]; ok || full["edges"] != nil || len(full["transitions"].([]any)) != 2 {
		t.Fatalf("default view changed: %v", full)
	}
	ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"?view=tree", e.viewer, nil)
	if !strings.Contains(ae.Error.Message, "view") {
		t.Fatalf("bad view message %q", ae.Error.Message)
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"?expand=all", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/nope?view=topology", e.viewer, nil)
}

type locateResp struct {
	State   string `json:"state"`
	Running []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Instances []struct {
			ID string `json:"id"`
		} `json:"instances"`
	} `json:"running"`
	Failed *struct {
		ID         string   `json:"id"`
		Error      string   `json:"error"`
		InstanceID string   `json:"instance_id"`
		LogTail    []string `json:"log_tail"`
		LogSize    int64    `json:"log_size"`
	} `json:"failed"`
}

func TestLocateRunningAndFailed(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	ctx := context.Background()
	apply := func(nodes []models.NodeUpdate, insts []models.InstanceUpdate) {
		t.Helper()
		if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id, Nodes: nodes, Instances: insts}); err != nil {
			t.Fatal(err)
		}
	}
	var loc locateResp
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/locate", e.viewer, nil, &loc)
	if loc.State != "idle" || len(loc.Running) != 0 || loc.Failed != nil {
		t.Fatalf("fresh run %+v", loc)
	}

	// check failed, load and extract run: the running nodes are the answer.
	apply([]models.NodeUpdate{{NodeID: "extract", Status: "success", Rev: 2}, {NodeID: "check", Status: "failed", Message: "check broke", Rev: 2},
		{NodeID: "load", Status: "running", Rev: 2}},
		[]models.InstanceUpdate{{ID: "i-load-0", NodeID: "load", Attempt: 1, Status: "success", Rev: 2},
			{ID: "i-load-1", NodeID: "load", ShardIndex: 1, Attempt: 1, Status: "running", Rev: 2}})
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/locate", e.viewer, nil, &loc)
	if loc.State != "running" || len(loc.Running) != 1 || loc.Running[0].ID != "load" || len(loc.Running[0].Instances) != 1 ||
		loc.Running[0].Instances[0].ID != "i-load-1" || loc.Failed != nil {
		t.Fatalf("running %+v", loc)
	}

	// Nothing runs: the first failed node in topological order, with the
	// tail of its failed instance's log. report is declared after check
	// but fails too; check comes first.
	apply([]models.NodeUpdate{{NodeID: "load", Status: "success", Rev: 3}, {NodeID: "report", Status: "failed", Message: "later", Rev: 3}},
		[]models.InstanceUpdate{{ID: "i-load-1", NodeID: "load", ShardIndex: 1, Attempt: 1, Status: "success", Rev: 3},
			{ID: "i-check-1", NodeID: "check", Attempt: 1, Status: "failed", Message: "exit 1", Rev: 3},
			{ID: "i-check-2", NodeID: "check", Attempt: 2, Status: "failed", Message: "exit 2", Rev: 3}})
	var log strings.Builder
	for i := range 30 {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	if err := e.store.AppendLog(ctx, "i-check-2", 0, 0, []byte(log.String())); err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/locate?lines=3", e.viewer, nil, &loc)
	if loc.State != "failed" || loc.Failed == nil || loc.Failed.ID != "check" || loc.Failed.Error != "check broke" ||
		loc.Failed.InstanceID != "i-check-2" || strings.Join(loc.Failed.LogTail, "|") != "line 27|line 28|line 29" ||
		loc.Failed.LogSize != int64(log.Len()) {
		t.Fatalf("failed %+v", loc.Failed)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/locate", e.viewer, nil, &loc)
	if len(loc.Failed.LogTail) != defaultTailLines || loc.Failed.LogTail[0] != "line 10" {
		t.Fatalf("default tail %v", loc.Failed.LogTail)
	}
	for _, q := range []string{"lines=-1", "lines=501", "tail=3"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"/locate?"+q, e.viewer, nil)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/nope/locate", e.viewer, nil)
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		cut  bool
		want string
	}{
		{"a\nb\nc\n", 2, false, "b|c"},
		{"a\r\nb", 5, false, "a|b"},
		{"tial\nb\nc", 5, true, "b|c"},
		{"partial", 5, true, "partial"},
		{"\n\n", 3, false, ""},
	} {
		if got := strings.Join(lastLines([]byte(c.in), c.n, c.cut), "|"); got != c.want {
			t.Errorf("lastLines(%q, %d, %v) = %q, want %q", c.in, c.n, c.cut, got, c.want)
		}
	}
}

func TestNodeLineage(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	if err := e.store.ApplyMirror(context.Background(), models.MirrorBatch{RunID: id,
		Nodes: []models.NodeUpdate{{NodeID: "extract", Status: "success", Rev: 2}, {NodeID: "load", Status: "failed", Rev: 2}}}); err != nil {
		t.Fatal(err)
	}
	type item struct {
		ID       string `json:"id"`
		Distance int    `json:"distance"`
		Status   string `json:"status"`
	}
	var l struct {
		Node       item        `json:"node"`
		Upstream   []item      `json:"upstream"`
		Downstream []item      `json:"downstream"`
		Edges      [][3]string `json:"edges"`
	}
	show := func(items []item) string {
		var out []string
		for _, i := range items {
			out = append(out, fmt.Sprintf("%s%d:%s", i.ID, i.Distance, i.Status))
		}
		return strings.Join(out, " ")
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/report/lineage?depth=2&direction=up", e.viewer, nil, &l)
	if l.Node.ID != "report" || show(l.Upstream) != "both1:waiting check2:waiting load2:failed" || len(l.Downstream) != 0 ||
		len(l.Edges) != 3 {
		t.Fatalf("report up 2: %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/report/lineage?depth=0&direction=up", e.viewer, nil, &l)
	if show(l.Upstream) != "both1:waiting check2:waiting load2:failed extract3:success" || len(l.Edges) != 4 {
		t.Fatalf("report up all: %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/load/lineage", e.viewer, nil, &l)
	if l.Node.Status != "failed" || show(l.Upstream) != "extract1:success" || show(l.Downstream) != "both1:waiting" {
		t.Fatalf("load both 1: %+v", l)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/extract/lineage?direction=down&depth=3", e.viewer, nil, &l)
	if show(l.Downstream) != "load1:failed alert1:waiting both2:waiting report3:waiting" || len(l.Upstream) != 0 {
		t.Fatalf("extract down 3: %+v", l)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/"+id+"/nodes/ghost/lineage", e.viewer, nil)
	for _, q := range []string{"direction=sideways", "depth=-1", "depth=1001", "depth=x", "level=2"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"/nodes/load/lineage?"+q, e.viewer, nil)
	}
}

func TestNodeDurationHistory(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	ctx := context.Background()
	// Earlier runs of the same flow, one an hour, and one of another
	// definition that has a node of the same name.
	base := fixedNow.Add(-24 * time.Hour)
	durations := []int{4, 1, 3, 10, 2, 5, 6} // seconds; the 10 s one failed
	for i, d := range durations {
		rid := fmt.Sprintf("past%d", i)
		def := "console"
		if i == 6 {
			def = "other"
		}
		if err := e.store.CreateRun(ctx, &models.Run{ID: rid, Kind: "flow", DefinitionID: def, Version: 1, Status: "success",
			Trigger: "cron", Bizdate: fmt.Sprintf("2024-03-0%d", i+1), CreatedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		st := base.Add(time.Duration(i) * time.Hour)
		fin := st.Add(time.Duration(d) * time.Second)
		ns := "success"
		if d == 10 {
			ns = "failed"
		}
		if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: rid, Nodes: []models.NodeUpdate{
			{NodeID: "load", Status: ns, Attempts: 1, Rev: 1, StartedAt: &st, FinishedAt: &fin}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The run asked about is still running its load.
	now := fixedNow.Add(time.Minute)
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id, Nodes: []models.NodeUpdate{
		{NodeID: "load", Status: "running", Attempts: 1, Rev: 2, StartedAt: &now}}}); err != nil {
		t.Fatal(err)
	}
	type resp struct {
		Items []struct {
			RunID      string `json:"run_id"`
			Bizdate    string `json:"bizdate"`
			Status     string `json:"status"`
			DurationMS *int64 `json:"duration_ms"`
		} `json:"items"`
		Samples int    `json:"samples"`
		P50MS   *int64 `json:"p50_ms"`
		P95MS   *int64 `json:"p95_ms"`
		Limit   int    `json:"limit"`
	}
	var h resp
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/load/history", e.viewer, nil, &h)
	var got []string
	for _, it := range h.Items {
		d := "-"
		if it.DurationMS != nil {
			d = fmt.Sprint(*it.DurationMS)
		}
		got = append(got, it.RunID+":"+it.Status+":"+d)
	}
	want := "" + id + ":running:- past5:success:5000 past4:success:2000 past3:failed:10000 past2:success:3000 past1:success:1000 past0:success:4000"
	if strings.Join(got, " ") != want {
		t.Fatalf("history\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// Successful durations 1,2,3,4,5 s: nearest rank p50 = 3 s, p95 = 5 s.
	if h.Limit != 30 || h.Samples != 5 || h.P50MS == nil || *h.P50MS != 3000 || *h.P95MS != 5000 {
		t.Fatalf("percentiles %+v", h)
	}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/load/history?limit=3", e.viewer, nil, &h)
	if len(h.Items) != 3 || h.Samples != 2 || *h.P50MS != 2000 || *h.P95MS != 5000 {
		t.Fatalf("limit 3 %+v", h)
	}
	// Asked from an older run, newer runs are not its past.
	e.must(http.StatusOK, "GET", "/api/v1/runs/past1/nodes/load/history", e.viewer, nil, &h)
	if len(h.Items) != 2 || h.Items[0].RunID != "past1" || h.Items[1].RunID != "past0" {
		t.Fatalf("from past1 %+v", h)
	}
	// A node without a finished success has no percentiles.
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/report/history", e.viewer, nil, &h)
	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/nodes/report/history", e.viewer, nil, &h)
	if len(h.Items) != 0 || h.Samples != 0 || !strings.Contains(string(r.body), `"p50_ms":null`) {
		t.Fatalf("no history %s", r.body)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/"+id+"/nodes/ghost/history", e.viewer, nil)
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "n=3"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"/nodes/load/history?"+q, e.viewer, nil)
	}
}

func TestPercentile(t *testing.T) {
	for _, c := range []struct {
		xs   []int64
		p    int
		want int64
	}{{[]int64{5}, 95, 5}, {[]int64{3, 1, 2}, 50, 2}, {[]int64{4, 3, 2, 1}, 50, 2}, {[]int64{1, 2, 3, 4}, 95, 4},
		{[]int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 95, 100}, {[]int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 90, 90}} {
		if got := percentile(c.xs, c.p); got == nil || *got != c.want {
			t.Errorf("percentile(%v, %d) = %v, want %d", c.xs, c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != nil {
		t.Error("percentile of nothing")
	}
}

func TestRunGantt(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	t0 := fixedNow.Add(time.Minute)
	at := func(s int) *time.Time { v := t0.Add(time.Duration(s) * time.Second); return &v }
	if err := e.store.ApplyMirror(context.Background(), models.MirrorBatch{RunID: id,
		Run: &models.RunUpdate{Status: "running", Rev: 2, StartedAt: at(0)},
		Instances: []models.InstanceUpdate{
			{ID: "i-load-1", NodeID: "load", ShardIndex: 1, Attempt: 1, Status: "running", WorkerID: "w2", Rev: 2, DispatchedAt: at(2), StartedAt: at(4)},
			{ID: "i-extract", NodeID: "extract", Attempt: 1, Status: "success", WorkerID: "w1", Rev: 2, DispatchedAt: at(0), StartedAt: at(1), FinishedAt: at(2)},
			{ID: "i-load-0", NodeID: "load", Attempt: 1, Status: "waiting", Rev: 2, DispatchedAt: at(2)},
		}}); err != nil {
		t.Fatal(err)
	}
	var g struct {
		RunID     string     `json:"run_id"`
		Status    string     `json:"status"`
		StartedAt *time.Time `json:"started_at"`
		Items     []struct {
			Node         string     `json:"node"`
			Instance     string     `json:"instance"`
			Shard        int        `json:"shard"`
			Status       string     `json:"status"`
			WorkerID     string     `json:"worker_id"`
			DispatchedAt *time.Time `json:"dispatched_at"`
			StartedAt    *time.Time `json:"started_at"`
			FinishedAt   *time.Time `json:"finished_at"`
		} `json:"items"`
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"/gantt", e.viewer, nil, &g)
	if g.RunID != id || g.Status != "running" || g.StartedAt == nil || !g.StartedAt.Equal(*at(0)) || len(g.Items) != 3 {
		t.Fatalf("gantt %s", r.body)
	}
	var bars []string
	for _, it := range g.Items {
		bars = append(bars, fmt.Sprintf("%s/%s/%d/%s/%v/%v/%v", it.Node, it.Instance, it.Shard, it.Status,
			it.DispatchedAt.Sub(t0), durOrNil(it.StartedAt, t0), durOrNil(it.FinishedAt, t0)))
	}
	want := "extract/i-extract/0/success/0s/1s/2s load/i-load-0/0/waiting/2s/nil/nil load/i-load-1/1/running/2s/4s/nil"
	if strings.Join(bars, " ") != want {
		t.Fatalf("bars\n got %s\nwant %s", strings.Join(bars, " "), want)
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/runs/"+id+"/gantt?from=0", e.viewer, nil)
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/nope/gantt", e.viewer, nil)
}

func durOrNil(t *time.Time, base time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.Sub(base).String()
}

// TestRunTopologyAllowedOps: each node of the topology view carries the
// operations its state allows (control.Allowed), and the run its own.
func TestRunTopologyAllowedOps(t *testing.T) {
	e := newEnv(t)
	id := consoleFlow(t, e)
	ctx := context.Background()
	t0 := fixedNow.Add(time.Minute)
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id,
		Run: &models.RunUpdate{Status: "running", Rev: 2, StartedAt: &t0},
		Nodes: []models.NodeUpdate{
			{NodeID: "extract", Status: "success", Attempts: 1, Rev: 2},
			{NodeID: "check", Status: "failed", Attempts: 1, Rev: 2},
			{NodeID: "load", Status: "running", Attempts: 1, Rev: 2},
		},
		Instances: []models.InstanceUpdate{
			{ID: id + ".extract.0.1", NodeID: "extract", Attempt: 1, Status: "success", Rev: 2},
			{ID: id + ".check.0.1", NodeID: "check", Attempt: 1, Status: "failed", Rev: 2},
			{ID: id + ".load.0.1", NodeID: "load", Attempt: 1, Status: "running", Rev: 2},
		},
		Transitions: []models.Transition{{Entity: "run", EntityID: id, FromStatus: "waiting", ToStatus: "running", Actor: "engine", At: t0},
			{Entity: "node", EntityID: "check", FromStatus: "running", ToStatus: "failed", Actor: "engine", At: t0}},
	}); err != nil {
		t.Fatal(err)
	}
	type topo struct {
		LastEventID uint64   `json:"last_event_id"`
		AllowedOps  []string `json:"allowed_ops"`
		Nodes       []struct {
			ID         string
			AllowedOps []string `json:"allowed_ops"`
		}
	}
	ops := func(d topo) string {
		var out []string
		for _, n := range d.Nodes {
			out = append(out, n.ID+"="+strings.Join(n.AllowedOps, ","))
		}
		return strings.Join(append(out, "run="+strings.Join(d.AllowedOps, ",")), " ")
	}
	var d topo
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"?view=topology", e.viewer, nil, &d)
	all, err := e.store.ListTransitions(ctx, id)
	if err != nil || len(all) == 0 {
		t.Fatalf("transitions %v %v", all, err)
	}
	if d.LastEventID != all[len(all)-1].ID {
		t.Fatalf("last_event_id %d, want the run's last transition %d", d.LastEventID, all[len(all)-1].ID)
	}
	want := "extract=node-retry,rerun-downstream,rerun-from,instance-rerun " +
		"check=node-retry,node-skip,rerun-downstream,rerun-from,instance-rerun " +
		"load=node-stop,rerun-from,instance-stop " +
		"both= report=node-stop,node-pause,node-retry,rerun-downstream alert=node-stop,node-pause,node-retry,rerun-downstream " +
		"run=stop,pause"
	if got := ops(d); got != want {
		t.Fatalf("allowed ops\n got %s\nwant %s", got, want)
	}
	// A closed run keeps only the reset (rerun-from) and, at run level, rerun.
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id, Run: &models.RunUpdate{Status: "success", Rev: 3},
		Nodes:     []models.NodeUpdate{{NodeID: "check", Status: "success", Attempts: 1, Rev: 3}, {NodeID: "load", Status: "success", Attempts: 1, Rev: 3}},
		Instances: []models.InstanceUpdate{{ID: id + ".load.0.1", NodeID: "load", Attempt: 1, Status: "success", Rev: 3}},
	}); err != nil {
		t.Fatal(err)
	}
	d = topo{}
	e.must(http.StatusOK, "GET", "/api/v1/runs/"+id+"?view=topology", e.viewer, nil, &d)
	want = "extract=rerun-from check=rerun-from load=rerun-from both= report= alert= run=rerun"
	if got := ops(d); got != want {
		t.Fatalf("allowed ops of a closed run\n got %s\nwant %s", got, want)
	}
}

// An ended run's topology and Gantt answers are served from the cache
// while the run's ChangeSeq stands, and rebuilt after any write that can
// still touch an ended run: a late log chunk, a retry reopening it.
func TestEndedRunAnswersCachedUntilTheRunChanges(t *testing.T) {
	defer func(v int) { answerCacheMin = v }(answerCacheMin)
	answerCacheMin = 0
	e := newEnv(t)
	id := consoleFlow(t, e)
	ctx := context.Background()
	t0 := fixedNow.Add(time.Minute)
	inst := id + ".extract.0.1"
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id,
		Run:       &models.RunUpdate{Status: "failed", Rev: 2, StartedAt: &t0, FinishedAt: &t0},
		Nodes:     []models.NodeUpdate{{NodeID: "extract", Status: "failed", Attempts: 1, Rev: 2, StartedAt: &t0, FinishedAt: &t0}},
		Instances: []models.InstanceUpdate{{ID: inst, NodeID: "extract", Attempt: 1, Status: "failed", Rev: 2, DispatchedAt: &t0, StartedAt: &t0, FinishedAt: &t0}},
	}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		Status string `json:"status"`
		Nodes  []struct {
			ID        string `json:"id"`
			Instances []struct {
				LogSize int64 `json:"log_size"`
			} `json:"instances"`
		} `json:"nodes"`
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}
	get := func(path string) answer {
		t.Helper()
		var a answer
		e.must(http.StatusOK, "GET", path, e.viewer, nil, &a)
		return a
	}
	topo, gantt := "/api/v1/runs/"+id+"?view=topology", "/api/v1/runs/"+id+"/gantt"
	if a := get(topo); a.Status != "failed" || a.Nodes[0].Instances[0].LogSize != 0 {
		t.Fatalf("first topology %+v", a)
	}
	get(gantt)
	// Both are kept, and a request is answered from the cache: a marked
	// entry comes back as it is.
	for _, key := range []string{"topology\x00" + id, "gantt\x00" + id} {
		a, ok := e.srv.answers.Peek(key)
		if !ok {
			t.Fatalf("%q not cached", key)
		}
		marked := bytes.Replace(a.body, []byte(`"status":"failed"`), []byte(`"status":"success"`), 1)
		e.srv.answers.Add(key, cachedAnswer{seq: a.seq, body: marked})
	}
	if a := get(topo); a.Status != "success" {
		t.Fatalf("topology not served from the cache: %+v", a)
	}
	if a := get(gantt); a.Status != "success" {
		t.Fatalf("gantt not served from the cache: %+v", a)
	}
	// A late log chunk of the ended run: the topology shows its size.
	if err := e.store.AppendLog(ctx, inst, 0, 0, []byte("late\n")); err != nil {
		t.Fatal(err)
	}
	if a := get(topo); a.Status != "failed" || a.Nodes[0].Instances[0].LogSize != 5 {
		t.Fatalf("topology after a late log chunk %+v", a)
	}
	// A retry reopens the run: neither view is served from the cache (an
	// open run's answers are built each time).
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: id,
		Run:       &models.RunUpdate{Status: "running", Rev: 3},
		Instances: []models.InstanceUpdate{{ID: id + ".extract.0.2", NodeID: "extract", Attempt: 2, Status: "running", Rev: 3, DispatchedAt: &t0}},
	}); err != nil {
		t.Fatal(err)
	}
	if a := get(topo); a.Status != "running" || len(a.Nodes[0].Instances) != 2 {
		t.Fatalf("topology of the reopened run %+v", a)
	}
	if a := get(gantt); a.Status != "running" || len(a.Items) != 2 {
		t.Fatalf("gantt of the reopened run %+v", a)
	}
}
