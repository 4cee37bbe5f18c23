package status

import (
	"slices"
	"testing"
)

func TestBackfillOpRules(t *testing.T) {
	for _, c := range []struct {
		op     BackfillOp
		s      Backfill
		failed int
		ok     bool
	}{
		{BackfillPause, BackfillRunning, 0, true}, {BackfillPause, BackfillPaused, 0, false}, {BackfillPause, BackfillFailed, 1, false},
		{BackfillResume, BackfillPaused, 0, true}, {BackfillResume, BackfillRunning, 0, false},
		{BackfillRetry, BackfillFailed, 2, true}, {BackfillRetry, BackfillRunning, 1, true}, {BackfillRetry, BackfillRunning, 0, false},
		{BackfillStop, BackfillRunning, 0, true}, {BackfillStop, BackfillPaused, 0, true}, {BackfillStop, BackfillFailed, 3, true},
		{"rewind", BackfillRunning, 0, false},
	} {
		if got := BackfillOpRefusal(c.op, c.s, c.failed) == ""; got != c.ok {
			t.Errorf("%s on %s with %d failed: allowed %v, want %v", c.op, c.s, c.failed, got, c.ok)
		}
	}
	if !BackfillSuccess.Ended() || !BackfillStopped.Ended() || BackfillFailed.Ended() || BackfillPaused.Ended() {
		t.Error("only success and stopped end the driver")
	}
	if got := BackfillOpTouches(BackfillStop); !slices.Equal(got, []BackfillDate{DateWaiting, DateRunning}) {
		t.Errorf("stop touches %v", got)
	}
	if got := BackfillOpTouches(BackfillRetry); !slices.Equal(got, []BackfillDate{DateFailed}) {
		t.Errorf("retry touches %v", got)
	}
}
