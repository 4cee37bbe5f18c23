package workflows

import (
	"time"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
)

// Registered names. They are part of every recorded history: never rename.
const (
	RunWorkflowName = "baton.Run"

	ExecuteTaskActivity  = "baton.ExecuteTask"
	RecordMirrorActivity = "baton.RecordMirror"
	LiveWorkersActivity  = "baton.LiveWorkers"
	// DeliverAlertActivity sends one AlertEvent to its channels (flows
	// queue). It is idempotent per (run, event, key, channel).
	DeliverAlertActivity = "baton.DeliverAlert"

	// QueryState returns the run's control.View.
	QueryState = "state"
	// QueryControl takes a request id and returns its ControlResult.
	QueryControl = "control"
	// SignalControl carries a control.Request into the run.
	SignalControl = "control"
	// SignalRunEnded carries a RunEnded to the run's Notify workflow.
	SignalRunEnded = "run-ended"
)

// FlowsTaskQueue is the queue every worker polls for workflow tasks.
const FlowsTaskQueue = "baton-flows"

// GroupTaskQueue is the activity queue shared by a worker group.
func GroupTaskQueue(group string) string { return "baton-group-" + group }

// WorkerTaskQueue is the activity queue of one worker of a group.
func WorkerTaskQueue(group, workerID string) string {
	return "baton-worker-" + group + "-" + workerID
}

// WorkflowID derives a run's workflow id from its batch id.
func WorkflowID(runID string) string { return "baton-run-" + runID }

// RunInput starts a run. Flow is the resolved snapshot: every task node
// carries its Task inline, so the workflow never reads definitions.
type RunInput struct {
	RunID        string            `json:"run_id"`
	Kind         string            `json:"kind"` // task | flow
	DefinitionID string            `json:"definition_id"`
	Version      int               `json:"version"`
	Trigger      string            `json:"trigger"`
	Bizdate      string            `json:"bizdate"`
	Params       map[string]string `json:"params,omitempty"`
	Flow         dag.Flow          `json:"flow"`
	// Mirror turns the relational mirror writes on (off only in benchmarks).
	Mirror bool `json:"mirror"`
	// MaxInFlight caps concurrently scheduled activities (0: 1,000, well
	// below Temporal's 2,000 pending-activity limit); the rest queue.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// HistoryLimit is the history length at which the run drains and
	// continues as new (0: 20,000 events).
	HistoryLimit int `json:"history_limit,omitempty"`
	// Notify names a workflow (a backfill or a schedule fire) that gets the
	// RunEnded signal whenever the run reaches a final status.
	Notify string `json:"notify,omitempty"`
	// OperableWindow keeps an unsuccessful run open for operations
	// (empty: 7 days).
	OperableWindow dag.Duration `json:"operable_window,omitempty"`
	// Carry is the state handed over by continue-as-new.
	Carry *Carry `json:"carry,omitempty"`
	// Alerts are the run's alert rules, resolved once at start: the
	// definition's own rules (pinned with its version) followed by its
	// group's defaults. A run with none emits no alert.
	Alerts []dag.AlertRule `json:"alerts,omitempty"`
	// ScheduledAt is the schedule time of a run a schedule fired: an SLA's
	// after counts from it (from the run's start otherwise).
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
}

// AlertEvent is what the interpreter (or the backfill and fire workflows)
// hands to DeliverAlertActivity. Channels are the channel names of every
// rule that listens for Event; the activity resolves them, renders the
// message and records one alert row per channel.
type AlertEvent struct {
	Event dag.AlertEvent `json:"event"`
	// Key makes repeated occurrences of one event in one run distinct (the
	// node id for node events, an occurrence count for a run that fails
	// again after a retry). It is derived from workflow state only, so a
	// replayed or reset workflow task produces the same key and never
	// pages twice.
	Key      string   `json:"key,omitempty"`
	Channels []string `json:"channels"`

	RunID          string `json:"run_id,omitempty"`
	Kind           string `json:"kind,omitempty"` // task | flow
	DefinitionID   string `json:"definition_id,omitempty"`
	DefinitionName string `json:"definition_name,omitempty"`
	Version        int    `json:"version,omitempty"`
	Group          string `json:"group,omitempty"`
	Trigger        string `json:"trigger,omitempty"`
	Bizdate        string `json:"bizdate,omitempty"`
	// Status is the run's status when the event happened.
	Status string `json:"status,omitempty"`
	// Failed lists the failed nodes with their first error line.
	Failed []AlertNode `json:"failed,omitempty"`
	// Node and Instance name the node or instance of a node or instance event.
	Node     string `json:"node,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Deadline is the missed deadline of sla_miss.
	Deadline *time.Time `json:"deadline,omitempty"`
	// BackfillID and Counts (status -> runs) describe backfill_finished.
	BackfillID string         `json:"backfill_id,omitempty"`
	Counts     map[string]int `json:"counts,omitempty"`
	// ScheduleID names the definition whose schedule pause_on_failure paused.
	ScheduleID string `json:"schedule_id,omitempty"`
	// At is workflow time when the event happened.
	At time.Time `json:"at"`
}

// AlertNode is one failed node of an AlertEvent.
type AlertNode struct {
	Node  string `json:"node"`
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"` // first line of the node's error
}

// Carry is a run's state across continue-as-new.
type Carry struct {
	Version   int           `json:"version,omitempty"`
	RevMillis int64         `json:"rev_millis,omitempty"`
	RevSeq    int64         `json:"rev_seq,omitempty"`
	Paused    bool          `json:"paused,omitempty"`
	Rev       int64         `json:"rev"`
	StartedAt time.Time     `json:"started_at"`
	Deadline  *time.Time    `json:"deadline,omitempty"`
	Nodes     []CarriedNode `json:"nodes"`
	// Alerts is the alert state (version 4 on).
	Alerts *CarriedAlerts `json:"alerts,omitempty"`
}

// CarriedAlerts is a run's alert state across continue-as-new: what its
// keys are derived from, its SLA deadlines, and the deliveries still open
// at the handover, which the next execution schedules again.
type CarriedAlerts struct {
	Ends         int          `json:"ends,omitempty"`
	EndAlerted   bool         `json:"end_alerted,omitempty"`
	FailedBefore bool         `json:"failed_before,omitempty"`
	SLAs         []CarriedSLA `json:"slas,omitempty"`
	Pending      []AlertEvent `json:"pending,omitempty"`
}

// CarriedSLA is one rule's SLA deadline and whether its timer fired.
type CarriedSLA struct {
	Rule     int       `json:"rule"`
	Deadline time.Time `json:"deadline"`
	Fired    bool      `json:"fired,omitempty"`
}

// CarriedNode is one node's state across continue-as-new.
type CarriedNode struct {
	ID         string            `json:"id"`
	Status     string            `json:"status"`
	Forced     bool              `json:"forced,omitempty"`
	Attempts   int               `json:"attempts,omitempty"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	Message    string            `json:"message,omitempty"`
	Rev        int64             `json:"rev,omitempty"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	Total      int               `json:"total,omitempty"`
	Remaining  int               `json:"remaining,omitempty"`
	Succeeded  int               `json:"succeeded,omitempty"`
	Queued     []QueuedInstance  `json:"queued,omitempty"`
	Shards     []CarriedShard    `json:"shards,omitempty"`
}

// CarriedShard is one instance slot's latest attempt across continue-as-new.
type CarriedShard struct {
	Index    int    `json:"index"`
	Param    string `json:"param,omitempty"`
	Attempt  int    `json:"attempt"`
	Lost     int    `json:"lost,omitempty"`
	Queue    string `json:"queue,omitempty"`
	WorkerID string `json:"worker_id,omitempty"`
	ID       string `json:"id,omitempty"`
	Status   string `json:"status"`
}

// QueuedInstance is an instance decided but not yet scheduled.
type QueuedInstance struct {
	ID string `json:"id,omitempty"`
	// Rev is the revision its waiting record was written with; the worker
	// marks it running at that revision.
	Rev        int64  `json:"rev,omitempty"`
	Shard      int    `json:"shard"`
	ShardParam string `json:"shard_param,omitempty"`
	Attempt    int    `json:"attempt"`
	Queue      string `json:"queue"`
	WorkerID   string `json:"worker_id,omitempty"`
	Lost       int    `json:"lost,omitempty"`
}

// ControlResult is what became of a control request.
type ControlResult struct {
	// State is "applied" or "refused"; empty while the request is unknown.
	State    string            `json:"state"`
	Conflict *control.Conflict `json:"conflict,omitempty"`
	Plan     control.Plan      `json:"plan"`
}

// RunResult is what the workflow returns.
type RunResult struct {
	Status string                `json:"status"`
	Nodes  map[string]NodeResult `json:"nodes"`
}

// NodeResult is one node's final state.
type NodeResult struct {
	Status   string            `json:"status"`
	Attempts int               `json:"attempts"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Message  string            `json:"message,omitempty"`
}

// TaskRequest asks a worker to execute one instance of a task node.
type TaskRequest struct {
	RunID      string            `json:"run_id"`
	NodeID     string            `json:"node_id"`
	InstanceID string            `json:"instance_id"`
	Attempt    int               `json:"attempt"`
	Bizdate    string            `json:"bizdate"`
	ShardIndex int               `json:"shard_index"`
	ShardTotal int               `json:"shard_total"`
	ShardParam string            `json:"shard_param,omitempty"`
	Params     map[string]string `json:"params,omitempty"`
	Task       dag.Task          `json:"task"`
	Mirror     bool              `json:"mirror"`
	// NodeRev is the revision the worker's "running" mark of the node
	// takes: the one the workflow dispatched it with (before
	// versionMirrorBehind), else the instance's reserved InstanceRev. The
	// node's "dispatched" write may land after the mark then (queued), and
	// at an equal rev it would win: the node stayed dispatched in the
	// mirror while its instance ran.
	NodeRev int64 `json:"node_rev"`
	// InstanceRev is the revision the worker's "running" mark of the
	// instance takes: the waiting record's (before versionMirrorBehind) or
	// one reserved just above it.
	InstanceRev int64 `json:"instance_rev,omitempty"`
}

// TaskResult is a finished instance.
type TaskResult struct {
	Status   string            `json:"status"` // success | failed | timeout | stopped
	ExitCode int               `json:"exit_code"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Message  string            `json:"message,omitempty"`
	WorkerID string            `json:"worker_id,omitempty"`
	// StartedAt is when the worker began the instance. The worker's own
	// "running" mark carries it too, but that write is bounded (a slow
	// database must not delay the first heartbeat) and may be dropped, so
	// the workflow's final write of the instance carries it again; the
	// mirror keeps a stored start time. Results of older workers lack it.
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// MirrorBatch is every state change of one workflow task, written at once.
type MirrorBatch struct {
	RunID       string           `json:"run_id"`
	Run         *RunState        `json:"run,omitempty"`
	Nodes       []NodeState      `json:"nodes,omitempty"`
	Instances   []InstanceState  `json:"instances,omitempty"`
	Transitions []TransitionNote `json:"transitions,omitempty"`
	// Reset marks the first write of an execution made by a reset; see
	// ResetNote.
	Reset *ResetNote `json:"reset,omitempty"`
	// WriteBehind lets the worker queue the write and answer at once
	// (versionMirrorBehind); false asks for the write to be done, after
	// every queued write of the run, before the activity answers.
	WriteBehind bool `json:"write_behind,omitempty"`
}

// ResetNote goes with the first write of a reset execution (rerun-from-
// node). The mirror then holds what the replaced execution wrote after the
// reset point: its instances still open there are abandoned (the reset
// ended that execution, and no one will finish them), except Live, those
// the new execution still waits for; and the transition log goes on from
// the statuses it last recorded, not from the reset point's.
type ResetNote struct {
	Live []string `json:"live,omitempty"`
}

// RunState is the run-level part of a MirrorBatch.
type RunState struct {
	Status        string     `json:"status"`
	Rev           int64      `json:"rev"`
	TemporalRunID string     `json:"temporal_run_id,omitempty"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	Message       string     `json:"message,omitempty"`
}

// NodeState is one node's state in a MirrorBatch.
type NodeState struct {
	NodeID     string            `json:"node_id"`
	Status     string            `json:"status"`
	Forced     bool              `json:"forced,omitempty"`
	Attempts   int               `json:"attempts"`
	Rev        int64             `json:"rev"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	Message    string            `json:"message,omitempty"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
}

// InstanceState is one instance's state in a MirrorBatch.
type InstanceState struct {
	ID         string     `json:"id"`
	NodeID     string     `json:"node_id"`
	ShardIndex int        `json:"shard_index"`
	Attempt    int        `json:"attempt"`
	WorkerID   string     `json:"worker_id,omitempty"`
	Status     string     `json:"status"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Message    string     `json:"message,omitempty"`
	Rev        int64      `json:"rev"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// TransitionNote is one transition-log entry.
type TransitionNote struct {
	Entity    string    `json:"entity"` // run | node | instance
	EntityID  string    `json:"entity_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	At        time.Time `json:"at"`
}

// RunEnded tells a backfill or schedule fire that one of its runs reached a
// final status (it may be sent again if an operator retries the run).
type RunEnded struct {
	RunID   string `json:"run_id"`
	Status  string `json:"status"`
	Bizdate string `json:"bizdate"`
}
