package models

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// RunUpdate is the engine's view of a run.
type RunUpdate struct {
	// Identity, used only when the row does not exist yet (runs started by a
	// schedule have no row until their first mirror write); never overwritten.
	Kind, DefinitionID, DefinitionName, Group, Trigger, Bizdate, Params, Initiator, ParentRunID, WorkflowID string
	Version                                                                                                 int

	Status        string
	Rev           int64
	TemporalRunID string
	StartedAt     *time.Time
	FinishedAt    *time.Time
	Message       string
}

// NodeUpdate is the engine's view of one node of the batch's run.
type NodeUpdate struct {
	NodeID     string
	Status     string
	Forced     bool
	Attempts   int
	Rev        int64
	Outputs    map[string]string
	Message    string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// InstanceUpdate is the engine's view of one instance of the batch's run.
type InstanceUpdate struct {
	ID         string
	NodeID     string
	ShardIndex int
	Attempt    int
	WorkerID   string
	Host       string
	Status     string
	ExitCode   *int
	Message    string
	Rev        int64
	// DispatchedAt is when the instance was queued for a worker; nil means
	// now, the time of the instance's first write.
	DispatchedAt *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
}

// MirrorBatch is everything one workflow task changed in one run.
type MirrorBatch struct {
	RunID       string
	Run         *RunUpdate
	Nodes       []NodeUpdate
	Instances   []InstanceUpdate
	Transitions []Transition
}

// rowsPerInsert is how many rows one multi-row INSERT carries: 1000 nodes
// in a handful of statements on MySQL, far below its placeholder limit.
// SQLite gets fewer: the modernc driver matches each placeholder to its
// argument by scanning all of them, so a statement costs the square of its
// arguments (measured by BenchmarkApplyMirror: 200 rows per statement spent
// half of a 1000-node write binding).
func (s *Store) rowsPerInsert() int {
	if s.dialect == "sqlite" {
		return sqliteRowsPerInsert
	}
	return 200
}

const sqliteRowsPerInsert = 32

// ApplyMirror writes a batch in one transaction. Rows are inserted when
// absent and otherwise updated only if the incoming Rev is at least the
// stored one, so late or replayed writes of older states change nothing.
// Empty values (nil times and exit code, empty strings and outputs) keep
// what is stored, and a StartedAt once stored is never changed.
// Transitions already recorded (same run, entity, id, target status and
// time) are not written again.
func (s *Store) ApplyMirror(ctx context.Context, b MirrorBatch) error {
	const op = "apply mirror"
	if b.RunID == "" {
		return fmt.Errorf("%s: run id is required: %w", op, ErrInvalid)
	}
	err := s.retryDeadlocks(ctx, func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return s.applyBatch(tx, b)
		})
	})
	return wrap(op, err)
}

// retryDeadlocks reruns a transaction that InnoDB chose as a deadlock victim
// or that waited too long for a lock. Writers take rows in key order (see
// upsert), but InnoDB's next-key and insert-intention locks on the unique
// indexes can still cross when two batches insert into the same gap, and
// the whole batch is safe to replay: every row is rev-guarded. Jittered
// exponential waits keep the victims from colliding again in step; the
// bound (tries and time) keeps a wedged database from holding the caller.
func (s *Store) retryDeadlocks(ctx context.Context, fn func() error) error {
	if s.dialect != "mysql" {
		return fn()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 5 * time.Millisecond
	b.MaxInterval = 250 * time.Millisecond
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := fn()
		if err != nil && !isLockConflict(err) {
			err = backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(lockRetries), backoff.WithMaxElapsedTime(5*time.Second))
	return err
}

// lockRetries bounds how often one batch is tried when it keeps losing
// lock conflicts.
const lockRetries = 10

// isLockConflict reports MySQL errors that mean "the transaction was rolled
// back over a lock and may simply be run again".
func isLockConflict(err error) bool {
	var me *mysql.MySQLError
	// 1213: deadlock, 1205: lock wait timeout.
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// writer carries what the statement builders need to know of the store.
type writer struct {
	dialect   string
	perInsert int
}

func (s *Store) applyBatch(tx *gorm.DB, b MirrorBatch) error {
	w := writer{dialect: s.dialect, perInsert: s.rowsPerInsert()}
	now := s.now()
	if b.Run != nil {
		if err := applyRun(tx, w, b.RunID, b.Run, now); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	// The run row is locked first, as by a batch that carries the run, so
	// batches of one run still take their rows in one order.
	if err := touchRuns(tx, []string{b.RunID}); err != nil {
		return err
	}
	if len(b.Nodes) > 0 {
		if err := applyNodes(tx, w, b.RunID, b.Nodes, now); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
	}
	if len(b.Instances) > 0 {
		if err := applyInstances(tx, w, b.RunID, b.Instances, now); err != nil {
			return fmt.Errorf("instances: %w", err)
		}
	}
	if len(b.Transitions) > 0 {
		if err := appendTransitions(tx, s.rowsPerInsert(), b.RunID, b.Transitions, now); err != nil {
			return fmt.Errorf("transitions: %w", err)
		}
	}
	return nil
}

// touchRuns bumps the ChangeSeq of runs (sorted ids) whose rows the
// transaction changed or may have changed: caches of their answers built
// before it no longer hold. A batch that a newer one made stale changed
// nothing and bumps it all the same, which only costs a cache rebuild.
func touchRuns(tx *gorm.DB, ids []string) error {
	if err := tx.Exec("UPDATE runs SET change_seq = change_seq + 1 WHERE id IN ?", ids).Error; err != nil {
		return fmt.Errorf("touch runs: %w", err)
	}
	return nil
}

func applyRun(tx *gorm.DB, w writer, id string, u *RunUpdate, now time.Time) error {
	return upsert(tx, w, runSpec, []Run{runRow(id, u, now)}, func(Run) string { return id })
}

func runRow(id string, u *RunUpdate, now time.Time) Run {
	created := now
	if u.StartedAt != nil {
		// A schedule-started run is first heard of here; its start is the
		// better "created" time for the start-time filter.
		created = norm(*u.StartedAt)
	}
	return Run{
		ID: id, Kind: u.Kind, DefinitionID: u.DefinitionID, DefinitionName: u.DefinitionName,
		Version: u.Version, Group: u.Group, Status: u.Status, Trigger: u.Trigger, Bizdate: u.Bizdate,
		Params: u.Params, Initiator: u.Initiator, ParentRunID: u.ParentRunID, WorkflowID: u.WorkflowID,
		TemporalRunID: u.TemporalRunID, Message: u.Message, Rev: u.Rev, CreatedAt: created,
		StartedAt: normPtr(u.StartedAt), FinishedAt: normPtr(u.FinishedAt), UpdatedAt: now,
	}
}

func applyNodes(tx *gorm.DB, w writer, runID string, nodes []NodeUpdate, now time.Time) error {
	rows, err := nodeRows(runID, nodes, now)
	if err != nil {
		return err
	}
	return upsert(tx, w, nodeSpec, rows, func(n NodeRun) string { return n.NodeID })
}

func nodeRows(runID string, nodes []NodeUpdate, now time.Time) ([]NodeRun, error) {
	rows := make([]NodeRun, len(nodes))
	for i, n := range nodes {
		var outputs string
		if len(n.Outputs) > 0 {
			// json.Marshal sorts map keys, so equal outputs store equal text.
			b, err := json.Marshal(n.Outputs)
			if err != nil {
				return nil, fmt.Errorf("node %s outputs: %w", n.NodeID, err)
			}
			outputs = string(b)
		}
		rows[i] = NodeRun{RunID: runID, NodeID: n.NodeID, Status: n.Status, Forced: n.Forced,
			Attempts: n.Attempts, Outputs: outputs, Message: n.Message, Rev: n.Rev,
			StartedAt: normPtr(n.StartedAt), FinishedAt: normPtr(n.FinishedAt), UpdatedAt: now}
	}
	return rows, nil
}

func applyInstances(tx *gorm.DB, w writer, runID string, insts []InstanceUpdate, now time.Time) error {
	return upsert(tx, w, instanceSpec, instanceRows(runID, insts, now), func(in Instance) string { return in.ID })
}

func instanceRows(runID string, insts []InstanceUpdate, now time.Time) []Instance {
	rows := make([]Instance, len(insts))
	for i, in := range insts {
		dispatched := normPtr(in.DispatchedAt)
		if dispatched == nil {
			dispatched = &now
		}
		rows[i] = Instance{DispatchedAt: dispatched, ID: in.ID, RunID: runID, NodeID: in.NodeID, ShardIndex: in.ShardIndex,
			Attempt: in.Attempt, WorkerID: in.WorkerID, Host: in.Host, Status: in.Status,
			ExitCode: in.ExitCode, Message: in.Message, Rev: in.Rev, CreatedAt: now,
			StartedAt: normPtr(in.StartedAt), FinishedAt: normPtr(in.FinishedAt), UpdatedAt: now}
	}
	return rows
}

// ApplyMirrorBatches writes the batches of many runs in one transaction,
// each table in multi-row statements across runs, with ApplyMirror's
// rules. It is for bulk loads (importing records, generating benchmark
// data): a few statements per thousand rows instead of several per run.
func (s *Store) ApplyMirrorBatches(ctx context.Context, bs []MirrorBatch) error {
	const op = "apply mirror batches"
	w := writer{dialect: s.dialect, perInsert: s.rowsPerInsert()}
	now := s.now()
	var (
		runs        []Run
		nodes       []NodeRun
		insts       []Instance
		transitions []Transition
	)
	for _, b := range bs {
		if b.RunID == "" {
			return fmt.Errorf("%s: run id is required: %w", op, ErrInvalid)
		}
		if b.Run != nil {
			runs = append(runs, runRow(b.RunID, b.Run, now))
		}
		rows, err := nodeRows(b.RunID, b.Nodes, now)
		if err != nil {
			return fmt.Errorf("%s: run %s: %w", op, b.RunID, err)
		}
		nodes = append(nodes, rows...)
		insts = append(insts, instanceRows(b.RunID, b.Instances, now)...)
		for _, t := range b.Transitions {
			if t.RunID == "" {
				t.RunID = b.RunID
			}
			transitions = append(transitions, t)
		}
	}
	ids := make([]string, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.RunID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	err := s.retryDeadlocks(ctx, func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := upsert(tx, w, runSpec, runs, func(r Run) string { return r.ID }); err != nil {
				return fmt.Errorf("runs: %w", err)
			}
			if err := touchRuns(tx, ids); err != nil {
				return err
			}
			if err := upsert(tx, w, nodeSpec, nodes, func(n NodeRun) string { return n.RunID + "\x00" + n.NodeID }); err != nil {
				return fmt.Errorf("nodes: %w", err)
			}
			if err := upsert(tx, w, instanceSpec, insts, func(in Instance) string { return in.ID }); err != nil {
				return fmt.Errorf("instances: %w", err)
			}
			if len(transitions) > 0 {
				if err := appendTransitions(tx, w.perInsert, "", transitions, now); err != nil {
					return fmt.Errorf("transitions: %w", err)
				}
			}
			return nil
		})
	})
	return wrap(op, err)
}

func appendTransitions(tx *gorm.DB, perInsert int, runID string, ts []Transition, now time.Time) error {
	rows := make([]Transition, len(ts))
	for i, t := range ts {
		t.ID = 0 // the log numbers its own rows
		if t.RunID == "" {
			t.RunID = runID
		}
		// At is part of the dedupe key: it must be stored exactly as it
		// will be compared when the batch is replayed.
		t.At = norm(t.At)
		if t.At.IsZero() {
			t.At = now
		}
		rows[i] = t
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, perInsert).Error
}

// How an existing row's column takes a write whose rev is not older than
// the stored one. Columns not listed (identity, created_at, log_size) are
// written only when the row is inserted.
type colRule int

const (
	setAlways  colRule = iota // the write's value
	setIfText                 // the write's value unless it is ''
	setIfValue                // the write's value unless it is NULL
	setOnce                   // the write's value if none is stored yet (started_at)
)

type upsertCol struct {
	name string
	rule colRule
}

// upsertSpec names a mirror table's conflict key and how its columns move.
type upsertSpec struct {
	key  []string
	cols []upsertCol
}

var (
	runSpec = upsertSpec{key: []string{"id"}, cols: []upsertCol{
		{"status", setIfText}, {"temporal_run_id", setIfText}, {"message", setIfText},
		{"started_at", setOnce}, {"finished_at", setIfValue}, {"updated_at", setAlways},
	}}
	nodeSpec = upsertSpec{key: []string{"run_id", "node_id"}, cols: []upsertCol{
		{"status", setIfText}, {"forced", setAlways}, {"attempts", setAlways}, {"outputs", setIfText},
		{"message", setIfText}, {"started_at", setOnce}, {"finished_at", setIfValue}, {"updated_at", setAlways},
	}}
	instanceSpec = upsertSpec{key: []string{"id"}, cols: []upsertCol{
		{"status", setIfText}, {"worker_id", setIfText}, {"host", setIfText}, {"message", setIfText},
		{"exit_code", setIfValue}, {"dispatched_at", setOnce}, {"started_at", setOnce}, {"finished_at", setIfValue}, {"updated_at", setAlways},
	}}
)

// assignments spells spec's rev-guarded update for the dialect. rev comes
// last: MySQL evaluates assignments left to right on the updated row, so
// every guard before it still compares with the stored rev. (SQLite's
// excluded.x and MySQL's VALUES(x) both name the value the insert carried.)
func (spec upsertSpec) assignments(dialect string) clause.Set {
	incoming := func(col string) string { return "excluded." + col }
	if dialect == "mysql" {
		incoming = func(col string) string { return "VALUES(" + col + ")" }
	}
	newer := incoming("rev") + " >= rev"
	set := make(clause.Set, 0, len(spec.cols)+1)
	for _, c := range spec.cols {
		in := incoming(c.name)
		var cond string
		switch c.rule {
		case setAlways:
			cond = newer
		case setIfText:
			cond = newer + " AND " + in + " <> ''"
		case setIfValue:
			cond = newer + " AND " + in + " IS NOT NULL"
		case setOnce:
			cond = newer + " AND " + c.name + " IS NULL"
		}
		set = append(set, clause.Assignment{Column: clause.Column{Name: c.name},
			Value: clause.Expr{SQL: "CASE WHEN " + cond + " THEN " + in + " ELSE " + c.name + " END"}})
	}
	return append(set, clause.Assignment{Column: clause.Column{Name: "rev"},
		Value: clause.Expr{SQL: "CASE WHEN " + newer + " THEN " + incoming("rev") + " ELSE rev END"}})
}

// upsert writes rows in multi-row INSERT ... ON CONFLICT/DUPLICATE KEY
// statements that update existing rows by spec's rules: a handful of
// statements for a thousand rows, and no read-then-write window for a
// concurrent writer to slip into. Each statement takes its rows in key
// order, whatever order the caller listed them in: InnoDB locks rows in the
// order a statement reaches them, so two writers of the same rows (the
// workflow's batch, a worker's "running" mark, a repair pass) that listed
// them differently would each hold a row the other waits for. New rows
// therefore get their ids, and listings their order, in key order. A key
// written twice in one batch goes in a later statement, so the rev-guarded
// update settles which write wins.
func upsert[T any](tx *gorm.DB, w writer, spec upsertSpec, rows []T, key func(T) string) error {
	keyCols := make([]clause.Column, len(spec.key))
	for i, k := range spec.key {
		keyCols[i] = clause.Column{Name: k}
	}
	conflict := clause.OnConflict{Columns: keyCols, DoUpdates: spec.assignments(w.dialect)}
	seen := make(map[string]int, len(rows))
	var rounds [][]T
	for _, row := range rows {
		k := key(row)
		r := seen[k]
		seen[k] = r + 1
		if r == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], row)
	}
	for _, round := range rounds {
		// Keys are unique within a round; the same spec always yields the
		// same order, for every writer.
		slices.SortFunc(round, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
		if err := tx.Clauses(conflict).CreateInBatches(round, w.perInsert).Error; err != nil {
			return err
		}
	}
	return nil
}
