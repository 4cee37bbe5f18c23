package models

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHashToken(t *testing.T) {
	// sha256("abc"), the FIPS 180-2 test vector.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}

func TestTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		plain, tok, err := s.CreateToken(ctx, "ci", "operator")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(plain, "bt_"))
		if !strings.HasPrefix(plain, "bt_") || err != nil || len(raw) != 32 {
			t.Fatalf("token format: %q (%v)", plain, err)
		}
		if tok.Hash != HashToken(plain) || tok.Role != "operator" || tok.ID == 0 {
			t.Fatalf("created token: %+v", tok)
		}
		if other, _, _ := s.CreateToken(ctx, "ci2", "viewer"); other == plain {
			t.Fatal("two tokens are equal")
		}
		if _, _, err := s.CreateToken(ctx, "x", "root"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad role: %v", err)
		}

		got, err := s.LookupToken(ctx, plain)
		if err != nil || got.ID != tok.ID || got.LastUsed == nil {
			t.Fatalf("lookup: %+v %v", got, err)
		}
		first := *got.LastUsed
		got, err = s.LookupToken(ctx, plain)
		if err != nil || got.LastUsed == nil || !got.LastUsed.Equal(first) {
			t.Fatalf("LastUsed bumped within a minute: %v then %v (%v)", first, got.LastUsed, err)
		}
		// Age the stamp: the next lookup refreshes it.
		old := first.Add(-2 * time.Minute)
		if err := s.db.Model(&Token{}).Where("id = ?", tok.ID).UpdateColumn("last_used", old).Error; err != nil {
			t.Fatal(err)
		}
		got, err = s.LookupToken(ctx, plain)
		if err != nil || got.LastUsed == nil || !got.LastUsed.After(old.Add(time.Minute)) {
			t.Fatalf("LastUsed not refreshed: %v (%v)", got.LastUsed, err)
		}
		for _, bad := range []string{"", "bt_nope", HashToken(plain)} {
			if _, err := s.LookupToken(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Fatalf("lookup %q: %v", bad, err)
			}
		}

		for range 2 {
			if err := s.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.LookupToken(ctx, plain); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoked token accepted: %v", err)
		}
		if err := s.RevokeToken(ctx, 99999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		list, err := s.ListTokens(ctx)
		if err != nil || len(list) != 2 || list[0].ID != tok.ID || !list[0].Revoked || list[1].Revoked {
			t.Fatalf("list tokens: %+v %v", list, err)
		}
	})
}

func TestEnsureToken(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, err := s.EnsureToken(ctx, "bootstrap", "admin", "secret-1")
		if err != nil {
			t.Fatal(err)
		}
		if a.Hash != HashToken("secret-1") || a.Role != "admin" || a.Revoked {
			t.Fatalf("ensured: %+v", a)
		}
		if err := s.RevokeToken(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		b, err := s.EnsureToken(ctx, "boot", "viewer", "secret-1")
		if err != nil {
			t.Fatal(err)
		}
		if b.ID != a.ID || b.Revoked || b.Role != "viewer" || b.Name != "boot" {
			t.Fatalf("second ensure should reinstate the same row: %+v vs %+v", b, a)
		}
		if _, err := s.LookupToken(ctx, "secret-1"); err != nil {
			t.Fatalf("ensured token rejected: %v", err)
		}
		if list, _ := s.ListTokens(ctx); len(list) != 1 {
			t.Fatalf("ensure duplicated rows: %+v", list)
		}
		if _, err := s.EnsureToken(ctx, "x", "superuser", "s"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad role: %v", err)
		}
		if _, err := s.EnsureToken(ctx, "x", "admin", ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty token: %v", err)
		}
	})
}

func TestTokenNamesUnique(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, first, err := s.CreateToken(ctx, "admin", "admin")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateToken(ctx, "admin", "viewer"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"admin"`) {
			t.Fatalf("second token named admin: %v", err)
		}
		// A revoked token keeps its name: recorded actors stay unambiguous.
		if err := s.RevokeToken(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateToken(ctx, "admin", "viewer"); !errors.Is(err, ErrConflict) {
			t.Fatalf("name of a revoked token reused: %v", err)
		}
		for _, bad := range []string{"", "a b", "x\x00", strings.Repeat("n", 65), "semi;colon"} {
			if _, _, err := s.CreateToken(ctx, bad, "viewer"); !errors.Is(err, ErrInvalid) {
				t.Errorf("name %q: %v", bad, err)
			}
		}
		if _, _, err := s.CreateToken(ctx, "运维-1", "viewer"); err != nil {
			t.Fatalf("a name in another script: %v", err)
		}

		// The configured admin secret rotated: the row named admin takes
		// the new secret, keeps its id, and the old secret stops working.
		a, err := s.EnsureToken(ctx, "admin", "admin", "secret-2")
		if err != nil || a.ID != first.ID || a.Revoked {
			t.Fatalf("ensure over a created token: %+v %v", a, err)
		}
		if _, err := s.LookupToken(ctx, "secret-2"); err != nil {
			t.Fatal(err)
		}
		// A secret another named token holds cannot be claimed by a name.
		if _, err := s.EnsureToken(ctx, "运维-1", "admin", "secret-2"); !errors.Is(err, ErrConflict) {
			t.Fatalf("ensure taking another token's secret: %v", err)
		}
	})
}

// TestMigrateDedupesTokenNames builds a mirror from before names were
// unique and migrates it: all but the oldest of each name are renamed.
func TestMigrateDedupesTokenNames(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.db.Migrator().DropIndex(&Token{}, "ux_token_name"); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"admin", "admin", "ci", "admin", "admin-2"} {
			tok := &Token{Name: name, Hash: HashToken(fmt.Sprint("s", i)), Role: "viewer", CreatedAt: time.Now()}
			if err := s.db.Create(tok).Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tok := range list {
			names = append(names, tok.Name)
		}
		// Token 2 would be admin-2, which token 5 already is.
		if got := strings.Join(names, " "); got != "admin admin-2-1 ci admin-4 admin-2" {
			t.Fatalf("names after migrate: %s", got)
		}
		if _, _, err := s.CreateToken(ctx, "ci", "viewer"); !errors.Is(err, ErrConflict) {
			t.Fatalf("unique index missing after migrate: %v", err)
		}
	})
}
