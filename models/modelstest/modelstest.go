// Package modelstest gives tests of other packages fresh mirror databases.
package modelstest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/baton-sched/baton/models"
)

var seq atomic.Int64

// FreshMySQL creates an empty database, named prefix plus the process id
// and a sequence number, on the server dsn points at, drops it when the
// test ends, and returns a DSN for it.
func FreshMySQL(t testing.TB, dsn, prefix string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := models.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	name := fmt.Sprintf("%s%d_%d", prefix, os.Getpid(), seq.Add(1))
	if err := admin.Exec(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := models.Open(ctx, dsn); err == nil {
			_ = a.Exec(ctx, "DROP DATABASE "+name)
			_ = a.Close()
		}
	})
	slash := strings.LastIndex(dsn, "/")
	q := ""
	if i := strings.Index(dsn[slash:], "?"); i >= 0 {
		q = dsn[slash+i:]
	}
	return dsn[:slash+1] + name + q
}
