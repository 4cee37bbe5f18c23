package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/models/modelstest"
	"github.com/baton-sched/baton/workflows"
)

// forEachStore runs fn on fresh, migrated SQLite stores and, when
// BATON_TEST_MYSQL_DSN is set, fresh MariaDB/MySQL databases; open makes
// as many stores of the kind as the test wants.
func forEachStore(t *testing.T, fn func(t *testing.T, open func() *models.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func() *models.Store {
			return migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "mirror.db"))
		})
	})
	t.Run("mysql", func(t *testing.T) {
		dsn := os.Getenv("BATON_TEST_MYSQL_DSN")
		if dsn == "" {
			t.Skip("BATON_TEST_MYSQL_DSN not set")
		}
		fn(t, func() *models.Store { return migrated(t, modelstest.FreshMySQL(t, dsn, "baton_act")) })
	})
}

func migrated(t *testing.T, dsn string) *models.Store {
	t.Helper()
	s, err := models.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func at(sec int) *time.Time {
	t := time.Date(2026, 12, 1, 10, 0, sec, 0, time.UTC)
	return &t
}

func exit(c int) *int { return &c }

// runLife is one run's batches as the interpreter queues them, and the
// worker's "running" mark, which it writes itself at the rev reserved
// for it (between the waiting write and the result).
func runLife(run string) (batches []models.MirrorBatch, mark models.MirrorBatch) {
	inst := run + ".a.0.1"
	batches = []models.MirrorBatch{
		{RunID: run, Run: &models.RunUpdate{Status: "running", Rev: 1, StartedAt: at(0), TemporalRunID: "t1"},
			Nodes: []models.NodeUpdate{
				{NodeID: "a", Status: "waiting", Rev: 2},
				{NodeID: "b", Status: "waiting", Rev: 3},
			}},
		{RunID: run,
			Nodes:     []models.NodeUpdate{{NodeID: "a", Status: "running", Attempts: 1, Rev: 4, StartedAt: at(1)}},
			Instances: []models.InstanceUpdate{{ID: inst, NodeID: "a", Attempt: 1, Status: "waiting", Rev: 5, DispatchedAt: at(1)}}},
		{RunID: run,
			Nodes: []models.NodeUpdate{{NodeID: "a", Status: "running", Attempts: 1, Rev: 7, StartedAt: at(1),
				Message: "retrying: exit 3"}}},
		{RunID: run,
			// No message: the stored one stays (empty values keep what is stored).
			Nodes: []models.NodeUpdate{{NodeID: "a", Status: "success", Attempts: 1, Rev: 8, StartedAt: at(1),
				FinishedAt: at(3), Outputs: map[string]string{"k": "v"}}},
			Instances: []models.InstanceUpdate{{ID: inst, NodeID: "a", Attempt: 1, Status: "success", Rev: 9,
				ExitCode: exit(0), WorkerID: "w1", FinishedAt: at(3)}},
			Transitions: []models.Transition{{Entity: "node", EntityID: "a", FromStatus: "running", ToStatus: "success", At: *at(3)}}},
		{RunID: run, Run: &models.RunUpdate{Status: "stopping", Rev: 10, Message: "stop asked by ann"}},
		{RunID: run, Run: &models.RunUpdate{Status: "stopped", Rev: 11, FinishedAt: at(4)},
			Nodes: []models.NodeUpdate{{NodeID: "b", Status: "stopped", Rev: 12, FinishedAt: at(4)}}},
	}
	mark = models.MirrorBatch{RunID: run,
		Nodes: []models.NodeUpdate{{NodeID: "a", Status: "running", Attempts: 1, Rev: 4}},
		Instances: []models.InstanceUpdate{{ID: inst, NodeID: "a", Attempt: 1, WorkerID: "w1", Host: "h1",
			Status: "running", Rev: 6, StartedAt: at(2), DispatchedAt: at(1)}}}
	return batches, mark
}

// rows is what a run's mirror says, without the columns a write stamps
// with its own clock (updated_at, created_at) or its own ids.
func rows(t *testing.T, s *models.Store, run string) string {
	t.Helper()
	m, err := s.LoadRunMirror(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	ts := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	r := m.Run
	fmt.Fprintf(&b, "run %s rev %d msg %q tr %q start %s end %s\n", r.Status, r.Rev, r.Message, r.TemporalRunID, ts(r.StartedAt), ts(r.FinishedAt))
	for _, n := range m.Nodes {
		fmt.Fprintf(&b, "node %s %s rev %d att %d out %s msg %q start %s end %s\n", n.NodeID, n.Status, n.Rev, n.Attempts, n.Outputs, n.Message, ts(n.StartedAt), ts(n.FinishedAt))
	}
	for _, i := range m.Instances {
		code := "-"
		if i.ExitCode != nil {
			code = fmt.Sprint(*i.ExitCode)
		}
		fmt.Fprintf(&b, "inst %s %s rev %d worker %s host %s exit %s msg %q disp %s start %s end %s\n", i.ID, i.Status, i.Rev,
			i.WorkerID, i.Host, code, i.Message, ts(i.DispatchedAt), ts(i.StartedAt), ts(i.FinishedAt))
	}
	fmt.Fprintf(&b, "transitions %d\n", len(m.Transitions))
	return b.String()
}

// Folding a run's queued batches (a later state replacing an earlier one
// of the same entity) must leave the rows exactly as writing every batch
// in turn does, also when the worker's running mark lands before the
// queued waiting write it follows.
func TestWriteBehindFoldingLeavesTheRowsOfEachWriteInTurn(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() *models.Store) {
		ctx := context.Background()
		seq, folded := open(), open()
		const run = "r-fold"
		batches, mark := runLife(run)
		for _, s := range []*models.Store{seq, folded} {
			if err := s.CreateRun(ctx, &models.Run{ID: run, Kind: "flow", Status: "waiting", WorkflowID: "baton-run-" + run}); err != nil {
				t.Fatal(err)
			}
		}
		// In turn: the mark after the waiting write, as when writes are awaited.
		for i, b := range batches {
			if err := seq.ApplyMirror(ctx, b); err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				if err := seq.ApplyMirror(ctx, mark); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Queued: the mark first, then every batch folded into one write.
		if err := folded.ApplyMirror(ctx, mark); err != nil {
			t.Fatal(err)
		}
		q := &queuedRun{}
		written := 0
		for _, b := range batches {
			q.absorb(b)
			written += len(b.Nodes) + len(b.Instances)
		}
		kept := 0
		for _, b := range q.batches {
			kept += len(b.Nodes) + len(b.Instances)
		}
		if kept >= written {
			t.Errorf("nothing folded: %d node and instance states queued of %d written", kept, written)
		}
		if err := folded.ApplyMirrorBatches(ctx, q.batches); err != nil {
			t.Fatal(err)
		}
		want, got := rows(t, seq, run), rows(t, folded, run)
		if got != want {
			t.Errorf("folded writes left\n%s\nwritten in turn\n%s", got, want)
		}
		if !strings.Contains(want, `msg "retrying: exit 3"`) || !strings.Contains(want, `msg "stop asked by ann"`) {
			t.Errorf("the fixture no longer keeps earlier messages, so it tests less than it says:\n%s", want)
		}
	})
}

// Record with a write-behind queue answers before the write; the awaited
// write that ends a run lands after, and with, everything queued before it.
func TestWriteBehindAwaitedWriteTakesTheQueuedOnes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() *models.Store) {
		ctx := context.Background()
		store := open()
		// No writer runs: whatever lands, the awaited write took with it.
		m := &Mirror{Store: store, Behind: newWriteBehind(store, WriteBehindOptions{})}
		const run = "r-wb"
		if err := store.CreateRun(ctx, &models.Run{ID: run, Kind: "flow", Status: "waiting", WorkflowID: "baton-run-" + run}); err != nil {
			t.Fatal(err)
		}
		const nodes = 200
		for i := range nodes {
			b := workflows.MirrorBatch{RunID: run, WriteBehind: true,
				Nodes: []workflows.NodeState{{NodeID: fmt.Sprintf("n%03d", i), Status: "success", Rev: int64(10 + i)}},
				Instances: []workflows.InstanceState{{ID: fmt.Sprintf("%s.n%03d.0.1", run, i), NodeID: fmt.Sprintf("n%03d", i),
					Attempt: 1, Status: "waiting", Rev: int64(10 + i)}},
			}
			if err := m.Record(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		end := time.Now()
		err := m.Record(ctx, workflows.MirrorBatch{RunID: run, Run: &workflows.RunState{Status: "success", Rev: 1000, FinishedAt: &end}})
		if err != nil {
			t.Fatal(err)
		}
		// No waiting: the awaited write returned after the queued ones.
		got, err := store.LoadRunMirror(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if got.Run.Status != "success" || len(got.Nodes) != nodes || len(got.Instances) != nodes {
			t.Fatalf("after the awaited write: run %s, %d nodes, %d instances; want success, %d, %d",
				got.Run.Status, len(got.Nodes), len(got.Instances), nodes, nodes)
		}
		for _, in := range got.Instances {
			// Stamped when queued, not when written.
			if in.DispatchedAt == nil || in.DispatchedAt.After(end) {
				t.Fatalf("instance %s dispatched_at %v, want the time it was queued (before %v)", in.ID, in.DispatchedAt, end)
			}
		}
		if n := m.Behind.Queued(); n != 0 {
			t.Errorf("%d rows still queued", n)
		}
	})
}

// The writers write what is queued by themselves, and Close waits for it.
func TestWriteBehindWritersDrainTheQueue(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() *models.Store) {
		ctx := context.Background()
		store := open()
		m := NewMirror(store, nil, nil)
		const run = "r-drain"
		batches, _ := runLife(run)
		for _, b := range batches {
			if err := m.Behind.Enqueue(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Behind.Close(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := store.LoadRunMirror(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if got.Run.Status != "stopped" || len(got.Nodes) != 2 || len(got.Instances) != 1 || len(got.Transitions) != 1 {
			t.Errorf("after Close: run %q, %d nodes, %d instances, %d transitions; want stopped, 2, 1, 1",
				got.Run.Status, len(got.Nodes), len(got.Instances), len(got.Transitions))
		}
	})
}

// A full queue refuses, so Record writes the batch itself before it
// answers instead of holding more than MaxRows.
func TestWriteBehindFullQueueWritesAtOnce(t *testing.T) {
	store := migrated(t, "sqlite:"+filepath.Join(t.TempDir(), "mirror.db"))
	wb := NewWriteBehind(store, WriteBehindOptions{MaxRows: 3})
	defer func() { _ = wb.Close(context.Background()) }()
	big := models.MirrorBatch{RunID: "r-full", Nodes: []models.NodeUpdate{
		{NodeID: "a", Status: "waiting", Rev: 1}, {NodeID: "b", Status: "waiting", Rev: 1},
		{NodeID: "c", Status: "waiting", Rev: 1}, {NodeID: "d", Status: "waiting", Rev: 1}}}
	if err := wb.Enqueue(big); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue of 4 rows into a queue of 3: %v, want ErrQueueFull", err)
	}
	m := &Mirror{Store: store, Behind: wb}
	b := workflows.MirrorBatch{RunID: "r-full", WriteBehind: true}
	for _, id := range []string{"a", "b", "c", "d"} {
		b.Nodes = append(b.Nodes, workflows.NodeState{NodeID: id, Status: "waiting", Rev: 1})
	}
	if err := m.Record(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ns, err := store.ListNodeRuns(context.Background(), "r-full")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 4 {
		t.Errorf("%d node rows right after Record, want 4 (written, not queued)", len(ns))
	}
	if err := wb.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wb.Enqueue(models.MirrorBatch{RunID: "r-full"}); !errors.Is(err, ErrQueueClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrQueueClosed", err)
	}
}

// A reset execution's first write keeps its Reset and is folded with no
// other write: models.ApplyMirror's reset step rewrites the transitions it
// carries from what the log last recorded, which a fold would lose.
func TestWriteBehindNeverFoldsAResetWrite(t *testing.T) {
	const run = "r-reset"
	batches, _ := runLife(run)
	if len(batches) < 3 {
		t.Fatalf("fixture has %d batches", len(batches))
	}
	reset := batches[1]
	reset.Reset = &models.ResetWrite{Live: []string{"x"}}
	q := &queuedRun{}
	q.absorb(batches[0])
	q.absorb(reset)
	q.absorb(batches[2])
	if len(q.batches) != 3 {
		t.Fatalf("%d queued writes, want 3 (before, the reset, after)", len(q.batches))
	}
	if q.batches[0].Reset != nil || q.batches[1].Reset == nil || q.batches[2].Reset != nil {
		t.Fatalf("the reset is not the second write alone: %+v", q.batches)
	}
	if len(q.batches[1].Transitions) != len(reset.Transitions) {
		t.Fatalf("the reset write carries %d transitions, want its own %d", len(q.batches[1].Transitions), len(reset.Transitions))
	}
}
