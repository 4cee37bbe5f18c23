package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/workflows"
)

func TestShapesAreValidFlows(t *testing.T) {
	for _, quick := range []bool{true, false} {
		for _, s := range Shapes(quick) {
			f := s.Flow()
			if p := dag.ValidateFlow(&f, dag.Options{}); len(p) > 0 {
				t.Errorf("%s: invalid flow: %v", s.Name, p.Err())
				continue
			}
			g, err := dag.NewGraph(&f)
			if err != nil {
				t.Errorf("%s: %v", s.Name, err)
				continue
			}
			tasks := 0
			for _, n := range f.Nodes {
				if !n.IsLogic() {
					tasks++
				}
			}
			if tasks != s.TaskNodes() {
				t.Errorf("%s: %d task nodes, want %d", s.Name, tasks, s.TaskNodes())
			}
			if roots := g.Roots(); len(roots) != s.Widths[0] {
				t.Errorf("%s: %d roots, want %d", s.Name, len(roots), s.Widths[0])
			}
			if s.Hand != HandNone {
				if _, _, err := s.HandWorkflow("r"); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
			}
		}
	}
}

func TestShapeEdges(t *testing.T) {
	cases := []struct {
		shape        Shape
		nodes, edges int
	}{
		{Shape{Name: "chain", Widths: repeat(1, 100)}, 100, 99},
		{Shape{Name: "fanout", Widths: []int{1, 1000, 1}}, 1002, 2000},
		{Shape{Name: "layered", Widths: repeat(50, 20)}, 1000, 50 * 50 * 19},
		{Shape{Name: "layered-and", Widths: repeat(50, 20), ViaAnd: true}, 1000 + 19, (50 + 50) * 19},
		// A gate between a one-wide and a wide layer would add nothing.
		{Shape{Name: "fanout-and", Widths: []int{1, 10, 1}, ViaAnd: true}, 12, 20},
		{Shape{Name: "flow", Widths: repeat(100, 100), ViaAnd: true}, 10000 + 99, 200 * 99},
	}
	for _, c := range cases {
		f := c.shape.Flow()
		if len(f.Nodes) != c.nodes || len(f.Edges) != c.edges {
			t.Errorf("%s: %d nodes, %d edges; want %d, %d", c.shape.Name, len(f.Nodes), len(f.Edges), c.nodes, c.edges)
		}
	}
}

func TestTaskDepsLookThroughLogicNodes(t *testing.T) {
	full := Shape{Widths: []int{2, 3}}.Flow()
	gated := Shape{Widths: []int{2, 3}, ViaAnd: true}.Flow()
	for name, f := range map[string]dag.Flow{"full": full, "gated": gated} {
		deps := TaskDeps(&f)
		if len(deps) != 5 {
			t.Fatalf("%s: deps of %d nodes, want the 5 task nodes: %v", name, len(deps), deps)
		}
		for i := 0; i < 3; i++ {
			got := strings.Join(deps[NodeID(1, i)], ",")
			if got != "n0.0,n0.1" {
				t.Errorf("%s: deps of %s = %s", name, NodeID(1, i), got)
			}
		}
		if len(deps[NodeID(0, 0)]) != 0 {
			t.Errorf("%s: a root has deps %v", name, deps[NodeID(0, 0)])
		}
	}
}

func TestFilterShapes(t *testing.T) {
	all := Shapes(false)
	got, err := FilterShapes(all, "chain-1, fanout-1000")
	if err != nil || len(got) != 2 || got[0].Name != "chain-100" || got[1].Name != "fanout-1000" {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, _ := FilterShapes(all, ""); len(got) != len(all) {
		t.Fatalf("empty filter kept %d of %d", len(got), len(all))
	}
	if _, err := FilterShapes(all, "nope"); err == nil {
		t.Fatal("a filter matching nothing must fail")
	}
}

func TestAlertsVariant(t *testing.T) {
	sh := Shapes(false)[0]
	vs := (&Options{Mirror: "both", Alerts: true}).Variants(sh)
	if len(vs) != 4 || vs[3] != VariantAlerts {
		t.Fatalf("variants %v", vs)
	}
	if vs := (&Options{Mirror: "both"}).Variants(sh); len(vs) != 3 {
		t.Fatalf("alerts run without -alerts: %v", vs)
	}
	// Rules the API would refuse would measure nothing real; an SLA rule
	// is what sets the timer.
	if p := dag.ValidateAlerts("alerts", AlertRules); len(p) > 0 {
		t.Fatal(p)
	}
	// The alerts row compares with mirror on in the results, and does not
	// overwrite mirror on's target verdict.
	rows := []Row{{Shape: sh, Variant: VariantMirrorOn, OK: 1, Ratio: 1.1}, {Shape: sh, Variant: VariantAlerts, OK: 1, Ratio: 9}}
	if tt := TargetTable(rows); !strings.Contains(tt, "1.10: met") || strings.Contains(tt, "9.00") {
		t.Fatalf("target table:\n%s", tt)
	}
}

// history builds a synthetic history the way the server writes one.
type history struct {
	t0  time.Time
	ex  Execution
	ids map[string]int64 // node → ActivityTaskScheduled event id
}

func newHistory(t0 time.Time) *history { return &history{t0: t0, ids: map[string]int64{}} }

func (h *history) add(ms int, typ enumspb.EventType, set func(e *historypb.HistoryEvent)) int64 {
	e := &historypb.HistoryEvent{EventId: int64(len(h.ex) + 1), EventType: typ,
		EventTime: timestamppb.New(h.t0.Add(time.Duration(ms) * time.Millisecond))}
	if set != nil {
		set(e)
	}
	h.ex = append(h.ex, e)
	return e.EventId
}

// task adds one workflow task (scheduled, started at startMS, completed at
// doneMS) that schedules nodes; it returns the completed event id.
func (h *history) task(t *testing.T, startMS, doneMS int, nodes ...string) {
	t.Helper()
	h.add(startMS, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil)
	started := h.add(startMS, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, nil)
	done := h.add(doneMS, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
			WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{StartedEventId: started}}
	})
	for _, n := range nodes {
		in, err := converter.GetDefaultDataConverter().ToPayloads(workflows.TaskRequest{NodeID: n})
		if err != nil {
			t.Fatal(err)
		}
		h.ids[n] = h.add(doneMS, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
				ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
					ActivityId: "a-" + n, Input: in, WorkflowTaskCompletedEventId: done}}
		})
	}
}

// activity adds a node's started and completed events.
func (h *history) activity(node string, startMS, doneMS int) {
	sched := h.ids[node]
	started := h.add(startMS, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: sched}}
	})
	h.add(doneMS, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
				ScheduledEventId: sched, StartedEventId: started}}
	})
}

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestAnalyzeChainAcrossContinueAsNew(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Run 1: a, then b; continue-as-new. Run 2: c.
	r1 := newHistory(t0)
	r1.add(0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil)
	r1.task(t, 0, 5, "a")
	r1.activity("a", 20, 30)
	r1.task(t, 40, 45, "b") // hop a→b: 30 → 60 = 30 ms: 10 to task, 5 in it, 15 to start
	r1.activity("b", 60, 70)
	r1.task(t, 75, 80)
	r1.add(80, enumspb.EVENT_TYPE_MARKER_RECORDED, nil)
	r1.add(80, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, nil)
	r2 := newHistory(t0)
	r2.add(85, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil)
	r2.task(t, 90, 100, "c") // hop b→c: 70 → 120 = 50 ms: 20, 10, 20
	r2.activity("c", 120, 125)
	r2.task(t, 130, 131)
	r2.add(131, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, nil)

	deps := map[string][]string{"a": nil, "b": {"a"}, "c": {"b"}}
	st, err := Analyze([]Execution{r1.ex, r2.ex}, deps, NodeFromRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 2 || st.Events != len(r1.ex)+len(r2.ex) || st.WorkflowTasks != 5 || st.Activities != 3 || st.Markers != 1 {
		t.Fatalf("counts: %+v", st)
	}
	if st.Bytes <= 0 {
		t.Fatal("history size not counted")
	}
	want := map[string][]time.Duration{
		"hops": {msec(30), msec(50)}, "critical": {msec(30), msec(50)},
		"to task": {msec(10), msec(20)}, "in task": {msec(5), msec(10)}, "to activity": {msec(15), msec(20)},
	}
	got := map[string][]time.Duration{
		"hops": st.Hops, "critical": st.Critical, "to task": st.ToTask, "in task": st.InTask, "to activity": st.ToActivity,
	}
	for k, w := range want {
		if !equalDurations(got[k], w) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	// First task started at 20; b done at 70 in run 1, c started at 120 in
	// run 2; c done at 125, closed at 131.
	if st.Startup != msec(20) || st.Handover != msec(50) || st.Finish != msec(6) {
		t.Errorf("startup %v, handover %v, finish %v", st.Startup, st.Handover, st.Finish)
	}
}

func TestAnalyzeFanInCriticalHop(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHistory(t0)
	h.task(t, 0, 1, "x", "y")
	h.activity("x", 10, 20)
	h.activity("y", 10, 50)
	h.task(t, 55, 60, "z")
	h.activity("z", 70, 80)
	st, err := Analyze([]Execution{h.ex}, map[string][]string{"x": nil, "y": nil, "z": {"x", "y"}}, NodeFromRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	// All pairs: x→z 50, y→z 20; critical: only y, the last to finish.
	if !equalDurations(st.Hops, []time.Duration{msec(50), msec(20)}) || !equalDurations(st.Critical, []time.Duration{msec(20)}) {
		t.Fatalf("hops %v, critical %v", st.Hops, st.Critical)
	}
	if !equalDurations(st.ToTask, []time.Duration{msec(5)}) || !equalDurations(st.InTask, []time.Duration{msec(5)}) ||
		!equalDurations(st.ToActivity, []time.Duration{msec(10)}) {
		t.Fatalf("split %v %v %v", st.ToTask, st.InTask, st.ToActivity)
	}
}

func TestAnalyzeRejectsUndecodableInput(t *testing.T) {
	h := newHistory(time.Now())
	h.add(0, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityId: "bad"}}
	})
	if _, err := Analyze([]Execution{h.ex}, nil, NodeFromRequest(nil)); err == nil {
		t.Fatal("an activity without a task request must be an error")
	}
}

func TestMedian(t *testing.T) {
	if Median(nil) != 0 {
		t.Error("median of nothing")
	}
	in := []time.Duration{5, 1, 3}
	if m := Median(in); m != 3 || in[0] != 5 {
		t.Errorf("median %v of %v (input must stay unsorted)", m, in)
	}
	if m := Median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("even median %v", m)
	}
}

func TestSummarizeRatiosAndReport(t *testing.T) {
	sh := Shape{Name: "chain-3", Widths: repeat(1, 3), Hand: HandChain}
	sample := func(rep int, d time.Duration) Sample {
		return Sample{Rep: rep, Makespan: d, Stats: HistoryStats{Runs: 1, Events: 30, WorkflowTasks: 4, Hops: []time.Duration{d / 10}}}
	}
	results := []*Result{
		{Shape: sh, Variant: VariantHand, Samples: []Sample{sample(1, 100*time.Millisecond), sample(2, 200*time.Millisecond)}},
		{Shape: sh, Variant: VariantMirrorOff, Samples: []Sample{sample(1, 110*time.Millisecond), sample(2, 220*time.Millisecond)}},
		{Shape: sh, Variant: VariantMirrorOn, Samples: []Sample{sample(1, 150*time.Millisecond), {Rep: 2, Err: errTest}}},
	}
	rows := Summarize(results)
	if r := rows[1]; r.Ratio < 1.099 || r.Ratio > 1.101 || len(r.RepRatios) != 2 || r.EventsPerNode != 10 {
		t.Fatalf("mirror off row: %+v", r)
	}
	if r := rows[2]; r.OK != 1 || len(r.Errors) != 1 || r.Ratio < 0.99 || r.Ratio > 1.01 {
		t.Fatalf("mirror on row: %+v", r)
	}
	targets := TargetTable(rows)
	if !strings.Contains(targets, "1.10: met") || !strings.Contains(targets, "1.00: met") {
		t.Fatalf("targets:\n%s", targets)
	}
	rep := &Report{Command: "go run ./internal/bench/cmd", Reps: 2, Mirror: "both", Shapes: []Shape{sh}, Rows: rows, Analysis: "kept\n"}
	doc := rep.Markdown()
	for _, want := range []string{"go run ./internal/bench/cmd", "| chain-3 | interpreter, mirror off |", "## Failures", AnalysisMarker + "\nkept\n"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

var errTest = errors.New("boom")

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSplitControl(t *testing.T) {
	for _, c := range []struct {
		filter, rest    string
		control, others bool
	}{
		{"", "", true, true},
		{"control", "", true, false},
		{"chain-100, control ,shell", "chain-100,shell", true, true},
		{"chain", "chain", false, true},
		// Only the whole term names the control shape: "con" is a filter
		// of the other shapes, as every other term is.
		{"con", "con", false, true},
	} {
		rest, control, others := SplitControl(c.filter)
		if rest != c.rest || control != c.control || others != c.others {
			t.Errorf("SplitControl(%q) = %q, %v, %v; want %q, %v, %v", c.filter, rest, control, others, c.rest, c.control, c.others)
		}
	}
}

func TestControlTable(t *testing.T) {
	if ControlTable(nil) != "" {
		t.Error("a shape not run has no table")
	}
	r := &ControlResult{Ops: 4, AfterAnswer: 1}
	for _, d := range []int{10, 20, 30, 400} {
		r.Answer = append(r.Answer, time.Duration(d)*time.Millisecond)
		r.Effect = append(r.Effect, time.Duration(d-5)*time.Millisecond)
	}
	got := ControlTable(r)
	for _, want := range []string{"| its answer | 20.0 | 400.0 | 400.0 | p95 < 100ms: missed |", "in the mirror by the answer: 3 of 4"} {
		if !strings.Contains(got, want) {
			t.Errorf("control table lacks %q:\n%s", want, got)
		}
	}
}
