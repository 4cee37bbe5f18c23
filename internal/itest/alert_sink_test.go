package itest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/workflows"
)

// alertSink stands in for the real DeliverAlertActivity
// (activities.Alerts.Deliver), registered on the flows worker under the
// same name, where a test checks the events the workflows emit rather
// than their delivery: the recorded histories' keys, the backfill's
// counts, the paused schedule. It records every call, so an event
// emitted twice shows up twice. Delivery itself is TestAlertsDelivered's.
type alertSink struct {
	mu  sync.Mutex
	got []sunk
}

type sunk struct {
	ev workflows.AlertEvent
	at time.Time // wall time of the delivery
}

// register puts the sink on the flows worker in place of the real
// DeliverAlertActivity (FlowActivities runs after RegisterFlows).
func (s *alertSink) register(_ *stack, r worker.Registry) {
	r.RegisterActivityWithOptions(s.deliver, activity.RegisterOptions{Name: workflows.DeliverAlertActivity,
		DisableAlreadyRegisteredCheck: true})
}

func (s *alertSink) deliver(_ context.Context, ev workflows.AlertEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, sunk{ev: ev, at: time.Now()})
	return nil
}

func (s *alertSink) of(runID string) []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sunk
	for _, x := range s.got {
		if x.ev.RunID == runID {
			out = append(out, x)
		}
	}
	return out
}

// keys is the run's deliveries as sorted "event/key".
func (s *alertSink) keys(runID string) []string {
	var out []string
	for _, x := range s.of(runID) {
		out = append(out, string(x.ev.Event)+"/"+x.ev.Key)
	}
	slices.Sort(out)
	return out
}

// delivered reports whether the run's deliveries are exactly want, in any
// order; "event/*" matches any key of the event.
func (s *alertSink) delivered(runID string, want ...string) bool {
	got := s.keys(runID)
	if len(got) != len(want) {
		return false
	}
	left := slices.Clone(got)
	for _, w := range want {
		i := slices.IndexFunc(left, func(g string) bool {
			return g == w || strings.HasSuffix(w, "/*") && strings.HasPrefix(g, strings.TrimSuffix(w, "*"))
		})
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// startRunWithRules wraps the real StartRun activity so that the runs it
// starts carry rules, without definitions in the mirror: the fire and the
// backfill then alert on the rules StartRun answers with.
func startRunWithRules(rules []dag.AlertRule) func(*stack, worker.Registry) {
	return func(s *stack, r worker.Registry) {
		e := &engine.Engine{Client: s.client}
		runs := &activities.Runs{Store: s.store, Starter: e, Schedules: e}
		r.RegisterActivityWithOptions(func(ctx context.Context, req workflows.StartRunRequest) (workflows.StartRunResult, error) {
			req.Input.Alerts = rules
			return runs.StartRun(ctx, req)
		}, activity.RegisterOptions{Name: workflows.StartRunActivity, DisableAlreadyRegisteredCheck: true})
	}
}

// driverRules page the backfill's and the fire's own events only, so the
// runs they start stay as they were.
var driverRules = []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertBackfillFinished, dag.AlertSchedulePaused}, Channels: []string{"ops"}}}

// withAlerts is the stack option of the backfill and fire tests: the
// recording sink and StartRun answering driverRules.
func withAlerts(sink *alertSink) stackOptions {
	return stackOptions{FlowActivities: func(s *stack, r worker.Registry) {
		sink.register(s, r)
		startRunWithRules(driverRules)(s, r)
	}}
}

// events is every delivery of ev, in delivery order.
func (s *alertSink) events(ev dag.AlertEvent) []workflows.AlertEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []workflows.AlertEvent
	for _, x := range s.got {
		if x.ev.Event == ev {
			out = append(out, x.ev)
		}
	}
	return out
}
