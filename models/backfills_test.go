package models

import (
	"context"
	"errors"
	"testing"
)

func TestBackfills(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateBackfill(ctx, &Backfill{ID: "b1", Kind: "flow", DefinitionID: "f1", Status: "running", Total: 3, Waiting: 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBackfill(ctx, &Backfill{ID: "b1"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		if err := s.UpdateBackfillProgress(ctx, "b1", BackfillCounts{Status: "success", Total: 3, Done: 3}); err != nil {
			t.Fatal(err)
		}
		b, err := s.GetBackfill(ctx, "b1")
		if err != nil || b.Status != "success" || b.Done != 3 || b.Waiting != 0 {
			t.Fatalf("%+v %v", b, err)
		}
		if _, err := s.GetBackfill(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		list, total, err := s.ListBackfills(ctx, "f1", 10, 0)
		if err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("%v %d %v", list, total, err)
		}
		if err := s.CreateRun(ctx, &Run{ID: "r1", Kind: "flow", DefinitionID: "f1", Status: "waiting", BackfillID: "b1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRun(ctx, &Run{ID: "r2", Kind: "flow", DefinitionID: "f1", Status: "waiting"}); err != nil {
			t.Fatal(err)
		}
		runs, n, err := s.ListRuns(ctx, RunFilter{BackfillID: "b1"})
		if err != nil || n != 1 || runs[0].ID != "r1" {
			t.Fatalf("runs of backfill: %v %d %v", runs, n, err)
		}
	})
}
