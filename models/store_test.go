package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var mysqlSchemaSeq atomic.Int64

// forEachDB runs fn against a fresh, migrated SQLite store and, when
// BATON_TEST_MYSQL_DSN is set (CI sets it), a fresh MariaDB/MySQL database.
// The DSN names a server and a database the test may create siblings of.
func forEachDB(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, freshSQLite(t)) })
	dsn := os.Getenv("BATON_TEST_MYSQL_DSN")
	t.Run("mysql", func(t *testing.T) {
		if dsn == "" {
			t.Skip("BATON_TEST_MYSQL_DSN not set")
		}
		s := freshMySQL(t, dsn)
		t.Logf("store test on MySQL/MariaDB (%s)", s.serverVersion(t))
		fn(t, s)
	})
}

// freshSQLite opens a migrated SQLite store in a temp dir.
func freshSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// freshMySQL creates an empty database next to the one dsn names.
func freshMySQL(t testing.TB, dsn string) *Store {
	t.Helper()
	ctx := context.Background()
	admin, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	name := fmt.Sprintf("baton_t%d_%d", os.Getpid(), mysqlSchemaSeq.Add(1))
	if err := admin.db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := Open(ctx, dsn)
		if err == nil {
			_ = a.db.Exec("DROP DATABASE " + name).Error
			_ = a.Close()
		}
	})
	slash := strings.LastIndex(dsn, "/")
	rest := dsn[slash+1:]
	q := ""
	if i := strings.Index(rest, "?"); i >= 0 {
		q = rest[i:]
	}
	s, err := Open(ctx, dsn[:slash+1]+name+q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Store) serverVersion(t *testing.T) string {
	var v string
	if err := s.db.Raw("SELECT VERSION()").Scan(&v).Error; err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		for _, m := range All() {
			if !s.db.Migrator().HasTable(m) {
				t.Errorf("table for %T missing", m)
			}
		}
	})
}
