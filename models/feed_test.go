package models

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

func addTransition(t *testing.T, s *Store, id uint64, run, entityID, to string) {
	t.Helper()
	row := Transition{ID: id, RunID: run, Entity: "node", EntityID: entityID, ToStatus: to, At: s.now()}
	if err := s.db.Create(&row).Error; err != nil {
		t.Fatal(err)
	}
}

// receive reads n transitions from sub or fails after within.
func receive(t *testing.T, sub *Subscription, n int, within time.Duration) []uint64 {
	t.Helper()
	var ids []uint64
	deadline := time.After(within)
	for len(ids) < n {
		select {
		case tr, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription closed after %v (dropped %v)", ids, sub.Dropped())
			}
			ids = append(ids, tr.ID)
		case <-deadline:
			t.Fatalf("got %v, want %d transitions within %s", ids, n, within)
		}
	}
	return ids
}

func expectNothing(t *testing.T, sub *Subscription, d time.Duration) {
	t.Helper()
	select {
	case tr := <-sub.C():
		t.Fatalf("unexpected transition %d (%s)", tr.ID, tr.EntityID)
	case <-time.After(d):
	}
}

// TestFeedOnePollPerTick: however many subscribers, the transition log is
// read once per tick, counted at GORM (every query on the table), and
// every subscriber gets every matching row once, in order.
func TestFeedOnePollPerTick(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		var queries atomic.Int64
		err := s.db.Callback().Query().After("gorm:query").Register("test:count_transitions", func(db *gorm.DB) {
			if db.Statement.Table == "transitions" {
				queries.Add(1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		const interval = 40 * time.Millisecond
		f := s.NewFeed(FeedOptions{Interval: interval})
		ctx := context.Background()
		const subscribers = 100
		subs := make([]*Subscription, subscribers)
		start := time.Now()
		for i := range subs {
			run := fmt.Sprintf("r%d", i%2)
			if subs[i], err = f.Subscribe(ctx, TransitionFilter{RunID: run}.Match); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 20 {
			addTransition(t, s, 0, fmt.Sprintf("r%d", i%2), fmt.Sprintf("n%d", i), "running")
		}
		var wg sync.WaitGroup
		got := make([][]uint64, subscribers)
		for i, sub := range subs {
			wg.Go(func() { got[i] = receive(t, sub, 10, 10*time.Second) })
		}
		wg.Wait()
		elapsed := time.Since(start)
		for i, ids := range got {
			for j := 1; j < len(ids); j++ {
				if ids[j] <= ids[j-1] {
					t.Fatalf("subscriber %d: ids out of order or repeated: %v", i, ids)
				}
			}
			if got[i][0] != got[i%2][0] {
				t.Fatalf("subscribers of one run disagree: %v vs %v", got[i], got[i%2])
			}
		}
		for _, sub := range subs {
			f.Unsubscribe(sub)
		}
		polls, q := f.Polls(), queries.Load()
		ticks := int64(elapsed/interval) + 2
		t.Logf("%d subscribers, %s: %d polls, %d queries on transitions, at most %d ticks", subscribers, elapsed, polls, q, ticks)
		if polls > ticks {
			t.Fatalf("%d polls in %d ticks", polls, ticks)
		}
		// One read of the log's end when the poller starts, then the polls.
		if q > polls+1 {
			t.Fatalf("%d queries on transitions for %d polls: subscribers query on their own", q, polls)
		}
	})
}

// TestFeedGapsAndDrops: a row above a missing id waits for it (MySQL
// commits auto-increment ids out of order), a gap that never fills is
// given up after Grace, and a subscriber that stops reading is dropped.
func TestFeedGapsAndDrops(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := s.NewFeed(FeedOptions{Interval: 20 * time.Millisecond, Grace: 600 * time.Millisecond})
		sub, err := f.Subscribe(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Unsubscribe(sub)
		if sub.From() != 0 {
			t.Fatalf("from %d on an empty log", sub.From())
		}
		addTransition(t, s, 1, "r", "a", "running")
		addTransition(t, s, 3, "r", "c", "running")
		if ids := receive(t, sub, 1, 5*time.Second); ids[0] != 1 {
			t.Fatalf("got %v", ids)
		}
		expectNothing(t, sub, 200*time.Millisecond) // 3 waits for 2
		addTransition(t, s, 2, "r", "b", "running")
		if ids := receive(t, sub, 2, 5*time.Second); ids[0] != 2 || ids[1] != 3 {
			t.Fatalf("got %v, want [2 3]", ids)
		}
		addTransition(t, s, 5, "r", "e", "running") // 4 never comes
		began := time.Now()
		if ids := receive(t, sub, 1, 5*time.Second); ids[0] != 5 {
			t.Fatalf("got %v", ids)
		}
		if waited := time.Since(began); waited < 500*time.Millisecond {
			t.Fatalf("5 published after %s, before the grace for the missing 4", waited)
		}

		// What the feed published is in the log for late joiners.
		back, err := s.TransitionsAfter(ctx, TransitionFilter{RunID: "r"}, 1, 5, 10)
		if err != nil || len(back) != 3 || back[0].ID != 2 || back[2].ID != 5 {
			t.Fatalf("transitions after 1: %+v %v", back, err)
		}
		late, err := f.Subscribe(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if late.From() != 5 {
			t.Fatalf("late subscriber from %d, want 5", late.From())
		}
		f.Unsubscribe(late)

		small := s.NewFeed(FeedOptions{Interval: 20 * time.Millisecond, Buffer: 2})
		slow, err := small.Subscribe(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(6); i < 10; i++ {
			addTransition(t, s, i, "r", fmt.Sprintf("x%d", i), "running")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !slow.Dropped() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !slow.Dropped() {
			t.Fatal("a subscriber with a full queue was not dropped")
		}
		n := 0
		for range slow.C() {
			n++
		}
		if n != 2 {
			t.Fatalf("dropped subscriber had %d queued, want its buffer of 2", n)
		}
		small.Unsubscribe(slow) // after a drop: harmless
	})
}
