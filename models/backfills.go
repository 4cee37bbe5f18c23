package models

import (
	"context"
	"time"
)

// CreateBackfill records a new backfill; ErrConflict if the id exists.
func (s *Store) CreateBackfill(ctx context.Context, b *Backfill) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	b.CreatedAt, b.UpdatedAt = now, now
	return wrap("create backfill", s.db.WithContext(ctx).Create(b).Error)
}

// GetBackfill returns one backfill.
func (s *Store) GetBackfill(ctx context.Context, id string) (*Backfill, error) {
	var b Backfill
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&b).Error; err != nil {
		return nil, wrap("get backfill", err)
	}
	return &b, nil
}

// ListBackfills lists backfills, newest first, optionally of one definition.
func (s *Store) ListBackfills(ctx context.Context, definitionID string, limit, offset int) ([]Backfill, int64, error) {
	if limit <= 0 {
		limit = 50
	}
	db := s.db.WithContext(ctx).Model(&Backfill{})
	if definitionID != "" {
		db = db.Where("definition_id = ?", definitionID)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, wrap("count backfills", err)
	}
	var out []Backfill
	err := db.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&out).Error
	return out, total, wrap("list backfills", err)
}

// BackfillCounts is a backfill's progress as the driver reports it.
type BackfillCounts struct {
	Status                                string
	Total, Done, Failed, Running, Waiting int
}

// UpdateBackfillProgress stores the driver's latest progress.
func (s *Store) UpdateBackfillProgress(ctx context.Context, id string, c BackfillCounts) error {
	err := s.db.WithContext(ctx).Model(&Backfill{}).Where("id = ?", id).Updates(map[string]any{
		"status": c.Status, "total": c.Total, "done": c.Done, "failed": c.Failed, "running": c.Running,
		"waiting": c.Waiting, "updated_at": time.Now().UTC().Truncate(time.Millisecond),
	}).Error
	return wrap("update backfill progress", err)
}
