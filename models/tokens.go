package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/baton-sched/baton/internal/dag"
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

// ValidTokenName reports whether name is a token name: the design's name
// rule (letters of any script, digits, '-', '_', '.'; up to 64), not empty.
func ValidTokenName(name string) bool { return name != "" && dag.ValidName(name) }

func checkToken(op, name, role string) error {
	if !ValidTokenName(name) {
		return fmt.Errorf("%s: name %q: %w", op, name, ErrInvalid)
	}
	if !validRole(role) {
		return fmt.Errorf("%s: role %q: %w", op, role, ErrInvalid)
	}
	return nil
}

func nameTaken(op, name string) error {
	return fmt.Errorf("%s: a token named %q already exists (names are never reused, revoked tokens included): %w", op, name, ErrConflict)
}

// EnsureToken makes plaintext a valid token with this name and role, for
// bootstrap tokens given in configuration: repeated calls converge on one
// row, and a revoked one is reinstated. A token already holding the name
// takes the new secret (the configured secret was rotated; the id, and so
// the audit trail, stays); a token already holding the secret takes the
// name. ErrConflict when those are two different tokens.
func (s *Store) EnsureToken(ctx context.Context, name, role, plaintext string) (*Token, error) {
	const op = "ensure token"
	if err := checkToken(op, name, role); err != nil {
		return nil, err
	}
	if plaintext == "" {
		return nil, fmt.Errorf("%s: empty token: %w", op, ErrInvalid)
	}
	hash := HashToken(plaintext)
	var out Token
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var byName, byHash []Token
		if err := tx.Where("name = ?", name).Find(&byName).Error; err != nil {
			return err
		}
		if err := tx.Where("hash = ?", hash).Find(&byHash).Error; err != nil {
			return err
		}
		var t Token
		switch {
		case len(byName) == 1 && len(byHash) == 1 && byName[0].ID != byHash[0].ID:
			return nameTaken(op, name)
		case len(byName) == 1:
			t = byName[0]
		case len(byHash) == 1:
			t = byHash[0]
		default:
			t = Token{Name: name, Hash: hash, Role: role, CreatedAt: s.now()}
			if err := tx.Create(&t).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&Token{}).Where("id = ?", t.ID).
			Updates(map[string]any{"name": name, "hash": hash, "role": role, "revoked": false}).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", t.ID).Take(&out).Error
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, err
		}
		return nil, wrap(op, err)
	}
	return &out, nil
}

// CreateToken issues a new random token. The plaintext is returned once
// and never stored.
func (s *Store) CreateToken(ctx context.Context, name, role string) (string, *Token, error) {
	const op = "create token"
	if err := checkToken(op, name, role); err != nil {
		return "", nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	plaintext := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := &Token{Name: name, Hash: HashToken(plaintext), Role: role, CreatedAt: s.now()}
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		// The hash is random, so a duplicate can only be the name.
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return "", nil, nameTaken(op, name)
		}
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

// dedupeTokenNames renames all but the oldest token of each name shared by
// several ("ci" becomes "ci-7"), so the unique name index can be built on
// a mirror written before names were unique. Every call is a no-op once
// that index exists.
func dedupeTokenNames(db *gorm.DB) error {
	m := db.Migrator()
	if !m.HasTable(&Token{}) || m.HasIndex(&Token{}, "ux_token_name") {
		return nil
	}
	var toks []Token
	if err := db.Order("id").Find(&toks).Error; err != nil {
		return fmt.Errorf("dedupe token names: %w", err)
	}
	seen := make(map[string]bool, len(toks))
	for _, t := range toks {
		seen[t.Name] = true
	}
	first := map[string]bool{}
	for _, t := range toks {
		if !first[t.Name] {
			first[t.Name] = true
			continue
		}
		for n := 0; ; n++ {
			suffix := fmt.Sprintf("-%d", t.ID)
			if n > 0 {
				suffix = fmt.Sprintf("-%d-%d", t.ID, n)
			}
			base := []rune(t.Name)
			if limit := 64 - len(suffix); len(base) > limit {
				base = base[:limit]
			}
			name := string(base) + suffix
			if seen[name] {
				continue
			}
			seen[name] = true
			if err := db.Model(&Token{}).Where("id = ?", t.ID).UpdateColumn("name", name).Error; err != nil {
				return fmt.Errorf("dedupe token names: %w", err)
			}
			break
		}
	}
	return nil
}
