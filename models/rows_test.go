package models

import (
	"context"
	"testing"
	"time"
)

// Every write that changes what a run's detail shows moves its ChangeSeq,
// including log growth of an ended run: the API's cache of ended runs'
// answers holds only while it stays put.
func TestChangeSeqMovesWithEveryWriteToARun(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		seq := func() int64 {
			t.Helper()
			r, err := s.GetRun(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			return r.ChangeSeq
		}
		moved := func(what string, last *int64, want bool) {
			t.Helper()
			now := seq()
			if (now > *last) != want {
				t.Fatalf("%s: change seq %d -> %d, want moved=%v", what, *last, now, want)
			}
			*last = now
		}
		var last int64
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Run: &RunUpdate{Kind: "flow", Status: "running", Rev: 1}}); err != nil {
			t.Fatal(err)
		}
		moved("first write", &last, true)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Nodes: []NodeUpdate{{NodeID: "a", Status: "running", Rev: 2}}}); err != nil {
			t.Fatal(err)
		}
		moved("node-only batch", &last, true)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Instances: []InstanceUpdate{{ID: "r.a.0.1", NodeID: "a", Attempt: 1, Status: "success", Rev: 3, DispatchedAt: &at}}}); err != nil {
			t.Fatal(err)
		}
		moved("instance-only batch", &last, true)
		if err := s.AppendLog(ctx, "r.a.0.1", 0, 0, []byte("open run\n")); err != nil {
			t.Fatal(err)
		}
		moved("log of an open run (not cached, not bumped)", &last, false)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Run: &RunUpdate{Status: "failed", Rev: 4}}); err != nil {
			t.Fatal(err)
		}
		moved("run ends", &last, true)
		if err := s.AppendLog(ctx, "r.a.0.1", 1, 9, []byte("late line\n")); err != nil {
			t.Fatal(err)
		}
		moved("late log of an ended run", &last, true)
		if err := s.AppendLog(ctx, "r.a.0.1", 1, 9, []byte("late line\n")); err != nil {
			t.Fatal(err)
		}
		moved("resent chunk (size unchanged)", &last, false)
		if err := s.AddRunExecution(ctx, &RunExecution{RunID: "r", TemporalRunID: "t2", Reason: "rerun"}); err != nil {
			t.Fatal(err)
		}
		moved("new execution", &last, true)
		if err := s.SetRunWorkflow(ctx, "r", "wf", "t2"); err != nil {
			t.Fatal(err)
		}
		moved("workflow recorded", &last, true)
		if err := s.ApplyMirrorBatches(ctx, []MirrorBatch{{RunID: "r", Transitions: []Transition{{Entity: "run", EntityID: "r", ToStatus: "running", At: at}}}}); err != nil {
			t.Fatal(err)
		}
		moved("bulk batch", &last, true)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Run: &RunUpdate{Status: "running", Rev: 5}}); err != nil {
			t.Fatal(err)
		}
		moved("run reopened", &last, true)
	})
}
