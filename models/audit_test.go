package models

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 5 {
			actor := "alice"
			if i%2 == 1 {
				actor = "bob"
			}
			e := &AuditEntry{At: base.Add(time.Duration(i) * time.Minute), Actor: actor, Method: "POST",
				Path: fmt.Sprintf("/api/v1/runs/r%d/stop", i), Status: 200, RequestID: fmt.Sprint("req", i)}
			if err := s.AddAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID == 0 {
				t.Fatal("AddAudit did not set the id")
			}
		}
		now := &AuditEntry{Actor: "carol", Method: "DELETE", Path: "/api/v1/tasks/t"}
		if err := s.AddAudit(ctx, now); err != nil {
			t.Fatal(err)
		}
		if now.At.IsZero() || time.Since(now.At) > time.Minute {
			t.Fatalf("zero At not set to now: %v", now.At)
		}

		all, total, err := s.ListAudit(ctx, "", 0, 0)
		if err != nil || total != 6 || len(all) != 6 || all[0].Actor != "carol" || all[5].Path != "/api/v1/runs/r0/stop" {
			t.Fatalf("all audit: %d %v %+v", total, err, all)
		}
		page, total, err := s.ListAudit(ctx, "alice", 1, 1)
		if err != nil || total != 3 || len(page) != 1 || page[0].RequestID != "req2" {
			t.Fatalf("alice page: %d %v %+v", total, err, page)
		}
		none, total, err := s.ListAudit(ctx, "nobody", 10, 0)
		if err != nil || total != 0 || none == nil || len(none) != 0 {
			t.Fatalf("nobody: %d %v %#v", total, err, none)
		}
	})
}
