package api

// The hostile-input suite (issue 11): input an attacker or a broken client
// sends, through the real HTTP server and store, every exchange checked
// against the OpenAPI document. Categories:
//   - ids with "../" in the path parameter of every route kind;
//   - bodies: 10 kB strings, RTL overrides, NUL bytes, invalid UTF-8,
//     duplicate keys, 1,000-level nesting;
//   - DAGs: cyclic, self-loop, dangling edge, duplicate edge;
//   - size: a 100,000-node flow, a 10 MB definition, one Temporal cannot carry;
//   - SQL-like values (' OR 1=1 --, %, _, \) in the audit, definitions and
//     backfills filters, and in the runs filter main escapes (definition);
//   - absurd durations and crons;
//   - negative and huge limits and offsets;
//   - log reads past the end.
// An escaped "/" in an id splits the path, so "../" ids reach no route (404)
// or a lookup that finds nothing (404), never a file.
// Each case wants a status (and a code for a 4xx), then checks that nothing
// beyond one audit entry was written and that /healthz still answers 200.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/baton-sched/baton/models"
)

type hostileCase struct {
	name, method, path string
	body               any
	status             int
	code               string // for a 4xx
	msg                string // the message names the problem
	writes             bool   // a 2xx that may write: one definition, one version
	empty              bool   // a list that must match no row
}

// counts is every row a refused request must not leave behind.
type counts struct{ tasks, flows, taskVers, flowVers, runs, backfills, audit int64 }

func (e *env) counts() counts {
	e.t.Helper()
	ctx := context.Background()
	var c counts
	var err error
	must := func(n int64, er error) int64 {
		if er != nil && err == nil {
			err = er
		}
		return n
	}
	_, n, er := e.store.ListTasks(ctx, models.ListQuery{IncludeDeleted: true, Limit: 1})
	c.tasks = must(n, er)
	_, n, er = e.store.ListFlows(ctx, models.ListQuery{IncludeDeleted: true, Limit: 1})
	c.flows = must(n, er)
	tv, er := e.store.ListTaskVersions(ctx, "seed")
	c.taskVers = must(int64(len(tv)), er)
	fv, er := e.store.ListFlowVersions(ctx, "seedflow")
	c.flowVers = must(int64(len(fv)), er)
	_, n, er = e.store.ListRuns(ctx, models.RunFilter{Limit: 1})
	c.runs = must(n, er)
	_, n, er = e.store.ListBackfills(ctx, "", 1, 0)
	c.backfills = must(n, er)
	_, n, er = e.store.ListAudit(ctx, models.AuditFilter{Limit: 1})
	c.audit = must(n, er)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func nest(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func flowOf(nodes []map[string]any, edges ...[2]string) map[string]any {
	es := []map[string]any{}
	for _, e := range edges {
		es = append(es, map[string]any{"from": e[0], "to": e[1]})
	}
	return map[string]any{"name": "hostile", "nodes": nodes, "edges": es}
}

func noopNodes(ids ...string) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		out = append(out, map[string]any{"id": id, "type": "task", "task": map[string]any{"kind": "noop"}})
	}
	return out
}

func hostileCases(t *testing.T) []hostileCase {
	const bad, inv = http.StatusBadRequest, CodeInvalidDefinition
	var cs []hostileCase
	add := func(c ...hostileCase) { cs = append(cs, c...) }

	// "../" in every kind of path parameter, escaped (a router never
	// sees a raw "../": clients and the router clean it first).
	dots := url.PathEscape("../../etc/passwd")
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/v1/tasks/" + dots}, {"GET", "/api/v1/flows/" + dots + "/versions"},
		{"GET", "/api/v1/tasks/seed/versions/" + dots}, {"PUT", "/api/v1/tasks/" + dots},
		{"DELETE", "/api/v1/flows/" + dots}, {"POST", "/api/v1/tasks/" + dots + "/runs"},
		{"GET", "/api/v1/runs/" + dots}, {"GET", "/api/v1/runs/" + dots + "/instances"},
		{"GET", "/api/v1/runs/" + dots + "/logs"}, {"GET", "/api/v1/instances/" + dots + "/log"},
		{"POST", "/api/v1/runs/" + dots + "/stop"}, {"POST", "/api/v1/runs/r/nodes/" + dots + "/skip"},
		{"GET", "/api/v1/backfills/" + dots}, {"DELETE", "/api/v1/tokens/" + dots},
	} {
		var body any
		if p.method == "PUT" {
			body = map[string]any{"name": "x", "kind": "noop"}
		}
		c := hostileCase{name: "dotdot " + p.method + " " + p.path, method: p.method, path: p.path, body: body,
			status: http.StatusNotFound, code: CodeNotFound}
		add(c)
	}

	// Strings and encodings in a body.
	task := func(field, v string) map[string]any {
		m := map[string]any{"name": "hostile", "kind": "noop"}
		m[field] = v
		return m
	}
	add(
		hostileCase{name: "10 kB name", method: "POST", path: "/api/v1/tasks", body: task("name", strings.Repeat("n", 10_000)),
			status: bad, code: inv, msg: "name"},
		hostileCase{name: "10 kB id", method: "POST", path: "/api/v1/tasks", body: task("id", strings.Repeat("i", 10_000)),
			status: bad, code: inv, msg: "id"},
		hostileCase{name: "RTL override in name", method: "POST", path: "/api/v1/tasks", body: task("name", "evil\u202etxt.exe"),
			status: bad, code: inv, msg: "name"},
		hostileCase{name: "NUL in name", method: "POST", path: "/api/v1/tasks", body: task("name", "a\x00b"),
			status: bad, code: inv, msg: "name"},
		hostileCase{name: "NUL in group", method: "POST", path: "/api/v1/tasks", body: task("group", "a\x00b"),
			status: bad, code: inv, msg: "group"},
		hostileCase{name: "invalid UTF-8", method: "POST", path: "/api/v1/tasks", body: "{\"name\": \"a\xff\xfeb\", \"kind\": \"noop\"}",
			status: bad, code: CodeBadRequest, msg: "UTF-8"},
		hostileCase{name: "duplicate key", method: "POST", path: "/api/v1/tasks", body: `{"name": "a", "kind": "noop", "name": "b"}`,
			status: bad, code: CodeBadRequest, msg: `duplicate key "name"`},
		hostileCase{name: "duplicate nested key", method: "POST", path: "/api/v1/tasks",
			body:   `{"name": "a", "kind": "shell", "shell": {"script": "true", "script": "rm -rf /"}}`,
			status: bad, code: CodeBadRequest, msg: `duplicate key "script"`},
		hostileCase{name: "1000-level nesting", method: "POST", path: "/api/v1/tasks",
			body: `{"name": "a", "kind": "noop", "params": ` + nest(1000) + `}`, status: bad, code: CodeBadRequest, msg: "params"},
		hostileCase{name: "1000-level arrays", method: "POST", path: "/api/v1/flows/validate",
			body: `{"name": "f", "nodes": ` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`, status: bad, code: CodeBadRequest, msg: "nodes"},
	)

	// DAGs.
	for _, c := range []struct {
		name string
		flow map[string]any
		msg  string
	}{
		{"cycle", flowOf(noopNodes("a", "b", "c"), [2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"c", "a"}), "cycle"},
		{"self-loop", flowOf(noopNodes("a"), [2]string{"a", "a"}), "a"},
		{"dangling edge", flowOf(noopNodes("a"), [2]string{"a", "ghost"}), "ghost"},
		{"duplicate edge", flowOf(noopNodes("a", "b"), [2]string{"a", "b"}, [2]string{"a", "b"}), "edge"},
		{"duplicate node", flowOf(noopNodes("a", "a")), "a"},
	} {
		add(hostileCase{name: "dag " + c.name, method: "POST", path: "/api/v1/flows", body: c.flow, status: bad, code: inv, msg: c.msg})
	}

	// Size.
	huge := make([]string, 100_000)
	for i := range huge {
		huge[i] = "n" + itoa(uint64(i))
	}
	add(
		// Saved: it compresses far under Temporal's limit (the check that
		// matters), and the DAG is checked in linear time.
		hostileCase{name: "100,000-node flow", method: "POST", path: "/api/v1/flows", body: flowOf(noopNodes(huge...)),
			status: http.StatusCreated, writes: true},
		hostileCase{name: "10 MB definition", method: "POST", path: "/api/v1/tasks",
			body:   map[string]any{"name": "big", "kind": "shell", "shell": map[string]any{"script": randomText(t, 10<<20)}},
			status: bad, code: CodeRunInputTooLarge, msg: "Temporal"},
		hostileCase{name: "40 MB body", method: "POST", path: "/api/v1/tasks",
			body:   `{"name": "big", "kind": "noop", "description": "` + strings.Repeat("x", 40<<20) + `"}`,
			status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, msg: "bytes"},
	)

	// Absurd durations and crons.
	for _, d := range []string{"-1s", "999999999h", "1e308s", "NaNs", "1h-1h"} {
		m := sleepTask("d", "1s")
		m["timeout"] = d
		add(hostileCase{name: "timeout " + d, method: "POST", path: "/api/v1/tasks", body: m, status: bad, code: inv, msg: "timeout"})
	}
	for _, expr := range []string{"* * * * * * * *", "* * * * * * 1970", "*/4294967296 * * * * ?", "0 0 0 31 2 ?", "@every -1s"} {
		add(hostileCase{name: "cron " + expr, method: "GET", path: "/api/v1/cron/preview?expr=" + url.QueryEscape(expr),
			status: bad, code: CodeBadRequest, msg: ""})
	}

	// SQL-like values in filters answer an empty page: they match nothing
	// literally, and a LIKE wildcard must not match every row.
	for _, v := range []string{"' OR 1=1 --", "%", "_", `\`, `\%`, "seed' --"} {
		q := url.QueryEscape(v)
		for _, p := range []string{
			"/api/v1/tasks?name=" + q, "/api/v1/flows?name=" + q, "/api/v1/tasks?group=" + q,
			"/api/v1/audit?actor=" + q, "/api/v1/audit?action=" + q, "/api/v1/audit?target_id=" + q,
			"/api/v1/audit?path_prefix=" + q, "/api/v1/audit?request_id=" + q, "/api/v1/audit?client_addr=" + q,
			"/api/v1/backfills?definition=" + q,
			"/api/v1/runs?definition=" + q, // the one runs filter main escapes today
		} {
			add(hostileCase{name: "filter " + p, method: "GET", path: p, status: http.StatusOK, empty: true})
		}
	}

	// Limits and offsets.
	for _, p := range []string{"/api/v1/tasks", "/api/v1/audit", "/api/v1/backfills", "/api/v1/runs"} {
		add(
			hostileCase{name: p + " limit -1", method: "GET", path: p + "?limit=-1", status: bad, code: CodeBadRequest, msg: "limit"},
			hostileCase{name: p + " offset -1", method: "GET", path: p + "?offset=-1", status: bad, code: CodeBadRequest, msg: "offset"},
			hostileCase{name: p + " limit 1e30", method: "GET", path: p + "?limit=1000000000000000000000000000000", status: bad, code: CodeBadRequest, msg: "limit"},
			hostileCase{name: p + " offset max int", method: "GET", path: p + "?offset=9223372036854775807", status: http.StatusOK},
			hostileCase{name: p + " limit max int", method: "GET", path: p + "?limit=9223372036854775807", status: http.StatusOK},
		)
	}
	// A log read past the end, or with a negative offset.
	add(
		hostileCase{name: "log offset past end", method: "GET", path: "/api/v1/instances/seedrun.a.0.1/log?offset=9223372036854775807", status: http.StatusOK},
		hostileCase{name: "log offset -1", method: "GET", path: "/api/v1/instances/seedrun.a.0.1/log?offset=-1", status: bad, code: CodeBadRequest, msg: "offset"},
		hostileCase{name: "log max huge", method: "GET", path: "/api/v1/instances/seedrun.a.0.1/log?max=9223372036854775807", status: http.StatusOK},
	)
	return cs
}

func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, map[string]any{"id": "seed", "name": "seed", "kind": "noop"}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator,
		map[string]any{"id": "seedflow", "name": "seedflow", "nodes": noopNodes("a")}, nil)
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: "seedrun",
		Run: &models.RunUpdate{Kind: "flow", DefinitionID: "seedflow", DefinitionName: "seedflow", Group: "default",
			Trigger: "manual", Bizdate: "2024-03-10", Version: 1, Status: "success", Rev: 1},
		Instances: []models.InstanceUpdate{{ID: "seedrun.a.0.1", NodeID: "a", Attempt: 1, Status: "success", Rev: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AppendLog(ctx, "seedrun.a.0.1", 0, 0, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	cases := hostileCases(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.counts()
			r := e.do(c.method, c.path, e.admin, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d; body %.300s", r.status, c.status, r.body)
			}
			if c.status >= 400 {
				var ae apiError
				if err := json.Unmarshal(r.body, &ae); err != nil || ae.Error.Code != c.code || ae.Error.Message == "" ||
					!strings.Contains(strings.ToLower(ae.Error.Message), strings.ToLower(c.msg)) {
					t.Fatalf("error %+v (%v), want code %s and a message naming %q", ae.Error, err, c.code, c.msg)
				}
			}
			if strings.Contains(c.name, "past end") && len(r.body) != 0 {
				t.Fatalf("a read past the end answered %q", r.body)
			}
			if c.empty {
				var l listResp[map[string]any]
				if err := json.Unmarshal(r.body, &l); err != nil || l.Total != 0 {
					t.Fatalf("list answered %d rows (%v): %.300s", l.Total, err, r.body)
				}
			}
			after := e.counts()
			if after.audit > before.audit+1 {
				t.Errorf("%d audit rows written, want at most 1", after.audit-before.audit)
			}
			after.audit = before.audit
			if c.writes {
				after.flows--
			}
			if after != before {
				t.Errorf("rows changed: before %+v, after %+v", before, after)
			}
			if h := e.do("GET", "/healthz", "", nil); h.status != http.StatusOK {
				t.Fatalf("healthz %d after the case", h.status)
			}
		})
	}
	t.Logf("%d hostile cases", len(cases))
}
