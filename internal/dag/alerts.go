package dag

// AlertEvent names what an alert rule listens for. The names are part of
// every saved definition and of the alert history: never rename.
type AlertEvent string

// The alert events. Run events fire when the run reaches that final (or
// halted) status; node and instance events fire per node or instance.
const (
	AlertRunFailed        AlertEvent = "run_failed"
	AlertRunTimeout       AlertEvent = "run_timeout"
	AlertRunStopped       AlertEvent = "run_stopped"
	AlertRollbackFailed   AlertEvent = "rollback_failed"
	AlertStopFailed       AlertEvent = "stop_failed"       // an instance survived a stop
	AlertNodeFailed       AlertEvent = "node_failed"       // a node failed, even when a failure edge handles it
	AlertSLAMiss          AlertEvent = "sla_miss"          // still not finished at the rule's deadline
	AlertRecovered        AlertEvent = "recovered"         // success after an earlier failure of the same run
	AlertBackfillFinished AlertEvent = "backfill_finished" // with counts by status
	AlertSchedulePaused   AlertEvent = "schedule_paused"   // paused by pause_on_failure
)

// AlertEvents lists every event, in documentation order.
var AlertEvents = []AlertEvent{
	AlertRunFailed, AlertRunTimeout, AlertRunStopped, AlertRollbackFailed,
	AlertStopFailed, AlertNodeFailed, AlertSLAMiss, AlertRecovered,
	AlertBackfillFinished, AlertSchedulePaused,
}

// AlertRule sends the listed events to the listed channels. Rules live on
// a flow or a task (versioned with it) and as defaults of a worker group.
type AlertRule struct {
	Events []AlertEvent `json:"events"`
	// Channels are alert channel names (admin-managed, /api/v1/alert-channels).
	Channels []string `json:"channels"`
	// SLA is the deadline of the sla_miss event; required when Events
	// holds sla_miss, refused otherwise.
	SLA *SLA `json:"sla,omitempty"`
}

// SLA is a run's deadline: a time of day in a zone, or a duration after
// the run's schedule time (its start when it has none). Exactly one of At
// and After is set.
type SLA struct {
	At    string   `json:"at,omitempty"` // "15:04", local time of TZ on the run's day
	TZ    string   `json:"tz,omitempty"` // IANA zone of At (empty: UTC)
	After Duration `json:"after,omitempty"`
}
