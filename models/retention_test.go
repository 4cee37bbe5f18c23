package models

import (
	"context"
	"testing"
	"time"
)

func TestPurgeRemovesOldFinishedRunsAndTheirRecords(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		old, recent := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
		for i, r := range []Run{
			{ID: "old1", FinishedAt: &old}, {ID: "old2", FinishedAt: &old}, {ID: "old3", FinishedAt: &old},
			{ID: "recent", FinishedAt: &recent}, {ID: "open"},
		} {
			r.Kind, r.Status, r.CreatedAt = "flow", "success", old.Add(time.Duration(i)*time.Second)
			if err := s.CreateRun(ctx, &r); err != nil {
				t.Fatal(err)
			}
			inst := r.ID + ".n.0.1"
			if err := s.ApplyMirror(ctx, MirrorBatch{RunID: r.ID,
				Nodes:       []NodeUpdate{{NodeID: "n", Status: "success", Rev: 1}},
				Instances:   []InstanceUpdate{{ID: inst, NodeID: "n", Status: "success", Rev: 1}},
				Transitions: []Transition{{Entity: "run", EntityID: r.ID, ToStatus: "success", At: old}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.AppendLog(ctx, inst, 0, 0, []byte("log of "+r.ID)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddAudit(ctx, &AuditEntry{At: old, Actor: "a", Method: "POST", Path: "/x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddAudit(ctx, &AuditEntry{At: recent, Actor: "a", Method: "POST", Path: "/y"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Purge(ctx, now.Add(-7*24*time.Hour), 2) // batches of 2: three old runs take two batches
		if err != nil {
			t.Fatal(err)
		}
		if st.Runs != 3 || st.Audit != 1 {
			t.Fatalf("purged %+v, want 3 runs and 1 audit entry", st)
		}
		for _, id := range []string{"old1", "old2", "old3"} {
			if _, err := s.GetRun(ctx, id); err == nil {
				t.Errorf("run %s survived", id)
			}
			if n, _ := s.LogSize(ctx, id+".n.0.1"); n != 0 {
				t.Errorf("log of %s survived", id)
			}
			if ns, _ := s.ListNodeRuns(ctx, id); len(ns) != 0 {
				t.Errorf("node runs of %s survived", id)
			}
		}
		for _, id := range []string{"recent", "open"} {
			if _, err := s.GetRun(ctx, id); err != nil {
				t.Errorf("run %s was purged: %v", id, err)
			}
			if n, _ := s.LogSize(ctx, id+".n.0.1"); n == 0 {
				t.Errorf("log of %s was purged", id)
			}
		}
		if _, total, _ := s.ListAudit(ctx, AuditFilter{Limit: 10}); total != 1 {
			t.Errorf("audit entries left: %d, want 1", total)
		}
	})
}
