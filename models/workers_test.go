package models

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestWorkers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		started := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
		for _, w := range []Worker{
			{ID: "w2", Group: "g1", Host: "h2", PID: 2, StartedAt: started},
			{ID: "w1", Group: "g1", Host: "h1", PID: 1},
			{ID: "w3", Group: "g0", Host: "h3", PID: 3},
		} {
			if err := s.HeartbeatWorker(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		// A later heartbeat updates load and address but not the start.
		if err := s.HeartbeatWorker(ctx, Worker{ID: "w2", Group: "g1", Host: "h2b", PID: 22, Running: 5, StartedAt: started.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.HeartbeatWorker(ctx, Worker{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("worker without id: %v", err)
		}
		ids := func(ws []Worker) string {
			out := make([]string, len(ws))
			for i, w := range ws {
				out[i] = w.ID
			}
			return fmt.Sprint(out)
		}
		all, err := s.ListWorkers(ctx, "")
		if err != nil || ids(all) != "[w3 w1 w2]" {
			t.Fatalf("all workers: %s %v", ids(all), err)
		}
		w2 := all[2]
		if w2.Host != "h2b" || w2.PID != 22 || w2.Running != 5 || !w2.StartedAt.Equal(started) || time.Since(w2.LastSeen) > time.Minute {
			t.Fatalf("w2 after second heartbeat: %+v", w2)
		}
		if w1 := all[1]; w1.StartedAt.IsZero() {
			t.Fatalf("StartedAt defaulted to nothing: %+v", w1)
		}
		g1, err := s.ListWorkers(ctx, "g1")
		if err != nil || ids(g1) != "[w1 w2]" {
			t.Fatalf("g1 workers: %s %v", ids(g1), err)
		}

		// Make w1 stale; only the others are live.
		stale := time.Now().Add(-10 * time.Minute)
		if err := s.db.Model(&Worker{}).Where("id = ?", "w1").UpdateColumn("last_seen", norm(stale)).Error; err != nil {
			t.Fatal(err)
		}
		since := time.Now().Add(-time.Minute).In(time.FixedZone("CST", 8*3600))
		live, err := s.LiveWorkers(ctx, "g1", since)
		if err != nil || ids(live) != "[w2]" {
			t.Fatalf("live g1: %s %v", ids(live), err)
		}
		live, err = s.LiveWorkers(ctx, "", since)
		if err != nil || ids(live) != "[w3 w2]" {
			t.Fatalf("live all: %s %v", ids(live), err)
		}
		live, err = s.LiveWorkers(ctx, "", stale.Add(-time.Second))
		if err != nil || len(live) != 3 {
			t.Fatalf("live since before stale: %s %v", ids(live), err)
		}
	})
}
