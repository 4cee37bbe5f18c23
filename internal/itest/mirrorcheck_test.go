package itest

import (
	"context"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/reconcile"
)

// observer asks the stack's Temporal about runs, as the reconciler does.
func (s *stack) observer() reconcile.TemporalObserver {
	return reconcile.TemporalObserver{Engine: &engine.Engine{Client: s.client, Namespace: "default"}}
}

// reconciler is a reconciler over the stack; o's zero fields take defaults.
func (s *stack) reconciler(o reconcile.Options) *reconcile.Reconciler {
	return reconcile.New(s.store, s.observer(), o)
}

// mirrorDiff lists what the stack's mirror holds about a run that its
// workflow does not agree with (reconcile.Check).
func (s *stack) mirrorDiff(runID string) []string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	diff, err := reconcile.Check(ctx, s.store, s.observer(), runID)
	if err != nil {
		s.t.Fatalf("check mirror of run %s: %v", runID, err)
	}
	return diff
}

// assertMirrorMatches is the shared convergence check: the mirror of each
// run equals its workflow's view (run status, every node's status,
// attempts, forced flag, message and outputs, every latest instance, and
// a transition log ending in each of their statuses). It waits up to
// within for the mirror to catch up, since mirror writes lag the workflow.
func assertMirrorMatches(t *testing.T, s *stack, within time.Duration, runIDs ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, id := range runIDs {
		for {
			diff := s.mirrorDiff(id)
			if len(diff) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("run %s: the mirror differs from Temporal after %s:", id, within)
				for _, d := range diff {
					t.Errorf("  %s", d)
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
