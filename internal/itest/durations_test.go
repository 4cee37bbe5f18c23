package itest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

// TestStoredHugeTimeoutDoesNotWedgeARun: a task saved before durations
// were bounded has a timeout whose sum with its grace period and the
// engine's margin passes time.Duration's range. On the real server that
// sum wrapped negative, Temporal refused the activity and the run stayed
// running for ever; now the sum saturates and the task runs.
func TestStoredHugeTimeoutDoesNotWedgeARun(t *testing.T) {
	s := newStack(t, "sqlite:"+filepath.Join(t.TempDir(), "mirror.db"))
	spec := `{"name":"long","kind":"shell","shell":{"script":"echo ok"},"timeout":"106751d","grace":"1d"}`
	if _, _, err := s.store.CreateTask(context.Background(), models.DefinitionInput{ID: "long", Name: "long", Group: "default",
		TriggerType: "manual", Spec: spec, Actor: "admin", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var run runView
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks/long/runs", nil, &run); code != 201 {
		t.Fatalf("start run: %d", code)
	}
	if got := waitRun(t, s.api.URL, run.ID, 60*time.Second); got.Status != "success" {
		t.Fatalf("run status %q, want success: %+v", got.Status, got)
	}
	// A flow with the longest durations there are: its deadline timer and
	// its node's activity timeout are as long as time.Duration goes.
	flow := `{"name":"longflow","timeout":"106751d","nodes":[{"id":"a","type":"task","timeout":"106751d",` +
		`"task":{"kind":"shell","shell":{"script":"echo ok"},"grace":"106751d"}}],"edges":[]}`
	if _, _, err := s.store.CreateFlow(context.Background(), models.DefinitionInput{ID: "longflow", Name: "longflow", Group: "default",
		TriggerType: "manual", Spec: flow, Actor: "admin", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/flows/longflow/runs", nil, &run); code != 201 {
		t.Fatalf("start flow run: %d", code)
	}
	if got := waitRun(t, s.api.URL, run.ID, 60*time.Second); got.Status != "success" {
		t.Fatalf("flow run status %q, want success: %+v", got.Status, got)
	}
}

// TestRunInputLimitHoldsOnTheServer: a definition just under the API's
// run input limit runs on the real server (the margin below Temporal's
// 2 MiB blob limit is enough), and one over it is refused at save.
func TestRunInputLimitHoldsOnTheServer(t *testing.T) {
	s := newStack(t, "sqlite:"+filepath.Join(t.TempDir(), "mirror.db"))
	// Base64 of random bytes compresses to about 3/4 of its length, so
	// these land just under and just over the limit once encoded.
	random := func(n int) string {
		raw := make([]byte, n*3/4)
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(raw)
	}
	under := map[string]any{"id": "under", "name": "under", "kind": "noop", "description": random(engine.MaxInputBytes * 128 / 100)}
	if n, err := engine.EncodedSize(under["description"]); err != nil || n < engine.MaxInputBytes*9/10 || n > engine.MaxInputBytes {
		t.Fatalf("the description encodes to %d bytes (%v), want just under %d", n, err, engine.MaxInputBytes)
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks", under, nil); code != 201 {
		t.Fatalf("save under the limit: %d", code)
	}
	var run runView
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks/under/runs", nil, &run); code != 201 {
		t.Fatalf("start run: %d", code)
	}
	if got := waitRun(t, s.api.URL, run.ID, 60*time.Second); got.Status != "success" {
		t.Fatalf("run status %q, want success", got.Status)
	}
	over := map[string]any{"id": "over", "name": "over", "kind": "noop", "description": random(engine.MaxInputBytes * 140 / 100)}
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks", over, nil); code != 400 {
		t.Fatalf("save over the limit: %d", code)
	}
}
