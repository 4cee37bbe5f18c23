package reconcile

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/models"
)

// converged is a two-node run whose mirror matches its view at rev 20.
func converged() (models.RunMirror, Truth) {
	m := models.RunMirror{
		Run: models.Run{ID: "r", Status: "running", Rev: 11, TemporalRunID: "t"},
		Nodes: []models.NodeRun{
			{RunID: "r", NodeID: "a", Status: "success", Attempts: 1, Outputs: `{"k":"v"}`, Rev: 15},
			{RunID: "r", NodeID: "b", Status: "running", Attempts: 2, Message: "attempt 1 failed", Rev: 19},
		},
		Instances: []models.Instance{
			{ID: "r.a.0.1", RunID: "r", NodeID: "a", Attempt: 1, Status: "success", Rev: 14},
			{ID: "r.b.0.1", RunID: "r", NodeID: "b", Attempt: 1, Status: "failed", Rev: 16},
			{ID: "r.b.0.2", RunID: "r", NodeID: "b", Attempt: 2, Status: "running", Rev: 18},
		},
		Transitions: []models.Transition{
			{Entity: "run", EntityID: "r", ToStatus: "running"},
			{Entity: "node", EntityID: "a", ToStatus: "waiting"}, {Entity: "node", EntityID: "b", ToStatus: "waiting"},
			{Entity: "node", EntityID: "a", ToStatus: "dispatched"}, {Entity: "instance", EntityID: "r.a.0.1", ToStatus: "success"},
			{Entity: "node", EntityID: "a", ToStatus: "success"}, {Entity: "node", EntityID: "b", ToStatus: "dispatched"},
			{Entity: "instance", EntityID: "r.b.0.1", ToStatus: "failed"},
		},
	}
	// The worker has marked b and its second instance running; the
	// workflow still reports them dispatched and waiting.
	v := control.View{Status: "running", Rev: 20, Nodes: []control.NodeView{
		{ID: "a", Status: "success", Attempts: 1, Outputs: map[string]string{"k": "v"},
			Instances: []control.InstanceView{{ID: "r.a.0.1", Attempt: 1, Status: "success"}}},
		{ID: "b", Status: "dispatched", Attempts: 2,
			Instances: []control.InstanceView{{ID: "r.b.0.2", Attempt: 2, Status: "waiting"}}},
	}}
	return m, Truth{View: v, TemporalRunID: "t"}
}

func TestPlanConvergedIsEmpty(t *testing.T) {
	m, tr := converged()
	if p := NewPlan(m, tr, time.Now()); !p.Empty() || len(p.Behind) > 0 {
		t.Fatalf("converged run planned %v, behind %v", p.Repairs, p.Behind)
	}
}

func TestPlanRepairsAtStoredRevAndRecreatesAtZero(t *testing.T) {
	m, tr := converged()
	m.Run.Status = "success"          // forwards
	m.Nodes[0].Status = "waiting"     // backwards
	m.Nodes = m.Nodes[:1]             // b gone
	m.Instances = m.Instances[:1]     // b's instances gone
	m.Transitions = m.Transitions[1:] // the run's gone
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := NewPlan(m, tr, now)
	b := p.Batch
	if b.Run == nil || b.Run.Status != "running" || b.Run.Rev != 11 || b.Run.FinishedAt != nil {
		t.Errorf("run update %+v, want running at the stored rev 11", b.Run)
	}
	if len(b.Nodes) != 2 || b.Nodes[0].NodeID != "a" || b.Nodes[0].Status != "success" || b.Nodes[0].Rev != 15 ||
		b.Nodes[0].Outputs["k"] != "v" || b.Nodes[1].NodeID != "b" || b.Nodes[1].Status != "dispatched" || b.Nodes[1].Rev != 0 {
		t.Errorf("node updates %+v", b.Nodes)
	}
	if len(b.Instances) != 1 || b.Instances[0].ID != "r.b.0.2" || b.Instances[0].Rev != 0 || b.Instances[0].Status != "waiting" {
		t.Errorf("instance updates %+v", b.Instances)
	}
	if len(b.Transitions) != 1 || b.Transitions[0].Entity != "run" || b.Transitions[0].ToStatus != "running" ||
		b.Transitions[0].Actor != Actor || !b.Transitions[0].At.Equal(now) {
		t.Errorf("transitions %+v, want the run's missing one", b.Transitions)
	}
	if len(p.Repairs) != 5 {
		t.Errorf("repairs %q", p.Repairs)
	}
}

func TestPlanLeavesRowsNewerThanTheView(t *testing.T) {
	m, tr := converged()
	// The workflow finished a and wrote it after answering the query.
	m.Nodes[0].Status, m.Nodes[0].Rev = "failed", 21
	tr.View.Nodes[0].Status = "dispatched"
	m.Transitions = append(m.Transitions, models.Transition{Entity: "node", EntityID: "a", ToStatus: "failed"})
	p := NewPlan(m, tr, time.Now())
	if !p.Empty() || len(p.Batch.Nodes) > 0 || len(p.Batch.Transitions) > 0 {
		t.Errorf("planned %v from a view older than the row", p.Repairs)
	}
	if len(p.Behind) != 1 || !strings.Contains(p.Behind[0], "node a") {
		t.Errorf("behind %v", p.Behind)
	}
	if d := Diff(m, tr); len(d) != 1 {
		t.Errorf("Diff %v, want the newer row reported", d)
	}
}

func TestPlanComparesFieldsTheViewCarries(t *testing.T) {
	for name, mutate := range map[string]func(*models.RunMirror){
		"attempts": func(m *models.RunMirror) { m.Nodes[1].Attempts = 1 },
		"forced":   func(m *models.RunMirror) { m.Nodes[0].Forced = true },
		"outputs":  func(m *models.RunMirror) { m.Nodes[0].Outputs = `{"k":"w"}` },
		"instance": func(m *models.RunMirror) { m.Instances[2].Status = "success" },
		"temporal": func(m *models.RunMirror) { m.Run.TemporalRunID = "" },
	} {
		m, tr := converged()
		mutate(&m)
		if p := NewPlan(m, tr, time.Now()); len(p.Repairs) != 1 {
			t.Errorf("%s: repairs %q, want one", name, p.Repairs)
		}
	}
	// A message or outputs the view does not carry is kept, not compared.
	m, tr := converged()
	m.Nodes[0].Message = "old retry note"
	tr.View.Nodes[0].Outputs = nil
	if p := NewPlan(m, tr, time.Now()); !p.Empty() {
		t.Errorf("repairs %q", p.Repairs)
	}
}

// A repair planned from a view is written at the rows' own revs: if the
// engine writes newer state between the plan and the write, the repair
// loses, so the reconciler never moves a row backwards.
func TestRepairNeverOverwritesANewerWrite(t *testing.T) {
	ctx := context.Background()
	s, err := models.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(ctx, &models.Run{ID: "r", Status: "running"}); err != nil {
		t.Fatal(err)
	}
	seed := models.MirrorBatch{RunID: "r", Run: &models.RunUpdate{Status: "running", Rev: 11},
		Nodes: []models.NodeUpdate{{NodeID: "a", Status: "waiting", Rev: 15}, {NodeID: "b", Status: "waiting", Rev: 12}}}
	if err := s.ApplyMirror(ctx, seed); err != nil {
		t.Fatal(err)
	}
	m, err := s.LoadRunMirror(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	v := control.View{Status: "running", Rev: 20, Nodes: []control.NodeView{
		{ID: "a", Status: "dispatched", Attempts: 1}, {ID: "b", Status: "dispatched", Attempts: 1}, {ID: "c", Status: "waiting"}}}
	p := NewPlan(m, Truth{View: v}, time.Now())
	// Meanwhile the workflow moves a on and writes c itself.
	newer := models.MirrorBatch{RunID: "r", Nodes: []models.NodeUpdate{
		{NodeID: "a", Status: "success", Attempts: 1, Rev: 21}, {NodeID: "c", Status: "dispatched", Attempts: 1, Rev: 22}}}
	if err := s.ApplyMirror(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyMirror(ctx, p.Batch); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodeRuns(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, n.NodeID+"="+n.Status)
	}
	slices.Sort(got)
	if want := []string{"a=success", "b=dispatched", "c=dispatched"}; !slices.Equal(got, want) {
		t.Fatalf("nodes %v, want %v: the repair must lose to newer writes and fix the rest", got, want)
	}
}

// A run that holds unsent mirror changes brings their transitions itself:
// the rows are repaired, the log is not (found by the fault suite: the
// reconciler's stand-ins and the run's own transitions were both logged).
// Once the workflow has closed, nothing will come, and the log is repaired.
func TestPlanLeavesTheLogToARunWithUnsentChanges(t *testing.T) {
	m, tr := converged()
	m.Nodes[0].Status = "waiting"
	m.Transitions = m.Transitions[:len(m.Transitions)-3] // a's success and b's dispatch gone (and b.0.1's, not in the view)
	tr.View.Unsent = true
	p := NewPlan(m, tr, time.Now())
	if len(p.Batch.Nodes) != 1 || len(p.Batch.Transitions) != 0 {
		t.Fatalf("open run with unsent changes: nodes %+v, transitions %+v; want a repaired, no transition", p.Batch.Nodes, p.Batch.Transitions)
	}
	if len(p.Behind) != 2 || len(Diff(m, tr)) != 3 {
		t.Errorf("behind %v; diff %v: want the unlogged transitions reported, not repaired", p.Behind, Diff(m, tr))
	}
	tr.Closed = true
	if p := NewPlan(m, tr, time.Now()); len(p.Batch.Transitions) != 2 || len(p.Behind) != 0 {
		t.Errorf("closed run: transitions %+v, behind %v; want the log repaired", p.Batch.Transitions, p.Behind)
	}
}
