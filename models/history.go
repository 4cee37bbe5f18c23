package models

import (
	"context"
	"time"
)

// NodeHistoryRow is one past run of a node: the run it was part of and
// how the node fared in it.
type NodeHistoryRow struct {
	RunID      string
	Bizdate    string
	Trigger    string
	CreatedAt  time.Time
	Status     string
	Attempts   int
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// NodeHistory returns node's rows in the runs of one definition listed at
// or after from (the same run included), newest first, at most limit.
// It walks the definition's runs by ix_run_def_created and probes
// node_runs by its (run_id, node_id) key, so it reads about limit rows
// however long the definition has run.
func (s *Store) NodeHistory(ctx context.Context, kind, definitionID, node string, from RunCursor, limit int) ([]NodeHistoryRow, error) {
	out := []NodeHistoryRow{}
	at := norm(from.CreatedAt)
	err := s.db.WithContext(ctx).Table("runs AS r").
		Select("r.id AS run_id, r.bizdate, r.`trigger`, r.created_at, n.status, n.attempts, n.started_at, n.finished_at").
		Joins("JOIN node_runs AS n ON n.run_id = r.id AND n.node_id = ?", node).
		Where("r.definition_id = ? AND r.kind = ?", definitionID, kind).
		Where("r.created_at <= ? AND (r.created_at < ? OR r.id <= ?)", at, at, from.ID).
		Order("r.created_at DESC").Order("r.id DESC").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, wrap("node history", err)
	}
	return out, nil
}

// TableCounts counts the rows of the tables that grow with runs (runs,
// node_runs, instances, transitions) and of flows, for reports on the
// size of a mirror.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for name, model := range map[string]any{"runs": &Run{}, "node_runs": &NodeRun{}, "instances": &Instance{},
		"transitions": &Transition{}, "flows": &Flow{}} {
		var n int64
		if err := s.db.WithContext(ctx).Model(model).Count(&n).Error; err != nil {
			return nil, wrap("count "+name, err)
		}
		out[name] = n
	}
	return out, nil
}

// ListNodeRunsWithStatus returns a run's nodes in one of statuses, in the
// order they were first recorded: the handful locating a run's progress
// needs, however many nodes it has.
func (s *Store) ListNodeRunsWithStatus(ctx context.Context, runID string, statuses []string) ([]NodeRun, error) {
	out := []NodeRun{}
	if err := s.db.WithContext(ctx).Where("run_id = ? AND status IN ?", runID, statuses).Order("id").Find(&out).Error; err != nil {
		return nil, wrap("list node runs with status", err)
	}
	return out, nil
}

// ListNodeInstances returns the instances of some of a run's nodes, by
// node, shard and attempt.
func (s *Store) ListNodeInstances(ctx context.Context, runID string, nodes []string) ([]Instance, error) {
	out := []Instance{}
	if len(nodes) == 0 {
		return out, nil
	}
	err := s.db.WithContext(ctx).Where("run_id = ? AND node_id IN ?", runID, nodes).
		Order("node_id").Order("shard_index").Order("attempt").Order("id").Find(&out).Error
	if err != nil {
		return nil, wrap("list node instances", err)
	}
	return out, nil
}
