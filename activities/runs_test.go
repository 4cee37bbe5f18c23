package activities

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// A fire whose time zone does not load starts nothing, whether its trigger
// is a cron or a fixed rate: its bizdate would be UTC's by mistake.
func TestStartRunRefusesAZoneThatDoesNotLoad(t *testing.T) {
	a := &Runs{} // no store: the refusal comes before any write
	for _, cron := range []string{"", "0 0 1 * * ?"} {
		for _, tz := range []string{"Mars/Olympus", "Local"} {
			_, err := a.StartRun(context.Background(), workflows.StartRunRequest{Cron: cron, Timezone: tz,
				Record: workflows.RunRecord{ID: "r"}})
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) || ae.Type() != "BadTimezone" || !ae.NonRetryable() {
				t.Errorf("cron %q zone %q: %v, want a non-retryable BadTimezone", cron, tz, err)
			}
		}
	}
}

// starterFunc is a RunStarter from a function.
type starterFunc func(context.Context, workflows.RunInput) (string, error)

func (f starterFunc) StartRun(ctx context.Context, in workflows.RunInput) (string, error) {
	return f(ctx, in)
}

// LaunchRun's steps, each safe to repeat: a refused start leaves the row
// waiting and says so; a start tried again after the workflow exists
// records nothing more; a start records the workflow and one execution.
func TestLaunchRunSteps(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() *models.Store) {
		ctx := context.Background()
		store := open()
		row := func() *models.Run {
			return &models.Run{ID: "r1", Kind: "flow", DefinitionID: "d", Version: 1, Status: "waiting",
				Trigger: "manual", Bizdate: "2026-01-02", WorkflowID: workflows.WorkflowID("r1")}
		}
		in := workflows.RunInput{RunID: "r1"}
		down := errors.New("frontend down")
		_, err := LaunchRun(ctx, store, starterFunc(func(context.Context, workflows.RunInput) (string, error) { return "", down }),
			row(), in, "ann", "req-1")
		var le *LaunchError
		if !errors.As(err, &le) || le.Step != LaunchStart || !errors.Is(err, down) {
			t.Fatalf("refused start: %v, want a LaunchStart error", err)
		}
		if r, err := store.GetRun(ctx, "r1"); err != nil || r.Status != "waiting" {
			t.Fatalf("the row after a refused start: %+v, %v", r, err)
		}
		if _, err := LaunchRun(ctx, store, nil, row(), in, "ann", "req-1"); !errors.As(err, &le) || le.Step != LaunchStart {
			t.Fatalf("no engine: %v, want a LaunchStart error", err)
		}
		started := starterFunc(func(context.Context, workflows.RunInput) (string, error) { return "tr-1", nil })
		got, err := LaunchRun(ctx, store, started, row(), in, "ann", "req-1")
		if err != nil || got.TemporalRunID != "tr-1" || got.AlreadyStarted {
			t.Fatalf("start: %+v, %v", got, err)
		}
		again := starterFunc(func(context.Context, workflows.RunInput) (string, error) { return "", models.ErrConflict })
		if got, err := LaunchRun(ctx, store, again, row(), in, "ann", "req-1"); err != nil || !got.AlreadyStarted {
			t.Fatalf("start tried again: %+v, %v; want already started", got, err)
		}
		r, err := store.GetRun(ctx, "r1")
		if err != nil || r.TemporalRunID != "tr-1" {
			t.Fatalf("run %+v, %v: want temporal run tr-1 recorded", r, err)
		}
		execs, err := store.ListRunExecutions(ctx, "r1")
		if err != nil || len(execs) != 1 || execs[0].TemporalRunID != "tr-1" || execs[0].Actor != "ann" ||
			execs[0].RequestID != "req-1" || execs[0].Reason != "start" {
			t.Fatalf("executions %+v, %v: want the one start", execs, err)
		}
	})
}
