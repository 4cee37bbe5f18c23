package models

import (
	"context"
	"time"
)

// AddAudit records one mutating call. A zero At means now.
func (s *Store) AddAudit(ctx context.Context, e *AuditEntry) error {
	e.At = norm(e.At)
	if e.At.IsZero() {
		e.At = s.now()
	}
	return wrap("add audit", s.db.WithContext(ctx).Create(e).Error)
}

// AuditFilter selects audit entries. Every set field must match: strings
// exactly, except PathPrefix; Since is inclusive and Until exclusive.
type AuditFilter struct {
	ActorID        uint64
	Actor          string
	Action         string
	TargetKind     string
	TargetID       string
	TargetNode     string
	Result         string
	Code           string
	Status         int
	RequestID      string
	IdempotencyKey string
	ClientAddr     string
	Method         string
	PathPrefix     string
	Since, Until   *time.Time
	Limit, Offset  int
}

// ListAudit pages the audit log, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, int64, error) {
	const op = "list audit"
	db := s.db.WithContext(ctx).Model(&AuditEntry{})
	for col, v := range map[string]string{
		"actor": f.Actor, "action": f.Action, "target_kind": f.TargetKind, "target_id": f.TargetID,
		"target_node": f.TargetNode, "result": f.Result, "code": f.Code, "request_id": f.RequestID,
		"idempotency_key": f.IdempotencyKey, "client_addr": f.ClientAddr, "method": f.Method,
	} {
		if v != "" {
			db = db.Where(col+" = ?", v)
		}
	}
	if f.ActorID != 0 {
		db = db.Where("actor_id = ?", f.ActorID)
	}
	if f.Status != 0 {
		db = db.Where("status = ?", f.Status)
	}
	if f.PathPrefix != "" {
		db = db.Where("path LIKE ? ESCAPE '!'", likeEscaper.Replace(f.PathPrefix)+"%")
	}
	if f.Since != nil {
		db = db.Where("at >= ?", norm(*f.Since))
	}
	if f.Until != nil {
		db = db.Where("at < ?", norm(*f.Until))
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, wrap(op, err)
	}
	out := []AuditEntry{}
	err := db.Order("at DESC").Order("id DESC").Limit(pageLimit(f.Limit)).Offset(pageOffset(f.Offset)).Find(&out).Error
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}
