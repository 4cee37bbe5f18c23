// Command bench-console generates a year of records and times the
// console's queries over them through the real API, on MariaDB/MySQL and
// on SQLite (`make bench-console`). It prints Markdown for
// docs/benchmarks.md.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/baton-sched/baton/internal/bench"
	"github.com/baton-sched/baton/internal/benchconsole"
	"github.com/baton-sched/baton/models"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-console:", err)
		os.Exit(1)
	}
}

func run() error {
	dsn := flag.String("mysql", firstEnv("BATON_BENCH_MYSQL_DSN", "BATON_TEST_MYSQL_DSN"),
		"MariaDB/MySQL server DSN (its database is replaced by -database); empty skips MariaDB")
	database := flag.String("database", "baton_bench_console", "MariaDB database to generate into")
	sqlitePath := flag.String("sqlite", ".baton/bench-console.db", "SQLite file to generate into; empty skips SQLite")
	force := flag.Bool("force", false, "regenerate even if the database already holds the data")
	n := flag.Int("n", 200, "timed requests per query")
	runs := flag.Int("runs", benchconsole.YearSpec().Runs, "runs to generate besides the 10,000-node one")
	writers := flag.Int("writers", benchconsole.YearSpec().Writers, "batches written at once while generating")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed requests (both databases) to this file")
	only := flag.String("only", "", "time only the queries whose name contains this text")
	flag.Parse()
	stopProfile, err := bench.CPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	spec := benchconsole.YearSpec()
	spec.Runs, spec.Writers = *runs, *writers
	ctx := context.Background()
	m := bench.ReadMachine()
	fmt.Printf("Machine: %s, %d CPUs, %s; load %s\n", m.CPUModel, m.NumCPU, m.GoVersion, m.LoadAvg)
	if rev := bench.GitRevision(); rev != "" {
		fmt.Println("Code:", rev)
	}
	if *dsn == "" && *sqlitePath == "" {
		return errors.New("nothing to measure: set -mysql (or BATON_BENCH_MYSQL_DSN / BATON_TEST_MYSQL_DSN) or -sqlite")
	}
	if *dsn == "" {
		fmt.Println("MariaDB: skipped (no -mysql, BATON_BENCH_MYSQL_DSN or BATON_TEST_MYSQL_DSN)")
	}
	if *dsn != "" {
		target, err := mysqlDatabase(*dsn, *database, *force)
		if err != nil {
			return err
		}
		if err := measure(ctx, "MariaDB/MySQL", target, spec, *force, *n, *only); err != nil {
			return err
		}
	}
	if *sqlitePath != "" {
		if *force {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(*sqlitePath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		if err := os.MkdirAll(filepath.Dir(*sqlitePath), 0o755); err != nil {
			return err
		}
		if err := measure(ctx, "SQLite", "sqlite:"+*sqlitePath, spec, *force, *n, *only); err != nil {
			return err
		}
	}
	return nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// mysqlDatabase makes sure database exists on dsn's server (dropped first
// when force) and returns the DSN naming it.
func mysqlDatabase(dsn, database string, force bool) (string, error) {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		return "", fmt.Errorf("parse -mysql: %w", err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", err
	}
	defer db.Close()
	if force {
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + database + "`"); err != nil {
			return "", err
		}
	}
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS `" + database + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return "", err
	}
	cfg.DBName = database
	return cfg.FormatDSN(), nil
}

func measure(ctx context.Context, label, dsn string, spec benchconsole.Spec, force bool, n int, only string) error {
	st, err := models.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Printf("\n### %s\n\n", label)
	have, err := generated(ctx, st, spec)
	if err != nil {
		return err
	}
	if have && !force {
		fmt.Println("Data: already generated (pass -force to regenerate).")
	} else {
		t0 := time.Now()
		last := time.Now()
		err := benchconsole.Generate(ctx, st, spec, func(done int) {
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "%s: %d/%d runs (%s)\n", label, done, spec.Runs, time.Since(t0).Round(time.Second))
			}
		})
		if err != nil {
			return err
		}
		fmt.Printf("Data: generated in %s.\n", time.Since(t0).Round(time.Second))
	}
	counts, err := benchconsole.Count(ctx, st)
	if err != nil {
		return err
	}
	fmt.Println("Rows:", counts)
	srv, err := benchconsole.Serve(ctx, st)
	if err != nil {
		return err
	}
	defer srv.Close()
	cursor, err := srv.Cursor(ctx, 50)
	if err != nil {
		return err
	}
	qs := benchconsole.Queries(spec, cursor)
	hist, err := srv.HistoryPath(ctx)
	if err != nil {
		return err
	}
	for i := range qs {
		if qs[i].Path == "" {
			qs[i].Path = hist
		}
	}
	qs = slices.DeleteFunc(qs, func(q benchconsole.Query) bool { return !strings.Contains(q.Name, only) })
	rs, err := srv.Drive(ctx, qs, n)
	if err != nil {
		return err
	}
	fmt.Printf("%d timed requests per query (after 3 untimed), one at a time, over HTTP on localhost.\n\n", n)
	fmt.Print(benchconsole.Table(rs))
	return nil
}

// generated reports whether st already holds spec's data.
func generated(ctx context.Context, st *models.Store, spec benchconsole.Spec) (bool, error) {
	if _, err := st.GetRun(ctx, benchconsole.HugeRunID); errors.Is(err, models.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	stats, err := st.RunStats(ctx, models.RunFilter{})
	if err != nil {
		return false, err
	}
	var total int64
	for _, v := range stats {
		total += v
	}
	return total >= int64(spec.Runs), nil
}
