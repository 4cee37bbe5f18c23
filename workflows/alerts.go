package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/quartz"
	"github.com/baton-sched/baton/internal/status"
)

// Alerts: the interpreter, the backfill driver and the schedule fire hand
// AlertEvents to DeliverAlertActivity. Emitting schedules the activity and
// moves on; the futures are collected and waited for (bounded) only where
// the workflow returns or continues as new, so an alert never holds a hop
// back and a delivery is not abandoned by a workflow that closed under it.

const (
	// alertScheduleToClose bounds one delivery with all its retries: a
	// channel down for longer loses the page (the alert history says so).
	alertScheduleToClose = time.Hour
	// alertStartToClose bounds one attempt (an SMTP exchange, a webhook).
	alertStartToClose = 30 * time.Second
	// alertHandover is how long a run about to continue as new waits for
	// its deliveries; those still open are carried and scheduled again by
	// the next execution (the activity is idempotent per key).
	alertHandover = 10 * time.Second
)

// alertOptions: retried with backoff, 1 s doubling to at most 1 min, for
// at most alertScheduleToClose; never more than one attempt in flight.
var alertOptions = workflow.ActivityOptions{
	TaskQueue:              FlowsTaskQueue,
	ScheduleToCloseTimeout: alertScheduleToClose,
	StartToCloseTimeout:    alertStartToClose,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	},
}

// channelsFor is the channels of every rule listening for ev, in rule
// order, each once.
func channelsFor(rules []dag.AlertRule, ev dag.AlertEvent) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rules {
		listens := false
		for _, e := range r.Events {
			listens = listens || e == ev
		}
		if !listens {
			continue
		}
		for _, c := range r.Channels {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// firstLine is a message's first line, for a page that must stay short.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// alerter schedules deliveries for one workflow and remembers the futures.
type alerter struct {
	pending []*pendingAlert
	// timer bounds the wait of a workflow about to close or hand over;
	// expired once it fired.
	timer   workflow.Future
	expired bool
}

type pendingAlert struct {
	event   AlertEvent
	f       workflow.Future
	watched bool // on the selector of a wait
	logged  bool // its outcome was looked at
}

// send schedules ev for its channels; nothing when no rule listens.
func (a *alerter) send(ctx workflow.Context, ev AlertEvent) {
	if len(ev.Channels) == 0 {
		return
	}
	if ev.At.IsZero() {
		ev.At = workflow.Now(ctx)
	}
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, alertOptions), DeliverAlertActivity, ev)
	a.pending = append(a.pending, &pendingAlert{event: ev, f: f})
}

// drained reports whether a workflow about to close (or continue as new)
// may go: every delivery is done, or bound has passed since it first
// waited for the ones still open. Until then the open deliveries and a
// timer are on sel, so the workflow's own loop waits for them while still
// taking in signals. No timer starts when nothing is open, so a workflow
// without alerts records nothing here.
func (a *alerter) drained(ctx workflow.Context, sel workflow.Selector, bound time.Duration) bool {
	log := workflow.GetLogger(ctx)
	fresh, open := false, false
	for _, p := range a.pending {
		if p.f.IsReady() {
			if !p.logged {
				p.logged = true
				if err := p.f.Get(ctx, nil); err != nil {
					log.Info("alert not delivered", "event", p.event.Event, "key", p.event.Key, "error", err)
				}
			}
			continue
		}
		open = true
		if !p.watched {
			p.watched, fresh = true, true
			sel.AddFuture(p.f, func(workflow.Future) {})
		}
	}
	if !open {
		return true
	}
	if fresh && (a.timer == nil || a.expired) {
		a.timer, a.expired = workflow.NewTimer(ctx, bound), false
		sel.AddFuture(a.timer, func(workflow.Future) { a.expired = true })
	}
	return a.expired
}

// await blocks until drained, for a workflow with no loop of its own.
func (a *alerter) await(ctx workflow.Context, bound time.Duration) {
	sel := workflow.NewSelector(ctx)
	for !a.drained(ctx, sel, bound) {
		sel.Select(ctx)
	}
}

// undelivered is the events whose delivery has not finished.
func (a *alerter) undelivered() []AlertEvent {
	var out []AlertEvent
	for _, p := range a.pending {
		if !p.f.IsReady() {
			out = append(out, p.event)
		}
	}
	return out
}

// runAlerts is the interpreter's alert state; all of it is carried across
// continue-as-new so the next execution derives the same keys.
type runAlerts struct {
	alerter
	// ends counts the run's arrivals at a final status; the key of its run
	// events, so a run that fails again after a retry pages again.
	ends int
	// endAlerted: this arrival at a final status was alerted already.
	endAlerted bool
	// failedBefore: the run ended unsuccessfully once (recovered's premise).
	failedBefore bool
	slas         []slaState
	slaCtx       workflow.Context
	slaCancel    workflow.CancelFunc
}

// slaState is one rule's SLA deadline.
type slaState struct {
	rule     int
	deadline time.Time
	fired    bool
}

// alertsOn reports whether this execution emits alerts at all.
func (r *runner) alertsOn() bool { return r.version >= versionAlerts && len(r.in.Alerts) > 0 }

// event is an AlertEvent of this run with its common fields.
func (r *runner) event(ev dag.AlertEvent, key string) AlertEvent {
	group := r.in.Flow.Group
	if group == "" {
		group = "default"
	}
	return AlertEvent{Event: ev, Key: key, Channels: channelsFor(r.in.Alerts, ev), RunID: r.in.RunID, Kind: r.in.Kind,
		DefinitionID: r.in.DefinitionID, DefinitionName: r.in.Flow.Name, Version: r.in.Version, Group: group,
		Trigger: r.in.Trigger, Bizdate: r.in.Bizdate, Status: string(r.runStatus)}
}

// failedNodes lists the nodes that failed or timed out, in topological
// order, with the first line of their message.
func (r *runner) failedNodes() []AlertNode {
	var out []AlertNode
	for _, n := range r.nodes {
		if n.status == status.NodeFailed || n.status == status.NodeTimeout {
			out = append(out, AlertNode{Node: n.node.ID, Name: n.node.Name, Error: firstLine(n.message)})
		}
	}
	return out
}

// runEndEvents maps a final run status to its alert event.
var runEndEvents = map[status.Run]dag.AlertEvent{
	status.RunFailed:         dag.AlertRunFailed,
	status.RunTimeout:        dag.AlertRunTimeout,
	status.RunStopped:        dag.AlertRunStopped,
	status.RunRollbackFailed: dag.AlertRollbackFailed,
}

// alertEnd emits the event of the final status the run has just reached,
// once per arrival: run_failed, run_timeout, run_stopped, rollback_failed,
// or recovered for a success after an earlier unsuccessful end.
func (r *runner) alertEnd() {
	if !r.alertsOn() || !r.runStatus.Terminal() || r.alerts.endAlerted {
		return
	}
	r.alerts.endAlerted = true
	r.alerts.ends++
	key := "end-" + strconv.Itoa(r.alerts.ends)
	ev, bad := runEndEvents[r.runStatus]
	switch {
	case bad:
		r.alerts.failedBefore = true
	case r.runStatus == status.RunSuccess && r.alerts.failedBefore:
		ev = dag.AlertRecovered
	default:
		return
	}
	e := r.event(ev, key)
	e.Failed = r.failedNodes()
	r.alerts.send(r.ctx, e)
}

// alertNode emits node_failed for a node that failed or timed out, handled
// or not (a node stopped, or cut short by the run's timeout, is the run's
// event, not its own). The key is the node and its attempt: a node retried by an
// operator that fails again pages again; a replay derives the same key.
func (r *runner) alertNode(n *nodeRun) {
	if !r.alertsOn() || (n.status != status.NodeFailed && n.status != status.NodeTimeout) {
		return
	}
	if n.status == status.NodeTimeout && r.halted == "timeout" {
		return // the run's timeout cut it short: run_timeout says so
	}
	e := r.event(dag.AlertNodeFailed, fmt.Sprintf("%s#%d", n.node.ID, n.attempts))
	e.Node = n.node.ID
	e.Failed = []AlertNode{{Node: n.node.ID, Name: n.node.Name, Error: firstLine(n.message)}}
	r.alerts.send(r.ctx, e)
}

// alertStopFailed emits stop_failed for an instance that survived a stop.
// The key is the instance's own id without a reset's suffix.
func (r *runner) alertStopFailed(n *nodeRun, q QueuedInstance, msg string) {
	if !r.alertsOn() {
		return
	}
	e := r.event(dag.AlertStopFailed, InstanceID(r.in.RunID, n.node.ID, q.Shard, q.Attempt))
	e.Node, e.Instance = n.node.ID, q.ID
	e.Failed = []AlertNode{{Node: n.node.ID, Name: n.node.Name, Error: firstLine(msg)}}
	r.alerts.send(r.ctx, e)
}

// SLADeadline is when a run with this SLA is late. base is the run's
// schedule time when a schedule fired it, else its start. after counts
// from base; at is the first HH:MM in the SLA's zone after base, so a
// 22:30 job with an 06:30 SLA is due the next morning and a 01:00 job
// the same morning.
func SLADeadline(s dag.SLA, base time.Time) (time.Time, error) {
	if s.After != "" {
		d, err := s.After.Std()
		if err != nil {
			return time.Time{}, fmt.Errorf("sla after: %w", err)
		}
		return base.Add(d), nil
	}
	at, err := dag.ParseSLAAt(s.At)
	if err != nil {
		return time.Time{}, fmt.Errorf("sla at: %w", err)
	}
	loc, err := quartz.LoadLocation(s.TZ)
	if err != nil {
		return time.Time{}, fmt.Errorf("sla tz: %w", err)
	}
	b := base.In(loc)
	h, m := int(at/time.Hour), int(at%time.Hour/time.Minute)
	for day := 0; day < 3; day++ {
		t := time.Date(b.Year(), b.Month(), b.Day()+day, h, m, 0, 0, loc)
		if t.Hour() != h || t.Minute() != m {
			// A wall time a DST change skips: Go gives the instant before
			// the gap; the deadline is the same wall time after it.
			t = t.Add(time.Duration(h-t.Hour())*time.Hour + time.Duration(m-t.Minute())*time.Minute)
		}
		if t.After(base) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("sla at %s: no deadline after %s", s.At, base)
}

// startSLAs computes the deadline of every rule listening for sla_miss
// at the run's start. A rule whose SLA does not compute (validation
// refuses those) is logged and left out.
func (r *runner) startSLAs() {
	if !r.alertsOn() {
		return
	}
	base := r.startedAt
	if r.in.ScheduledAt != nil {
		base = *r.in.ScheduledAt
	}
	for i, rule := range r.in.Alerts {
		if rule.SLA == nil || len(channelsFor(r.in.Alerts[i:i+1], dag.AlertSLAMiss)) == 0 {
			continue
		}
		d, err := SLADeadline(*rule.SLA, base)
		if err != nil {
			r.log.Info("sla not set", "rule", i, "error", err)
			continue
		}
		r.alerts.slas = append(r.alerts.slas, slaState{rule: i, deadline: d})
	}
}

// armSLAs sets a durable timer for every deadline not yet fired.
func (r *runner) armSLAs() {
	if len(r.alerts.slas) == 0 {
		return
	}
	r.alerts.slaCtx, r.alerts.slaCancel = workflow.WithCancel(r.ctx)
	for i := range r.alerts.slas {
		s := &r.alerts.slas[i]
		if s.fired {
			continue
		}
		d := s.deadline.Sub(workflow.Now(r.ctx))
		if d <= 0 {
			d = time.Millisecond
		}
		r.sel.AddFuture(workflow.NewTimer(r.alerts.slaCtx, d), func(f workflow.Future) {
			if f.Get(r.ctx, nil) != nil || s.fired {
				return // cancelled: the run finished in time
			}
			s.fired = true
			// A run that ended (even unsuccessfully: that paged already)
			// is not late; one retried and running again is.
			if r.runStatus.Terminal() {
				return
			}
			e := r.event(dag.AlertSLAMiss, "sla-"+s.deadline.UTC().Format(time.RFC3339))
			e.Channels = channelsFor(r.in.Alerts[s.rule:s.rule+1], dag.AlertSLAMiss)
			deadline := s.deadline
			e.Deadline = &deadline
			e.Failed = r.failedNodes()
			r.alerts.send(r.ctx, e)
		})
	}
}

// endSLAs cancels the SLA timers of a run that is about to close.
func (r *runner) endSLAs() {
	if r.alerts.slaCancel != nil {
		r.alerts.slaCancel()
		r.alerts.slaCancel = nil
	}
}

// alertsDrained reports whether a run about to close may return: its SLA
// timers are cancelled and its deliveries done (or waited for long enough
// to outlast their retries).
func (r *runner) alertsDrained() bool {
	if r.version < versionAlerts {
		return true
	}
	r.endSLAs()
	return r.alerts.drained(r.ctx, r.sel, alertScheduleToClose+time.Minute)
}

// carryAlerts is the alert state handed to the next execution; the
// deliveries still open go with it.
func (r *runner) carryAlerts() *CarriedAlerts {
	if !r.alertsOn() {
		return nil
	}
	c := &CarriedAlerts{Ends: r.alerts.ends, EndAlerted: r.alerts.endAlerted, FailedBefore: r.alerts.failedBefore,
		Pending: r.alerts.undelivered()}
	for _, s := range r.alerts.slas {
		c.SLAs = append(c.SLAs, CarriedSLA{Rule: s.rule, Deadline: s.deadline, Fired: s.fired})
	}
	return c
}

// restoreAlerts takes the carried alert state and schedules again the
// deliveries the last execution handed over unfinished.
func (r *runner) restoreAlerts(c *CarriedAlerts) {
	if c == nil {
		return
	}
	r.alerts.ends, r.alerts.endAlerted, r.alerts.failedBefore = c.Ends, c.EndAlerted, c.FailedBefore
	for _, s := range c.SLAs {
		r.alerts.slas = append(r.alerts.slas, slaState{rule: s.Rule, deadline: s.Deadline, fired: s.Fired})
	}
	for _, ev := range c.Pending {
		r.alerts.send(r.ctx, ev)
	}
}
