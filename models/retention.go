package models

import (
	"context"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// PurgeStats counts what one Purge removed.
type PurgeStats struct {
	Runs, Audit int64
}

// Purge deletes runs that finished before cutoff, with their node runs,
// instances, logs, transitions, executions and alert history, and audit entries older than
// cutoff. It works in batches of batch runs so that no statement locks much
// of a busy table at once.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, batch int) (PurgeStats, error) {
	var st PurgeStats
	if batch <= 0 {
		batch = 200
	}
	cutoff = cutoff.UTC()
	for {
		var ids []string
		err := s.db.WithContext(ctx).Model(&Run{}).Where("finished_at IS NOT NULL AND finished_at < ?", cutoff).
			Order("finished_at").Limit(batch).Pluck("id", &ids).Error
		if err != nil {
			return st, wrap("purge: find runs", err)
		}
		if len(ids) == 0 {
			break
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			insts := tx.Model(&Instance{}).Select("id").Where("run_id IN ?", ids)
			for _, q := range []struct {
				model any
				where string
				arg   any
			}{
				{&LogChunk{}, "instance_id IN (?)", insts},
				{&Instance{}, "run_id IN ?", ids},
				{&NodeRun{}, "run_id IN ?", ids},
				{&Transition{}, "run_id IN ?", ids},
				{&RunExecution{}, "run_id IN ?", ids},
				{&Alert{}, "run_id IN ?", ids},
				{&Run{}, "id IN ?", ids},
			} {
				if err := tx.Where(q.where, q.arg).Delete(q.model).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, wrap("purge: delete runs", err)
		}
		st.Runs += int64(len(ids))
		if len(ids) < batch {
			break
		}
	}
	for {
		// Ids first: MySQL refuses LIMIT in an IN subquery on the same table.
		var ids []uint64
		if err := s.db.WithContext(ctx).Model(&AuditEntry{}).Where("at < ?", cutoff).Limit(batch).Pluck("id", &ids).Error; err != nil {
			return st, wrap("purge: find audit", err)
		}
		if len(ids) == 0 {
			break
		}
		res := s.db.WithContext(ctx).Where("id IN ?", ids).Delete(&AuditEntry{})
		if res.Error != nil {
			return st, wrap("purge: delete audit", res.Error)
		}
		st.Audit += res.RowsAffected
		if len(ids) < batch {
			break
		}
	}
	return st, nil
}

// KeepFor purges records older than retention every interval until ctx
// ends: run records and logs are kept for BATON_RETENTION (README,
// "Configuration"), then purged.
func (s *Store) KeepFor(ctx context.Context, retention, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := s.Purge(ctx, time.Now().Add(-retention), 200)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention purge failed", "error", err)
		case st.Runs > 0 || st.Audit > 0:
			log.Info("retention purge", "runs", st.Runs, "audit_entries", st.Audit, "older_than", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
