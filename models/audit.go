package models

import "context"

// AddAudit records one mutating call. A zero At means now.
func (s *Store) AddAudit(ctx context.Context, e *AuditEntry) error {
	e.At = norm(e.At)
	if e.At.IsZero() {
		e.At = s.now()
	}
	return wrap("add audit", s.db.WithContext(ctx).Create(e).Error)
}

// ListAudit pages the audit log, newest first, optionally for one actor.
func (s *Store) ListAudit(ctx context.Context, actor string, limit, offset int) ([]AuditEntry, int64, error) {
	const op = "list audit"
	db := s.db.WithContext(ctx).Model(&AuditEntry{})
	if actor != "" {
		db = db.Where("actor = ?", actor)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, wrap(op, err)
	}
	out := []AuditEntry{}
	err := db.Order("at DESC").Order("id DESC").Limit(pageLimit(limit)).Offset(pageOffset(offset)).Find(&out).Error
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}
