package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/workflows"
)

// Secrets the tests save; none may ever come back in an answer.
var channelSecrets = []string{"URLTOKEN123", "HMACSECRET456", "HEADERSECRET789", "MAILPASSWORD000"}

// chatHook is a real HTTP receiver checking the HMAC signature header.
type chatHook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	signed []bool
	status int
}

func newChatHook(t *testing.T, secret string) *chatHook {
	h := &chatHook{status: http.StatusOK}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(b)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.signed = append(h.signed, r.Header.Get("X-Baton-Signature") == "sha256="+hex.EncodeToString(mac.Sum(nil)) &&
			r.Header.Get("Authorization") == "Bearer HEADERSECRET789")
		status := h.status
		h.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// alertEnv serves the API with a secret key (when sealed) and loopback
// allowed for webhooks; the sealer is the server's.
func alertEnv(t *testing.T, sealed bool) *env {
	e, _ := alertEnvSealer(t, sealed)
	return e
}

func alertEnvSealer(t *testing.T, sealed bool) (*env, *alert.Sealer) {
	t.Helper()
	o := Options{Now: func() time.Time { return fixedNow }, HTTPAllow: []string{"127.0.0.0/8"}, ConsoleURL: "http://console.test"}
	if sealed {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		s, err := alert.NewSealer(key)
		if err != nil {
			t.Fatal(err)
		}
		o.Sealer = s
	}
	return startEnv(t, &fakeEngine{}, o), o.Sealer
}

func webhookChannel(name, url string) map[string]any {
	return map[string]any{"name": name, "kind": "webhook", "webhook": map[string]any{
		"url": url + "/hook/URLTOKEN123", "secret": "HMACSECRET456", "headers": map[string]string{"Authorization": "Bearer HEADERSECRET789"}}}
}

func noSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, s := range channelSecrets {
		if strings.Contains(string(body), s) {
			t.Errorf("%s answers a secret (%s): %s", what, s, body)
		}
	}
}

func TestAlertChannelSecretsAreSealedAndNeverAnswered(t *testing.T) {
	e := alertEnv(t, true)
	hook := newChatHook(t, "HMACSECRET456")
	var created alertChannelView
	r := e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, webhookChannel("oncall", hook.srv.URL), &created)
	noSecrets(t, "create", r.body)
	if created.Webhook == nil || created.Webhook.URL != alert.SealedMark || created.Webhook.Secret != alert.SealedMark ||
		created.Webhook.URLHost != hook.srv.URL || created.Webhook.Headers["Authorization"] != alert.SealedMark {
		t.Fatalf("created %s", r.body)
	}
	r = e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, map[string]any{"name": "mail", "kind": "email",
		"email": map[string]any{"host": "smtp.example.com", "username": "alerts", "password": "MAILPASSWORD000",
			"from": "baton@example.com", "to": []string{"oncall@example.com"}}}, nil)
	noSecrets(t, "create email", r.body)
	e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, map[string]any{"name": "from-env", "kind": "webhook",
		"webhook": map[string]any{"url": "env:ONCALL_HOOK_URL"}}, nil)

	// At rest: the raw column holds sealed values, no plaintext.
	for _, name := range []string{"oncall", "mail"} {
		row, err := e.store.AlertChannelByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		noSecrets(t, "the stored config of "+name, []byte(row.Config))
		if !strings.Contains(row.Config, "enc:v1:") {
			t.Errorf("%s stored without sealed values: %s", name, row.Config)
		}
	}
	r = e.must(http.StatusOK, "GET", "/api/v1/alert-channels", e.admin, nil, nil)
	noSecrets(t, "list", r.body)
	if !strings.Contains(string(r.body), `"url":"env:ONCALL_HOOK_URL"`) {
		t.Errorf("an env reference is not shown as such: %s", r.body)
	}
	var got alertChannelView
	r = e.must(http.StatusOK, "GET", "/api/v1/alert-channels/"+created.ID, e.admin, nil, &got)
	noSecrets(t, "get", r.body)

	// What GET answered goes back as is: "[sealed]" keeps each secret.
	got.Name = "oncall-renamed"
	r = e.must(http.StatusOK, "PUT", "/api/v1/alert-channels/"+created.ID, e.admin, got, nil)
	noSecrets(t, "update", r.body)
	var res alertTestResult
	r = e.must(http.StatusOK, "POST", "/api/v1/alert-channels/"+created.ID+"/test", e.admin, map[string]any{}, &res)
	noSecrets(t, "test", r.body)
	if !res.Delivered || res.Channel != "oncall-renamed" {
		t.Fatalf("test %s", r.body)
	}
	hook.mu.Lock()
	if len(hook.bodies) != 1 || !hook.signed[0] || !strings.Contains(hook.bodies[0], "Test message") {
		t.Errorf("the receiver got %v (signed %v)", hook.bodies, hook.signed)
	}
	hook.mu.Unlock()

	// A channel that refuses: the test answers why.
	hook.mu.Lock()
	hook.status = http.StatusForbidden
	hook.mu.Unlock()
	r = e.must(http.StatusOK, "POST", "/api/v1/alert-channels/"+created.ID+"/test", e.admin, map[string]any{}, &res)
	if res.Delivered || !strings.Contains(res.Error, "403") {
		t.Fatalf("failing test %s", r.body)
	}
	noSecrets(t, "failed test", r.body)

	// Nor in the audit log.
	r = e.must(http.StatusOK, "GET", "/api/v1/audit?limit=500", e.admin, nil, nil)
	noSecrets(t, "the audit log", r.body)
	if !strings.Contains(string(r.body), "alert_channel.create") {
		t.Errorf("no audit entry: %s", r.body)
	}
}

func TestAlertChannelRefusals(t *testing.T) {
	e := alertEnv(t, true)
	hook := newChatHook(t, "")
	good := webhookChannel("oncall", hook.srv.URL)
	e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, good, nil)
	e.mustFail(http.StatusConflict, CodeConflict, "POST", "/api/v1/alert-channels", e.admin, good)
	for name, tc := range map[string]struct {
		body map[string]any
		want string
	}{
		"bad template": {map[string]any{"name": "x", "kind": "webhook", "webhook": map[string]any{"url": hook.srv.URL, "body": `{"t": {{json .Title}`}}, "webhook.body"},
		"internal url": {map[string]any{"name": "x", "kind": "webhook", "webhook": map[string]any{"url": "http://10.1.2.3/hook"}}, "private address"},
		"metadata url": {map[string]any{"name": "x", "kind": "webhook", "webhook": map[string]any{"url": "http://169.254.169.254/"}}, "link-local"},
		"kind":         {map[string]any{"name": "x", "kind": "pager"}, "kind"},
		"sealed on create": {map[string]any{"name": "x", "kind": "webhook", "webhook": map[string]any{"url": alert.SealedMark}},
			"keeps a stored secret"},
		"email to": {map[string]any{"name": "x", "kind": "email", "email": map[string]any{"host": "smtp.example.com", "from": "a@example.com"}}, "email.to"},
	} {
		ae := e.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/alert-channels", e.admin, tc.body)
		if !strings.Contains(ae.Error.Message, tc.want) {
			t.Errorf("%s: %q does not name %q", name, ae.Error.Message, tc.want)
		}
	}
	nokey := alertEnv(t, false)
	ae := nokey.mustFail(http.StatusBadRequest, CodeBadRequest, "POST", "/api/v1/alert-channels", nokey.admin, good)
	if !strings.Contains(ae.Error.Message, "BATON_SECRET_KEY") {
		t.Errorf("without a key: %s", ae.Error.Message)
	}
	nokey.must(http.StatusCreated, "POST", "/api/v1/alert-channels", nokey.admin, map[string]any{"name": "env", "kind": "webhook",
		"webhook": map[string]any{"url": "env:HOOK_URL", "secret": "env:HOOK_SECRET"}}, nil)
}

func TestDefinitionAlertRulesNameExistingChannelsAndReachTheRun(t *testing.T) {
	e := alertEnv(t, true)
	hook := newChatHook(t, "")
	e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, webhookChannel("oncall", hook.srv.URL), nil)
	flow := func(channel string) map[string]any {
		return map[string]any{"name": "settle", "group": "etl",
			"alerts": []map[string]any{{"events": []string{"run_failed"}, "channels": []string{channel}}},
			"nodes":  []map[string]any{{"id": "a", "type": "task", "task": map[string]any{"kind": "noop"}}}, "edges": []any{}}
	}
	ae := e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/flows", e.admin, flow("nobody"))
	if !strings.Contains(ae.Error.Message, `alerts[0].channels[0]`) || !strings.Contains(ae.Error.Message, `"nobody"`) {
		t.Errorf("unknown channel: %s", ae.Error.Message)
	}
	task := map[string]any{"name": "t", "kind": "noop", "group": "etl",
		"alerts": []map[string]any{{"events": []string{"node_failed"}, "channels": []string{"gone"}}}}
	ae = e.mustFail(http.StatusBadRequest, CodeInvalidDefinition, "POST", "/api/v1/tasks", e.admin, task)
	if !strings.Contains(ae.Error.Message, `"gone"`) {
		t.Errorf("task with an unknown channel: %s", ae.Error.Message)
	}

	// Group defaults: validated, then carried by every run after the
	// definition's own rules.
	bad := map[string]any{"rules": []map[string]any{{"events": []string{"exploded"}, "channels": []string{"nobody"}}}}
	ae = e.mustFail(http.StatusBadRequest, CodeBadRequest, "PUT", "/api/v1/alert-rules/groups/etl", e.admin, bad)
	if !strings.Contains(ae.Error.Message, `"exploded"`) || !strings.Contains(ae.Error.Message, `"nobody"`) {
		t.Errorf("bad group rules: %s", ae.Error.Message)
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "PUT", "/api/v1/alert-rules/groups/etl", e.admin,
		map[string]any{"rules": []map[string]any{{"events": []string{"sla_miss"}, "channels": []string{"oncall"}}}})
	defaults := map[string]any{"rules": []map[string]any{{"events": []string{"run_failed", "run_timeout"}, "channels": []string{"oncall"}}}}
	var gr groupRulesView
	e.must(http.StatusOK, "PUT", "/api/v1/alert-rules/groups/etl", e.admin, defaults, &gr)
	e.must(http.StatusOK, "GET", "/api/v1/alert-rules/groups/etl", e.viewer, nil, &gr)
	if len(gr.Rules) != 1 || gr.UpdatedBy != RoleAdmin {
		t.Fatalf("group rules %+v", gr)
	}

	var saved struct {
		ID string `json:"id"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/flows", e.admin, flow("oncall"), &saved)
	e.must(http.StatusCreated, "POST", "/api/v1/flows/"+saved.ID+"/runs", e.operator, map[string]any{}, nil)
	ins := e.engine.started()
	if len(ins) != 1 {
		t.Fatalf("%d runs started", len(ins))
	}
	want := []dag.AlertRule{
		{Events: []dag.AlertEvent{dag.AlertRunFailed}, Channels: []string{"oncall"}},
		{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertRunTimeout}, Channels: []string{"oncall"}},
	}
	gotRules, _ := json.Marshal(ins[0].Alerts)
	wantRules, _ := json.Marshal(want)
	if string(gotRules) != string(wantRules) {
		t.Errorf("run alerts %s, want %s", gotRules, wantRules)
	}
}

func TestAlertHistoryFiltersAndPages(t *testing.T) {
	e, sealer := alertEnvSealer(t, true)
	hook := newChatHook(t, "HMACSECRET456")
	e.must(http.StatusCreated, "POST", "/api/v1/alert-channels", e.admin, webhookChannel("oncall", hook.srv.URL), nil)
	// The worker's activity, on the same mirror and key: it writes the history.
	deliver := &activities.Alerts{Store: e.store, Sealer: sealer, Sender: &alert.Sender{HTTPAllow: []string{"127.0.0.0/8"}}}
	for _, run := range []string{"r1", "r2", "r3"} {
		ev := workflows.AlertEvent{Event: dag.AlertRunFailed, Key: "1", Channels: []string{"oncall", "gone"}, RunID: run, At: fixedNow}
		if err := deliver.Deliver(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "no longer exist") {
			t.Fatalf("deliver to a missing channel: %v", err)
		}
	}
	hook.mu.Lock()
	if len(hook.bodies) != 3 || !hook.signed[2] {
		t.Errorf("the receiver got %d signed %v", len(hook.bodies), hook.signed)
	}
	hook.mu.Unlock()
	var page alertList
	e.must(http.StatusOK, "GET", "/api/v1/alerts?status=sent&limit=2", e.viewer, nil, &page)
	if len(page.Items) != 2 || page.NextCursor == nil || page.Items[0].RunID != "r3" || page.Items[0].Channel != "oncall" || page.Items[0].Attempts != 1 {
		t.Fatalf("page 1 %+v", page)
	}
	var next alertList
	e.must(http.StatusOK, "GET", "/api/v1/alerts?status=sent&limit=2&cursor="+*page.NextCursor, e.viewer, nil, &next)
	if len(next.Items) != 1 || next.NextCursor != nil || next.Items[0].RunID != "r1" {
		t.Fatalf("page 2 %+v", next)
	}
	var gone alertList
	e.must(http.StatusOK, "GET", "/api/v1/alerts?channel=gone&run_id=r2&event=run_failed", e.viewer, nil, &gone)
	if len(gone.Items) != 1 || gone.Items[0].Status != "failed" || !strings.Contains(gone.Items[0].LastError, "no longer exists") {
		t.Fatalf("missing channel history %+v", gone)
	}
	// The time bounds are on when the alert was raised (since inclusive).
	var recent, later, earlier alertList
	hourAgo, inAnHour := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	e.must(http.StatusOK, "GET", "/api/v1/alerts?status=sent&since="+hourAgo+"&until="+inAnHour, e.viewer, nil, &recent)
	e.must(http.StatusOK, "GET", "/api/v1/alerts?since="+inAnHour, e.viewer, nil, &later)
	e.must(http.StatusOK, "GET", "/api/v1/alerts?until="+hourAgo, e.viewer, nil, &earlier)
	if len(recent.Items) != 3 || len(later.Items) != 0 || len(earlier.Items) != 0 {
		t.Fatalf("time bounds: %d within the hour, %d after it, %d before it", len(recent.Items), len(later.Items), len(earlier.Items))
	}
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/alerts?since=yesterday", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/alerts?status=lost", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/alerts?cursor=zzz", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/alerts?sort=id", e.viewer, nil)
}
