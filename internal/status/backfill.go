package status

// Backfill is the status of a backfill, as its driver reports it.
type Backfill string

// Backfill statuses.
const (
	BackfillRunning Backfill = "running"
	BackfillPaused  Backfill = "paused"
	// BackfillStopped: stopped by an operator; the driver has ended.
	BackfillStopped Backfill = "stopped"
	// BackfillSuccess: every date succeeded; the driver has ended.
	BackfillSuccess Backfill = "success"
	// BackfillFailed: every date has ended and some failed; the driver
	// stays open for a retry of the failed dates.
	BackfillFailed Backfill = "failed"
)

// Ended reports whether the backfill's driver has ended for good: no
// operation applies to it any more.
func (s Backfill) Ended() bool { return s == BackfillSuccess || s == BackfillStopped }

// BackfillDate is the state of one business date of a backfill.
type BackfillDate string

// Date states. DateFailed is any unsuccessful end of the date's run.
const (
	DateWaiting BackfillDate = "waiting"
	DateRunning BackfillDate = "running"
	DateSuccess BackfillDate = "success"
	DateFailed  BackfillDate = "failed"
)

// BackfillOp is an operation on a backfill
// (POST /api/v1/backfills/{id}/{op}).
type BackfillOp string

// Backfill operations.
const (
	BackfillPause  BackfillOp = "pause"
	BackfillResume BackfillOp = "resume"
	BackfillStop   BackfillOp = "stop"
	BackfillRetry  BackfillOp = "retry"
)

// BackfillOps lists the backfill operations.
var BackfillOps = []BackfillOp{BackfillPause, BackfillResume, BackfillStop, BackfillRetry}

// BackfillOpRefusal says why op cannot apply to an open backfill in status
// s with failed dates failed, or "" when it can.
func BackfillOpRefusal(op BackfillOp, s Backfill, failed int) string {
	switch op {
	case BackfillPause:
		if s != BackfillRunning {
			return "only a running backfill can be paused"
		}
	case BackfillResume:
		if s != BackfillPaused {
			return "only a paused backfill can be resumed"
		}
	case BackfillRetry:
		if failed == 0 {
			return "no date failed, so there is nothing to retry"
		}
	case BackfillStop:
		// Stop applies to any driver still open: running, paused, or
		// waiting for retries of failed dates (stopping closes it).
	default:
		return "unknown operation " + string(op)
	}
	return ""
}

// BackfillOpTouches lists the date states an operation acts on.
func BackfillOpTouches(op BackfillOp) []BackfillDate {
	switch op {
	case BackfillPause, BackfillResume:
		return []BackfillDate{DateWaiting}
	case BackfillStop:
		return []BackfillDate{DateWaiting, DateRunning}
	case BackfillRetry:
		return []BackfillDate{DateFailed}
	}
	return nil
}
