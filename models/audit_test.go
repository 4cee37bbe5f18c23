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
			actor, id := "alice", uint64(1)
			if i%2 == 1 {
				actor, id = "bob", 2
			}
			e := &AuditEntry{At: base.Add(time.Duration(i) * time.Minute), ActorID: id, Actor: actor, Action: "run.stop",
				Method: "POST", Path: fmt.Sprintf("/api/v1/runs/r%d/stop", i), TargetKind: "run", TargetID: fmt.Sprint("r", i),
				Result: AuditApplied, Status: 200, RequestID: fmt.Sprint("req", i), ClientAddr: "10.0.0.1"}
			if i == 4 {
				e.Action, e.Path, e.TargetKind, e.TargetNode = "node.retry", "/api/v1/runs/r4/nodes/n_1/retry", "node", "n_1"
				e.Result, e.Code, e.Status, e.IdempotencyKey = AuditRefused, "node_not_eligible", 409, "k1"
			}
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

		all, total, err := s.ListAudit(ctx, AuditFilter{})
		if err != nil || total != 6 || len(all) != 6 || all[0].Actor != "carol" || all[5].Path != "/api/v1/runs/r0/stop" {
			t.Fatalf("all audit: %d %v %+v", total, err, all)
		}
		page, total, err := s.ListAudit(ctx, AuditFilter{Actor: "alice", Limit: 1, Offset: 1})
		if err != nil || total != 3 || len(page) != 1 || page[0].RequestID != "req2" {
			t.Fatalf("alice page: %d %v %+v", total, err, page)
		}
		none, total, err := s.ListAudit(ctx, AuditFilter{Actor: "nobody", Limit: 10})
		if err != nil || total != 0 || none == nil || len(none) != 0 {
			t.Fatalf("nobody: %d %v %#v", total, err, none)
		}
		since, until := base.Add(time.Minute), base.Add(3*time.Minute)
		for name, c := range map[string]struct {
			f    AuditFilter
			want []string // request ids, newest first
		}{
			"actor id":        {AuditFilter{ActorID: 2}, []string{"req3", "req1"}},
			"action":          {AuditFilter{Action: "node.retry"}, []string{"req4"}},
			"target":          {AuditFilter{TargetKind: "run", TargetID: "r2"}, []string{"req2"}},
			"target node":     {AuditFilter{TargetNode: "n_1"}, []string{"req4"}},
			"result":          {AuditFilter{Result: AuditRefused}, []string{"req4"}},
			"code":            {AuditFilter{Code: "node_not_eligible"}, []string{"req4"}},
			"status":          {AuditFilter{Status: 200, Actor: "alice"}, []string{"req2", "req0"}},
			"request id":      {AuditFilter{RequestID: "req3"}, []string{"req3"}},
			"idempotency key": {AuditFilter{IdempotencyKey: "k1"}, []string{"req4"}},
			"client":          {AuditFilter{ClientAddr: "10.0.0.1", Action: "run.stop", ActorID: 1}, []string{"req2", "req0"}},
			"time range":      {AuditFilter{Since: &since, Until: &until}, []string{"req2", "req1"}},
			"path prefix":     {AuditFilter{PathPrefix: "/api/v1/runs/r4/"}, []string{"req4"}},
			// LIKE wildcards in the prefix match only themselves.
			"path wildcard": {AuditFilter{PathPrefix: "/api/v1/runs/r_/"}, nil},
			"path percent":  {AuditFilter{PathPrefix: "%"}, nil},
		} {
			got, total, err := s.ListAudit(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.RequestID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(c.want) || total != int64(len(c.want)) {
				t.Errorf("%s: got %v (total %d), want %v", name, ids, total, c.want)
			}
		}
	})
}
