package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/mysql"
	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Store is the mirror. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect string // "mysql" or "sqlite"
}

// Open connects to dsn: "sqlite:<path>" (or "sqlite::memory:") for the
// pure-Go SQLite driver, otherwise a go-sql-driver MySQL DSN, optionally
// prefixed "mysql://". MySQL DSNs get parseTime, UTC and utf8mb4 added when
// they lack them.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var (
		dialector gorm.Dialector
		dialect   string
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path != ":memory:" && !strings.HasPrefix(path, "file:") {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("open mirror: %w", err)
			}
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		// WAL lets the console read while workers write; busy_timeout turns
		// writer contention into waiting instead of SQLITE_BUSY errors.
		path += sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		dialector, dialect = sqliteDialector{gormsqlite.New(gormsqlite.Config{DriverName: "sqlite", DSN: path}).(*gormsqlite.Dialector)}, "sqlite"
	default:
		dialector, dialect = mysql.Open(mysqlDSN(strings.TrimPrefix(dsn, "mysql://"))), "mysql"
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                                   logger.Default.LogMode(logger.Silent),
		TranslateError:                           true,
		DisableForeignKeyConstraintWhenMigrating: true,
		NowFunc:                                  func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open mirror (%s): %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open mirror: %w", err)
	}
	if dialect == "sqlite" {
		// One writer at a time is SQLite's model; a single connection also
		// keeps an in-memory database alive and shared.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxLifetime(time.Hour)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open mirror (%s): %w", dialect, err)
	}
	return &Store{db: db, dialect: dialect}, nil
}

func mysqlDSN(dsn string) string {
	add := func(k, v string) {
		if strings.Contains(dsn, k+"=") {
			return
		}
		if strings.Contains(dsn, "?") {
			dsn += "&" + k + "=" + v
		} else {
			dsn += "?" + k + "=" + v
		}
	}
	add("parseTime", "true")
	add("loc", "UTC")
	add("charset", "utf8mb4")
	return dsn
}

// Dialect is "mysql" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Close releases the connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Migrate creates or updates every table and index. It is idempotent and is
// what `baton migrate` runs; dev runs it at start.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if s.dialect == "mysql" {
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
	}
	if err := dedupeTokenNames(s.db.WithContext(ctx)); err != nil {
		return fmt.Errorf("migrate mirror: %w", err)
	}
	if err := db.AutoMigrate(All()...); err != nil {
		return fmt.Errorf("migrate mirror: %w", err)
	}
	return nil
}

// Ping checks the connection, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}
