package models

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestReconcileCandidates(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		recent, old := now.Add(-time.Hour), now.Add(-30*24*time.Hour)
		for _, r := range []Run{
			{ID: "r1", Status: "waiting"},
			{ID: "r2", Status: "running"},
			{ID: "r3", Status: "failed", FinishedAt: &recent},
			{ID: "r4", Status: "failed", FinishedAt: &old},
			{ID: "r5", Status: "success", FinishedAt: &recent},
			{ID: "r6", Status: "stopped", FinishedAt: &recent},
			{ID: "r7", Status: "paused"},
			{ID: "r8", Status: "abandoned", FinishedAt: &recent},
			{ID: "r9", Status: "rollback_failed", FinishedAt: &recent},
			{ID: "ra", Status: "timeout"},
		} {
			if err := s.CreateRun(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		// Closed runs with an instance still open in the mirror: a reset
		// left it. Recent ones are looked at again, old ones are not.
		for _, r := range []Run{
			{ID: "rb", Status: "success", FinishedAt: &recent},
			{ID: "rc", Status: "success", FinishedAt: &old},
		} {
			if err := s.CreateRun(ctx, &r); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyMirror(ctx, MirrorBatch{RunID: r.ID, Instances: []InstanceUpdate{
				{ID: r.ID + ".a.0.1", NodeID: "a", Attempt: 1, Status: "running", Rev: 1},
				{ID: r.ID + ".a.0.1~0f2e9a1c", NodeID: "a", Attempt: 1, Status: "success", Rev: 2},
			}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r5", Instances: []InstanceUpdate{
			{ID: "r5.a.0.1", NodeID: "a", Attempt: 1, Status: "success", Rev: 1},
		}}); err != nil {
			t.Fatal(err)
		}
		ids := func(after string, limit int) []string {
			t.Helper()
			rs, err := s.ReconcileCandidates(ctx, after, limit, now.Add(-7*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		if got, want := ids("", 100), []string{"r1", "r2", "r3", "r6", "r7", "r9", "ra", "rb"}; !slices.Equal(got, want) {
			t.Errorf("candidates %v, want %v", got, want)
		}
		if got, want := ids("r2", 2), []string{"r3", "r6"}; !slices.Equal(got, want) {
			t.Errorf("after r2, 2 of them: %v, want %v", got, want)
		}
	})
}
