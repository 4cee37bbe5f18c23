package dag

import (
	"fmt"
	"strings"
	"time"

	"github.com/baton-sched/baton/internal/quartz"
)

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
	At    string   `json:"at,omitempty"` // "15:04" in TZ: the first one after the run's schedule time (or start)
	TZ    string   `json:"tz,omitempty"` // IANA zone of At (empty: UTC)
	After Duration `json:"after,omitempty"`
}

// maxAlertRules bounds the rules of one definition; each listening rule
// adds its channels to every matching event of every run.
const maxAlertRules = 50

// ValidateAlerts checks alert rules; at prefixes the paths ("alerts"). A
// definition's rules are checked by ValidateFlow and ValidateTask; the
// group defaults go through here directly. Whether a channel exists is
// the API's question (it knows the channels), not this package's.
func ValidateAlerts(at string, rules []AlertRule) Problems {
	var p Problems
	checkAlerts(&p, at, rules)
	return p
}

func checkAlerts(p *Problems, at string, rules []AlertRule) {
	if len(rules) > maxAlertRules {
		p.add(at, "has %d rules; at most %d", len(rules), maxAlertRules)
		return
	}
	for i := range rules {
		checkAlertRule(p, fmt.Sprintf("%s[%d]", at, i), &rules[i])
	}
}

func checkAlertRule(p *Problems, at string, r *AlertRule) {
	names := make([]string, len(AlertEvents))
	for i, e := range AlertEvents {
		names[i] = string(e)
	}
	sla := false
	if len(r.Events) == 0 {
		p.add(at+".events", "a rule needs at least one event (%s)", strings.Join(names, ", "))
	}
	seen := map[AlertEvent]bool{}
	for i, e := range r.Events {
		switch {
		case !contains(names, string(e)):
			p.add(fmt.Sprintf("%s.events[%d]", at, i), "must be one of %s, not %s", strings.Join(names, ", "), quoteName(string(e)))
		case seen[e]:
			p.add(fmt.Sprintf("%s.events[%d]", at, i), "%s is listed twice", e)
		}
		seen[e] = true
		sla = sla || e == AlertSLAMiss
	}
	if len(r.Channels) == 0 {
		p.add(at+".channels", "a rule needs at least one channel")
	}
	chans := map[string]bool{}
	for i, c := range r.Channels {
		switch {
		case strings.TrimSpace(c) == "":
			p.add(fmt.Sprintf("%s.channels[%d]", at, i), "a channel name is required")
		case chans[c]:
			p.add(fmt.Sprintf("%s.channels[%d]", at, i), "channel %s is listed twice", quoteName(c))
		}
		chans[c] = true
	}
	switch {
	case sla && r.SLA == nil:
		p.add(at+".sla", "a rule listening for %s needs an sla (at or after)", AlertSLAMiss)
	case !sla && r.SLA != nil:
		p.add(at+".sla", "only a rule listening for %s has an sla", AlertSLAMiss)
	case r.SLA != nil:
		checkSLA(p, at+".sla", r.SLA)
	}
}

func checkSLA(p *Problems, at string, s *SLA) {
	after, ok := checkDuration(p, at+".after", s.After)
	switch {
	case s.At == "" && s.After == "":
		p.add(at, "give at (a time of day, HH:MM) or after (a duration)")
	case s.At != "" && s.After != "":
		p.add(at, "give at or after, not both")
	case s.At != "":
		if _, err := ParseSLAAt(s.At); err != nil {
			p.add(at+".at", "%v", err)
		}
	case ok && after <= 0:
		p.add(at+".after", "must be greater than zero")
	}
	if s.TZ != "" && s.At == "" {
		p.add(at+".tz", "is the zone of at; after needs none")
	}
	// The one zone loader: it refuses Local, as triggers do.
	if _, err := quartz.LoadLocation(s.TZ); err != nil {
		p.add(at+".tz", "%v", err)
	}
}

// ParseSLAAt reads an SLA's time of day, "HH:MM" (24-hour, zero-padded),
// as the hour and minute after midnight.
func ParseSLAAt(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != len("15:04") {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 23:59)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}
