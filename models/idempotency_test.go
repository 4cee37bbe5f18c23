package models

import (
	"context"
	"errors"
	"gorm.io/gorm"
	"testing"
	"time"
)

func TestIdempotencyKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first := &IdempotencyKey{Actor: "alice", Key: "k1", Method: "POST", Path: "/api/v1/runs/r1/stop", Owner: "o1"}
		if got, err := s.ReserveIdempotencyKey(ctx, first); err != nil || got != nil {
			t.Fatalf("first reservation: %v %+v", err, got)
		}
		// The same key of another actor is another key.
		if _, err := s.ReserveIdempotencyKey(ctx, &IdempotencyKey{Actor: "bob", Key: "k1", Owner: "o2"}); err != nil {
			t.Fatalf("other actor: %v", err)
		}
		dup := &IdempotencyKey{Actor: "alice", Key: "k1", Method: "POST", Path: "/x", Owner: "o3"}
		got, err := s.ReserveIdempotencyKey(ctx, dup)
		if !errors.Is(err, ErrConflict) || got == nil || got.Status != 0 || got.Path != "/api/v1/runs/r1/stop" || got.Owner != "o1" {
			t.Fatalf("duplicate while in progress: %v %+v", err, got)
		}
		// Only the owner completes it.
		if err := s.CompleteIdempotencyKey(ctx, first.ID, "o3", 200, "application/json", []byte(`{}`)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("complete by a stranger: %v", err)
		}
		body := []byte(`{"applied":true}`)
		if err := s.CompleteIdempotencyKey(ctx, first.ID, "o1", 200, "application/json; charset=utf-8", body); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteIdempotencyKey(ctx, first.ID, "o1", 500, "", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a completed answer must not change: %v", err)
		}
		got, err = getIdempotencyKey(ctx, s, "alice", "k1")
		if err != nil || got.Status != 200 || string(got.Body) != string(body) || got.CompletedAt == nil {
			t.Fatalf("stored answer: %v %+v", err, got)
		}
		// Release drops only unfinished reservations.
		if err := s.ReleaseIdempotencyKey(ctx, first.ID, "o1"); err != nil {
			t.Fatal(err)
		}
		if _, err := getIdempotencyKey(ctx, s, "alice", "k1"); err != nil {
			t.Fatalf("release removed a finished answer: %v", err)
		}
		k2 := &IdempotencyKey{Actor: "alice", Key: "k2", Owner: "o4"}
		if _, err := s.ReserveIdempotencyKey(ctx, k2); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseIdempotencyKey(ctx, k2.ID, "o4"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReserveIdempotencyKey(ctx, &IdempotencyKey{Actor: "alice", Key: "k2", Owner: "o5"}); err != nil {
			t.Fatalf("reserve a released key: %v", err)
		}
		// A stale reservation is taken over by exactly one new owner.
		stale, err := getIdempotencyKey(ctx, s, "alice", "k2")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.TakeOverIdempotencyKey(ctx, stale.ID, "o5", "o6"); err != nil || !ok {
			t.Fatalf("take over: %v %v", ok, err)
		}
		if ok, err := s.TakeOverIdempotencyKey(ctx, stale.ID, "o5", "o7"); err != nil || ok {
			t.Fatalf("second take over: %v %v", ok, err)
		}
		if err := s.CompleteIdempotencyKey(ctx, stale.ID, "o5", 200, "", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the old owner completed a taken-over key: %v", err)
		}
	})
}

func TestIdempotencyKeysExpire(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		old := time.Now().Add(-IdempotencyTTL - time.Minute).UTC()
		// Rows from yesterday: more than one purge batch of them.
		for i := range purgeBatch + 5 {
			k := &IdempotencyKey{Actor: "alice", Key: "old" + itoa(i), Status: 200, CreatedAt: old}
			if err := s.db.Create(k).Error; err != nil {
				t.Fatal(err)
			}
		}
		if _, err := getIdempotencyKey(ctx, s, "alice", "old1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an expired key is still served: %v", err)
		}
		// Reserving purges a batch, and an expired row of the same key
		// beyond the batch does not block the new reservation.
		last := "old" + itoa(purgeBatch+4)
		if got, err := s.ReserveIdempotencyKey(ctx, &IdempotencyKey{Actor: "alice", Key: last, Owner: "o"}); err != nil || got != nil {
			t.Fatalf("reserve over an expired key: %v %+v", err, got)
		}
		var n int64
		if err := s.db.Model(&IdempotencyKey{}).Where("created_at < ?", time.Now().Add(-IdempotencyTTL)).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n > 5 {
			t.Fatalf("%d expired rows left after a purge batch", n)
		}
	})
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// getIdempotencyKey reads the row of an actor's key, as the API never
// needs to (it reserves instead); ErrNotFound when there is none or it
// expired.
func getIdempotencyKey(ctx context.Context, s *Store, actor, key string) (*IdempotencyKey, error) {
	var got IdempotencyKey
	if err := s.db.WithContext(ctx).Where("actor = ? AND idem_key = ?", actor, key).Take(&got).Error; err != nil {
		return nil, wrap("get idempotency key", err)
	}
	if got.Expired(s.now()) {
		return nil, wrap("get idempotency key", gorm.ErrRecordNotFound)
	}
	return &got, nil
}
