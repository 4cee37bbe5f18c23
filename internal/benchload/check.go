package benchload

import (
	"context"
	"fmt"
	"time"

	"github.com/baton-sched/baton/internal/reconcile"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// wantExecutions is how often node's script must have run in a run of
// mix (layer counts from 0): once for every node, twice for the retried
// node, never below a stopped one; anyExecutions for the stopped node's
// siblings, which the stop may catch before or after they start.
func wantExecutions(mix, node string, layer int) int {
	switch {
	case mix == mixRetry && node == special:
		return 2
	case mix == mixStop && layer >= 2:
		return 0
	case mix == mixStop && layer == 1 && node != special:
		return anyExecutions
	}
	return 1
}

// anyExecutions accepts 0 or 1 executions.
const anyExecutions = -1

// check lists everything wrong with the batch's records once the mirror
// has converged (it waits up to within for Temporal and the mirror to
// agree): a run in the wrong status, a missing node row, a script run
// more or less often than it should have been or than the instance rows
// say, and any difference between the mirror and Temporal.
func check(ctx context.Context, store *models.Store, obs reconcile.Observer, marks string, nodes int, b *Batch, within time.Duration) (lost int, err error) {
	deadline := time.Now().Add(within)
	for _, r := range b.Runs {
		if r.ID == "" {
			r.Problems = append(r.Problems, "never started")
			lost++
			continue
		}
		if r.Got != string(r.Want) {
			r.Problems = append(r.Problems, fmt.Sprintf("ended %q, want %q", r.Got, r.Want))
		}
		for {
			diffs, err := reconcile.Check(ctx, store, obs, r.ID)
			if err == nil && len(diffs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				if err != nil {
					diffs = append(diffs, "compare with Temporal: "+err.Error())
				}
				r.Problems = append(r.Problems, diffs...)
				break
			}
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				return lost, err
			}
		}
		m, err := store.LoadRunMirror(ctx, r.ID)
		if err != nil {
			return lost, err
		}
		b.Transitions += len(m.Transitions)
		b.Rows += 1 + len(m.Nodes) + len(m.Instances) + len(m.Transitions)
		for _, in := range m.Instances {
			b.LogBytes += in.LogSize
		}
		if len(m.Nodes) != nodes {
			r.Problems = append(r.Problems, fmt.Sprintf("%d node rows, want %d", len(m.Nodes), nodes))
		}
		started := map[string]int{}
		for _, in := range m.Instances {
			if in.StartedAt != nil {
				started[in.NodeID]++
			}
		}
		for i := range nodes {
			node := fmt.Sprintf("n%02d", i+1)
			n, err := executions(marks, r.ID, node)
			if err != nil {
				return lost, err
			}
			if want := wantExecutions(r.Mix, node, i/5); n != want && (want != anyExecutions || n > 1) {
				r.Problems = append(r.Problems, fmt.Sprintf("node %s ran %d times, want %d", node, n, want))
			}
			if n != started[node] {
				r.Problems = append(r.Problems, fmt.Sprintf("node %s ran %d times but %d instance rows say it started", node, n, started[node]))
			}
		}
		if r.Want == status.RunSuccess && len(m.Transitions) == 0 {
			r.Problems = append(r.Problems, "no transition rows")
		}
		if len(r.Problems) > 0 {
			lost++
		}
	}
	return lost, nil
}
