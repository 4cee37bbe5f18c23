package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// AddRunExecution records a Temporal run of a batch.
func (s *Store) AddRunExecution(ctx context.Context, e *RunExecution) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(e).Error; err != nil {
			return err
		}
		return touchRuns(tx, []string{e.RunID})
	})
	return wrap("add run execution", err)
}

// ListRunExecutions lists a batch's Temporal runs, oldest first.
func (s *Store) ListRunExecutions(ctx context.Context, runID string) ([]RunExecution, error) {
	var out []RunExecution
	err := s.db.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error
	return out, wrap("list run executions", err)
}
