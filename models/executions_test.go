package models

import (
	"context"
	"testing"
)

func TestRunExecutions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, e := range []RunExecution{
			{RunID: "r1", TemporalRunID: "t1", Reason: "start"},
			{RunID: "r1", TemporalRunID: "t2", Reason: "rerun-from", Node: "b", Reexecuted: `["b","c"]`},
			{RunID: "r2", TemporalRunID: "t3", Reason: "start"},
		} {
			if err := s.AddRunExecution(ctx, &e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ListRunExecutions(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].TemporalRunID != "t1" || got[1].Node != "b" || got[1].Reexecuted != `["b","c"]` {
			t.Fatalf("%+v", got)
		}
	})
}
