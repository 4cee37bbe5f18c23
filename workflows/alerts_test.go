package workflows

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// alertSink is a fake DeliverAlertActivity that records what it is given;
// failFirst makes the first attempts of each event fail, as a channel that
// is down would.
type alertSink struct {
	mu        sync.Mutex
	events    []AlertEvent
	seq       []int // the activity id of each event: the order it was scheduled in
	attempts  map[string]int
	failFirst int
}

func (s *alertSink) deliver(ctx context.Context, ev AlertEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts == nil {
		s.attempts = map[string]int{}
	}
	k := string(ev.Event) + "/" + ev.Key
	s.attempts[k]++
	if s.attempts[k] <= s.failFirst {
		return errors.New("channel down")
	}
	seq, err := strconv.Atoi(activity.GetInfo(ctx).ActivityID)
	if err != nil {
		return err
	}
	// Deliveries run concurrently; keep them in the order the workflow
	// scheduled them.
	i := sort.SearchInts(s.seq, seq)
	s.seq = slices.Insert(s.seq, i, seq)
	s.events = slices.Insert(s.events, i, ev)
	return nil
}

// keys lists the delivered events as "event/key", in delivery order.
func (s *alertSink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, string(e.Event)+"/"+e.Key)
	}
	return out
}

func (s *alertSink) find(ev dag.AlertEvent) []AlertEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AlertEvent
	for _, e := range s.events {
		if e.Event == ev {
			out = append(out, e)
		}
	}
	return out
}

func alertEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *alertSink) {
	t.Helper()
	env := newEnv(t)
	sink := &alertSink{}
	env.RegisterActivityWithOptions(sink.deliver, activity.RegisterOptions{Name: DeliverAlertActivity})
	return env, sink
}

// everything listens for every run event on channel "oncall".
var everything = []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertRunTimeout, dag.AlertRunStopped,
	dag.AlertRollbackFailed, dag.AlertStopFailed, dag.AlertNodeFailed, dag.AlertRecovered}, Channels: []string{"oncall"}}}

func scripted(env *testsuite.TestWorkflowEnvironment, s script) *scriptedTasks {
	st := &scriptedTasks{s: s, calls: map[string]int{}}
	env.RegisterActivityWithOptions(st.execute, activity.RegisterOptions{Name: ExecuteTaskActivity})
	return st
}

func runResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) RunResult {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func signalOp(env *testsuite.TestWorkflowEnvironment, id string, op status.Op, nodes ...string) {
	env.SignalWorkflow(SignalControl, control.Request{ID: id, Op: op, Nodes: nodes, Actor: "test"})
}

func TestAlertNodeFailedEvenWhenHandled(t *testing.T) {
	env, sink := alertEnv(t)
	scripted(env, script{"a": {"failed"}})
	f := dag.Flow{Name: "f", Group: "etl", Nodes: []dag.Node{task("a"), task("h")}, Edges: []dag.Edge{edge("a", "h", dag.OnFailure)}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Kind: "flow", DefinitionID: "d", Version: 3, Trigger: "manual",
		Bizdate: "2026-01-02", Flow: f, Alerts: everything})
	if res := runResult(t, env); res.Status != "success" {
		t.Fatalf("run %s, want success (the failure is handled)", res.Status)
	}
	if got := sink.keys(); !reflect.DeepEqual(got, []string{"node_failed/a#1"}) {
		t.Fatalf("alerts %v, want node_failed for a only (no run event, nothing recovered)", got)
	}
	e := sink.events[0]
	if e.RunID != "r1" || e.Kind != "flow" || e.DefinitionID != "d" || e.DefinitionName != "f" || e.Version != 3 ||
		e.Group != "etl" || e.Trigger != "manual" || e.Bizdate != "2026-01-02" || e.Node != "a" ||
		!reflect.DeepEqual(e.Channels, []string{"oncall"}) || len(e.Failed) != 1 || e.Failed[0].Node != "a" || e.At.IsZero() {
		t.Fatalf("event %+v", e)
	}
}

func TestAlertRunFailedCarriesFailedNodesAndFirstErrorLine(t *testing.T) {
	env, sink := alertEnv(t)
	env.RegisterActivityWithOptions(func(_ context.Context, req TaskRequest) (TaskResult, error) {
		if req.NodeID == "a" {
			return TaskResult{Status: "failed", Message: "exit status 3\nstderr: more detail\nand more"}, nil
		}
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	rules := []dag.AlertRule{
		{Events: []dag.AlertEvent{dag.AlertRunFailed}, Channels: []string{"oncall", "mail"}},
		{Events: []dag.AlertEvent{dag.AlertRunFailed, dag.AlertRecovered}, Channels: []string{"mail", "dingtalk"}},
		{Events: []dag.AlertEvent{dag.AlertRunTimeout}, Channels: []string{"never"}},
	}
	f := dag.Flow{Name: "f", Nodes: []dag.Node{task("a"), task("b"), task("c")}, Edges: []dag.Edge{edge("a", "b", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Alerts: rules, OperableWindow: "1m"})
	if res := runResult(t, env); res.Status != "failed" {
		t.Fatalf("run %s", res.Status)
	}
	got := sink.find(dag.AlertRunFailed)
	if len(got) != 1 || len(sink.events) != 1 {
		t.Fatalf("alerts %v, want one run_failed", sink.keys())
	}
	e := got[0]
	if e.Key != "end-1" || e.Status != "failed" || !reflect.DeepEqual(e.Channels, []string{"oncall", "mail", "dingtalk"}) ||
		!reflect.DeepEqual(e.Failed, []AlertNode{{Node: "a", Error: "exit status 3"}}) {
		t.Fatalf("run_failed %+v", e)
	}
}

func TestAlertRunTimeoutAndStopped(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		flow       dag.Flow
		stop       bool
	}{
		{"timeout", "run_timeout/end-1", dag.Flow{Name: "f", Timeout: "1m", Nodes: []dag.Node{task("long")}}, false},
		{"stopped", "run_stopped/end-1", dag.Flow{Name: "f", Nodes: []dag.Node{task("long")}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, sink := alertEnv(t)
			env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
			env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(time.Hour)
			if tc.stop {
				env.RegisterDelayedCallback(func() { signalOp(env, "stop", status.OpStop) }, 2*time.Minute)
			}
			env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: tc.flow, Alerts: everything, OperableWindow: "1m"})
			runResult(t, env)
			if got := sink.keys(); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Fatalf("alerts %v, want [%s] (a stopped or timed-out node is no node_failed)", got, tc.want)
			}
		})
	}
}

// TestAlertRetriedRunPagesEachFailureThenRecovered: a node an operator
// retries that fails again pages again (new attempt, new key); the run's
// second failure pages again; its success after them is recovered.
func TestAlertRetriedRunPagesEachFailureThenRecovered(t *testing.T) {
	env, sink := alertEnv(t)
	scripted(env, script{"a": {"failed", "failed", "success"}})
	env.RegisterDelayedCallback(func() { signalOp(env, "retry-1", status.OpRetryFailed) }, time.Minute)
	env.RegisterDelayedCallback(func() { signalOp(env, "retry-2", status.OpRetryFailed) }, 2*time.Minute)
	f := dag.Flow{Name: "f", Nodes: []dag.Node{task("a"), task("b")}, Edges: []dag.Edge{edge("a", "b", "")}}
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Alerts: everything, OperableWindow: "1h"})
	if res := runResult(t, env); res.Status != "success" {
		t.Fatalf("run %s", res.Status)
	}
	want := []string{"node_failed/a#1", "run_failed/end-1", "node_failed/a#2", "run_failed/end-2", "recovered/end-3"}
	if got := sink.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if r := sink.find(dag.AlertRecovered)[0]; r.Status != "success" || len(r.Failed) != 0 {
		t.Fatalf("recovered %+v", r)
	}
}

func TestAlertStopFailedAndRollbackFailed(t *testing.T) {
	env, sink := alertEnv(t)
	env.RegisterActivityWithOptions(func(_ context.Context, req TaskRequest) (TaskResult, error) {
		switch {
		case strings.Contains(req.InstanceID, "rollback"):
			return TaskResult{Status: "failed", Message: "undo failed"}, nil
		case req.NodeID == "a":
			return TaskResult{Status: "stop_failed", Message: "pid 42 survived SIGKILL"}, nil
		}
		return TaskResult{Status: "success"}, nil
	}, activity.RegisterOptions{Name: ExecuteTaskActivity})
	a := task("a")
	a.Task.Rollback = &dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: "undo"}}
	env.RegisterDelayedCallback(func() { signalOp(env, "rb", status.OpRollback) }, time.Minute)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{a}},
		Alerts: everything, OperableWindow: "10m"})
	if res := runResult(t, env); res.Status != "rollback_failed" {
		t.Fatalf("run %s", res.Status)
	}
	// The instance that survived its stop leaves its node stopped, which
	// fails the run.
	want := []string{"stop_failed/" + InstanceID("r1", "a", 0, 1), "run_failed/end-1", "rollback_failed/end-2"}
	if got := sink.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if e := sink.find(dag.AlertStopFailed)[0]; e.Node != "a" || e.Instance != InstanceID("r1", "a", 0, 1) || e.Failed[0].Error != "pid 42 survived SIGKILL" {
		t.Fatalf("stop_failed %+v", e)
	}
}

func slaRule(s dag.SLA) []dag.AlertRule {
	return []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertSLAMiss}, Channels: []string{"oncall"}, SLA: &s}}
}

// TestAlertSLAFiresAtItsDeadline: a run still running an hour after its
// schedule time pages once, at that time, and the run goes on.
func TestAlertSLAFiresAtItsDeadline(t *testing.T) {
	env, sink := newEnv(t), &alertSink{}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	scheduled := start.Add(-10 * time.Minute)
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	var firedAt time.Time
	env.RegisterActivityWithOptions(func(ctx context.Context, ev AlertEvent) error {
		firedAt = ev.At
		return sink.deliver(ctx, ev)
	}, activity.RegisterOptions{Name: DeliverAlertActivity})
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(2 * time.Hour)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("long")}},
		Alerts: slaRule(dag.SLA{After: "1h"}), ScheduledAt: &scheduled})
	if res := runResult(t, env); res.Status != "success" {
		t.Fatalf("run %s", res.Status)
	}
	deadline := scheduled.Add(time.Hour)
	got := sink.find(dag.AlertSLAMiss)
	if len(sink.events) != 1 || len(got) != 1 || got[0].Deadline == nil || !got[0].Deadline.Equal(deadline) ||
		got[0].Key != "sla-"+deadline.Format(time.RFC3339) || got[0].Status != "running" {
		t.Fatalf("alerts %+v, want one sla_miss for %s", sink.events, deadline)
	}
	if d := firedAt.Sub(deadline); d < 0 || d > time.Second {
		t.Fatalf("sla_miss at %s, %s after its deadline %s", firedAt, d, deadline)
	}
}

// TestAlertSLANotFiredWhenInTime: a run that ends before its deadline
// pages nothing and does not wait for the deadline to close.
func TestAlertSLANotFiredWhenInTime(t *testing.T) {
	for _, sla := range []dag.SLA{{After: "1h"}, {At: "06:30", TZ: "Asia/Shanghai"}} {
		t.Run(string(sla.After)+sla.At, func(t *testing.T) {
			env, sink := alertEnv(t)
			start := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC) // 04:00 in Shanghai
			env.SetStartTime(start)
			env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
			env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "success"}, nil).After(10 * time.Minute)
			env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("a")}},
				Alerts: slaRule(sla)})
			if res := runResult(t, env); res.Status != "success" {
				t.Fatalf("run %s", res.Status)
			}
			if len(sink.events) != 0 {
				t.Fatalf("alerts %v for a run that ended in time", sink.keys())
			}
			if ended := env.Now().Sub(start); ended > 20*time.Minute {
				t.Fatalf("the run closed %s after its start: it waited for the SLA timer", ended)
			}
		})
	}
}

// TestAlertSLANotFiredForAnEndedRun: a failed run is not late (run_failed
// paged); retried and still running at the deadline, it is.
func TestAlertSLANotFiredForAnEndedRun(t *testing.T) {
	env, sink := alertEnv(t)
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	rules := append(slaRule(dag.SLA{After: "3h"}), everything...)
	calls := 0
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(func(context.Context, TaskRequest) (TaskResult, error) {
		calls++
		if calls == 1 {
			return TaskResult{Status: "failed", Message: "boom"}, nil
		}
		return TaskResult{Status: "success"}, nil
	}).After(time.Hour)
	env.RegisterDelayedCallback(func() { signalOp(env, "retry", status.OpRetryFailed) }, 150*time.Minute)
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("a")}},
		Alerts: rules, OperableWindow: "1d"})
	runResult(t, env)
	got := sink.keys()
	if len(got) != 4 || got[0] != "node_failed/a#1" || got[1] != "run_failed/end-1" || !strings.HasPrefix(got[2], "sla_miss/") ||
		got[3] != "recovered/end-2" {
		t.Fatalf("alerts %v, want node_failed, run_failed, sla_miss (retried, running at 3h), recovered", got)
	}
}

func TestSLADeadline(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		sla  dag.SLA
		base time.Time
		want time.Time
	}{
		{dag.SLA{After: "90m"}, time.Date(2026, 1, 2, 22, 30, 0, 0, sh), time.Date(2026, 1, 3, 0, 0, 0, 0, sh)},
		// 22:30 job, 06:30 SLA: the next morning.
		{dag.SLA{At: "06:30", TZ: "Asia/Shanghai"}, time.Date(2026, 1, 2, 22, 30, 0, 0, sh), time.Date(2026, 1, 3, 6, 30, 0, 0, sh)},
		// 01:00 job: the same morning.
		{dag.SLA{At: "06:30", TZ: "Asia/Shanghai"}, time.Date(2026, 1, 3, 1, 0, 0, 0, sh), time.Date(2026, 1, 3, 6, 30, 0, 0, sh)},
		// Exactly at the time of day: the next one.
		{dag.SLA{At: "06:30", TZ: "Asia/Shanghai"}, time.Date(2026, 1, 3, 6, 30, 0, 0, sh), time.Date(2026, 1, 4, 6, 30, 0, 0, sh)},
		// No zone: UTC.
		{dag.SLA{At: "06:30"}, time.Date(2026, 1, 3, 1, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 6, 30, 0, 0, time.UTC)},
		// 02:30 does not exist on 2026-03-08 in New York: 03:30 EDT.
		{dag.SLA{At: "02:30", TZ: "America/New_York"}, time.Date(2026, 3, 8, 1, 0, 0, 0, ny), time.Date(2026, 3, 8, 3, 30, 0, 0, ny)},
	}
	for _, c := range cases {
		got, err := SLADeadline(c.sla, c.base)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%+v from %s: %s %v, want %s", c.sla, c.base, got, err, c.want)
		}
	}
	if _, err := SLADeadline(dag.SLA{At: "25:00"}, time.Now()); err == nil {
		t.Error("a bad at computed a deadline")
	}
}

// TestAlertKeysAreWorkflowState: the same run at another time of day, on
// another worker, produces the same events with the same keys; only the
// times differ. A replayed or reset workflow task derives them the same
// way, so the activity's dedupe (run, event, key, channel) holds.
func TestAlertKeysAreWorkflowState(t *testing.T) {
	run := func(start time.Time) []AlertEvent {
		env, sink := alertEnv(t)
		env.SetStartTime(start)
		scripted(env, script{"a": {"failed", "success"}, "b#1": {"failed"}})
		b := task("b")
		b.Task.Mode, b.Task.Shards, b.Task.SuccessRate = dag.ModeSharding, 2, 100
		env.RegisterDelayedCallback(func() { signalOp(env, "retry", status.OpRetryFailed) }, time.Minute)
		f := dag.Flow{Name: "f", Nodes: []dag.Node{task("a"), b}}
		env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: f, Alerts: everything, OperableWindow: "5m"})
		runResult(t, env)
		for i := range sink.events {
			sink.events[i].At = time.Time{}
		}
		// a and b finish in either order: compare the events as a set.
		sort.Slice(sink.events, func(i, j int) bool {
			return string(sink.events[i].Event)+sink.events[i].Key < string(sink.events[j].Event)+sink.events[j].Key
		})
		return sink.events
	}
	first := run(time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC))
	second := run(time.Date(2026, 7, 9, 17, 45, 12, 0, time.UTC))
	if len(first) == 0 || !reflect.DeepEqual(first, second) {
		t.Fatalf("events differ:\n%+v\n%+v", first, second)
	}
}

func TestNoAlertsWithoutRules(t *testing.T) {
	env, sink := alertEnv(t)
	scripted(env, script{"a": {"failed"}})
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("a")}}, OperableWindow: "1m"})
	runResult(t, env)
	if len(sink.events) != 0 {
		t.Fatalf("alerts %v without rules", sink.keys())
	}
}

// TestAlertDeliveryRetriedAndWaitedFor: a delivery that fails is retried
// with backoff, and the run does not close before it went through.
func TestAlertDeliveryRetriedAndWaitedFor(t *testing.T) {
	env, sink := alertEnv(t)
	sink.failFirst = 3
	scripted(env, script{"a": {"failed"}})
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("a")}},
		Alerts: []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed}, Channels: []string{"c"}}}, OperableWindow: "1s"})
	runResult(t, env)
	if got := sink.keys(); !reflect.DeepEqual(got, []string{"run_failed/end-1"}) || sink.attempts["run_failed/end-1"] != 4 {
		t.Fatalf("alerts %v after %v attempts; want delivered on the 4th", got, sink.attempts)
	}
}

// TestAlertStateRestoredAfterContinueAsNew: an execution continued as new
// arms the carried SLA deadline (once: a fired one stays fired), sends
// again the deliveries handed over unfinished, and numbers its run events
// on from the carried count.
func TestAlertStateRestoredAfterContinueAsNew(t *testing.T) {
	env, sink := alertEnv(t)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start.Add(time.Hour))
	env.RegisterActivityWithOptions(slowTasks, activity.RegisterOptions{Name: ExecuteTaskActivity})
	env.OnActivity(ExecuteTaskActivity, mock.Anything, mock.Anything).Return(TaskResult{Status: "failed", Message: "again"}, nil).After(time.Hour)
	rules := append(slaRule(dag.SLA{After: "90m"}), append(slaRule(dag.SLA{After: "30m"}), everything...)...)
	handed := AlertEvent{Event: dag.AlertNodeFailed, Key: "x#1", Channels: []string{"oncall"}, RunID: "r1", Node: "x", At: start.Add(50 * time.Minute)}
	in := RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("x"), task("a")}}, Alerts: rules, OperableWindow: "1m",
		Carry: &Carry{Version: versionAlerts, StartedAt: start, Nodes: []CarriedNode{
			{ID: "x", Status: "failed", Attempts: 1, Message: "boom"}, {ID: "a", Status: "waiting"}},
			Alerts: &CarriedAlerts{Ends: 2, FailedBefore: true, Pending: []AlertEvent{handed}, SLAs: []CarriedSLA{
				{Rule: 0, Deadline: start.Add(90 * time.Minute)}, {Rule: 1, Deadline: start.Add(30 * time.Minute), Fired: true}}}}}
	env.ExecuteWorkflow(RunWorkflowName, in)
	runResult(t, env)
	want := []string{"node_failed/x#1", "sla_miss/sla-" + start.Add(90*time.Minute).Format(time.RFC3339), "node_failed/a#1", "run_failed/end-3"}
	if got := sink.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if !sink.events[0].At.Equal(handed.At) {
		t.Errorf("the handed-over event was re-stamped %s, want its own time %s", sink.events[0].At, handed.At)
	}
}

// driverEnv is a test environment of the backfill or fire workflow with
// the fake DeliverAlertActivity.
func driverEnv(wf any, name string) (*testsuite.TestWorkflowEnvironment, *alertSink) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: name})
	sink := &alertSink{}
	env.RegisterActivityWithOptions(sink.deliver, activity.RegisterOptions{Name: DeliverAlertActivity})
	return env, sink
}

func TestBackfillFinishedAlert(t *testing.T) {
	env, sink := driverEnv(BackfillWorkflow, BackfillWorkflowName)
	rules := []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertBackfillFinished}, Channels: []string{"ops"}}}
	env.RegisterActivityWithOptions(func(context.Context, StartRunRequest) (StartRunResult, error) {
		return StartRunResult{Started: true, Alerts: rules}, nil
	}, activity.RegisterOptions{Name: StartRunActivity})
	end := func(i int, st string, after time.Duration) {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(SignalRunEnded, RunEnded{RunID: BackfillRunID("bf1", i, 1), Status: st})
		}, after)
	}
	// Parallel 2: the third date starts when the first ends.
	end(0, "success", time.Minute)
	end(1, "failed", 2*time.Minute)
	end(2, "success", 3*time.Minute)
	env.ExecuteWorkflow(BackfillWorkflowName, BackfillInput{ID: "bf1", Kind: "flow", DefinitionID: "d", DefinitionName: "settle",
		Dates: []string{"2026-01-01", "2026-01-02", "2026-01-03"}, Parallel: 2, OperableWindow: "1h"})
	var p BackfillProgress
	if err := env.GetWorkflowResult(&p); err != nil {
		t.Fatal(err)
	}
	got := sink.find(dag.AlertBackfillFinished)
	if len(sink.events) != 1 || len(got) != 1 {
		t.Fatalf("alerts %v, want one backfill_finished", sink.keys())
	}
	e := got[0]
	if e.Key != "backfill-bf1-1" || e.BackfillID != "bf1" || e.DefinitionName != "settle" || e.Status != "failed" ||
		!reflect.DeepEqual(e.Counts, map[string]int{"success": 2, "failed": 1}) || !reflect.DeepEqual(e.Channels, []string{"ops"}) {
		t.Fatalf("backfill_finished %+v", e)
	}
}

func TestFireSchedulePausedAlert(t *testing.T) {
	env, sink := driverEnv(FireWorkflow, FireWorkflowName)
	rules := []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertSchedulePaused, dag.AlertRunFailed}, Channels: []string{"ops"}}}
	var mu sync.Mutex
	var started StartRunRequest
	env.RegisterActivityWithOptions(func(_ context.Context, req StartRunRequest) (StartRunResult, error) {
		mu.Lock()
		defer mu.Unlock()
		started = req
		return StartRunResult{Started: true, Alerts: rules}, nil
	}, activity.RegisterOptions{Name: StartRunActivity})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRunEnded, RunEnded{Status: "failed"}) }, time.Minute)
	paused := 0
	env.RegisterActivityWithOptions(func(context.Context, PauseScheduleRequest) error { paused++; return nil },
		activity.RegisterOptions{Name: PauseScheduleActivity})
	env.ExecuteWorkflow(FireWorkflowName, FireInput{Kind: "task", DefinitionID: "t1", DefinitionName: "settle", Trigger: "cron",
		PauseOnFailure: true})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "ended failed") {
		t.Fatalf("fire error %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if started.Input.ScheduledAt == nil {
		t.Error("the fired run was not given its schedule time")
	}
	got := sink.find(dag.AlertSchedulePaused)
	if paused != 1 || len(sink.events) != 1 || len(got) != 1 {
		t.Fatalf("paused %d, alerts %v", paused, sink.keys())
	}
	if e := got[0]; e.ScheduleID != ScheduleID("task", "t1") || e.RunID != started.Record.ID || e.Status != "failed" ||
		e.DefinitionName != "settle" || !reflect.DeepEqual(e.Channels, []string{"ops"}) {
		t.Fatalf("schedule_paused %+v", e)
	}
}

// TestAlertSLAQuietForAFailedRun: a run that failed and sits open for
// operations past its deadline is not late: run_failed paged already.
func TestAlertSLAQuietForAFailedRun(t *testing.T) {
	env, sink := alertEnv(t)
	scripted(env, script{"a": {"failed"}})
	env.ExecuteWorkflow(RunWorkflowName, RunInput{RunID: "r1", Flow: dag.Flow{Name: "f", Nodes: []dag.Node{task("a")}},
		Alerts: append(slaRule(dag.SLA{After: "3h"}), everything...), OperableWindow: "1d"})
	if res := runResult(t, env); res.Status != "failed" {
		t.Fatalf("run %s", res.Status)
	}
	if got := sink.keys(); !reflect.DeepEqual(got, []string{"node_failed/a#1", "run_failed/end-1"}) {
		t.Fatalf("alerts %v", got)
	}
}
