package models

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func runIDs(rs []Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// Pages reached through the cursor neither skip nor repeat a run while new
// runs arrive between them, and the count stops at its cap.
func TestListRunsCursorAndCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		mk := func(id string, at time.Time, st string) {
			t.Helper()
			if err := s.CreateRun(ctx, &Run{ID: id, Kind: "flow", DefinitionID: "f", Status: st, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		// 25 runs; several share a millisecond so the id must break ties.
		for i := range 25 {
			mk(fmt.Sprintf("r%02d", i), base.Add(time.Duration(i/3)*time.Second), "success")
		}
		var seen []string
		var cur *RunCursor
		for page := 0; ; page++ {
			pg, err := s.ListRunPage(ctx, RunFilter{Limit: 4, After: cur})
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, runIDs(pg.Runs)...)
			// New runs arrive between pages, newer than anything listed.
			mk(fmt.Sprintf("n%02d", page), base.Add(time.Hour+time.Duration(page)*time.Second), "running")
			if pg.Next == nil {
				break
			}
			if len(pg.Runs) != 4 {
				t.Fatalf("page %d has %d runs but a next cursor", page, len(pg.Runs))
			}
			cur = pg.Next
		}
		if len(seen) != 25 {
			t.Fatalf("paged %d runs, want 25: %v", len(seen), seen)
		}
		for i, id := range seen {
			if want := fmt.Sprintf("r%02d", 24-i); id != want {
				t.Fatalf("position %d: %s, want %s (all: %v)", i, id, want, seen)
			}
		}
		// The last page is exact: no cursor when the page is full but nothing follows.
		pg, err := s.ListRunPage(ctx, RunFilter{Statuses: []string{"success"}, Limit: 25})
		if err != nil || len(pg.Runs) != 25 || pg.Next != nil {
			t.Fatalf("full last page: %d runs, next %v, %v", len(pg.Runs), pg.Next, err)
		}

		// Cap: exact up to it, flagged beyond.
		all, err := s.ListRunPage(ctx, RunFilter{TotalCap: 1000})
		if err != nil || all.TotalCapped {
			t.Fatal(all.Total, err)
		}
		n := all.Total
		for _, c := range []struct {
			cap    int64
			total  int64
			capped bool
		}{{n - 1, n - 1, true}, {n, n, false}, {5, 5, true}} {
			pg, err := s.ListRunPage(ctx, RunFilter{TotalCap: c.cap})
			if err != nil {
				t.Fatal(err)
			}
			if pg.Total != c.total || pg.TotalCapped != c.capped {
				t.Errorf("cap %d: total %d capped %v, want %d %v", c.cap, pg.Total, pg.TotalCapped, c.total, c.capped)
			}
		}
		pg, err = s.ListRunPage(ctx, RunFilter{Statuses: []string{"success"}, TotalCap: 24})
		if err != nil || pg.Total != 24 || !pg.TotalCapped {
			t.Errorf("filtered cap: %d %v %v", pg.Total, pg.TotalCapped, err)
		}
	})
}

// LIKE metacharacters in a definition filter match themselves.
func TestListRunsLikeIsLiteral(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, name := range []string{`100%_done`, `100xydone`, `a\b`, `a\\b`, `axb`, `x!y`, `xy`} {
			if err := s.CreateRun(ctx, &Run{ID: fmt.Sprint("r", i), Kind: "flow", DefinitionID: fmt.Sprint("d", i),
				DefinitionName: name, Status: "success"}); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range map[string]string{`%`: "[r0]", `_`: "[r0]", `0%_d`: "[r0]", `\`: "[r3 r2]",
			`a\b`: "[r2]", `\\`: "[r3]", `!`: "[r5]", `x!y`: "[r5]"} {
			pg, err := s.ListRunPage(ctx, RunFilter{Definition: q})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(runIDs(pg.Runs)); got != want {
				t.Errorf("definition %q: %s, want %s", q, got, want)
			}
		}
	})
}

func TestNodeHistoryAndDispatchedAt(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		for i := range 6 {
			id := fmt.Sprint("h", i)
			def := "f1"
			if i == 3 {
				def = "f2" // another definition's run with the same node id
			}
			if err := s.CreateRun(ctx, &Run{ID: id, Kind: "flow", DefinitionID: def, Status: "success",
				Bizdate: fmt.Sprintf("2024-05-0%d", i+1), Trigger: "cron", CreatedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			st := base.Add(time.Duration(i) * time.Hour)
			fin := st.Add(time.Duration(i+1) * time.Second)
			status := "success"
			if i == 4 {
				status = "failed"
			}
			if err := s.ApplyMirror(ctx, MirrorBatch{RunID: id, Nodes: []NodeUpdate{
				{NodeID: "load", Status: status, Attempts: 1, Rev: 1, StartedAt: &st, FinishedAt: &fin},
				{NodeID: "other", Status: "success", Rev: 1}}}); err != nil {
				t.Fatal(err)
			}
		}
		// From h4 (h5 is newer and left out), newest first, f2's run skipped.
		rows, err := s.NodeHistory(ctx, "flow", "f1", "load", RunCursor{CreatedAt: base.Add(4 * time.Hour), ID: "h4"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s:%s:%s:%v", r.RunID, r.Status, r.Bizdate, r.FinishedAt.Sub(*r.StartedAt)))
		}
		if want := "[h4:failed:2024-05-05:5s h2:success:2024-05-03:3s h1:success:2024-05-02:2s]"; fmt.Sprint(got) != want {
			t.Fatalf("history %v, want %s", got, want)
		}
		if rows, err := s.NodeHistory(ctx, "flow", "f1", "nope", RunCursor{CreatedAt: base.Add(9 * time.Hour), ID: "z"}, 10); err != nil || len(rows) != 0 {
			t.Fatalf("unknown node: %v %v", rows, err)
		}

		// An instance keeps the dispatch time its first write gave, or the
		// time of that write when it gave none.
		queued := base.Add(time.Minute)
		later := base.Add(time.Hour)
		before := time.Now().Add(-time.Second)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "h0", Instances: []InstanceUpdate{
			{ID: "h0.load.0.1", NodeID: "load", Attempt: 1, Status: "waiting", Rev: 1, DispatchedAt: &queued},
			{ID: "h0.load.0.2", NodeID: "load", Attempt: 2, Status: "waiting", Rev: 1}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "h0", Instances: []InstanceUpdate{
			{ID: "h0.load.0.1", NodeID: "load", Attempt: 1, Status: "running", Rev: 2, DispatchedAt: &later, StartedAt: &later}}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.GetInstance(ctx, "h0.load.0.1")
		if err != nil || a.DispatchedAt == nil || !a.DispatchedAt.Equal(queued) || a.Status != "running" {
			t.Fatalf("dispatched_at %v (status %s), want %v: %v", a.DispatchedAt, a.Status, queued, err)
		}
		b, err := s.GetInstance(ctx, "h0.load.0.2")
		if err != nil || b.DispatchedAt == nil || b.DispatchedAt.Before(before) {
			t.Fatalf("default dispatched_at %v, want about now: %v", b.DispatchedAt, err)
		}
	})
}

// Many runs' batches in one call land as ApplyMirror would write them one
// by one, replays included.
func TestApplyMirrorBatches(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		batch := func(id string, st string, rev int64) MirrorBatch {
			return MirrorBatch{RunID: id,
				Run:   &RunUpdate{Kind: "flow", DefinitionID: "f", Status: st, Rev: rev, StartedAt: &at},
				Nodes: []NodeUpdate{{NodeID: "a", Status: st, Rev: rev}, {NodeID: "b", Status: "waiting", Rev: rev}},
				Instances: []InstanceUpdate{{ID: id + ".a.0.1", NodeID: "a", Attempt: 1, Status: st, Rev: rev,
					DispatchedAt: &at}},
				Transitions: []Transition{{Entity: "run", EntityID: id, FromStatus: "waiting", ToStatus: st, At: at}}}
		}
		bs := []MirrorBatch{batch("m1", "running", 2), batch("m2", "success", 2), batch("m1", "failed", 1)}
		if err := s.ApplyMirrorBatches(ctx, bs); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyMirrorBatches(ctx, bs[:2]); err != nil { // a replay changes nothing
			t.Fatal(err)
		}
		for id, want := range map[string]string{"m1": "running", "m2": "success"} {
			r, err := s.GetRun(ctx, id)
			if err != nil || r.Status != want || !r.CreatedAt.Equal(at) {
				t.Fatalf("run %s: %+v %v", id, r, err)
			}
			nodes, _ := s.ListNodeRuns(ctx, id)
			insts, _ := s.ListInstances(ctx, id)
			trans, _ := s.ListTransitions(ctx, id)
			if len(nodes) != 2 || nodes[0].Status != want || len(insts) != 1 || !insts[0].DispatchedAt.Equal(at) {
				t.Fatalf("run %s: nodes %+v instances %+v", id, nodes, insts)
			}
			// m1 logged both of its transitions, once each.
			if wantT := map[string]int{"m1": 2, "m2": 1}[id]; len(trans) != wantT {
				t.Fatalf("run %s: %d transitions, want %d", id, len(trans), wantT)
			}
		}
		if err := s.ApplyMirrorBatches(ctx, []MirrorBatch{{}}); err == nil {
			t.Fatal("batch without run id accepted")
		}
	})
}

func TestNodeAndInstanceSubsets(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		later := at.Add(time.Minute)
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r",
			Run:   &RunUpdate{Kind: "flow", DefinitionID: "f", Status: "running", Rev: 1},
			Nodes: []NodeUpdate{{NodeID: "a", Status: "success", Rev: 1}, {NodeID: "b", Status: "running", Rev: 1}, {NodeID: "c", Status: "failed", Rev: 1}},
			Instances: []InstanceUpdate{
				{ID: "r.a.0.1", NodeID: "a", Attempt: 1, Status: "success", Message: "done", Rev: 1, DispatchedAt: &later},
				{ID: "r.b.0.1", NodeID: "b", Attempt: 1, Status: "running", Rev: 1, DispatchedAt: &at, WorkerID: "w"},
				{ID: "r.c.0.1", NodeID: "c", Attempt: 1, Status: "failed", Rev: 1, DispatchedAt: &at}}}); err != nil {
			t.Fatal(err)
		}
		nodes, err := s.ListNodeRunsWithStatus(ctx, "r", []string{"running", "failed"})
		if err != nil || len(nodes) != 2 || nodes[0].NodeID != "b" || nodes[1].NodeID != "c" {
			t.Fatalf("nodes with status: %+v %v", nodes, err)
		}
		insts, err := s.ListNodeInstances(ctx, "r", []string{"c", "a"})
		if err != nil || len(insts) != 2 || insts[0].ID != "r.a.0.1" || insts[1].ID != "r.c.0.1" || insts[0].Message != "done" {
			t.Fatalf("node instances: %+v %v", insts, err)
		}
		if none, err := s.ListNodeInstances(ctx, "r", nil); err != nil || len(none) != 0 {
			t.Fatalf("no nodes: %+v %v", none, err)
		}
		times, err := s.ListInstanceTimes(ctx, "r")
		if err != nil || len(times) != 3 || times[2].ID != "r.a.0.1" || times[0].Message != "" || times[0].DispatchedAt == nil ||
			times[1].WorkerID != "w" && times[0].WorkerID != "w" {
			t.Fatalf("instance times: %+v %v", times, err)
		}
	})
}
