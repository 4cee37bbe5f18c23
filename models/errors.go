package models

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// Domain errors returned by stores; the API maps them to HTTP statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// wrap turns GORM's errors into domain errors, naming the operation.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w", op, ErrConflict)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// Unavailable reports whether err means the database could not be reached
// (refused or broken connection, server shutting down, too many
// connections): the same request may succeed later, and the API answers
// 503 instead of 500. Drivers report that in several shapes, none of which
// GORM translates, so the chain is inspected here, at the store boundary.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var me *mysql.MySQLError
	// 1040 too many connections, 1053 server shutdown in progress, 1927
	// connection killed, 4031 disconnected by the server for inactivity.
	return errors.As(err, &me) && (me.Number == 1040 || me.Number == 1053 || me.Number == 1927 || me.Number == 4031)
}
