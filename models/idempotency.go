package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// IdempotencyTTL is how long the first answer to a keyed request is kept.
// A client retries within minutes; a day also covers a batch job rerun the
// next morning without letting the table grow without bound.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyKey is the first answer to a mutating request that carried an
// Idempotency-Key header. Status 0 means the first request is still being
// handled: a concurrent repeat waits for it rather than acting twice.
type IdempotencyKey struct {
	ID    uint64 `gorm:"primaryKey;autoIncrement"`
	Actor string `gorm:"size:64;uniqueIndex:ux_idempotency,priority:1"`
	// "key" is reserved in MySQL, hence the column name.
	Key    string `gorm:"column:idem_key;size:64;uniqueIndex:ux_idempotency,priority:2"`
	Method string `gorm:"size:8"`
	Path   string `gorm:"size:255"`
	// QueryHash is the SHA-256 of the sorted query, "" without one.
	QueryHash string `gorm:"size:64"`
	BodyHash  string `gorm:"size:64"`
	// Owner identifies the request holding the reservation, so that one
	// taken over after a crash cannot be completed by the request it was
	// taken from.
	Owner       string `gorm:"size:36"`
	Status      int
	ContentType string    `gorm:"size:128"`
	Body        []byte    `gorm:"type:longblob"`
	CreatedAt   time.Time `gorm:"index"`
	CompletedAt *time.Time
}

// Expired reports whether the row is past IdempotencyTTL at now.
func (k *IdempotencyKey) Expired(now time.Time) bool { return now.Sub(k.CreatedAt) >= IdempotencyTTL }

// purgeBatch bounds one lazy purge, so a request never pays for a backlog.
const purgeBatch = 100

// ReserveIdempotencyKey records k as in progress. When the actor already
// used the key (and it has not expired), it returns the stored row and
// ErrConflict; the row's Status tells a finished answer from one still in
// progress. Expired rows are purged lazily, a few per call.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, k *IdempotencyKey) (*IdempotencyKey, error) {
	const op = "reserve idempotency key"
	now := s.now()
	k.CreatedAt, k.Status, k.CompletedAt = now, 0, nil
	db := s.db.WithContext(ctx)
	if err := s.purgeIdempotencyKeys(db, now.Add(-IdempotencyTTL)); err != nil {
		return nil, wrap(op, err)
	}
	for range 2 {
		k.ID = 0
		err := db.Create(k).Error
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, wrap(op, err)
		}
		var got IdempotencyKey
		err = db.Where("actor = ? AND idem_key = ?", k.Actor, k.Key).Take(&got).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // released or purged in between: try again
		}
		if err != nil {
			return nil, wrap(op, err)
		}
		if !got.Expired(now) {
			return &got, wrap(op, gorm.ErrDuplicatedKey)
		}
		// Expired but not purged yet: it no longer counts.
		if err := db.Where("id = ?", got.ID).Delete(&IdempotencyKey{}).Error; err != nil {
			return nil, wrap(op, err)
		}
	}
	return nil, wrap(op, gorm.ErrDuplicatedKey)
}

// purgeIdempotencyKeys deletes some expired rows. It selects their ids
// first and deletes by primary key: a ranged DELETE would gap-lock the
// created_at index on MySQL and hold up concurrent reservations.
func (s *Store) purgeIdempotencyKeys(db *gorm.DB, before time.Time) error {
	var ids []uint64
	if err := db.Model(&IdempotencyKey{}).Where("created_at < ?", before).Limit(purgeBatch).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return db.Where("id IN ?", ids).Delete(&IdempotencyKey{}).Error
}

// CompleteIdempotencyKey stores the answer of the request that owns the
// reservation. ErrNotFound when the reservation is no longer its own.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, id uint64, owner string, status int, contentType string, body []byte) error {
	const op = "complete idempotency key"
	now := s.now()
	res := s.db.WithContext(ctx).Model(&IdempotencyKey{}).Where("id = ? AND owner = ? AND status = 0", id, owner).
		Updates(map[string]any{"status": status, "content_type": contentType, "body": body, "completed_at": now})
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, gorm.ErrRecordNotFound)
	}
	return nil
}

// ReleaseIdempotencyKey drops an unfinished reservation, so the key can be
// used again: for answers that must not be replayed (server errors).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, id uint64, owner string) error {
	err := s.db.WithContext(ctx).Where("id = ? AND owner = ? AND status = 0", id, owner).Delete(&IdempotencyKey{}).Error
	return wrap("release idempotency key", err)
}

// TakeOverIdempotencyKey hands an in-progress reservation whose request
// apparently died (a crashed API process) to a new owner. It succeeds for
// one caller only: the one that still saw the old owner.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, id uint64, oldOwner, newOwner string) (bool, error) {
	res := s.db.WithContext(ctx).Model(&IdempotencyKey{}).Where("id = ? AND owner = ? AND status = 0", id, oldOwner).
		Updates(map[string]any{"owner": newOwner, "created_at": s.now()})
	if res.Error != nil {
		return false, wrap("take over idempotency key", res.Error)
	}
	return res.RowsAffected == 1, nil
}
