package models

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRunCreateGetWorkflow(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		created := time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		r := &Run{ID: "r1", Kind: "flow", DefinitionID: "f1", DefinitionName: "daily", Version: 2,
			Group: "g", Status: "waiting", Trigger: "manual", Bizdate: "2024-03-01", Params: `{"a":"b"}`,
			Initiator: "alice", CreatedAt: created}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRun(ctx, &Run{ID: "r1"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate run: %v, want ErrConflict", err)
		}
		got, err := s.GetRun(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.DefinitionID != "f1" || got.Version != 2 || got.Trigger != "manual" || got.Params != `{"a":"b"}` {
			t.Fatalf("get run: %+v", got)
		}
		if !got.CreatedAt.Equal(created.Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at %v, want %v in UTC", got.CreatedAt, created)
		}
		if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown run: %v", err)
		}
		for range 2 { // the repeat changes nothing, which MySQL reports as 0 rows
			if err := s.SetRunWorkflow(ctx, "r1", "baton-run-r1", "trid"); err != nil {
				t.Fatal(err)
			}
		}
		got, _ = s.GetRun(ctx, "r1")
		if got.WorkflowID != "baton-run-r1" || got.TemporalRunID != "trid" {
			t.Fatalf("workflow ids: %+v", got)
		}
		if err := s.SetRunWorkflow(ctx, "nope", "w", "t"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("set workflow of unknown run: %v", err)
		}
	})
}

func TestListRunsAndStats(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		runs := []Run{
			{ID: "r0", Kind: "task", DefinitionID: "t1", DefinitionName: "load_orders", Group: "g1", Status: "success", Trigger: "cron", Bizdate: "2024-04-28", Initiator: "system"},
			{ID: "r1", Kind: "task", DefinitionID: "t1", DefinitionName: "load_orders", Group: "g1", Status: "failed", Trigger: "cron", Bizdate: "2024-04-29", Initiator: "system"},
			{ID: "r2", Kind: "flow", DefinitionID: "f1", DefinitionName: "settle", Group: "g2", Status: "running", Trigger: "manual", Bizdate: "2024-04-30", Initiator: "alice", ParentRunID: "r1"},
			{ID: "r3", Kind: "flow", DefinitionID: "f1", DefinitionName: "settle", Group: "g2", Status: "failed", Trigger: "backfill", Bizdate: "2024-05-01", Initiator: "bob"},
			{ID: "r4", Kind: "flow", DefinitionID: "f2", DefinitionName: "loadxorders", Group: "g1", Status: "running", Trigger: "api", Bizdate: "2024-05-01", Initiator: "alice"},
		}
		for i := range runs {
			runs[i].CreatedAt = base.Add(time.Duration(i) * time.Hour)
			if err := s.CreateRun(ctx, &runs[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Same created_at as r4: the id breaks the tie, descending.
		if err := s.CreateRun(ctx, &Run{ID: "r5", Kind: "task", DefinitionID: "t9", Status: "waiting", CreatedAt: runs[4].CreatedAt}); err != nil {
			t.Fatal(err)
		}
		ids := func(rs []Run) string {
			out := make([]string, len(rs))
			for i, r := range rs {
				out[i] = r.ID
			}
			return fmt.Sprint(out)
		}
		at := func(h int) *time.Time { v := base.Add(time.Duration(h) * time.Hour); return &v }
		cases := []struct {
			f     RunFilter
			total int64
			want  string
		}{
			{RunFilter{}, 6, "[r5 r4 r3 r2 r1 r0]"},
			{RunFilter{Limit: 2, Offset: 1}, 6, "[r4 r3]"},
			{RunFilter{Group: "g1"}, 3, "[r4 r1 r0]"},
			{RunFilter{Definition: "t1"}, 2, "[r1 r0]"},
			{RunFilter{DefinitionID: "f1"}, 2, "[r3 r2]"},
			{RunFilter{DefinitionID: "settle"}, 0, "[]"},   // an id, never a name
			{RunFilter{Definition: "load_"}, 2, "[r1 r0]"}, // "_" literal: not loadxorders
			{RunFilter{Definition: "ORDERS"}, 3, "[r4 r1 r0]"},
			{RunFilter{Kind: "flow"}, 3, "[r4 r3 r2]"},
			{RunFilter{BatchID: "r2"}, 1, "[r2]"},
			{RunFilter{Trigger: "cron"}, 2, "[r1 r0]"},
			{RunFilter{Initiator: "alice"}, 2, "[r4 r2]"},
			{RunFilter{Statuses: []string{"failed", "running"}}, 4, "[r4 r3 r2 r1]"},
			{RunFilter{BizdateFrom: "2024-04-29", BizdateTo: "2024-04-30"}, 2, "[r2 r1]"},
			{RunFilter{BizdateFrom: "2024-05-01"}, 2, "[r4 r3]"},
			{RunFilter{CreatedFrom: at(1), CreatedTo: at(3)}, 3, "[r3 r2 r1]"},
			{RunFilter{CreatedTo: at(0)}, 1, "[r0]"},
			{RunFilter{Group: "g2", Statuses: []string{"failed"}}, 1, "[r3]"},
		}
		for _, c := range cases {
			got, total, err := s.ListRuns(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if total != c.total || ids(got) != c.want {
				t.Errorf("ListRuns(%+v) = %s (total %d), want %s (total %d)", c.f, ids(got), total, c.want, c.total)
			}
		}
		// A start-time bound given in another zone means the same instant.
		cst := at(1).In(time.FixedZone("CST", 8*3600))
		if got, _, err := s.ListRuns(ctx, RunFilter{CreatedFrom: &cst, CreatedTo: &cst}); err != nil || ids(got) != "[r1]" {
			t.Errorf("zoned created range: %s %v", ids(got), err)
		}

		stats, err := s.RunStats(ctx, RunFilter{Group: "g1", Statuses: []string{"success"}, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 3 || stats["success"] != 1 || stats["failed"] != 1 || stats["running"] != 1 {
			t.Errorf("stats g1: %v", stats)
		}
		stats, err = s.RunStats(ctx, RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if stats["failed"] != 2 || stats["running"] != 2 || stats["waiting"] != 1 || stats["success"] != 1 {
			t.Errorf("stats all: %v", stats)
		}
	})
}

func TestRunChildrenReads(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		exit := 0
		err := s.ApplyMirror(ctx, MirrorBatch{
			RunID: "r1",
			Run:   &RunUpdate{Kind: "flow", Status: "running", Rev: 1},
			Nodes: []NodeUpdate{{NodeID: "b", Status: "running", Rev: 1}, {NodeID: "a", Status: "success", Rev: 1}},
			Instances: []InstanceUpdate{
				{ID: "r1.b.1.1", NodeID: "b", ShardIndex: 1, Attempt: 1, Status: "running", Rev: 1},
				{ID: "r1.b.0.2", NodeID: "b", ShardIndex: 0, Attempt: 2, Status: "running", Rev: 1},
				{ID: "r1.b.0.1", NodeID: "b", ShardIndex: 0, Attempt: 1, Status: "failed", Rev: 1},
				{ID: "r1.a.0.1", NodeID: "a", Status: "success", ExitCode: &exit, Rev: 1},
			},
			Transitions: []Transition{
				{Entity: "node", EntityID: "b", ToStatus: "running", At: t0.Add(2 * time.Second)},
				{Entity: "run", EntityID: "r1", ToStatus: "running", At: t0},
				{Entity: "node", EntityID: "a", ToStatus: "running", At: t0.Add(time.Second)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := s.ListNodeRuns(ctx, "r1")
		// Recorded in key order, not the batch's: the store sorts every
		// multi-row write so concurrent writers lock rows in one order.
		if err != nil || len(nodes) != 2 || nodes[0].NodeID != "a" || nodes[1].NodeID != "b" {
			t.Fatalf("node runs in key order: %+v %v", nodes, err)
		}
		insts, err := s.ListInstances(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, in := range insts {
			order = append(order, in.ID)
		}
		if fmt.Sprint(order) != "[r1.a.0.1 r1.b.0.1 r1.b.0.2 r1.b.1.1]" {
			t.Fatalf("instances order: %v", order)
		}
		in, err := s.GetInstance(ctx, "r1.a.0.1")
		if err != nil || in.ExitCode == nil || *in.ExitCode != 0 || in.RunID != "r1" {
			t.Fatalf("get instance: %+v %v", in, err)
		}
		if _, err := s.GetInstance(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown instance: %v", err)
		}
		ts, err := s.ListTransitions(ctx, "r1")
		if err != nil || len(ts) != 3 || ts[0].EntityID != "r1" || ts[1].EntityID != "a" || ts[2].EntityID != "b" {
			t.Fatalf("transitions by time: %+v %v", ts, err)
		}
		if empty, err := s.ListTransitions(ctx, "r2"); err != nil || empty == nil || len(empty) != 0 {
			t.Fatalf("transitions of unknown run should be an empty list: %#v %v", empty, err)
		}
	})
}
