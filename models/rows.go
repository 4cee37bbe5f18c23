package models

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The reads of a run's every node and instance (a 10,000-node run detail,
// its Gantt data) scan database/sql rows straight into the structs, column
// by column: GORM's reflective scan cost about as much as the queries
// themselves at 20,000 rows (docs/benchmarks.md). The SQL stays here, next
// to the models it reads.

// Columns a later migration added hold NULL in older rows, where GORM's
// scan would give the zero value: COALESCE gives it here too.
const (
	nodeRunColumns = "id, run_id, node_id, COALESCE(status, ''), COALESCE(forced, 0), COALESCE(attempts, 0), " +
		"COALESCE(outputs, ''), COALESCE(message, ''), COALESCE(rev, 0), started_at, finished_at, updated_at"
	instanceColumns = "id, run_id, COALESCE(node_id, ''), COALESCE(shard_index, 0), COALESCE(attempt, 0), COALESCE(worker_id, ''), " +
		"COALESCE(host, ''), COALESCE(status, ''), exit_code, COALESCE(message, ''), COALESCE(log_size, 0), COALESCE(rev, 0), " +
		"created_at, dispatched_at, started_at, finished_at, updated_at"
	instanceTimeColumns = "id, COALESCE(node_id, ''), COALESCE(shard_index, 0), COALESCE(attempt, 0), COALESCE(worker_id, ''), " +
		"COALESCE(status, ''), dispatched_at, started_at, finished_at"
)

// queryAll runs a read through the store's connection pool and scans
// every row into a new T with scan; op names the read in errors.
func queryAll[T any](ctx context.Context, s *Store, op, query string, args []any, scan func(*sql.Rows, *T) error) ([]T, error) {
	out := []T{}
	rows, err := s.db.WithContext(ctx).Raw(query, args...).Rows()
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// nullTimes collects the nullable time columns of one row and copies them
// out after the scan, in UTC.
type nullTimes [5]sql.NullTime

func (n *nullTimes) ptr(i int) *time.Time {
	if !n[i].Valid {
		return nil
	}
	t := n[i].Time.UTC()
	return &t
}

func (n *nullTimes) value(i int) time.Time {
	if !n[i].Valid {
		return time.Time{}
	}
	return n[i].Time.UTC()
}

func scanNodeRun(rows *sql.Rows, n *NodeRun) error {
	var ts nullTimes
	if err := rows.Scan(&n.ID, &n.RunID, &n.NodeID, &n.Status, &n.Forced, &n.Attempts, &n.Outputs, &n.Message, &n.Rev,
		&ts[0], &ts[1], &ts[2]); err != nil {
		return fmt.Errorf("scan node run: %w", err)
	}
	n.StartedAt, n.FinishedAt = ts.ptr(0), ts.ptr(1)
	n.UpdatedAt = ts.value(2)
	return nil
}

func scanInstance(rows *sql.Rows, in *Instance) error {
	var (
		ts       nullTimes
		exitCode sql.NullInt64
	)
	if err := rows.Scan(&in.ID, &in.RunID, &in.NodeID, &in.ShardIndex, &in.Attempt, &in.WorkerID, &in.Host, &in.Status,
		&exitCode, &in.Message, &in.LogSize, &in.Rev, &ts[0], &ts[1], &ts[2], &ts[3], &ts[4]); err != nil {
		return fmt.Errorf("scan instance: %w", err)
	}
	if exitCode.Valid {
		c := int(exitCode.Int64)
		in.ExitCode = &c
	}
	in.CreatedAt, in.UpdatedAt = ts.value(0), ts.value(4)
	in.DispatchedAt, in.StartedAt, in.FinishedAt = ts.ptr(1), ts.ptr(2), ts.ptr(3)
	return nil
}

// ListNodeRuns returns a run's nodes in the order they were first recorded.
func (s *Store) ListNodeRuns(ctx context.Context, runID string) ([]NodeRun, error) {
	return queryAll(ctx, s, "list node runs", "SELECT "+nodeRunColumns+" FROM node_runs WHERE run_id = ? ORDER BY id",
		[]any{runID}, scanNodeRun)
}

// ListInstances returns a run's instances by node, shard and attempt.
func (s *Store) ListInstances(ctx context.Context, runID string) ([]Instance, error) {
	return queryAll(ctx, s, "list instances",
		"SELECT "+instanceColumns+" FROM instances WHERE run_id = ? ORDER BY node_id, shard_index, attempt, id",
		[]any{runID}, scanInstance)
}

// ListInstanceTimes is ListInstances with only what a timeline draws:
// identity, worker, status and times (no messages, exit codes or hosts).
func (s *Store) ListInstanceTimes(ctx context.Context, runID string) ([]Instance, error) {
	return queryAll(ctx, s, "list instance times",
		"SELECT "+instanceTimeColumns+" FROM instances WHERE run_id = ? ORDER BY dispatched_at, id", []any{runID},
		func(rows *sql.Rows, in *Instance) error {
			in.RunID = runID
			var ts nullTimes
			if err := rows.Scan(&in.ID, &in.NodeID, &in.ShardIndex, &in.Attempt, &in.WorkerID, &in.Status, &ts[0], &ts[1], &ts[2]); err != nil {
				return fmt.Errorf("scan instance times: %w", err)
			}
			in.DispatchedAt, in.StartedAt, in.FinishedAt = ts.ptr(0), ts.ptr(1), ts.ptr(2)
			return nil
		})
}
