package status

// Run is the status of a run (batch).
type Run string

// Run statuses.
const (
	RunWaiting        Run = "waiting"
	RunRunning        Run = "running"
	RunPaused         Run = "paused"
	RunStopping       Run = "stopping"
	RunSuccess        Run = "success"
	RunFailed         Run = "failed"
	RunStopped        Run = "stopped"
	RunTimeout        Run = "timeout"
	RunSkipped        Run = "skipped"
	RunRollingBack    Run = "rolling_back"
	RunRolledBack     Run = "rolled_back"
	RunRollbackFailed Run = "rollback_failed"
	RunAbandoned      Run = "abandoned"
)

// Runs lists every run status in display order.
var Runs = []Run{RunWaiting, RunRunning, RunPaused, RunStopping, RunSuccess, RunFailed,
	RunStopped, RunTimeout, RunSkipped, RunRollingBack, RunRolledBack, RunRollbackFailed, RunAbandoned}

// Terminal reports whether the run has ended (it may still accept operations).
func (s Run) Terminal() bool {
	switch s {
	case RunSuccess, RunFailed, RunStopped, RunTimeout, RunSkipped, RunRolledBack, RunRollbackFailed, RunAbandoned:
		return true
	}
	return false
}

// Valid reports whether s is a known run status.
func (s Run) Valid() bool {
	for _, v := range Runs {
		if v == s {
			return true
		}
	}
	return false
}

// Node is the status of one node inside a run.
type Node string

// Node statuses.
const (
	NodeWaiting    Node = "waiting"
	NodePaused     Node = "paused"
	NodeDispatched Node = "dispatched"
	NodeRunning    Node = "running"
	NodeSuccess    Node = "success"
	NodeFailed     Node = "failed"
	NodeStopping   Node = "stopping"
	NodeStopped    Node = "stopped"
	NodeTimeout    Node = "timeout"
	NodeSkipped    Node = "skipped"
	NodeRolledBack Node = "rolled_back"
)

// Terminal reports whether the node has finished in this run.
func (s Node) Terminal() bool {
	switch s {
	case NodeSuccess, NodeFailed, NodeStopped, NodeTimeout, NodeSkipped, NodeRolledBack:
		return true
	}
	return false
}

// Instance is the status of one execution of a node on a worker or shard.
type Instance string

// Instance statuses.
const (
	InstanceWaiting    Instance = "waiting"
	InstanceRunning    Instance = "running"
	InstanceSuccess    Instance = "success"
	InstanceFailed     Instance = "failed"
	InstanceStopping   Instance = "stopping"
	InstanceStopped    Instance = "stopped"
	InstanceTimeout    Instance = "timeout"
	InstanceStopFailed Instance = "stop_failed"
)

// Terminal reports whether the instance has ended.
func (s Instance) Terminal() bool {
	switch s {
	case InstanceSuccess, InstanceFailed, InstanceStopped, InstanceTimeout, InstanceStopFailed:
		return true
	}
	return false
}
