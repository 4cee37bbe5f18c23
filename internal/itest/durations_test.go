package itest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
}
