package models

import (
	"context"
	"time"
)

// AddRunExecution records a Temporal run of a batch.
func (s *Store) AddRunExecution(ctx context.Context, e *RunExecution) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	return wrap("add run execution", s.db.WithContext(ctx).Create(e).Error)
}

// ListRunExecutions lists a batch's Temporal runs, oldest first.
func (s *Store) ListRunExecutions(ctx context.Context, runID string) ([]RunExecution, error) {
	var out []RunExecution
	err := s.db.WithContext(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error
	return out, wrap("list run executions", err)
}
