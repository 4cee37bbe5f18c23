package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/control"
)

// auditItem is an entry as the API answers it, decoded back.
type auditItem = auditView

// audit lists the audit entries matching query, newest first.
func (e *env) audit(query string) []auditItem {
	e.t.Helper()
	var l listResp[auditItem]
	e.must(http.StatusOK, "GET", "/api/v1/audit?limit=500&"+query, e.viewer, nil, &l)
	if int(l.Total) != len(l.Items) {
		e.t.Fatalf("audit %q: total %d, %d items", query, l.Total, len(l.Items))
	}
	return l.Items
}

func (e *env) tokenID(name string) uint64 {
	e.t.Helper()
	var l listResp[struct {
		ID   uint64 `json:"id"`
		Name string `json:"name"`
	}]
	e.must(http.StatusOK, "GET", "/api/v1/tokens", e.admin, nil, &l)
	for _, it := range l.Items {
		if it.Name == name {
			return it.ID
		}
	}
	e.t.Fatalf("no token %q", name)
	return 0
}

func TestAuditAnswersWhoDidWhat(t *testing.T) {
	e := newEnv(t)
	r := e.send("POST", "/api/v1/tasks", e.operator, sleepTask("a", "1s"), map[string]string{"X-Request-ID": "req-create"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created taskResp
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.operator, map[string]any{"name": "b"})
	e.mustFail(http.StatusForbidden, CodeForbidden, "POST", "/api/v1/tasks", e.viewer, sleepTask("c", "1s"))
	e.must(http.StatusOK, "GET", "/api/v1/tasks", e.viewer, nil, nil)
	e.must(http.StatusOK, "PUT", "/api/v1/tasks/"+created.ID, e.admin, sleepTask("a", "2s"), nil)

	all := e.audit("")
	if len(all) != 4 {
		t.Fatalf("audit has %d entries, want the 4 mutating calls: %+v", len(all), all)
	}
	c := all[3] // oldest
	if c.Action != "task.create" || c.Actor != RoleOperator || c.ActorID != e.tokenID(RoleOperator) || c.Method != "POST" ||
		c.Path != "/api/v1/tasks" || c.Target.Kind != "task" || c.Target.ID != created.ID || c.Result != "applied" ||
		c.Status != 201 || c.Code != "" || c.RequestID != "req-create" || c.ClientAddr != "127.0.0.1" || c.At == nil {
		t.Fatalf("create entry %+v", c)
	}
	var params struct {
		Body map[string]any `json:"body"`
	}
	if err := json.Unmarshal(c.Params, &params); err != nil || params.Body["name"] != "a" || params.Body["kind"] != "sleep" {
		t.Fatalf("create params %s (%v)", c.Params, err)
	}
	if b := all[2]; b.Result != "refused" || b.Code != CodeInvalidDefinition || b.Status != 400 || !strings.Contains(b.Message, "kind") {
		t.Fatalf("invalid entry %+v", b)
	}
	if v := all[1]; v.Result != "refused" || v.Code != CodeForbidden || v.Actor != RoleViewer || v.ActorID != e.tokenID(RoleViewer) ||
		!strings.Contains(string(v.Params), `"c"`) {
		t.Fatalf("forbidden entry %+v %s", v, v.Params)
	}
	if u := all[0]; u.Action != "task.update" || u.Target.ID != created.ID || u.Actor != RoleAdmin || u.Result != "applied" ||
		!strings.Contains(string(u.Params), `"id":"`+created.ID+`"`) {
		t.Fatalf("update entry %+v %s", u, u.Params)
	}

	// The entry's shape is the console's contract: exactly these keys.
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/audit?limit=1", e.viewer, nil, &raw)
	var keys []string
	for k := range raw.Items[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, " "); got != "action actor actor_id at client_addr code id idempotency_key message method params path request_id result status target" {
		t.Fatalf("entry keys: %s", got)
	}
	if string(raw.Items[0]["target"]) != `{"kind":"task","id":"`+created.ID+`","node":""}` {
		t.Fatalf("target %s", raw.Items[0]["target"])
	}

	// Every field filters.
	since := url.QueryEscape(fixedNow.Add(-time.Second).Format(time.RFC3339))
	until := url.QueryEscape(fixedNow.Add(time.Second).Format(time.RFC3339))
	for q, want := range map[string]int{
		"actor=operator": 2, "actor_id=" + itoa(e.tokenID(RoleViewer)): 1, "action=task.update": 1,
		"target_kind=task&target_id=" + created.ID: 2, "result=refused": 2, "code=forbidden": 1, "status=201": 1,
		"request_id=req-create": 1, "client_addr=127.0.0.1": 4, "method=put": 1, "path_prefix=/api/v1/tasks/": 1,
		"since=" + since + "&until=" + until: 4, "until=" + since: 0, "result=applied&actor=nobody": 0,
		"path_prefix=" + url.QueryEscape("/api/v1/task_"): 0,
	} {
		if got := e.audit(q); len(got) != want {
			t.Errorf("audit?%s: %d entries, want %d: %+v", q, len(got), want, got)
		}
	}
	for _, q := range []string{"actr=operator", "status=abc", "actor_id=-1", "result=done", "since=yesterday",
		"actor=" + strings.Repeat("x", 256), "target_id=a%00b", "actor=a&actor=b"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/audit?"+q, e.viewer, nil)
	}
}

func TestAuditRedactsSecrets(t *testing.T) {
	e := newEnv(t)
	flow := map[string]any{"id": "hooks", "name": "hooks", "params": map[string]string{"db_password": "hunter2", "region": "cn"},
		"nodes": []map[string]any{{"id": "call", "type": "task", "task": map[string]any{"kind": "http",
			"http": map[string]any{"url": "https://example.com/hook", "headers": map[string]string{
				"Authorization": "Bearer s3cr3t-1", "X-Api-Key": "s3cr3t-2", "Cookie": "sid=s3cr3t-3", "Accept": "text/plain"}}}}}}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.operator, flow, nil)
	var tok struct{ Token string }
	e.must(http.StatusCreated, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "ci", "role": "viewer"}, &tok)
	// A token pasted where it does not belong is masked too.
	e.mustFail(http.StatusNotFound, CodeNotFound, "POST", "/api/v1/flows/nope/runs", e.operator,
		map[string]any{"params": map[string]string{"note": "use " + tok.Token}})

	all := e.audit("")
	if len(all) != 3 {
		t.Fatalf("%d entries: %+v", len(all), all)
	}
	var text strings.Builder
	for _, a := range all {
		text.Write(a.Params)
	}
	for _, secret := range []string{"hunter2", "s3cr3t-1", "s3cr3t-2", "s3cr3t-3", tok.Token} {
		if strings.Contains(text.String(), secret) {
			t.Errorf("audit params show %q: %s", secret, text.String())
		}
	}
	for _, kept := range []string{`"Accept":"text/plain"`, `"region":"cn"`, `"url":"https://example.com/hook"`, `"name":"ci"`} {
		if !strings.Contains(text.String(), kept) {
			t.Errorf("audit params lost %s: %s", kept, text.String())
		}
	}
	if a := all[1]; a.Action != "token.create" || a.Target.Kind != "token" || a.Target.ID != itoa(e.tokenID("ci")) {
		t.Fatalf("token entry %+v", a)
	}

	// A body past the bound is recorded by its size, not kept twice.
	big := sleepTask("big", "1s")
	big["description"] = strings.Repeat("d", maxAuditBody)
	e.must(http.StatusCreated, "POST", "/api/v1/tasks", e.operator, big, nil)
	a := e.audit("action=task.create")[0]
	if len(a.Params) > 200 || !strings.Contains(string(a.Params), `"body_bytes_over":262144`) {
		t.Fatalf("params of a large body: %.300s", a.Params)
	}
}

func TestTokenNamesAreUnique(t *testing.T) {
	e := newEnv(t)
	ae := e.mustFail(http.StatusConflict, CodeConflict, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": "admin", "role": "viewer"})
	if !strings.Contains(ae.Error.Message, `"admin"`) {
		t.Fatalf("message %q", ae.Error.Message)
	}
	for _, bad := range []string{"", "a b", "x\x00y", strings.Repeat("n", 65), "<script>"} {
		e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/tokens", e.admin, map[string]string{"name": bad, "role": "viewer"})
	}
}

func TestAuditRecordsControlAndReplays(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("failed", "a:success+", "b:failed+")
	key := map[string]string{HeaderIdempotencyKey: "retry-b"}
	for range 2 {
		if r := ce.send("POST", "/api/v1/runs/"+id+"/nodes/b/retry", ce.operator, map[string]any{"reason": "flaky"}, key); r.status != http.StatusOK {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
	}
	ce.eng.script(func(e *ctlEngine) {
		e.refuse = &control.Conflict{Code: control.CodeNodeNotEligible, Message: "b is running"}
	})
	ce.mustFail(http.StatusConflict, control.CodeNodeNotEligible, "POST", "/api/v1/runs/"+id+"/nodes/b/retry", ce.operator, nil)
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/nodes/b/retry?dry_run=true", ce.operator, nil, nil)

	got := ce.audit("action=node.retry")
	if len(got) != 4 {
		t.Fatalf("%d node.retry entries: %+v", len(got), got)
	}
	for i, want := range []struct{ result, code, key string }{
		{"dry_run", "", ""}, {"refused", control.CodeNodeNotEligible, ""}, {"replayed", "", "retry-b"}, {"applied", "", "retry-b"},
	} {
		a := got[i]
		if a.Result != want.result || a.Code != want.code || a.IdempotencyKey != want.key || a.Target.Kind != "node" ||
			a.Target.ID != id || a.Target.Node != "b" || a.Actor != RoleOperator {
			t.Errorf("entry %d: %+v, want %+v", i, a, want)
		}
	}
	if !strings.Contains(string(got[3].Params), `"reason":"flaky"`) || !strings.Contains(string(got[0].Params), `"dry_run":"true"`) {
		t.Fatalf("params %s / %s", got[3].Params, got[0].Params)
	}
}

// TestIdempotencyKeyCoversTheQuery: a dry run and the real call under one
// key are two requests; the real one must not get the dry run's answer.
func TestIdempotencyKeyCoversTheQuery(t *testing.T) {
	ce := newCtlEnv(t)
	ce.seedOps()
	id := ce.startOps("running", "a:running+")
	key := map[string]string{HeaderIdempotencyKey: "stop-2"}
	dry := ce.send("POST", "/api/v1/runs/"+id+"/stop?dry_run=true", ce.operator, nil, key)
	if dry.status != http.StatusOK || !strings.Contains(string(dry.body), `"dry_run":true`) {
		t.Fatalf("dry run: %d %s", dry.status, dry.body)
	}
	actual := ce.send("POST", "/api/v1/runs/"+id+"/stop", ce.operator, nil, key)
	if actual.status != http.StatusUnprocessableEntity || !strings.Contains(string(actual.body), CodeIdempotencyKeyReused) ||
		!strings.Contains(string(actual.body), "query") || actual.header.Get(HeaderIdempotentReplay) != "" {
		t.Fatalf("real call with the dry run's key: %d %s", actual.status, actual.body)
	}
	if reqs := ce.eng.requests(); len(reqs) != 0 {
		t.Fatalf("engine got %+v", reqs)
	}
	// The same query in another order is the same request.
	k2 := map[string]string{HeaderIdempotencyKey: "stop-3"}
	a := ce.send("POST", "/api/v1/runs/"+id+"/stop?dry_run=true&x=1", ce.operator, nil, k2)
	b := ce.send("POST", "/api/v1/runs/"+id+"/stop?x=1&dry_run=true", ce.operator, nil, k2)
	if a.status != http.StatusOK || b.status != http.StatusOK || b.header.Get(HeaderIdempotentReplay) != "true" {
		t.Fatalf("reordered query: %d %d %s", a.status, b.status, b.body)
	}
	// With its own key the real stop goes through.
	ce.must(http.StatusOK, "POST", "/api/v1/runs/"+id+"/stop", ce.operator, nil, nil)
}
