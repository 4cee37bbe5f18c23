package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// HeartbeatWorker registers a worker or refreshes it. LastSeen is the
// store's clock, not the worker's, so liveness does not depend on worker
// clocks agreeing; StartedAt is kept from the first registration.
func (s *Store) HeartbeatWorker(ctx context.Context, w Worker) error {
	const op = "heartbeat worker"
	if w.ID == "" {
		return fmt.Errorf("%s: id is required: %w", op, ErrInvalid)
	}
	now := s.now()
	w.LastSeen = now
	w.StartedAt = norm(w.StartedAt)
	if w.StartedAt.IsZero() {
		w.StartedAt = now
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"group_name", "host", "p_id", "running", "last_seen"}),
	}).Create(&w).Error
	return wrap(op, err)
}

// ListWorkers returns the workers of a group ("" for all), by group and id.
func (s *Store) ListWorkers(ctx context.Context, group string) ([]Worker, error) {
	return s.workers(ctx, "list workers", group, nil)
}

// LiveWorkers returns the workers of a group ("" for all) seen at or after
// since.
func (s *Store) LiveWorkers(ctx context.Context, group string, since time.Time) ([]Worker, error) {
	return s.workers(ctx, "live workers", group, &since)
}

func (s *Store) workers(ctx context.Context, op, group string, since *time.Time) ([]Worker, error) {
	db := s.db.WithContext(ctx)
	if group != "" {
		db = db.Where("group_name = ?", group)
	}
	if since != nil {
		db = db.Where("last_seen >= ?", norm(*since))
	}
	out := []Worker{}
	if err := db.Order("group_name").Order("id").Find(&out).Error; err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}
