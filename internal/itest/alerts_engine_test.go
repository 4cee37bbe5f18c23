package itest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// alertSink is an itest-local stand-in for the real DeliverAlertActivity
// (activities.Alerts.Deliver, built on branch h-alerts-api), registered
// on the flows worker under the same name. It records every call, so a
// page sent twice shows up twice. At the merge, TestAlertsEngine* switch
// to the real activity with a webhook channel on an httptest receiver.
type alertSink struct {
	mu  sync.Mutex
	got []sunk
}

type sunk struct {
	ev workflows.AlertEvent
	at time.Time // wall time of the delivery
}

// register puts the sink on the flows worker. It replaces a real
// DeliverAlertActivity registered before it (FlowActivities runs after
// RegisterFlows), so these tests keep recording after the merge until
// they are switched.
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

// waitAlerts waits until the run's deliveries are exactly want.
func (s *alertSink) waitAlerts(t *testing.T, runID string, within time.Duration, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s.delivered(runID, want...) {
			return
		}
	}
	t.Fatalf("run %s: alerts %v, want %v", runID, s.keys(runID), want)
}

// startAlertedRun records and starts a run of f with rules, as a manual run.
func startAlertedRun(t *testing.T, s *stack, id string, f dag.Flow, rules []dag.AlertRule, window string) {
	t.Helper()
	ctx := context.Background()
	in := workflows.RunInput{RunID: id, Kind: "flow", DefinitionID: "def-" + id, Version: 1, Trigger: "manual",
		Bizdate: "2026-01-02", Flow: f, Mirror: true, OperableWindow: dag.Duration(window), Alerts: rules}
	if err := s.store.CreateRun(ctx, &models.Run{ID: id, Kind: "flow", DefinitionID: in.DefinitionID, Version: 1,
		Status: "waiting", Trigger: "manual", Bizdate: in.Bizdate}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&engine.Engine{Client: s.client}).StartRun(ctx, in); err != nil {
		t.Fatal(err)
	}
}

// runResultOf waits for the run's workflow to close and returns its result.
func runResultOf(t *testing.T, s *stack, runID string, within time.Duration) workflows.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res workflows.RunResult
	if err := s.client.GetWorkflow(ctx, workflows.WorkflowID(runID), "").Get(ctx, &res); err != nil {
		t.Fatalf("run %s: %v", runID, err)
	}
	return res
}

var pageAll = []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertRunStopped, dag.AlertNodeFailed,
	dag.AlertStopFailed, dag.AlertRecovered}, Channels: []string{"oncall"}}}

// TestAlertsEngine runs the interpreter's alerts on the in-process stack
// (one Temporal server for the cases, which run one after the other).
func TestAlertsEngine(t *testing.T) {
	sink := &alertSink{}
	s := newStackOpts(t, databases(t)["sqlite"], stackOptions{FlowActivities: sink.register})
	dir := t.TempDir()

	t.Run("failure pages once across a worker restart", func(t *testing.T) {
		f := dag.Flow{Name: "fails", Nodes: []dag.Node{shellNode("a", "echo 'disk full'; echo more >&2; exit 3"), shellNode("b", "true")},
			Edges: []dag.Edge{{From: "a", To: "b"}}}
		startAlertedRun(t, s, "al-restart", f, pageAll, "5s")
		sink.waitAlerts(t, "al-restart", 30*time.Second, "node_failed/a#1", "run_failed/end-1")
		// The open run's next workflow task (its window closing) goes to a
		// worker with no cache: the run replays its whole history there.
		s.restartWorker()
		res := runResultOf(t, s, "al-restart", 60*time.Second)
		if res.Status != "failed" {
			t.Fatalf("run %s", res.Status)
		}
		time.Sleep(time.Second) // a second page would have arrived by now
		if !sink.delivered("al-restart", "node_failed/a#1", "run_failed/end-1") {
			t.Fatalf("alerts after the restart %v, want each once", sink.keys("al-restart"))
		}
		for _, x := range sink.of("al-restart") {
			if x.ev.Event == dag.AlertRunFailed && (len(x.ev.Failed) != 1 || x.ev.Failed[0].Node != "a" || x.ev.Failed[0].Error != "exit status 3") {
				t.Errorf("run_failed names %+v, want node a with its first error line", x.ev.Failed)
			}
		}
	})

	t.Run("a reset derives the same keys", func(t *testing.T) {
		ctx := context.Background()
		eng := &engine.Engine{Client: s.client, Namespace: "default"}
		f := dag.Flow{Name: "reset", Nodes: []dag.Node{shellNode("a", "exit 3")}}
		startAlertedRun(t, s, "al-reset", f, pageAll, "2s")
		runResultOf(t, s, "al-reset", 60*time.Second)
		before := sink.keys("al-reset")
		if !sink.delivered("al-reset", "node_failed/a#1", "run_failed/end-1") {
			t.Fatalf("alerts before the reset %v", before)
		}
		// rerun-from-node: the new Temporal run executes a again, fails the
		// same way and emits the same events under the same keys, which the
		// activity's dedupe on (run, event, key, channel) turns into no page.
		p, err := eng.FindResetPoint(ctx, "al-reset", "a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Reset(ctx, "al-reset", p, "itest", "reset-1"); err != nil {
			t.Fatal(err)
		}
		runResultOf(t, s, "al-reset", 60*time.Second)
		sink.waitAlerts(t, "al-reset", 10*time.Second, "node_failed/a#1", "node_failed/a#1", "run_failed/end-1", "run_failed/end-1")
	})

	t.Run("sla fires at its deadline and not for a run in time", func(t *testing.T) {
		sla := func(after string) []dag.AlertRule {
			return []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertSLAMiss}, Channels: []string{"oncall"}, SLA: &dag.SLA{After: dag.Duration(after)}}}
		}
		slow := dag.Node{ID: "slow", Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: "6s"}}}
		startAlertedRun(t, s, "al-late", dag.Flow{Name: "late", Nodes: []dag.Node{slow}}, sla("2s"), "")
		startAlertedRun(t, s, "al-ontime", dag.Flow{Name: "ontime", Nodes: []dag.Node{shellNode("quick", "true")}}, sla("4s"), "")
		if res := runResultOf(t, s, "al-ontime", 30*time.Second); res.Status != "success" {
			t.Fatalf("on-time run %s", res.Status)
		}
		if res := runResultOf(t, s, "al-late", 30*time.Second); res.Status != "success" {
			t.Fatalf("late run %s", res.Status)
		}
		got := sink.of("al-late")
		if len(got) != 1 || got[0].ev.Event != dag.AlertSLAMiss || got[0].ev.Deadline == nil || got[0].ev.Status != "running" {
			t.Fatalf("late run's alerts %v, want one sla_miss while running", sink.keys("al-late"))
		}
		// Delivered at the deadline: not before, and within the time a
		// timer and an activity take on this stack.
		late := got[0].at.Sub(*got[0].ev.Deadline)
		t.Logf("sla_miss delivered %s after its deadline", late)
		if late < 0 || late > 3*time.Second {
			t.Errorf("sla_miss delivered %s after its deadline", late)
		}
		time.Sleep(time.Until(got[0].ev.Deadline.Add(3 * time.Second))) // past the on-time run's deadline too
		if k := sink.keys("al-ontime"); len(k) != 0 {
			t.Fatalf("on-time run paged %v", k)
		}
	})

	t.Run("stop_failed pages", func(t *testing.T) {
		// The escapee leaves the process group: the stop's SIGTERM does not
		// reach it, which makes the stop a stop_failed.
		f := dag.Flow{Name: "stuck", Nodes: []dag.Node{shellNode("a", "setsid sleep 60 & echo started; sleep 60")}}
		startAlertedRun(t, s, "al-stop", f, pageAll, "2s")
		waitState(t, s, "al-stop", "running")
		time.Sleep(1500 * time.Millisecond) // the script has forked its escapee
		control(t, s, "al-stop", ctlReq("stop", status.OpStop))
		runResultOf(t, s, "al-stop", 60*time.Second)
		key := workflows.InstanceID("al-stop", "a", 0, 1)
		sink.waitAlerts(t, "al-stop", 5*time.Second, "stop_failed/"+key, "run_stopped/end-1")
	})

	t.Run("recovered pages after a retry", func(t *testing.T) {
		f := dag.Flow{Name: "flaky", Nodes: []dag.Node{flakyOnce("fl", dir), shellNode("after", "true")},
			Edges: []dag.Edge{{From: "fl", To: "after"}}}
		startAlertedRun(t, s, "al-retry", f, pageAll, "1m")
		waitState(t, s, "al-retry", "failed")
		control(t, s, "al-retry", ctlReq("retry", status.OpRetryFailed))
		if res := runResultOf(t, s, "al-retry", 60*time.Second); res.Status != "success" {
			t.Fatalf("run %s", res.Status)
		}
		if !sink.delivered("al-retry", "node_failed/fl#1", "run_failed/end-1", "recovered/end-2") {
			t.Fatalf("alerts %v", sink.keys("al-retry"))
		}
	})
	if t.Failed() {
		for _, x := range sink.got {
			t.Logf("delivered %s", fmt.Sprintf("%+v", x.ev))
		}
	}
}

// startRunWithRules replaces the StartRun activity with the real one
// starting its runs with rules, as the resolution of RunInput.Alerts at
// run start (branch h-alerts-api) will: the fire and the backfill then
// alert on the rules StartRun answers with. Itest-local, like alertSink.
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
