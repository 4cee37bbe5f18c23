package models

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkApplyMirror measures the two batch shapes a run's workflow
// writes: a fan-out dispatching 1000 nodes at once (1000 existing node rows
// updated, 1000 instances inserted, 2000 transitions) and the steady state
// of a few completions per workflow task.
//
//	go test ./models -run '^$' -bench ApplyMirror -benchtime 20x
func BenchmarkApplyMirror(b *testing.B) {
	stores := map[string]func(b *testing.B) *Store{"sqlite": func(b *testing.B) *Store { return freshSQLite(b) }}
	if dsn := os.Getenv("BATON_TEST_MYSQL_DSN"); dsn != "" {
		stores["mysql"] = func(b *testing.B) *Store { return freshMySQL(b, dsn) }
	}
	for _, db := range []string{"sqlite", "mysql"} {
		open, ok := stores[db]
		if !ok {
			continue
		}
		b.Run(db+"/fanout-1000", func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			for i := range b.N {
				run := fmt.Sprintf("bench-fan-%d-%d", time.Now().UnixNano(), i)
				b.StopTimer()
				if err := s.ApplyMirror(ctx, fanBatch(run, 1, "waiting", false)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := s.ApplyMirror(ctx, fanBatch(run, 2, "dispatched", true)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(db+"/steady-3", func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			run := fmt.Sprintf("bench-steady-%d", time.Now().UnixNano())
			if err := s.ApplyMirror(ctx, fanBatch(run, 1, "dispatched", true)); err != nil {
				b.Fatal(err)
			}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ResetTimer()
			for i := range b.N {
				rev := int64(10 + i)
				batch := MirrorBatch{RunID: run}
				for k := range 3 {
					id := fmt.Sprintf("n%04d", (3*i+k)%1000)
					batch.Nodes = append(batch.Nodes, NodeUpdate{NodeID: id, Status: "success", Rev: rev, FinishedAt: &at})
					batch.Instances = append(batch.Instances, InstanceUpdate{ID: run + "." + id + ".0.1", NodeID: id, Status: "success", Rev: rev, FinishedAt: &at})
					batch.Transitions = append(batch.Transitions,
						Transition{Entity: "node", EntityID: id, ToStatus: "success", At: at.Add(time.Duration(rev) * time.Millisecond)},
						Transition{Entity: "instance", EntityID: id, ToStatus: "success", At: at.Add(time.Duration(rev) * time.Millisecond)})
				}
				if err := s.ApplyMirror(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fanBatch(run string, rev int64, st string, instances bool) MirrorBatch {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := MirrorBatch{RunID: run, Run: &RunUpdate{Kind: "flow", Status: "running", Rev: rev}}
	for i := range 1000 {
		id := fmt.Sprintf("n%04d", i)
		b.Nodes = append(b.Nodes, NodeUpdate{NodeID: id, Status: st, Rev: rev})
		if instances {
			b.Instances = append(b.Instances, InstanceUpdate{ID: run + "." + id + ".0.1", NodeID: id, Status: st, Rev: rev})
			b.Transitions = append(b.Transitions,
				Transition{Entity: "node", EntityID: id, ToStatus: st, At: at.Add(time.Duration(rev) * time.Second)},
				Transition{Entity: "instance", EntityID: id, ToStatus: st, At: at.Add(time.Duration(rev) * time.Second)})
		}
	}
	return b
}
