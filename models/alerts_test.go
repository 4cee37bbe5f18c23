package models

import (
	"context"
	"errors"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
)

func TestAlertChannelsStore(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		c := &AlertChannel{ID: "c1", Name: "oncall", Kind: "webhook", Config: `{"name":"oncall"}`, CreatedBy: "admin"}
		if err := s.CreateAlertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
		dup := &AlertChannel{ID: "c2", Name: "oncall", Kind: "email", Config: `{}`}
		if err := s.CreateAlertChannel(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		other := &AlertChannel{ID: "c3", Name: "mail", Kind: "email", Config: `{}`}
		if err := s.CreateAlertChannel(ctx, other); err != nil {
			t.Fatal(err)
		}
		other.Name = "oncall"
		if err := s.UpdateAlertChannel(ctx, other); !errors.Is(err, ErrConflict) {
			t.Fatalf("rename onto a taken name: %v", err)
		}
		other.Name, other.Config = "mail-2", `{"x":1}`
		if err := s.UpdateAlertChannel(ctx, other); err != nil || other.Name != "mail-2" {
			t.Fatalf("update: %v %+v", err, other)
		}
		if err := s.UpdateAlertChannel(ctx, &AlertChannel{ID: "nope", Name: "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		got, err := s.AlertChannelByName(ctx, "mail-2")
		if err != nil || got.Config != `{"x":1}` {
			t.Fatalf("by name: %v %+v", err, got)
		}
		missing, err := s.MissingAlertChannels(ctx, []string{"oncall", "gone", "mail-2", "gone"})
		if err != nil || len(missing) != 1 || missing[0] != "gone" {
			t.Fatalf("missing %v (%v)", missing, err)
		}
		if err := s.DeleteAlertChannel(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlertChannel(ctx, "c1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if _, err := s.AlertChannel(ctx, "c1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		list, err := s.ListAlertChannels(ctx)
		if err != nil || len(list) != 1 || list[0].Name != "mail-2" {
			t.Fatalf("list %+v (%v)", list, err)
		}
	})
}

func TestGroupAlertRulesAndRunResolution(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rules, _, err := s.GroupAlertRules(ctx, "etl")
		if err != nil || len(rules) != 0 {
			t.Fatalf("unset group: %v %v", rules, err)
		}
		def := []dag.AlertRule{{Events: []dag.AlertEvent{dag.AlertRunFailed}, Channels: []string{"oncall"}}}
		for range 2 { // the second write updates the row
			if _, err := s.SetGroupAlertRules(ctx, "etl", def, "admin"); err != nil {
				t.Fatal(err)
			}
		}
		own := dag.AlertRule{Events: []dag.AlertEvent{dag.AlertNodeFailed}, Channels: []string{"team"}}
		flow := dag.Flow{Alerts: []dag.AlertRule{own}}
		got, err := s.RunAlertRules(ctx, "flow", "etl", flow)
		if err != nil || len(got) != 2 || got[0].Channels[0] != "team" || got[1].Channels[0] != "oncall" {
			t.Fatalf("flow run rules %+v (%v)", got, err)
		}
		task := dag.SingleTaskFlow("t1", dag.Task{Kind: "noop", Alerts: []dag.AlertRule{own}})
		got, err = s.RunAlertRules(ctx, "task", "etl", task)
		if err != nil || len(got) != 2 || got[0].Channels[0] != "team" {
			t.Fatalf("task run rules %+v (%v)", got, err)
		}
		if got, err := s.RunAlertRules(ctx, "flow", "default", dag.Flow{}); err != nil || got != nil {
			t.Fatalf("no rules: %+v (%v)", got, err)
		}
		groups, err := s.ListGroupAlertRules(ctx)
		if err != nil || len(groups) != 1 || groups[0].Group != "etl" {
			t.Fatalf("groups %+v (%v)", groups, err)
		}
		if _, err := s.SetGroupAlertRules(ctx, "etl", nil, "admin"); err != nil {
			t.Fatal(err)
		}
		if rules, _, _ := s.GroupAlertRules(ctx, "etl"); len(rules) != 0 {
			t.Fatalf("cleared group still has %v", rules)
		}
	})
}

func TestAlertClaimDedupesAndCountsAttempts(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		row := func() *Alert {
			return &Alert{RunID: "r1", Event: "run_failed", Key: "1", Channel: "oncall", ChannelKind: "webhook", Title: "t"}
		}
		a, err := s.ClaimAlert(ctx, row())
		if err != nil || a.Status != AlertPending || a.ID == 0 {
			t.Fatalf("claim %+v (%v)", a, err)
		}
		if err := s.RecordAlertAttempt(ctx, a.ID, errors.New("webhook answered 502 Bad Gateway")); err != nil {
			t.Fatal(err)
		}
		again, err := s.ClaimAlert(ctx, row())
		if err != nil || again.ID != a.ID || again.Status != AlertFailed || again.Attempts != 1 || again.LastError == "" {
			t.Fatalf("second claim %+v (%v)", again, err)
		}
		if err := s.RecordAlertAttempt(ctx, a.ID, nil); err != nil {
			t.Fatal(err)
		}
		// A late failure report never turns a sent row back.
		if err := s.RecordAlertAttempt(ctx, a.ID, errors.New("late")); err != nil {
			t.Fatal(err)
		}
		sent, err := s.ClaimAlert(ctx, row())
		if err != nil || sent.Status != AlertSent || sent.Attempts != 2 || sent.SentAt == nil || sent.LastError != "" {
			t.Fatalf("sent row %+v (%v)", sent, err)
		}
		other := row()
		other.Key = "2"
		if b, err := s.ClaimAlert(ctx, other); err != nil || b.ID == a.ID {
			t.Fatalf("another key shares the row: %+v (%v)", b, err)
		}
		for i := range 3 {
			r := row()
			r.RunID, r.Channel = "r2", []string{"a", "b", "c"}[i]
			if _, err := s.ClaimAlert(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		page, more, err := s.ListAlerts(ctx, AlertQuery{RunID: "r2", Limit: 2})
		if err != nil || len(page) != 2 || !more || page[0].Channel != "c" {
			t.Fatalf("page 1 %+v more %v (%v)", page, more, err)
		}
		page2, more, err := s.ListAlerts(ctx, AlertQuery{RunID: "r2", Limit: 2, After: page[1].ID})
		if err != nil || len(page2) != 1 || more || page2[0].Channel != "a" {
			t.Fatalf("page 2 %+v more %v (%v)", page2, more, err)
		}
		failed, _, err := s.ListAlerts(ctx, AlertQuery{Status: AlertSent, Event: "run_failed", Channel: "oncall"})
		if err != nil || len(failed) != 1 || failed[0].ID != a.ID {
			t.Fatalf("filtered %+v (%v)", failed, err)
		}
	})
}
