package activities

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

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
