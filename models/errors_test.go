package models

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

// A database that refuses connections is told apart from other failures,
// so the API can answer 503 (the fault suite's MariaDB outage found the
// API answering 500 internal).
func TestUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connections are refused
	_, err = Open(context.Background(), fmt.Sprintf("baton:baton@tcp(%s)/baton?timeout=2s", addr))
	if err == nil {
		t.Fatal("opened a database on a closed port")
	}
	if !Unavailable(err) {
		t.Errorf("Unavailable(%v) = false for a refused connection", err)
	}
	for _, err := range []error{nil, ErrNotFound, ErrConflict, errors.New("syntax error"), fmt.Errorf("list runs: %w", ErrInvalid)} {
		if Unavailable(err) {
			t.Errorf("Unavailable(%v) = true", err)
		}
	}
}
