package status

import "slices"

// The state machines of runs and nodes: the statuses each status may move
// to. A change not in the table is a bug and is refused rather than
// written. An instance has no table: its status is what its attempt
// reported (one attempt moves once, waiting → running → an end).
var (
	runMachine = map[Run][]Run{
		RunWaiting:        {RunRunning, RunStopping, RunStopped, RunFailed},
		RunRunning:        {RunPaused, RunStopping, RunSuccess, RunFailed, RunTimeout, RunSkipped, RunStopped},
		RunPaused:         {RunRunning, RunStopping, RunTimeout, RunStopped},
		RunStopping:       {RunStopped, RunTimeout},
		RunFailed:         {RunRunning, RunRollingBack, RunAbandoned, RunSuccess},
		RunStopped:        {RunRunning, RunRollingBack, RunAbandoned, RunSuccess},
		RunTimeout:        {RunRunning, RunAbandoned, RunSuccess, RunRollingBack},
		RunRollingBack:    {RunRolledBack, RunRollbackFailed},
		RunRollbackFailed: {RunAbandoned, RunRollingBack},
		// Closed runs come back only through rerun-from-node (a reset).
		RunSuccess:    {RunRunning},
		RunSkipped:    {RunRunning},
		RunRolledBack: {},
		RunAbandoned:  {},
	}
	// A dispatched, running or stopping node goes back to waiting only
	// through rerun-from-node (a reset to before its dispatch).
	nodeMachine = map[Node][]Node{
		NodeWaiting:    {NodePaused, NodeDispatched, NodeSuccess, NodeSkipped, NodeStopped, NodeFailed},
		NodePaused:     {NodeWaiting, NodeStopped},
		NodeDispatched: {NodeRunning, NodeSuccess, NodeFailed, NodeStopping, NodeStopped, NodeTimeout, NodeDispatched, NodeWaiting},
		NodeRunning:    {NodeSuccess, NodeFailed, NodeStopping, NodeStopped, NodeTimeout, NodeDispatched, NodeWaiting},
		NodeStopping:   {NodeStopped, NodeTimeout, NodeSuccess, NodeFailed, NodeWaiting},
		NodeSuccess:    {NodeDispatched, NodeWaiting, NodeRolledBack},
		NodeFailed:     {NodeDispatched, NodeWaiting, NodeSuccess, NodeRolledBack},
		NodeStopped:    {NodeDispatched, NodeWaiting, NodeSuccess, NodeRolledBack},
		NodeTimeout:    {NodeDispatched, NodeWaiting, NodeSuccess, NodeRolledBack},
		NodeSkipped:    {NodeWaiting, NodeDispatched},
		NodeRolledBack: {},
	}
)

// RunMayBecome reports whether a run may move from one status to another.
func RunMayBecome(from, to Run) bool { return from == to || slices.Contains(runMachine[from], to) }

// NodeMayBecome reports whether a node may move from one status to another.
func NodeMayBecome(from, to Node) bool { return from == to || slices.Contains(nodeMachine[from], to) }

// Op is a control operation (docs/operations.md, "Operations").
type Op string

// Operations on a run, its nodes and its instances.
const (
	OpStop            Op = "stop"
	OpPause           Op = "pause"
	OpResume          Op = "resume"
	OpRetryFailed     Op = "retry"
	OpRollback        Op = "rollback"
	OpAbandon         Op = "abandon"
	OpRerun           Op = "rerun"
	OpRerunDownstream Op = "rerun-downstream"
	OpNodeStop        Op = "node-stop"
	OpNodePause       Op = "node-pause"
	OpNodeResume      Op = "node-resume"
	OpNodeRetry       Op = "node-retry"
	OpNodeSkip        Op = "node-skip"
	OpRerunFrom       Op = "rerun-from"
	OpInstanceStop    Op = "instance-stop"
	OpInstanceRerun   Op = "instance-rerun"
)

// runOps says in which run statuses each run-level operation is allowed.
var runOps = map[Op][]Run{
	OpStop:        {RunWaiting, RunRunning, RunPaused},
	OpPause:       {RunRunning},
	OpResume:      {RunPaused},
	OpRetryFailed: {RunFailed, RunStopped},
	OpRollback:    {RunFailed, RunStopped},
	OpAbandon:     {RunFailed, RunStopped, RunRollbackFailed},
	OpRerun:       {RunSuccess, RunFailed, RunStopped, RunTimeout, RunSkipped, RunRolledBack, RunRollbackFailed, RunAbandoned},
}

// RunOpAllowed reports whether op may be applied to a run in status s, and
// the statuses in which it would be.
func RunOpAllowed(op Op, s Run) (bool, []Run) {
	allowed := runOps[op]
	return slices.Contains(allowed, s), allowed
}

// NodeState is what the node-level rules look at.
type NodeState struct {
	Status Node
	// Ran is true once the node has been dispatched at least once.
	Ran bool
}

// NodeOpAllowed reports whether op may be applied to a node, with the
// wording of the condition for refusals.
func NodeOpAllowed(op Op, n NodeState) (bool, string) {
	switch op {
	case OpNodeStop:
		return n.Status == NodeWaiting || n.Status == NodeDispatched || n.Status == NodeRunning || n.Status == NodePaused,
			"waiting, paused, dispatched or running"
	case OpNodePause:
		return n.Status == NodeWaiting, "waiting"
	case OpNodeResume:
		return n.Status == NodePaused, "paused"
	case OpNodeRetry, OpRerunDownstream:
		ok := n.Status == NodeFailed || n.Status == NodeStopped || n.Status == NodeTimeout || n.Status == NodeSuccess ||
			((n.Status == NodeWaiting || n.Status == NodeSkipped) && !n.Ran)
		return ok, "failed, stopped, timeout, success or waiting and never run"
	case OpNodeSkip:
		return n.Status == NodeFailed || n.Status == NodeStopped || n.Status == NodeTimeout, "failed, stopped or timeout"
	case OpRerunFrom:
		return n.Ran, "dispatched at least once"
	}
	return false, "never"
}

// InstanceOpAllowed reports whether op may be applied to an instance.
func InstanceOpAllowed(op Op, s Instance) (bool, string) {
	switch op {
	case OpInstanceStop:
		return s == InstanceWaiting || s == InstanceRunning, "waiting or running"
	case OpInstanceRerun:
		return s.Terminal(), "finished (success, failed, stopped, timeout or stop_failed)"
	}
	return false, "never"
}

// Closed reports whether a run's workflow has ended for good: only rerun
// and rerun-from-node (a reset) apply to it then.
func (s Run) Closed() bool {
	return s == RunSuccess || s == RunRolledBack || s == RunAbandoned || s == RunSkipped
}
