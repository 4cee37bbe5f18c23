package status

import "testing"

func TestStateMachines(t *testing.T) {
	for _, c := range []struct {
		ok       bool
		from, to Run
	}{
		{true, RunRunning, RunPaused}, {true, RunPaused, RunRunning}, {true, RunFailed, RunRunning},
		{true, RunFailed, RunRollingBack}, {true, RunRollingBack, RunRolledBack}, {true, RunSuccess, RunRunning},
		{false, RunRolledBack, RunRunning}, {false, RunAbandoned, RunRunning}, {false, RunSuccess, RunFailed},
		{false, RunPaused, RunSuccess}, {false, RunRollingBack, RunRunning},
	} {
		if got := RunMayBecome(c.from, c.to); got != c.ok {
			t.Errorf("run %s -> %s: %v, want %v", c.from, c.to, got, c.ok)
		}
	}
	for _, c := range []struct {
		ok       bool
		from, to Node
	}{
		{true, NodeWaiting, NodeDispatched}, {true, NodeFailed, NodeDispatched}, {true, NodeSkipped, NodeWaiting},
		{true, NodeStopping, NodeStopped}, {false, NodeRolledBack, NodeDispatched}, {false, NodeSkipped, NodeSuccess},
		{false, NodePaused, NodeDispatched},
	} {
		if got := NodeMayBecome(c.from, c.to); got != c.ok {
			t.Errorf("node %s -> %s: %v, want %v", c.from, c.to, got, c.ok)
		}
	}
}

func TestOperationsAllowedWhen(t *testing.T) {
	for _, c := range []struct {
		op Op
		s  Run
		ok bool
	}{
		{OpStop, RunWaiting, true}, {OpStop, RunPaused, true}, {OpStop, RunFailed, false},
		{OpPause, RunRunning, true}, {OpPause, RunPaused, false}, {OpResume, RunPaused, true},
		{OpRetryFailed, RunStopped, true}, {OpRetryFailed, RunTimeout, false}, {OpRollback, RunSuccess, false},
		{OpAbandon, RunRollbackFailed, true}, {OpAbandon, RunSuccess, false}, {OpRerun, RunRunning, false},
		{OpRerun, RunAbandoned, true},
	} {
		if ok, _ := RunOpAllowed(c.op, c.s); ok != c.ok {
			t.Errorf("%s on a %s run: %v, want %v", c.op, c.s, ok, c.ok)
		}
	}
	for _, c := range []struct {
		op Op
		n  NodeState
		ok bool
	}{
		{OpNodeRetry, NodeState{NodeFailed, true}, true}, {OpNodeRetry, NodeState{NodeWaiting, false}, true},
		{OpNodeRetry, NodeState{NodeWaiting, true}, false}, {OpNodeRetry, NodeState{NodeRunning, true}, false},
		{OpNodeSkip, NodeState{NodeTimeout, true}, true}, {OpNodeSkip, NodeState{NodeSuccess, true}, false},
		{OpNodeStop, NodeState{NodeDispatched, true}, true}, {OpNodeStop, NodeState{NodeSuccess, true}, false},
		{OpNodePause, NodeState{NodeWaiting, false}, true}, {OpNodeResume, NodeState{NodeWaiting, false}, false},
		{OpRerunFrom, NodeState{NodeSuccess, true}, true}, {OpRerunFrom, NodeState{NodeWaiting, false}, false},
	} {
		if ok, _ := NodeOpAllowed(c.op, c.n); ok != c.ok {
			t.Errorf("%s on %+v: %v, want %v", c.op, c.n, ok, c.ok)
		}
	}
}
