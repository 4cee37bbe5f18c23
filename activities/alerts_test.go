package activities

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// hook is a real HTTP receiver that fails while failing is set.
type hook struct {
	srv     *httptest.Server
	calls   atomic.Int32
	failing atomic.Bool
	mu      sync.Mutex
	bodies  []string
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		if h.failing.Load() {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
		_, _ = io.WriteString(w, `{"errcode":0}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func alertsFixture(t *testing.T) (*Alerts, *models.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := models.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := alert.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Alerts{Store: st, Sealer: sealer, ConsoleURL: "http://console.test",
		Sender: &alert.Sender{HTTPAllow: []string{"127.0.0.0/8"}, Timeout: 5 * time.Second}}, st
}

func saveChannel(t *testing.T, a *Alerts, ch alert.Channel) {
	t.Helper()
	if p := ch.Validate(a.Sender.HTTPAllow); len(p) > 0 {
		t.Fatal(p)
	}
	if err := a.Sealer.Seal(&ch); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(ch)
	if err := a.Store.CreateAlertChannel(context.Background(), &models.AlertChannel{ID: ch.Name, Name: ch.Name, Kind: ch.Kind, Config: string(cfg)}); err != nil {
		t.Fatal(err)
	}
}

func runFailed(channels ...string) workflows.AlertEvent {
	return workflows.AlertEvent{Event: dag.AlertRunFailed, Key: "1", Channels: channels, RunID: "run-1", Kind: "flow",
		DefinitionID: "f", DefinitionName: "settle", Bizdate: "2026-01-31", Status: "failed",
		Failed: []workflows.AlertNode{{Node: "load", Error: "exit status 1"}}, At: time.Now()}
}

func history(t *testing.T, st *models.Store, channel string) models.Alert {
	t.Helper()
	rows, _, err := st.ListAlerts(context.Background(), models.AlertQuery{RunID: "run-1", Channel: channel})
	if err != nil || len(rows) != 1 {
		t.Fatalf("history of %s: %+v (%v)", channel, rows, err)
	}
	return rows[0]
}

func TestDeliverPagesOnceAcrossRedeliveries(t *testing.T) {
	a, st := alertsFixture(t)
	h := newHook(t)
	saveChannel(t, a, alert.Channel{Name: "oncall", Kind: alert.KindWebhook, Webhook: &alert.Webhook{URL: h.srv.URL + "/x", Template: "dingtalk"}})
	ctx := context.Background()
	for range 3 { // an activity retry, a replayed workflow task, a reset
		if err := a.Deliver(ctx, runFailed("oncall", "oncall")); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("the receiver was called %d times, want 1", n)
	}
	if !strings.Contains(h.bodies[0], "http://console.test/runs/run-1") {
		t.Errorf("body %s", h.bodies[0])
	}
	row := history(t, st, "oncall")
	if row.Status != models.AlertSent || row.Attempts != 1 || row.ChannelKind != "webhook" || row.SentAt == nil {
		t.Errorf("history %+v", row)
	}
	// Another occurrence (key) of the event in the same run pages again.
	ev := runFailed("oncall")
	ev.Key = "2"
	if err := a.Deliver(ctx, ev); err != nil || h.calls.Load() != 2 {
		t.Fatalf("second occurrence: calls %d (%v)", h.calls.Load(), err)
	}
}

func TestDeliverRetriesAFailingChannelAndRecordsAttempts(t *testing.T) {
	a, st := alertsFixture(t)
	good, bad := newHook(t), newHook(t)
	bad.failing.Store(true)
	saveChannel(t, a, alert.Channel{Name: "good", Kind: alert.KindWebhook, Webhook: &alert.Webhook{URL: good.srv.URL}})
	saveChannel(t, a, alert.Channel{Name: "flaky", Kind: alert.KindWebhook, Webhook: &alert.Webhook{URL: bad.srv.URL}})
	ctx := context.Background()
	for attempt := 1; attempt <= 2; attempt++ {
		err := a.Deliver(ctx, runFailed("good", "flaky"))
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.NonRetryable() || ae.Type() != AlertDeliveryFailed || !strings.Contains(err.Error(), "503") {
			t.Fatalf("attempt %d: %v, want a retryable delivery failure", attempt, err)
		}
		if row := history(t, st, "flaky"); row.Status != models.AlertFailed || row.Attempts != attempt || !strings.Contains(row.LastError, "503") {
			t.Fatalf("attempt %d: flaky row %+v", attempt, row)
		}
	}
	bad.failing.Store(false)
	if err := a.Deliver(ctx, runFailed("good", "flaky")); err != nil {
		t.Fatal(err)
	}
	if row := history(t, st, "flaky"); row.Status != models.AlertSent || row.Attempts != 3 || row.LastError != "" {
		t.Fatalf("flaky row after recovery %+v", row)
	}
	if good.calls.Load() != 1 || bad.calls.Load() != 3 {
		t.Fatalf("calls: good %d (want 1: never re-sent), flaky %d (want 3)", good.calls.Load(), bad.calls.Load())
	}
}

func TestDeliverToAMissingChannelIsRecordedAndNotRetried(t *testing.T) {
	a, st := alertsFixture(t)
	err := a.Deliver(context.Background(), runFailed("deleted"))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.NonRetryable() || ae.Type() != AlertChannelMissing {
		t.Fatalf("err %v, want a non-retryable missing channel", err)
	}
	if row := history(t, st, "deleted"); row.Status != models.AlertFailed || !strings.Contains(row.LastError, "no longer exists") {
		t.Fatalf("row %+v", row)
	}
}

// recordingStarter is the engine's place in StartRun: it keeps the input.
type recordingStarter struct{ inputs []workflows.RunInput }

func (s *recordingStarter) StartRun(_ context.Context, in workflows.RunInput) (string, error) {
	s.inputs = append(s.inputs, in)
	return "temporal-run", nil
}

// Runs the engine starts by itself (backfill dates, schedule fires) carry
// the same rules as runs started through the API: the definition's, then
// the group's defaults.
func TestStartedRunsCarryDefinitionThenGroupRules(t *testing.T) {
	_, st := alertsFixture(t)
	ctx := context.Background()
	defaults := []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed}, Channels: []string{"oncall"}}}
	if _, err := st.SetGroupAlertRules(ctx, "etl", defaults, "admin"); err != nil {
		t.Fatal(err)
	}
	own := dag.AlertRule{Events: []dag.AlertEvent{dag.AlertNodeFailed}, Channels: []string{"team"}}
	flow := dag.SingleTaskFlow("t1", dag.Task{Kind: "noop", Alerts: []dag.AlertRule{own}})
	starter := &recordingStarter{}
	runs := &Runs{Store: st, Starter: starter}
	_, err := runs.StartRun(ctx, workflows.StartRunRequest{
		Record: workflows.RunRecord{ID: "bf-1", Kind: "task", DefinitionID: "t1", Version: 1, Group: "etl", Trigger: "backfill", Bizdate: "2026-01-31"},
		Input:  workflows.RunInput{RunID: "bf-1", Kind: "task", DefinitionID: "t1", Version: 1, Trigger: "backfill", Flow: flow}})
	if err != nil {
		t.Fatal(err)
	}
	if len(starter.inputs) != 1 {
		t.Fatalf("%d starts", len(starter.inputs))
	}
	got := starter.inputs[0].Alerts
	if len(got) != 2 || got[0].Channels[0] != "team" || got[1].Channels[0] != "oncall" {
		t.Fatalf("run alerts %+v", got)
	}
}
