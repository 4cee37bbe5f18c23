package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

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
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// MirrorBatch is everything one workflow task changed in one run.
type MirrorBatch struct {
	RunID       string
	Run         *RunUpdate
	Nodes       []NodeUpdate
	Instances   []InstanceUpdate
	Transitions []Transition
}

// Rows per multi-row INSERT: 1000 nodes in a handful of statements while
// staying far below SQLite's and MySQL's placeholder limits.
const insertBatch = 200

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
// or that waited too long for a lock: batches of the same run written at
// once (an activity retried while its first attempt still runs) can lock
// each other's rows, and the whole batch is safe to replay.
func (s *Store) retryDeadlocks(ctx context.Context, fn func() error) error {
	const attempts = 5
	for i := 1; ; i++ {
		err := fn()
		if err == nil || s.dialect != "mysql" || i == attempts || !isLockConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i*i) * 5 * time.Millisecond):
		}
	}
}

func isLockConflict(err error) bool {
	var me *mysql.MySQLError
	// 1213: deadlock, 1205: lock wait timeout.
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

func (s *Store) applyBatch(tx *gorm.DB, b MirrorBatch) error {
	now := s.now()
	if b.Run != nil {
		if err := applyRun(tx, b.RunID, b.Run, now); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	if len(b.Nodes) > 0 {
		if err := applyNodes(tx, b.RunID, b.Nodes, now); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
	}
	if len(b.Instances) > 0 {
		if err := applyInstances(tx, b.RunID, b.Instances, now); err != nil {
			return fmt.Errorf("instances: %w", err)
		}
	}
	if len(b.Transitions) > 0 {
		if err := appendTransitions(tx, b.RunID, b.Transitions, now); err != nil {
			return fmt.Errorf("transitions: %w", err)
		}
	}
	return nil
}

func applyRun(tx *gorm.DB, id string, u *RunUpdate, now time.Time) error {
	created := now
	if u.StartedAt != nil {
		// A schedule-started run is first heard of here; its start is the
		// better "created" time for the start-time filter.
		created = norm(*u.StartedAt)
	}
	row := Run{
		ID: id, Kind: u.Kind, DefinitionID: u.DefinitionID, DefinitionName: u.DefinitionName,
		Version: u.Version, Group: u.Group, Status: u.Status, Trigger: u.Trigger, Bizdate: u.Bizdate,
		Params: u.Params, Initiator: u.Initiator, ParentRunID: u.ParentRunID, WorkflowID: u.WorkflowID,
		TemporalRunID: u.TemporalRunID, Message: u.Message, Rev: u.Rev, CreatedAt: created,
		StartedAt: normPtr(u.StartedAt), FinishedAt: normPtr(u.FinishedAt), UpdatedAt: now,
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected > 0 {
		return nil
	}
	set := map[string]any{"rev": u.Rev, "updated_at": now}
	setNonEmpty(set, "status", u.Status)
	setNonEmpty(set, "temporal_run_id", u.TemporalRunID)
	setNonEmpty(set, "message", u.Message)
	setTimes(set, u.StartedAt, u.FinishedAt)
	return tx.Model(&Run{}).Where("id = ? AND rev <= ?", id, u.Rev).Updates(set).Error
}

func applyNodes(tx *gorm.DB, runID string, nodes []NodeUpdate, now time.Time) error {
	outputs := make([]string, len(nodes))
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		keys[i] = n.NodeID
		if len(n.Outputs) > 0 {
			// json.Marshal sorts map keys, so equal outputs store equal text.
			b, err := json.Marshal(n.Outputs)
			if err != nil {
				return fmt.Errorf("node %s outputs: %w", n.NodeID, err)
			}
			outputs[i] = string(b)
		}
	}
	stored, err := storedRevs(tx, &NodeRun{}, "node_id", keys, "run_id = ?", runID)
	if err != nil {
		return err
	}
	return upsert(tx, stored, len(nodes),
		func(i int) (string, int64) { return nodes[i].NodeID, nodes[i].Rev },
		func(i int) NodeRun {
			n := nodes[i]
			return NodeRun{RunID: runID, NodeID: n.NodeID, Status: n.Status, Forced: n.Forced,
				Attempts: n.Attempts, Outputs: outputs[i], Message: n.Message, Rev: n.Rev,
				StartedAt: normPtr(n.StartedAt), FinishedAt: normPtr(n.FinishedAt), UpdatedAt: now}
		},
		func(i int) error {
			n := nodes[i]
			set := map[string]any{"forced": n.Forced, "attempts": n.Attempts, "rev": n.Rev, "updated_at": now}
			setNonEmpty(set, "status", n.Status)
			setNonEmpty(set, "outputs", outputs[i])
			setNonEmpty(set, "message", n.Message)
			setTimes(set, n.StartedAt, n.FinishedAt)
			return tx.Model(&NodeRun{}).Where("run_id = ? AND node_id = ? AND rev <= ?", runID, n.NodeID, n.Rev).
				Updates(set).Error
		})
}

func applyInstances(tx *gorm.DB, runID string, insts []InstanceUpdate, now time.Time) error {
	keys := make([]string, len(insts))
	for i, in := range insts {
		keys[i] = in.ID
	}
	stored, err := storedRevs(tx, &Instance{}, "id", keys, "")
	if err != nil {
		return err
	}
	return upsert(tx, stored, len(insts),
		func(i int) (string, int64) { return insts[i].ID, insts[i].Rev },
		func(i int) Instance {
			in := insts[i]
			return Instance{ID: in.ID, RunID: runID, NodeID: in.NodeID, ShardIndex: in.ShardIndex,
				Attempt: in.Attempt, WorkerID: in.WorkerID, Host: in.Host, Status: in.Status,
				ExitCode: in.ExitCode, Message: in.Message, Rev: in.Rev, CreatedAt: now,
				StartedAt: normPtr(in.StartedAt), FinishedAt: normPtr(in.FinishedAt), UpdatedAt: now}
		},
		func(i int) error {
			in := insts[i]
			set := map[string]any{"rev": in.Rev, "updated_at": now}
			setNonEmpty(set, "status", in.Status)
			setNonEmpty(set, "worker_id", in.WorkerID)
			setNonEmpty(set, "host", in.Host)
			setNonEmpty(set, "message", in.Message)
			if in.ExitCode != nil {
				set["exit_code"] = *in.ExitCode
			}
			setTimes(set, in.StartedAt, in.FinishedAt)
			return tx.Model(&Instance{}).Where("id = ? AND rev <= ?", in.ID, in.Rev).Updates(set).Error
		})
}

func appendTransitions(tx *gorm.DB, runID string, ts []Transition, now time.Time) error {
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
	return tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, insertBatch).Error
}

// storedRevs returns the stored rev of each key that already has a row.
func storedRevs(tx *gorm.DB, model any, keyCol string, keys []string, where string, args ...any) (map[string]int64, error) {
	out := make(map[string]int64, len(keys))
	for start := 0; start < len(keys); start += insertBatch * 2 {
		chunk := keys[start:min(start+insertBatch*2, len(keys))]
		var rows []struct {
			K   string
			Rev int64
		}
		q := tx.Model(model).Select(keyCol+" AS k, rev").Where(keyCol+" IN ?", chunk)
		if where != "" {
			q = q.Where(where, args...)
		}
		if err := q.Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.K] = r.Rev
		}
	}
	return out, nil
}

// upsert inserts the absent items of a batch in multi-row statements and
// applies update to the present ones whose rev is not older than stored.
// update must itself be conditional on rev, because another writer may have
// moved a row on since stored was read.
func upsert[T any](tx *gorm.DB, stored map[string]int64, n int,
	key func(i int) (string, int64), row func(i int) T, update func(i int) error) error {
	var (
		ins    []T
		insIdx []int
		upd    []int
		queued = make(map[string]bool)
	)
	// New rows go in batch order, so the engine's order (topological, say)
	// is the order ListNodeRuns returns them in.
	for i := range n {
		k, rev := key(i)
		if r, ok := stored[k]; ok {
			if rev >= r {
				upd = append(upd, i)
			}
			continue
		}
		if queued[k] {
			// A second write of the same row in one batch: the rev-guarded
			// update after the insert settles which one wins.
			upd = append(upd, i)
			continue
		}
		queued[k] = true
		ins = append(ins, row(i))
		insIdx = append(insIdx, i)
	}
	if len(ins) > 0 {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(ins, insertBatch)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected < int64(len(ins)) {
			// A concurrent writer inserted some of these first; ours were
			// dropped, so offer them as guarded updates instead.
			upd = append(insIdx, upd...)
		}
	}
	// Concurrent batches that update rows in the same order wait for each
	// other instead of deadlocking. Stable, so two writes of one row in a
	// batch keep their order.
	sort.SliceStable(upd, func(a, b int) bool {
		ka, _ := key(upd[a])
		kb, _ := key(upd[b])
		return ka < kb
	})
	for _, i := range upd {
		if err := update(i); err != nil {
			return err
		}
	}
	return nil
}

func setNonEmpty(set map[string]any, col, v string) {
	if v != "" {
		set[col] = v
	}
}

// setTimes fills started_at only if it is still empty, and finished_at
// whenever a value is given.
func setTimes(set map[string]any, started, finished *time.Time) {
	if started != nil {
		set["started_at"] = gorm.Expr("COALESCE(started_at, ?)", norm(*started))
	}
	if finished != nil {
		set["finished_at"] = norm(*finished)
	}
}
