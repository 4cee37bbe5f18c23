package models

import (
	"context"
	"testing"
	"time"
)

// TestMirrorResetWrite: the first write of a reset execution abandons the
// instances the replaced execution left open (except those the new one
// still waits for and rows newer than the write), and rebases its
// transitions on the log, so the log of each entity stays one chain.
func TestMirrorResetWrite(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		tr := func(entity, id, from, to string, sec int) Transition {
			return Transition{Entity: entity, EntityID: id, FromStatus: from, ToStatus: to, Actor: "engine", At: at.Add(time.Duration(sec) * time.Second)}
		}
		// The execution the reset replaces: a succeeded, b running, c
		// waiting, and an instance of d that is still live after the reset.
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r",
			Run:   &RunUpdate{Status: "running", Rev: 10},
			Nodes: []NodeUpdate{{NodeID: "a", Status: "success", Rev: 10}, {NodeID: "b", Status: "running", Rev: 10}, {NodeID: "c", Status: "waiting", Rev: 10}},
			Instances: []InstanceUpdate{
				{ID: "r.a.0.1", NodeID: "a", Attempt: 1, Status: "success", Rev: 10},
				{ID: "r.b.0.1", NodeID: "b", Attempt: 1, Status: "running", Rev: 10},
				{ID: "r.d.0.1", NodeID: "d", Attempt: 1, Status: "running", Rev: 10},
				{ID: "r.e.0.1", NodeID: "e", Attempt: 1, Status: "waiting", Rev: 99}, // written after the reset's write
			},
			Transitions: []Transition{tr("run", "r", "", "running", 0), tr("node", "a", "", "waiting", 0), tr("node", "a", "waiting", "dispatched", 1),
				tr("node", "a", "dispatched", "success", 2), tr("node", "b", "", "waiting", 0), tr("node", "b", "waiting", "dispatched", 3),
				tr("node", "c", "", "waiting", 0)},
		}); err != nil {
			t.Fatal(err)
		}
		// The reset execution's first write, from the reset point: the run
		// starting, every node waiting, a dispatched again.
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r",
			Run:       &RunUpdate{Status: "running", Rev: 20},
			Nodes:     []NodeUpdate{{NodeID: "a", Status: "dispatched", Rev: 20}, {NodeID: "b", Status: "waiting", Rev: 20}, {NodeID: "c", Status: "waiting", Rev: 20}},
			Instances: []InstanceUpdate{{ID: "r.a.0.1~0f2e9a1c", NodeID: "a", Attempt: 1, Status: "waiting", Rev: 20}},
			Transitions: []Transition{tr("run", "r", "", "running", 10), tr("node", "a", "", "waiting", 10), tr("node", "a", "waiting", "dispatched", 10),
				tr("node", "b", "", "waiting", 10), tr("node", "c", "", "waiting", 10)},
			Reset: &ResetWrite{Live: []string{"r.d.0.1"}},
		}); err != nil {
			t.Fatal(err)
		}
		m, err := s.LoadRunMirror(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"r.a.0.1": "success", "r.b.0.1": "stopped", "r.d.0.1": "running", "r.e.0.1": "waiting", "r.a.0.1~0f2e9a1c": "waiting"}
		for _, in := range m.Instances {
			if want[in.ID] != in.Status {
				t.Errorf("instance %s is %s, want %s", in.ID, in.Status, want[in.ID])
			}
			if in.ID == "r.b.0.1" && (in.Message != supersededMessage || in.FinishedAt == nil || in.Rev != 20) {
				t.Errorf("abandoned instance: %+v", in)
			}
		}
		last := map[string]string{}
		for _, x := range m.Transitions {
			key := x.Entity + "/" + x.EntityID
			if prev, ok := last[key]; ok && prev != x.FromStatus {
				t.Errorf("%s: %s→%s after %s", key, x.FromStatus, x.ToStatus, prev)
			}
			last[key] = x.ToStatus
		}
		wantLast := map[string]string{"run/r": "running", "node/a": "dispatched", "node/b": "waiting", "node/c": "waiting", "instance/r.b.0.1": "stopped"}
		for k, v := range wantLast {
			if last[k] != v {
				t.Errorf("%s: log ends in %q, want %q", k, last[k], v)
			}
		}
		if n := len(m.Transitions); n != 7+4 {
			t.Errorf("%d transitions, want 11 (7, then b running→stopped, a success→waiting→dispatched, b dispatched→waiting; run and c unchanged)", n)
		}
	})
}
