package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// tokenPrefix marks Baton tokens so they are recognisable in configs and
// by secret scanners.
const tokenPrefix = "bt_"

// lastUsedEvery bounds how often a lookup writes LastUsed: once a minute
// is precise enough for "last used" and keeps hot tokens from turning every
// API call into a write.
const lastUsedEvery = time.Minute

func validRole(role string) bool {
	switch role {
	case "admin", "operator", "viewer":
		return true
	}
	return false
}

// HashToken is the at-rest form of a token: SHA-256, hex.
func HashToken(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// EnsureToken makes plaintext a valid token with this name and role, for
// bootstrap tokens given in configuration: repeated calls converge on one
// row, and a revoked one is reinstated.
func (s *Store) EnsureToken(ctx context.Context, name, role, plaintext string) (*Token, error) {
	const op = "ensure token"
	if !validRole(role) {
		return nil, fmt.Errorf("%s: role %q: %w", op, role, ErrInvalid)
	}
	if plaintext == "" {
		return nil, fmt.Errorf("%s: empty token: %w", op, ErrInvalid)
	}
	t := Token{Name: name, Hash: HashToken(plaintext), Role: role, CreatedAt: s.now()}
	db := s.db.WithContext(ctx)
	err := db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "hash"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "role", "revoked"}),
	}).Create(&t).Error
	if err != nil {
		return nil, wrap(op, err)
	}
	var out Token
	if err := db.Where("hash = ?", t.Hash).Take(&out).Error; err != nil {
		return nil, wrap(op, err)
	}
	return &out, nil
}

// CreateToken issues a new random token. The plaintext is returned once
// and never stored.
func (s *Store) CreateToken(ctx context.Context, name, role string) (string, *Token, error) {
	const op = "create token"
	if !validRole(role) {
		return "", nil, fmt.Errorf("%s: role %q: %w", op, role, ErrInvalid)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	plaintext := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := &Token{Name: name, Hash: HashToken(plaintext), Role: role, CreatedAt: s.now()}
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return "", nil, wrap(op, err)
	}
	return plaintext, t, nil
}

// LookupToken authenticates plaintext. ErrNotFound if it is unknown or
// revoked.
func (s *Store) LookupToken(ctx context.Context, plaintext string) (*Token, error) {
	const op = "lookup token"
	if plaintext == "" {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	db := s.db.WithContext(ctx)
	var t Token
	if err := db.Where("hash = ? AND revoked = ?", HashToken(plaintext), false).Take(&t).Error; err != nil {
		return nil, wrap(op, err)
	}
	now := s.now()
	if t.LastUsed == nil || now.Sub(*t.LastUsed) >= lastUsedEvery {
		// The condition repeats the check so concurrent lookups write once.
		res := db.Model(&Token{}).Where("id = ? AND (last_used IS NULL OR last_used <= ?)", t.ID, now.Add(-lastUsedEvery)).
			UpdateColumn("last_used", now)
		if res.Error != nil {
			return nil, wrap(op, res.Error)
		}
		if res.RowsAffected > 0 {
			t.LastUsed = &now
		}
	}
	return &t, nil
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	out := []Token{}
	if err := s.db.WithContext(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, wrap("list tokens", err)
	}
	return out, nil
}

// RevokeToken makes a token unusable; revoking twice is not an error.
func (s *Store) RevokeToken(ctx context.Context, id uint64) error {
	const op = "revoke token"
	db := s.db.WithContext(ctx)
	res := db.Model(&Token{}).Where("id = ?", id).UpdateColumn("revoked", true)
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, s.mustExist(db, &Token{}, "id = ?", id))
	}
	return nil
}
