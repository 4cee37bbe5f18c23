package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func tp(t time.Time) *time.Time { return &t }

func TestMirrorInsertsRunIdentity(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		start := time.Date(2024, 6, 1, 22, 30, 0, 0, time.UTC)
		b := MirrorBatch{RunID: "sched-1", Run: &RunUpdate{
			Kind: "flow", DefinitionID: "f1", DefinitionName: "daily", Group: "g", Trigger: "cron",
			Bizdate: "2024-06-01", Params: `{"x":"1"}`, Initiator: "scheduler", ParentRunID: "p",
			WorkflowID: "baton-run-sched-1", Version: 4,
			Status: "running", Rev: 1, TemporalRunID: "t1", StartedAt: &start,
		}}
		if err := s.ApplyMirror(ctx, b); err != nil {
			t.Fatal(err)
		}
		r, err := s.GetRun(ctx, "sched-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != "flow" || r.DefinitionID != "f1" || r.DefinitionName != "daily" || r.Group != "g" ||
			r.Trigger != "cron" || r.Bizdate != "2024-06-01" || r.Params != `{"x":"1"}` || r.Initiator != "scheduler" ||
			r.ParentRunID != "p" || r.WorkflowID != "baton-run-sched-1" || r.Version != 4 ||
			r.Status != "running" || r.Rev != 1 || r.TemporalRunID != "t1" || !r.CreatedAt.Equal(start) {
			t.Fatalf("inserted run: %+v", r)
		}

		// Identity of an existing row is never overwritten, state is.
		b.Run = &RunUpdate{Kind: "task", DefinitionID: "other", Group: "h", Trigger: "manual", Version: 9,
			WorkflowID: "other", Status: "success", Rev: 2, FinishedAt: tp(start.Add(time.Minute))}
		if err := s.ApplyMirror(ctx, b); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, "sched-1")
		if r.Kind != "flow" || r.DefinitionID != "f1" || r.Group != "g" || r.Trigger != "cron" || r.Version != 4 ||
			r.WorkflowID != "baton-run-sched-1" {
			t.Fatalf("identity overwritten: %+v", r)
		}
		if r.Status != "success" || r.Rev != 2 || r.FinishedAt == nil || r.TemporalRunID != "t1" ||
			r.StartedAt == nil || !r.StartedAt.Equal(start) {
			t.Fatalf("state after update: %+v", r)
		}

		// A run created by the API is updated, not duplicated.
		if err := s.CreateRun(ctx, &Run{ID: "api-1", Kind: "task", DefinitionID: "t1", Status: "waiting", Trigger: "api"}); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "api-1", Run: &RunUpdate{Kind: "flow", Status: "running", Rev: 1}}); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, "api-1")
		if r.Kind != "task" || r.Trigger != "api" || r.Status != "running" || r.Rev != 1 {
			t.Fatalf("api run after mirror: %+v", r)
		}
		if err := s.ApplyMirror(ctx, MirrorBatch{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("batch without run id: %v", err)
		}
	})
}

func TestMirrorNeverMovesBackwards(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		batch := func(rev int64, status string) MirrorBatch {
			return MirrorBatch{
				RunID:     "r1",
				Run:       &RunUpdate{Status: status, Rev: rev, Message: "run " + status},
				Nodes:     []NodeUpdate{{NodeID: "n", Status: status, Rev: rev, Attempts: int(rev), Message: "node " + status}},
				Instances: []InstanceUpdate{{ID: "r1.n.0.1", NodeID: "n", Status: status, Rev: rev, WorkerID: "w" + status}},
			}
		}
		if err := s.ApplyMirror(ctx, batch(3, "success")); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyMirror(ctx, batch(2, "running")); err != nil {
			t.Fatal(err)
		}
		r, _ := s.GetRun(ctx, "r1")
		nodes, _ := s.ListNodeRuns(ctx, "r1")
		in, _ := s.GetInstance(ctx, "r1.n.0.1")
		if r.Status != "success" || r.Rev != 3 || r.Message != "run success" {
			t.Fatalf("run moved backwards: %+v", r)
		}
		if len(nodes) != 1 || nodes[0].Status != "success" || nodes[0].Rev != 3 || nodes[0].Attempts != 3 {
			t.Fatalf("node moved backwards: %+v", nodes)
		}
		if in.Status != "success" || in.Rev != 3 || in.WorkerID != "wsuccess" {
			t.Fatalf("instance moved backwards: %+v", in)
		}

		// The same rev again is accepted (a replay), a newer one wins.
		if err := s.ApplyMirror(ctx, batch(3, "success")); err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyMirror(ctx, batch(4, "failed")); err != nil {
			t.Fatal(err)
		}
		r, _ = s.GetRun(ctx, "r1")
		nodes, _ = s.ListNodeRuns(ctx, "r1")
		in, _ = s.GetInstance(ctx, "r1.n.0.1")
		if r.Status != "failed" || nodes[0].Status != "failed" || in.Status != "failed" || in.Rev != 4 {
			t.Fatalf("newer rev ignored: %+v %+v %+v", r, nodes[0], in)
		}

		// Two writes of one node inside a batch: the higher rev wins,
		// whatever the order, both for a new and an existing row.
		err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r1", Nodes: []NodeUpdate{
			{NodeID: "m", Status: "success", Rev: 7}, {NodeID: "m", Status: "running", Rev: 6},
			{NodeID: "n", Status: "success", Rev: 9}, {NodeID: "n", Status: "running", Rev: 8},
		}})
		if err != nil {
			t.Fatal(err)
		}
		nodes, _ = s.ListNodeRuns(ctx, "r1")
		if len(nodes) != 2 || nodes[0].Status != "success" || nodes[0].Rev != 9 || nodes[1].Status != "success" || nodes[1].Rev != 7 {
			t.Fatalf("in-batch duplicates: %+v", nodes)
		}
	})
}

func TestMirrorZeroValuesKeepStored(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
		exit := 3
		first := MirrorBatch{
			RunID: "r1",
			Run:   &RunUpdate{Kind: "task", Status: "running", Rev: 1, TemporalRunID: "trid", Message: "m", StartedAt: &t0},
			Nodes: []NodeUpdate{{NodeID: "n", Status: "running", Rev: 1, Attempts: 1, Outputs: map[string]string{"k": "v", "a": "b"},
				Message: "m", StartedAt: &t0}},
			Instances: []InstanceUpdate{{ID: "i1", NodeID: "n", Status: "failed", Rev: 1, WorkerID: "w1", Host: "h1",
				ExitCode: &exit, Message: "m", StartedAt: &t0, FinishedAt: tp(t0.Add(time.Second))}},
		}
		if err := s.ApplyMirror(ctx, first); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Hour)
		second := MirrorBatch{
			RunID:     "r1",
			Run:       &RunUpdate{Status: "success", Rev: 2, StartedAt: &later, FinishedAt: &later},
			Nodes:     []NodeUpdate{{NodeID: "n", Status: "success", Rev: 2, Attempts: 1, StartedAt: &later}},
			Instances: []InstanceUpdate{{ID: "i1", NodeID: "n", Status: "failed", Rev: 2, StartedAt: &later}},
		}
		if err := s.ApplyMirror(ctx, second); err != nil {
			t.Fatal(err)
		}
		r, _ := s.GetRun(ctx, "r1")
		if r.Status != "success" || r.TemporalRunID != "trid" || r.Message != "m" || !r.StartedAt.Equal(t0) || !r.FinishedAt.Equal(later) {
			t.Fatalf("run zero values: %+v", r)
		}
		nodes, _ := s.ListNodeRuns(ctx, "r1")
		n := nodes[0]
		if n.Status != "success" || n.Outputs != `{"a":"b","k":"v"}` || n.Message != "m" || !n.StartedAt.Equal(t0) || n.FinishedAt != nil {
			t.Fatalf("node zero values: %+v", n)
		}
		in, _ := s.GetInstance(ctx, "i1")
		if in.WorkerID != "w1" || in.Host != "h1" || in.ExitCode == nil || *in.ExitCode != 3 || in.Message != "m" ||
			!in.StartedAt.Equal(t0) || !in.FinishedAt.Equal(t0.Add(time.Second)) || in.Rev != 2 {
			t.Fatalf("instance zero values: %+v", in)
		}
	})
}

func TestMirrorReplayIsIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// Nanoseconds and a zone other than UTC: the dedupe key must still
		// match when the same batch is replayed.
		at := time.Date(2024, 1, 1, 20, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		b := MirrorBatch{
			RunID: "r1",
			Run:   &RunUpdate{Status: "running", Rev: 1},
			Nodes: []NodeUpdate{{NodeID: "a", Status: "running", Rev: 1}},
			Transitions: []Transition{
				{Entity: "run", EntityID: "r1", FromStatus: "waiting", ToStatus: "running", Actor: "engine", At: at},
				{Entity: "node", EntityID: "a", FromStatus: "waiting", ToStatus: "running", Actor: "engine", At: at},
			},
		}
		for range 3 {
			if err := s.ApplyMirror(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		ts, err := s.ListTransitions(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 2 {
			t.Fatalf("replayed batch logged %d transitions, want 2: %+v", len(ts), ts)
		}
		if !ts[0].At.Equal(at.Truncate(time.Millisecond)) {
			t.Fatalf("transition time %v, want %v", ts[0].At, at)
		}
		nodes, _ := s.ListNodeRuns(ctx, "r1")
		if len(nodes) != 1 {
			t.Fatalf("replay duplicated node rows: %+v", nodes)
		}
		// The same move at another time is a new entry.
		b.Transitions = []Transition{{Entity: "node", EntityID: "a", ToStatus: "running", At: at.Add(time.Second)}}
		if err := s.ApplyMirror(ctx, b); err != nil {
			t.Fatal(err)
		}
		if ts, _ := s.ListTransitions(ctx, "r1"); len(ts) != 3 {
			t.Fatalf("new transition dropped: %d", len(ts))
		}
	})
}

func TestMirrorLargeBatch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 1000
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		mk := func(rev int64, status string) MirrorBatch {
			b := MirrorBatch{RunID: "big", Run: &RunUpdate{Kind: "flow", Status: status, Rev: rev}}
			for i := range n {
				id := fmt.Sprintf("node%04d", i)
				b.Nodes = append(b.Nodes, NodeUpdate{NodeID: id, Status: status, Rev: rev})
				b.Instances = append(b.Instances, InstanceUpdate{ID: "big." + id + ".0.1", NodeID: id, Status: status, Rev: rev})
				b.Transitions = append(b.Transitions, Transition{Entity: "node", EntityID: id, ToStatus: status, At: at.Add(time.Duration(rev) * time.Second)})
			}
			return b
		}
		start := time.Now()
		if err := s.ApplyMirror(ctx, mk(1, "dispatched")); err != nil {
			t.Fatal(err)
		}
		insert := time.Since(start)
		start = time.Now()
		if err := s.ApplyMirror(ctx, mk(2, "running")); err != nil {
			t.Fatal(err)
		}
		update := time.Since(start)
		if err := s.ApplyMirror(ctx, mk(2, "running")); err != nil { // replay
			t.Fatal(err)
		}
		if err := s.ApplyMirror(ctx, mk(1, "dispatched")); err != nil { // stale
			t.Fatal(err)
		}
		t.Logf("1000-node batch: insert %v, update %v", insert, update)

		nodes, err := s.ListNodeRuns(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		insts, err := s.ListInstances(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		ts, err := s.ListTransitions(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != n || len(insts) != n || len(ts) != 2*n {
			t.Fatalf("rows: %d nodes, %d instances, %d transitions", len(nodes), len(insts), len(ts))
		}
		for i := range nodes {
			if nodes[i].Status != "running" || nodes[i].Rev != 2 || insts[i].Status != "running" {
				t.Fatalf("row %d: %+v %+v", i, nodes[i], insts[i])
			}
		}
	})
}

func TestMirrorConcurrentWriters(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// Writers race to create the same rows; whatever the interleaving,
		// the highest rev must be what remains.
		const writers = 6
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rev := int64(w + 1)
				status := fmt.Sprintf("s%d", rev)
				b := MirrorBatch{RunID: "c", Run: &RunUpdate{Status: status, Rev: rev}}
				for i := range 50 {
					b.Nodes = append(b.Nodes, NodeUpdate{NodeID: fmt.Sprintf("n%d", i), Status: status, Rev: rev})
				}
				errs <- s.ApplyMirror(ctx, b)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		r, _ := s.GetRun(ctx, "c")
		if r.Rev != writers || r.Status != fmt.Sprintf("s%d", writers) {
			t.Fatalf("run after race: %+v", r)
		}
		nodes, _ := s.ListNodeRuns(ctx, "c")
		if len(nodes) != 50 {
			t.Fatalf("%d node rows, want 50", len(nodes))
		}
		for _, n := range nodes {
			if n.Rev != writers {
				t.Fatalf("node after race: %+v", n)
			}
		}
	})
}

func TestMirrorCrossOrderWriters(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// Half the writers list the nodes backwards: on InnoDB, updating the
		// same rows in opposite orders deadlocks unless the store orders
		// its writes (or retries the victim).
		const writers, rounds, nodes = 8, 5, 50
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range rounds {
					b := MirrorBatch{RunID: "x"}
					for i := range nodes {
						j := i
						if w%2 == 1 {
							j = nodes - 1 - i
						}
						b.Nodes = append(b.Nodes, NodeUpdate{NodeID: fmt.Sprintf("n%02d", j), Status: "s", Rev: int64(w*rounds + k)})
					}
					errs <- s.ApplyMirror(ctx, b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.ListNodeRuns(ctx, "x")
		if len(got) != nodes {
			t.Fatalf("%d node rows, want %d", len(got), nodes)
		}
		for _, n := range got {
			if n.Rev != writers*rounds-1 {
				t.Fatalf("node %s at rev %d, want %d", n.NodeID, n.Rev, writers*rounds-1)
			}
		}
	})
}

func TestIsLockConflict(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, true},
		{&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, true},
		{fmt.Errorf("nodes: %w", &mysql.MySQLError{Number: 1213}), true},
		{&mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{&mysql.MySQLError{Number: 1406, Message: "Data too long"}, false},
		{errors.New("Error 1213: Deadlock found"), false}, // only the driver's typed error counts
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := isLockConflict(c.err); got != c.want {
			t.Errorf("isLockConflict(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestRetryDeadlocks pins which failures rerun the transaction and that the
// reruns are bounded.
func TestRetryDeadlocks(t *testing.T) {
	ctx := context.Background()
	deadlock := fmt.Errorf("nodes: %w", &mysql.MySQLError{Number: 1213})
	run := func(dialect string, fails int, failWith error) (int, error) {
		s := &Store{dialect: dialect}
		calls := 0
		err := s.retryDeadlocks(ctx, func() error {
			calls++
			if calls <= fails {
				return failWith
			}
			return nil
		})
		return calls, err
	}
	if calls, err := run("mysql", 3, deadlock); err != nil || calls != 4 {
		t.Errorf("three deadlocks then success: %d calls, %v; want 4 calls, nil", calls, err)
	}
	if calls, err := run("mysql", 2, &mysql.MySQLError{Number: 1205}); err != nil || calls != 3 {
		t.Errorf("lock wait timeouts: %d calls, %v; want 3 calls, nil", calls, err)
	}
	if calls, err := run("mysql", 1000, deadlock); !isLockConflict(err) || calls != lockRetries {
		t.Errorf("endless deadlocks: %d calls, %v; want %d calls and the deadlock", calls, err, lockRetries)
	}
	dup := &mysql.MySQLError{Number: 1062}
	if calls, err := run("mysql", 1, dup); !errors.Is(err, dup) || calls != 1 {
		t.Errorf("duplicate key: %d calls, %v; want 1 call and the error", calls, err)
	}
	if calls, err := run("sqlite", 1, deadlock); err == nil || calls != 1 {
		t.Errorf("sqlite: %d calls, %v; want 1 call and the error", calls, err)
	}
}
