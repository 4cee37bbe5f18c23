package models

import (
	"errors"

	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialector is GORM's SQLite dialect over the pure-Go modernc driver,
// the same driver the embedded Temporal server registers as "sqlite": a
// second SQLite driver in one binary would clash with it on that name.
// GORM's own error translation only understands the cgo driver's errors, so
// constraint violations are translated here.
type sqliteDialector struct {
	*gormsqlite.Dialector
}

// Translate maps unique-constraint violations to gorm.ErrDuplicatedKey.
func (d sqliteDialector) Translate(err error) error {
	var e *msqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return gorm.ErrDuplicatedKey
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return gorm.ErrForeignKeyViolated
		}
	}
	return err
}
