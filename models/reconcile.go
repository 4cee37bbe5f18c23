package models

import (
	"context"
	"time"

	"github.com/baton-sched/baton/internal/status"
)

// RunMirror is everything the mirror holds about one run.
type RunMirror struct {
	Run         Run
	Nodes       []NodeRun
	Instances   []Instance
	Transitions []Transition
}

// LoadRunMirror reads a run's row, nodes, instances and transition log.
func (s *Store) LoadRunMirror(ctx context.Context, id string) (RunMirror, error) {
	var m RunMirror
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return m, err
	}
	m.Run = *r
	if m.Nodes, err = s.ListNodeRuns(ctx, id); err != nil {
		return m, err
	}
	if m.Instances, err = s.ListInstances(ctx, id); err != nil {
		return m, err
	}
	if m.Transitions, err = s.ListTransitions(ctx, id); err != nil {
		return m, err
	}
	return m, nil
}

// ReconcileCandidates lists, by id after the cursor, up to limit runs the
// reconciler should compare with Temporal: every run not yet at a final
// status, and every run that ended unsuccessfully since endedSince (its
// workflow may still be open for operations) or has no end time at all,
// and every run that ended since endedSince with an instance still open
// in the mirror: its final row was written, so its workflow's writes are
// over, and yet the mirror disagrees (an execution a rerun-from-node
// replaced left the instance running).
func (s *Store) ReconcileCandidates(ctx context.Context, after string, limit int, endedSince time.Time) ([]Run, error) {
	out := []Run{}
	since := norm(endedSince)
	err := s.db.WithContext(ctx).
		Where("id > ?", after).
		Where(s.db.Where("status IN ?", activeRunStatuses()).
			Or("status IN ? AND (finished_at IS NULL OR finished_at >= ?)", operableRunStatuses(), since).
			Or("status IN ? AND finished_at >= ? AND EXISTS (SELECT 1 FROM instances i WHERE i.run_id = runs.id AND i.status IN ?)",
				closedRunStatuses(), since, openInstanceStatuses())).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, wrap("reconcile candidates", err)
	}
	return out, nil
}

// closedRunStatuses are the final statuses whose workflow has ended.
func closedRunStatuses() []string {
	var out []string
	for _, st := range status.Runs {
		if st.Closed() {
			out = append(out, string(st))
		}
	}
	return out
}

// operableRunStatuses are the final statuses whose workflow stays open for
// the operable window.
func operableRunStatuses() []string {
	var out []string
	for _, st := range status.Runs {
		if st.Terminal() && !st.Closed() {
			out = append(out, string(st))
		}
	}
	return out
}
